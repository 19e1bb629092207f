/**
 * Live mode: event time moves without records only while the source knows it has read everything
 * (every assigned partition at the broker's end offset, per a fresh answer): then silent runs are
 * judged at their deadlines, and a quiet partition does not hold back a busy one. While the broker
 * cannot be reached, or a partition lags (a backlog not read yet), event time waits. Uses the real
 * monitor with an in-memory source (records and the source's position, as KafkaSource.items$ gives
 * them) and sink; each case is bounded to a few seconds of wall time.
 */
import { filter, Subject } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { detectionConfigSchema } from '../../src/config/config.js';
import type { SourceRecord } from '../../src/contract/event.js';
import type { Verdict } from '../../src/contract/verdict.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { SourceHint } from '../../src/operators/stream-item.js';
import { runMonitor, type RecordSource, type VerdictSink } from '../../src/pipeline/monitor.js';

const record = (offset: number, body: Record<string, unknown>, partition = 0): SourceRecord => ({
  topic: 'live',
  partition,
  offset,
  key: `thread_live_p${partition}`,
  value: Buffer.from(JSON.stringify(body)),
  timestampMs: Date.parse(String(body.timestamp)) + 5,
});

const t0 = Date.UTC(2025, 8, 18, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '+00:00');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A live source in memory: records, the assignment, and every 20 ms which partitions are caught up (as the test says). */
function liveSource(assigned: number[]) {
  const items = new Subject<SourceRecord | SourceHint>();
  const commits: Array<ReadonlyMap<number, number>> = [];
  const state = { caughtUp: [] as number[] };
  const source: RecordSource = {
    records$: () => items.pipe(filter((item): item is SourceRecord => !('kind' in item))),
    items$: () => items.asObservable(),
    commit: async (offsets) => void commits.push(new Map(offsets)),
  };
  let pump: NodeJS.Timeout | undefined;
  return {
    source,
    commits,
    state,
    send: (r: SourceRecord) => items.next(r),
    start: () => {
      items.next({ kind: 'assignment', partitions: assigned });
      pump = setInterval(() => items.next({ kind: 'caught_up', atMs: Date.now(), partitions: state.caughtUp }), 20);
    },
    stop: () => clearInterval(pump),
  };
}

/** Small thresholds: runs are due 300 ms of event time after they start, and final 50 ms later. */
const SMALL_DETECTION = detectionConfigSchema.parse({
  maxOutOfOrdernessMs: 0,
  allowedLatenessMs: 50,
  thresholds: { deliveryLatencyMs: { warning: 20, critical: 50 }, runDurationMs: { warning: 100, critical: 300 }, gapMs: { warning: 100, critical: 200 } },
});

function monitorOf(source: RecordSource, detection = SMALL_DETECTION, idleHeartbeatMs = 25) {
  const written: Verdict[] = [];
  const sink: VerdictSink = { write: async (batch) => void written.push(...batch.verdicts) };
  const monitor = runMonitor({ source, sink, detection, sinkConfig: { batchRows: 100, flushIntervalMs: 20 }, metrics: createMetrics(), logger: createLogger('silent'), idleHeartbeatMs, checkpointIntervalMs: 100 });
  return { monitor, written };
}

const summaryOf = (written: Verdict[], runId: string) => written.find((v) => v.kind === 'run_summary' && v.summary.runId === runId);
async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await sleep(10);
  return condition();
}

const started = (runId: string, at: number, user = 'user_live_1') => ({ type: 'agent_started', run_id: runId, user_id: user, agent_name: 'a', timestamp: iso(at) });
const thinking = (runId: string, at: number, thread = 'thread_live_1') => ({ type: 'agent_thinking', run_id: runId, thread_id: thread, user_id: thread, reasoning: 'r', timestamp: iso(at) });
const completed = (runId: string, at: number, user = 'user_busy') => ({ type: 'agent_completed', run_id: runId, user_id: user, agent_name: 'a', timestamp: iso(at) });

describe('monitor in live mode', () => {
  let cleanup: Array<() => void> = [];
  afterEach(() => {
    cleanup.forEach((c) => c());
    cleanup = [];
  });

  it('judges a silent run at its deadline once every assigned partition is caught up, and commits only what is durable', async () => {
    const live = liveSource([0]);
    cleanup.push(live.stop);
    const detection = SMALL_DETECTION;
    const { monitor, written } = monitorOf(live.source, detection);
    live.start();
    live.send(record(0, started('run_live_1', t0)));
    live.send(record(1, thinking('run_live_1', t0 + 10)));
    // Not caught up yet (the source has not seen the end offset): silence alone moves nothing.
    await sleep(500);
    expect(written.filter((v) => v.kind === 'run_summary')).toEqual([]);
    live.state.caughtUp = [0]; // read to the end offset: nothing more is coming

    // No more records: only input_idle hints can move event time past start + 300 ms.
    await waitFor(() => written.some((v) => v.kind === 'run_summary'), 5_000);
    monitor.stop();
    await monitor.done;

    const rules = written.flatMap((v) => (v.kind === 'violation' ? [`${v.violation.rule}:${v.violation.severity}:${v.violation.subject}`] : [])).sort();
    expect(rules).toEqual(['event_gap:CRITICAL:silence', 'missing_events:CRITICAL:tool_executing,tool_completed,agent_completed', 'run_duration:CRITICAL:deadline']);
    expect(summaryOf(written, 'run_live_1')).toMatchObject({ summary: { runId: 'run_live_1', outcome: 'deadline', userId: 'user_live_1' } });
    // While the run was open its offsets were held back (0); once judged, both are durable (2).
    const committed = live.commits.map((c) => c.get(0));
    expect(committed.every((o) => o === 0 || o === 2)).toBe(true);
    expect(committed.at(-1)).toBe(2);
  });

  it('does not move event time while the broker cannot be reached, however long the silence', async () => {
    const live = liveSource([0]);
    cleanup.push(live.stop);
    const detection = SMALL_DETECTION;
    const { monitor, written } = monitorOf(live.source, detection);
    live.start();
    live.send(record(0, started('run_outage', t0)));
    live.send(record(1, thinking('run_outage', t0 + 10)));
    // The source has no fresh answer from the broker: nothing counts as caught up.
    live.state.caughtUp = [];
    await sleep(1_000); // 40 × idleHeartbeatMs of silence
    expect(written).toEqual([]);
    // The broker is back and says nothing more is there: now the silence counts.
    live.state.caughtUp = [0];
    expect(await waitFor(() => summaryOf(written, 'run_outage') !== undefined, 5_000)).toBe(true);
    monitor.stop();
    await monitor.done;
    expect(written.some((v) => v.kind === 'late_event')).toBe(false);
  });

  it('never treats a lagging partition as idle: a backlog not read yet holds back the verdicts of a caught-up one, and arrives in time', async () => {
    const live = liveSource([0, 1]);
    cleanup.push(live.stop);
    const { monitor, written } = monitorOf(live.source);
    live.start();
    // Partition 0 completes a run and is caught up; partition 1 has a backlog KafkaJS has not fetched.
    live.send(record(0, started('run_p0', t0 + 100, 'user_busy')));
    live.send(record(1, completed('run_p0', t0 + 120)));
    live.state.caughtUp = [0];
    await sleep(500);
    expect(summaryOf(written, 'run_p0')).toBeUndefined();
    // The backlog arrives: older than partition 0's events, and not late.
    live.send(record(0, started('run_p1', t0, 'user_p1'), 1));
    live.send(record(1, completed('run_p1', t0 + 50, 'user_p1'), 1));
    live.state.caughtUp = [0, 1];
    expect(await waitFor(() => summaryOf(written, 'run_p0') !== undefined && summaryOf(written, 'run_p1') !== undefined, 5_000)).toBe(true);
    monitor.stop();
    await monitor.done;
    expect(written.filter((v) => v.kind === 'late_event')).toEqual([]);
    expect(summaryOf(written, 'run_p1')).toMatchObject({ summary: { outcome: 'completed', lateEventCount: 0 } });
  });

  it('keeps monitoring when committing offsets fails (broker unreachable): the next checkpoint commits them', async () => {
    const live = liveSource([0]);
    cleanup.push(live.stop);
    let failures = 0;
    const committed: number[] = [];
    const source: RecordSource = {
      ...live.source,
      commit: async (offsets) => {
        if (failures++ === 0) throw new Error('KafkaJSConnectionError: Connection error: connect ECONNREFUSED');
        committed.push(offsets.get(0) ?? -1);
      },
    };
    const { monitor, written } = monitorOf(source);
    live.start();
    live.state.caughtUp = [0];
    live.send(record(0, started('run_a', t0)));
    live.send(record(1, completed('run_a', t0 + 10, 'user_live_1')));
    expect(await waitFor(() => summaryOf(written, 'run_a') !== undefined, 5_000)).toBe(true);
    live.send(record(2, started('run_b', t0 + 20)));
    live.send(record(3, completed('run_b', t0 + 30, 'user_live_1')));
    expect(await waitFor(() => summaryOf(written, 'run_b') !== undefined && committed.at(-1) === 4, 5_000)).toBe(true);
    monitor.stop();
    await expect(monitor.done).resolves.toMatchObject({ runSummaries: 2 });
  });

  it('does not let a quiet, caught-up partition hold back the verdicts of a busy one', async () => {
    const live = liveSource([0, 1]);
    cleanup.push(live.stop);
    // Runs are final 50 ms of event time after they complete; the quiet run is due 30 s after it started.
    const detection = detectionConfigSchema.parse({ maxOutOfOrdernessMs: 0, allowedLatenessMs: 50, thresholds: { deliveryLatencyMs: { warning: 20, critical: 50 } } });
    const { monitor, written } = monitorOf(live.source, detection, 50);
    live.start();
    // Partition 1 delivers one event and has nothing more (caught up); partition 0 completes a run,
    // then keeps delivering live (event time moving with the clock), so the input as a whole is never idle.
    const startedAt = Date.now();
    live.send(record(0, thinking('run_quiet', t0, 'thread_live_p1'), 1));
    live.state.caughtUp = [1];
    const run = (id: string, start: number) => [
      { type: 'agent_started', run_id: id, user_id: 'user_busy', agent_name: 'a', timestamp: iso(start) },
      completed(id, start + 20),
    ];
    let offset = 0;
    for (const body of run('run_busy_0', t0 + 100)) live.send(record(offset++, body));
    const deadline = Date.now() + 3_000;
    while (summaryOf(written, 'run_busy_0') === undefined && Date.now() < deadline) {
      await sleep(10);
      for (const body of run(`run_busy_${offset}`, t0 + 100 + (Date.now() - startedAt))) live.send(record(offset++, body));
    }
    monitor.stop();
    await monitor.done;

    expect(summaryOf(written, 'run_busy_0')).toMatchObject({ summary: { outcome: 'completed', userId: 'user_busy' } });
    // The quiet partition's run is still open: it was not judged just because its partition went idle.
    expect(summaryOf(written, 'run_quiet')).toBeUndefined();
  });
});
