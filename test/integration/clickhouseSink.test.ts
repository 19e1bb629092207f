/** The sink against the real embedded ClickHouse engine: DDL, every row kind, idempotent rewrites. */
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Verdict } from '../../src/contract/verdict.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createClickHouseClient } from '../../src/sinks/clickhouse-client.js';
import { ClickHouseSink, withdrawProvisionalRows } from '../../src/sinks/clickhouse-sink.js';
import { migrate } from '../../src/sinks/migrations.js';
import { readSummary } from '../../src/sinks/summary.js';
import { embeddedClickHouse, queryRows } from '../support/monitor-run.js';

let client: ClickHouseClient;
let sink: ClickHouseSink;
const source = { topic: 't', partitions: [0, 0], offsets: [4, 9] };
const verdicts: Verdict[] = [
  {
    kind: 'violation',
    violation: { violationId: 'v1', rule: 'missing_events', severity: 'CRITICAL', runId: 'run_1', threadId: 'th_1', userId: 'u_1', missing: ['agent_completed'], subject: 'agent_completed', detail: 'run closed (deadline) without agent_completed', eventTimeMs: 1758196800123.456, decidedAtWatermarkMs: 1758196830124, source },
  },
  {
    kind: 'run_summary',
    summary: {
      runId: 'run_1',
      threadId: 'th_1',
      userId: 'u_1',
      firstEventMs: 1758196800123.456,
      lastEventMs: 1758196801000,
      startedAtMs: 1758196800123.456,
      completedAtMs: undefined,
      eventCount: 2,
      duplicateCount: 0,
      lateEventCount: 1,
      typesSeen: ['agent_started', 'agent_thinking'],
      outcome: 'deadline',
      durationMs: undefined,
      maxGapMs: 876.544,
      latencyP50Ms: 12.5,
      latencyP95Ms: 40,
      latencyP99Ms: 41,
      warnings: 0,
      criticals: 2,
      performanceGrade: 'F',
      securityGrade: 'A',
      isolationWarnings: 0,
      isolationCriticals: 0,
      decidedAtWatermarkMs: 1758196830124,
      source,
    },
  },
  { kind: 'late_event', runId: 'run_1', type: 'agent_thinking', eventTimeMs: 1758196801500, watermarkMs: 1758196830124, runState: 'closed', source: { topic: 't', partition: 0, offset: 12 } },
  { kind: 'revision', violationId: 'v1', runId: 'run_1', action: 'confirmed', reason: 'agent_thinking arrived after the run was judged; the finding stands', eventTimeMs: 1758196801500, source: { topic: 't', partition: 0, offset: 12 } },
  { kind: 'user_grade', grade: { userId: 'u_1', windowStartMs: 1758196800000, windowEndMs: 1758200400000, runs: 1, criticalIsolationViolations: 0, otherIsolationViolations: 0, securityGrade: 'A' } },
];
const deadLetters = [{ reason: 'invalid JSON: Unexpected token', source: { topic: 't', partition: 1, offset: 3 }, key: 'k', raw: '{oops', recordTimestampMs: 1758196800000 }];

beforeAll(async () => {
  const config = await embeddedClickHouse('runwatch_sink');
  client = createClickHouseClient(config);
  await migrate(client, config.database);
  await migrate(client, config.database); // idempotent
  sink = new ClickHouseSink(client, { database: config.database, logger: createLogger('silent'), metrics: createMetrics(), now: () => 1795000000000 });
});
afterAll(async () => client?.close());

describe('ClickHouseSink (embedded engine)', () => {
  it('writes violations, run summaries, late events and dead letters with ms event times', async () => {
    await sink.write({ verdicts, deadLetters });
    const [violation] = await queryRows(
      client,
      'SELECT violation_id, missing, toUnixTimestamp64Milli(event_time) AS t, source_offsets FROM runwatch_sink.violations FINAL',
      z.object({ violation_id: z.string(), missing: z.array(z.string()), t: z.coerce.number(), source_offsets: z.array(z.coerce.number()) }),
    );
    expect(violation).toEqual({ violation_id: 'v1', missing: ['agent_completed'], t: 1758196800123, source_offsets: [4, 9] });
    const summary = await readSummary(client, 'runwatch_sink');
    expect(summary).toEqual({
      runsChecked: 1,
      runsByOutcome: [{ outcome: 'deadline', runs: 1 }],
      violationsByRule: [{ rule: 'missing_events', severity: 'CRITICAL', violations: 1 }],
      deadLettersByReason: [{ reason: 'invalid JSON', records: 1 }],
      lateEvents: 1,
      performanceGrades: [{ grade: 'F', runs: 1 }],
      userSecurityGrades: [{ grade: 'A', userWindows: 1 }],
      revisions: [{ action: 'confirmed', revisions: 1 }],
    });
  });

  it('overwrites instead of duplicating when the same verdicts are written again (replay, redelivery)', async () => {
    await sink.write({ verdicts, deadLetters });
    const summary = await readSummary(client, 'runwatch_sink');
    expect(summary.runsChecked).toBe(1);
    expect(summary.violationsByRule[0]?.violations).toBe(1);
    expect(summary.deadLettersByReason[0]?.records).toBe(1);
  });

  it('stores text that is not valid Unicode (a lone surrogate the engine would reject) repaired with U+FFFD, instead of failing every insert', async () => {
    const poisoned = [{ reason: 'malformed run_id: not valid Unicode (lone surrogate)', source: { topic: 't', partition: 2, offset: 7 }, key: 'k\ud800', raw: '{"run_id":"run_\ud800"}', recordTimestampMs: 1758196800000 }];
    const violation = verdicts[0] as Extract<Verdict, { kind: 'violation' }>;
    const withBadDetail: Verdict = { kind: 'violation', violation: { ...violation.violation, violationId: 'v-bad', detail: 'tool_executing of web\ud800search never got its tool_completed' } };
    await sink.write({ verdicts: [withBadDetail], deadLetters: poisoned });
    const [dead] = await queryRows(client, 'SELECT record_key, raw FROM runwatch_sink.dead_letters FINAL WHERE source_offset = 7', z.object({ record_key: z.string(), raw: z.string() }));
    expect(dead).toEqual({ record_key: 'k\ufffd', raw: '{"run_id":"run_\ufffd"}' });
    const [stored] = await queryRows(client, "SELECT detail FROM runwatch_sink.violations FINAL WHERE violation_id = 'v-bad'", z.object({ detail: z.string() }));
    expect(stored?.detail).toBe('tool_executing of web\ufffdsearch never got its tool_completed');
  });

  it('fails fast with a typed error when the tables are not there (a deployment error no retry fixes)', async () => {
    const broken = new ClickHouseSink(client, { database: 'no_such_db', logger: createLogger('silent'), metrics: createMetrics() });
    await expect(broken.write({ verdicts, deadLetters: [] })).rejects.toMatchObject({ code: 'SINK_WRITE_FAILED', retriable: false, message: expect.stringMatching(/UNKNOWN_(DATABASE|TABLE)/) });
  });

  it('isolates a row the engine rejects: the others are stored, it becomes a dead letter with the server\'s reason', async () => {
    const metrics = createMetrics();
    const isolating = new ClickHouseSink(client, { database: 'runwatch_sink', logger: createLogger('silent'), metrics });
    const base = (verdicts[0] as Extract<Verdict, { kind: 'violation' }>).violation;
    const batch: Verdict[] = Array.from({ length: 7 }, (_, i) => ({ kind: 'violation', violation: { ...base, violationId: `v-iso-${i}`, source: { topic: 'iso', partitions: [3], offsets: [100 + i] } } }));
    // An offset of -1 cannot be a UInt64: ClickHouse refuses that row (CANNOT_PARSE_NUMBER).
    const bad = batch[4] as Extract<Verdict, { kind: 'violation' }>;
    batch[4] = { kind: 'violation', violation: { ...bad.violation, source: { topic: 'iso', partitions: [3], offsets: [-1] } } };
    await isolating.write({ verdicts: batch, deadLetters: [] });
    const stored = await queryRows(client, "SELECT violation_id FROM runwatch_sink.violations FINAL WHERE violation_id LIKE 'v-iso-%' ORDER BY violation_id", z.object({ violation_id: z.string() }));
    expect(stored.map((r) => r.violation_id)).toEqual(['v-iso-0', 'v-iso-1', 'v-iso-2', 'v-iso-3', 'v-iso-5', 'v-iso-6']);
    const dead = await queryRows(client, "SELECT reason, raw, source_topic, source_partition FROM runwatch_sink.dead_letters FINAL WHERE reason LIKE 'sink_rejected:%'", z.object({ reason: z.string(), raw: z.string(), source_topic: z.string(), source_partition: z.number() }));
    expect(dead).toHaveLength(1);
    expect(dead[0]?.reason).toMatch(/^sink_rejected: violations: CANNOT_PARSE_NUMBER \(72\)/);
    expect(dead[0]).toMatchObject({ source_topic: 'iso', source_partition: 3 });
    expect(JSON.parse(dead[0]?.raw ?? '{}')).toMatchObject({ violation_id: 'v-iso-4', source_offsets: [-1] });
    expect((await metrics.registry.getSingleMetricAsString('runwatch_sink_rejected_rows_total'))).toMatch(/table="violations"} 1/);
  });

  it('withdraws the early-fired rows of its topic left provisional (a live start), and nothing else; what is fired again replaces the withdrawal', async () => {
    const base = (verdicts[0] as Extract<Verdict, { kind: 'violation' }>).violation;
    const row = (id: string, status: 'provisional' | 'final', topic: string): Verdict => ({ kind: 'violation', violation: { ...base, violationId: id, ...(status === 'final' ? {} : { status }), source: { topic, partitions: [0], offsets: [1] } } });
    await sink.write({ verdicts: [row('w-p1', 'provisional', 'live'), row('w-p2', 'provisional', 'live'), row('w-f1', 'final', 'live'), row('w-o1', 'provisional', 'other')], deadLetters: [] });
    // A bounded read's rows are provisional in another sense (provisional_of): not early-fired ones.
    await sink.write({ verdicts: [row('w-b1', 'provisional', 'live')], deadLetters: [], provisionalOf: 'a-bounded-read' });
    const statuses = async (): Promise<Record<string, string>> =>
      Object.fromEntries((await queryRows(client, "SELECT violation_id, status FROM runwatch_sink.violations FINAL WHERE violation_id LIKE 'w-%'", z.object({ violation_id: z.string(), status: z.string() }))).map((r) => [r.violation_id, r.status]));
    expect(await withdrawProvisionalRows(client, 'runwatch_sink', 'live')).toBe(2);
    expect(await statuses()).toEqual({ 'w-p1': 'withdrawn', 'w-p2': 'withdrawn', 'w-f1': 'final', 'w-o1': 'provisional', 'w-b1': 'provisional' });
    expect(await withdrawProvisionalRows(client, 'runwatch_sink', 'live')).toBe(0);
    await sink.write({ verdicts: [row('w-p1', 'provisional', 'live'), row('w-p2', 'final', 'live')], deadLetters: [] });
    expect(await statuses()).toMatchObject({ 'w-p1': 'provisional', 'w-p2': 'final' });
  });
});
