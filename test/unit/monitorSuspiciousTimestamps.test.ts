/**
 * One record must not be able to move event time. A record whose body and delivered_at header
 * (and, in the worst case, its Kafka record timestamp too) say year 9999, among normal runs: it
 * alone is reported (suspicious_timestamp), every other event is judged as if it were not there.
 * The real monitor and detector chain, an in-memory source read to its end (as a replay).
 */
import { from } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { detectionConfigSchema } from '../../src/config/config.js';
import type { SourceRecord } from '../../src/contract/event.js';
import type { Verdict } from '../../src/contract/verdict.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { runMonitor, type VerdictSink } from '../../src/pipeline/monitor.js';

const t0 = Date.UTC(2025, 8, 18, 12, 0, 0);
const YEAR_9999 = Date.UTC(9999, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '+00:00');
const PARTITIONS = 3;
const RUNS = 90;

/** RUNS complete runs, 300 ms apart, events 400 ms apart, keyed to partitions by run; each partition in event-time order. */
function traffic(): SourceRecord[][] {
  const byPartition: Array<Array<{ at: number; body: Record<string, unknown> }>> = Array.from({ length: PARTITIONS }, () => []);
  for (let i = 0; i < RUNS; i += 1) {
    const run = `run_${i}`;
    const thread = `thread_${i}`;
    const user = `user_${i % 7}`;
    const start = t0 + i * 300;
    const bodies: Array<Record<string, unknown>> = [
      { type: 'agent_started', run_id: run, thread_id: thread, user_id: user, agent_name: 'a' },
      { type: 'agent_thinking', run_id: run, thread_id: thread, user_id: user, reasoning: 'r' },
      { type: 'tool_executing', run_id: run, thread_id: thread, user_id: user, tool_name: 'search', execution_id: `x_${i}` },
      { type: 'tool_completed', run_id: run, thread_id: thread, user_id: user, tool_name: 'search', execution_id: `x_${i}`, result: 'ok' },
      { type: 'agent_completed', run_id: run, thread_id: thread, user_id: user, agent_name: 'a', final_response: 'done' },
    ];
    bodies.forEach((body, k) => byPartition[i % PARTITIONS]?.push({ at: start + k * 400, body: { ...body, timestamp: iso(start + k * 400) } }));
  }
  return byPartition.map((events, partition) =>
    events
      .sort((a, b) => a.at - b.at)
      .map((e, offset) => ({ topic: 'forged', partition, offset, key: String(e.body['thread_id']), value: Buffer.from(JSON.stringify(e.body)), timestampMs: e.at + 20 })),
  );
}

/** Puts a forged copy of partition 1's 40th record in its place (offsets renumbered), then reads partitions in turns of 25 records. */
function withForgery(forgeRecordTimestamp: boolean): { records: SourceRecord[]; forged: { partition: number; offset: number } } {
  const partitions = traffic();
  const p1 = partitions[1] as SourceRecord[];
  const original = p1[40] as SourceRecord;
  const body = { ...(JSON.parse(String(original.value)) as Record<string, unknown>), timestamp: iso(YEAR_9999) };
  const forged: SourceRecord = {
    ...original,
    value: Buffer.from(JSON.stringify(body)),
    deliveredAtHeaderMs: YEAR_9999,
    ...(forgeRecordTimestamp ? { timestampMs: YEAR_9999 } : {}),
  };
  p1.splice(40, 0, forged);
  const renumbered = partitions.map((records) => records.map((r, offset) => ({ ...r, offset })));
  const records: SourceRecord[] = [];
  for (let at = 0; at < 200; at += 25) for (const queue of renumbered) records.push(...queue.slice(at, at + 25));
  return { records, forged: { partition: 1, offset: 40 } };
}

async function monitor(records: SourceRecord[]): Promise<Verdict[]> {
  const written: Verdict[] = [];
  const sink: VerdictSink = { write: async (batch) => void written.push(...batch.verdicts) };
  const run = runMonitor({
    source: { records$: () => from(records), commit: async () => undefined },
    sink,
    detection: detectionConfigSchema.parse({}),
    sinkConfig: { batchRows: 10_000, flushIntervalMs: 10 },
    metrics: createMetrics(),
    logger: createLogger('silent'),
    partitions: [0, 1, 2],
  });
  await run.done;
  return written;
}

describe('monitor: a record whose every time field is forged', () => {
  it.each([
    ['body and delivered_at header say year 9999 (the Kafka record timestamp does not)', false],
    ['body, delivered_at header and Kafka record timestamp all say year 9999', true],
  ])('%s: only it is suspicious; no other event is late and every run is judged as usual', async (_, forgeRecordTimestamp) => {
    const { records, forged } = withForgery(forgeRecordTimestamp);
    const verdicts = await monitor(records);

    expect(verdicts.filter((v) => v.kind === 'late_event')).toEqual([]);
    const suspicious = verdicts.flatMap((v) => (v.kind === 'violation' && v.violation.rule === 'suspicious_timestamp' ? [v.violation] : []));
    expect(suspicious.map((v) => ({ partitions: v.source.partitions, offsets: v.source.offsets }))).toEqual([{ partitions: [forged.partition], offsets: [forged.offset] }]);
    const summaries = verdicts.flatMap((v) => (v.kind === 'run_summary' ? [v.summary] : []));
    expect(summaries).toHaveLength(RUNS);
    expect(summaries.filter((s) => s.outcome !== 'completed' || s.lateEventCount > 0)).toEqual([]);
    expect(verdicts.filter((v) => v.kind === 'violation' && ['missing_events', 'run_duration', 'event_after_completion'].includes(v.violation.rule))).toEqual([]);
  });
});
