/**
 * The pipeline end to end on real parts: simulated traffic (every wire shape, interleaved runs,
 * every injected fault class) → a real Kafka broker → KafkaJS → RxJS operators → embedded
 * ClickHouse. What ClickHouse holds must be exactly what the simulator injected: no more, no fewer.
 */
import { randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import type { ClickHouseConfig } from '../../src/config/config.js';
import { ensureTopic } from '../../src/consumers/topics.js';
import { createLogger } from '../../src/observability/logger.js';
import type { MonitorStats } from '../../src/pipeline/monitor.js';
import { createClickHouseClient } from '../../src/sinks/clickhouse-client.js';
import type { SimulatedTraffic } from '../../src/simulator/generate.js';
import { kafkaPartitionOf } from '../../src/simulator/partitioner.js';
import { resolveExpected, scoreLateEvents, scoreRevisions, scoreViolations } from '../../src/simulator/score.js';
import { simulate } from '../../src/simulator/simulate.js';
import { storedLateEvents, storedRevisions, storedViolations } from '../../src/sinks/summary.js';
import { embeddedClickHouse, queryRows, replayTopic } from '../support/monitor-run.js';

const brokers = inject('kafkaBrokers');
const topic = `e2e-${randomUUID()}`;
let clickhouse: ClickHouseConfig;
let client: ClickHouseClient;
let traffic: SimulatedTraffic;
let firstPass: MonitorStats;

const violationRow = z.object({ violation_id: z.string(), run_id: z.string(), user_id: z.string(), thread_id: z.string(), missing: z.array(z.string()), severity: z.string(), source_offsets: z.array(z.coerce.number()) });

beforeAll(async () => {
  await ensureTopic(brokers, topic, 4, { keepHistoricalRecords: true });
  // 40 s of event time (a run every 20 ms): long enough for late recovery replays to be sent.
  const published = await simulate({ brokers, topic, traffic: { seed: 20261125, runs: 2_000, users: 120, meanRunStartSpacingMs: 20, missingEventFraction: 0.05, faultFraction: 0.2 }, logger: createLogger('warn') });
  traffic = published.traffic;
  clickhouse = await embeddedClickHouse('runwatch_e2e');
  firstPass = await replayTopic(brokers, topic, `e2e-${randomUUID()}`, clickhouse);
  client = createClickHouseClient(clickhouse);
}, 240_000);

afterAll(async () => {
  await client?.close();
});

describe('the pipeline, end to end through Kafka and ClickHouse', () => {
  it('publishes a large enough, faulty enough workload', () => {
    expect(traffic.records.length).toBeGreaterThanOrEqual(10_000);
    expect(traffic.expected.missingEventRuns.length).toBeGreaterThanOrEqual(50);
    expect(firstPass.records).toBe(traffic.records.length);
    expect(firstPass.lifecycleEvents).toBe(traffic.expected.lifecycleEvents);
  });

  it('stores exactly the injected violations (precision = recall = 1)', async () => {
    // A stray record of a partitioning fault breaks partitioning only where murmur2 puts it elsewhere.
    const expected = resolveExpected(traffic.expected.violations, kafkaPartitionOf(4));
    const score = scoreViolations(await storedViolations(client, 'runwatch_e2e'), expected);
    expect(traffic.expected.labelsExact).toBe(true);
    expect(score.examples).toEqual({ unexpected: [], missed: [] });
    expect(score.truePositives).toBe(expected.length);
    const rules = new Set(expected.map((v) => v.rule));
    expect(rules.has('partitioning_broken')).toBe(true);
    expect(rules.size).toBeGreaterThanOrEqual(10);
  });

  it('reports exactly the injected incomplete runs, with owner, thread and what was missing', async () => {
    const rows = await queryRows(client, `SELECT violation_id, run_id, user_id, thread_id, missing, severity, source_offsets FROM runwatch_e2e.violations FINAL WHERE rule = 'missing_events' ORDER BY run_id`, violationRow);
    // A run without agent_started is reported as run_never_started (sequence rule) instead.
    const expected = traffic.expected.incompleteRuns.filter((r) => !r.missing.includes('agent_started')).sort((a, b) => (a.runId < b.runId ? -1 : 1));
    const neverStarted = await queryRows(client, `SELECT run_id FROM runwatch_e2e.violations FINAL WHERE rule = 'run_never_started' ORDER BY run_id`, z.object({ run_id: z.string() }));
    expect(neverStarted.map((r) => r.run_id)).toEqual(traffic.expected.incompleteRuns.filter((r) => r.missing.includes('agent_started')).map((r) => r.runId).sort());
    expect(rows.map((r) => r.run_id)).toEqual(expected.map((r) => r.runId));
    for (const [i, row] of rows.entries()) {
      const want = expected[i]!;
      expect({ user: row.user_id, thread: row.thread_id, missing: row.missing, severity: row.severity }).toEqual({ user: want.userId, thread: want.threadId, missing: want.missing, severity: 'CRITICAL' });
      expect(row.source_offsets.length).toBeGreaterThan(0);
    }
  });

  it('stores exactly the injected late replays as late events, each revising its run\'s missing_events verdict as labelled', async () => {
    expect(traffic.expected.lateEvents.length).toBeGreaterThanOrEqual(10);
    expect(new Set(traffic.expected.revisions.map((r) => r.action))).toEqual(new Set(['confirmed', 'retracted']));
    const late = scoreLateEvents(await storedLateEvents(client, 'runwatch_e2e'), traffic.expected.lateEvents);
    expect(late.examples).toEqual({ unexpected: [], missed: [] });
    expect(late.truePositives).toBe(traffic.expected.lateEvents.length);
    const stored = await storedRevisions(client, 'runwatch_e2e');
    const revisions = scoreRevisions(stored, traffic.expected.revisions);
    expect(revisions.examples).toEqual({ unexpected: [], missed: [] });
    expect(revisions.truePositives).toBe(traffic.expected.revisions.length);
    // Each revision names a verdict the audit trail holds: the missing_events verdict of its run.
    expect(stored.map((r) => r.rule)).toEqual(stored.map(() => 'missing_events'));
  });

  it('summarizes every run once and dead-letters every malformed record with a reason', async () => {
    const [runs] = await queryRows(client, 'SELECT count() AS n FROM runwatch_e2e.run_summaries FINAL', z.object({ n: z.coerce.number() }));
    expect(runs?.n).toBe(traffic.expected.runs);
    const deadLetters = await queryRows(client, 'SELECT reason FROM runwatch_e2e.dead_letters FINAL', z.object({ reason: z.string() }));
    expect(deadLetters.length).toBe(traffic.expected.malformedRecords);
    expect(deadLetters.every((d) => d.reason.length > 0)).toBe(true);
    expect(firstPass.otherEvents).toBe(traffic.expected.serverMessages);
  });

  it('a replay of the same topic yields the same verdicts and overwrites instead of duplicating', async () => {
    const before = await queryRows(client, 'SELECT violation_id FROM runwatch_e2e.violations FINAL ORDER BY violation_id', z.object({ violation_id: z.string() }));
    await client.close();
    const secondPass = await replayTopic(brokers, topic, `e2e-replay-${randomUUID()}`, clickhouse);
    client = createClickHouseClient(clickhouse);
    // The whole stats object, so that a failure shows what the replay read.
    expect(secondPass).toMatchObject({ records: firstPass.records, violations: firstPass.violations, runSummaries: firstPass.runSummaries, lateEvents: firstPass.lateEvents, revisions: firstPass.revisions });
    expect(firstPass.lateEvents).toBe(traffic.expected.lateEvents.length);
    const after = await queryRows(client, 'SELECT violation_id FROM runwatch_e2e.violations FINAL ORDER BY violation_id', z.object({ violation_id: z.string() }));
    expect(after).toEqual(before);
  }, 120_000); // beyond the source's 60 s stall timeout, so a stuck replay fails with its diagnosis
});
