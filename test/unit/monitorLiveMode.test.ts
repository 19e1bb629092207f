/**
 * Live mode: an idle input still moves event time (a wall-clock heartbeat), so a run that goes
 * silent is judged at its deadline without any further record; and a quiet partition does not
 * hold back the verdicts of a busy one. Uses the real monitor with an in-memory source and sink;
 * each case is bounded to a few seconds of wall time.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { detectionConfigSchema } from '../../src/config/config.js';
import type { SourceRecord } from '../../src/contract/event.js';
import type { Verdict } from '../../src/contract/verdict.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
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

describe('monitor in live mode', () => {
  it('judges a silent run at its deadline from idle heartbeats alone, and commits only what is durable', async () => {
    const records = new Subject<SourceRecord>();
    const commits: Array<ReadonlyMap<number, number>> = [];
    const source: RecordSource = { records$: () => records.asObservable(), commit: async (offsets) => void commits.push(new Map(offsets)) };
    const written: Verdict[] = [];
    const sink: VerdictSink = { write: async (batch) => void written.push(...batch.verdicts) };
    const detection = detectionConfigSchema.parse({ maxOutOfOrdernessMs: 0, thresholds: { runDurationMs: { warning: 100, critical: 300 }, gapMs: { warning: 100, critical: 200 } } });
    const monitor = runMonitor({ source, sink, detection, sinkConfig: { batchRows: 100, flushIntervalMs: 20 }, metrics: createMetrics(), logger: createLogger('silent'), idleHeartbeatMs: 25 });

    records.next(record(0, { type: 'agent_started', run_id: 'run_live_1', user_id: 'user_live_1', agent_name: 'a', timestamp: iso(t0) }));
    records.next(record(1, { type: 'agent_thinking', run_id: 'run_live_1', thread_id: 'thread_live_1', user_id: 'thread_live_1', reasoning: 'r', timestamp: iso(t0 + 10) }));

    // No more records: only idle heartbeats can move event time past start + 300 ms.
    const deadline = Date.now() + 5_000;
    while (!written.some((v) => v.kind === 'run_summary') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    monitor.stop();
    await monitor.done;

    const rules = written.flatMap((v) => (v.kind === 'violation' ? [`${v.violation.rule}:${v.violation.severity}:${v.violation.subject}`] : [])).sort();
    expect(rules).toEqual(['event_gap:CRITICAL:silence', 'missing_events:CRITICAL:tool_executing,tool_completed,agent_completed', 'run_duration:CRITICAL:deadline']);
    expect(written.find((v) => v.kind === 'run_summary')).toMatchObject({ summary: { runId: 'run_live_1', outcome: 'deadline', userId: 'user_live_1' } });
    // While the run was open its offsets were held back (0); once judged, both are durable (2).
    const committed = commits.map((c) => c.get(0));
    expect(committed.every((o) => o === 0 || o === 2)).toBe(true);
    expect(committed.at(-1)).toBe(2);
  });

  it('does not let a quiet partition hold back the verdicts of a busy one', async () => {
    const records = new Subject<SourceRecord>();
    const source: RecordSource = { records$: () => records.asObservable(), commit: async () => undefined };
    const written: Verdict[] = [];
    const sink: VerdictSink = { write: async (batch) => void written.push(...batch.verdicts) };
    const detection = detectionConfigSchema.parse({ maxOutOfOrdernessMs: 0 });
    const monitor = runMonitor({ source, sink, detection, sinkConfig: { batchRows: 100, flushIntervalMs: 20 }, metrics: createMetrics(), logger: createLogger('silent'), idleHeartbeatMs: 50 });

    // Partition 1 delivers one event and goes quiet; partition 0 completes a run, then keeps
    // delivering every 10 ms (so the input as a whole is never idle and no heartbeat fires).
    records.next(record(0, { type: 'agent_thinking', run_id: 'run_quiet', thread_id: 'thread_live_p1', user_id: 'user_quiet', reasoning: 'r', timestamp: iso(t0) }, 1));
    const run = (id: string, start: number) => [
      { type: 'agent_started', run_id: id, user_id: 'user_busy', agent_name: 'a', timestamp: iso(start) },
      { type: 'agent_completed', run_id: id, user_id: 'user_busy', agent_name: 'a', timestamp: iso(start + 20) },
    ];
    let offset = 0;
    let at = t0 + 100;
    for (const body of run('run_busy_0', at)) records.next(record(offset++, body));
    const deadline = Date.now() + 3_000;
    while (!written.some((v) => v.kind === 'run_summary' && v.summary.runId === 'run_busy_0') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      at += 100;
      for (const body of run(`run_busy_${offset}`, at)) records.next(record(offset++, body));
    }
    monitor.stop();
    await monitor.done;

    expect(written.find((v) => v.kind === 'run_summary' && v.summary.runId === 'run_busy_0')).toMatchObject({ summary: { outcome: 'completed', userId: 'user_busy' } });
    // The quiet partition's run is still open: it was not judged just because its partition went idle.
    expect(written.some((v) => v.kind === 'run_summary' && v.summary.runId === 'run_quiet')).toBe(false);
  });
});
