/**
 * Live ≡ replay, on real parts: one Kafka topic of simulated traffic (every fault class, late
 * recovery replays included) judged four ways by the real monitor job into one embedded ClickHouse,
 * one database each:
 *   1. live while it is being published,
 *   2. live from the backlog (published first),
 *   3. replay (bounded read to the end offsets),
 *   4. replay with tiny fetches (other fetch sizes, so other interleavings of the partitions).
 * Stored violations, run summaries, late events, revisions and user grades must be identical.
 *
 * A trailer run on every partition, two minutes of event time after the traffic, lets every real
 * run become final (and every user window close) in all four ways; trailer rows are left out.
 * (The broker outage during a live run is test/integration/liveBrokerOutage.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { detectionConfigSchema, kafkaConfigSchema, type ClickHouseConfig } from '../../src/config/config.js';
import { ensureTopic } from '../../src/consumers/topics.js';
import { createLogger } from '../../src/observability/logger.js';
import { startMonitorJob, type MonitorJob } from '../../src/pipeline/job.js';
import { createClickHouseClient } from '../../src/sinks/clickhouse-client.js';
import { generateTraffic, type TrafficOptions } from '../../src/simulator/generate.js';
import { simulate } from '../../src/simulator/simulate.js';
import { queryRows } from '../support/monitor-run.js';

const brokers = inject('kafkaBrokers');
const PARTITIONS = 4;
// error: the simulated malformed records are dead-lettered with a warning each.
const logger = createLogger(process.env.RUNWATCH_LOG_LEVEL || 'error');
const detection = detectionConfigSchema.parse({ userGradeWindowMs: 60_000 });
const trafficOptions: TrafficOptions = { seed: 20261201, runs: 1_200, users: 90, meanRunStartSpacingMs: 25, missingEventFraction: 0.05, faultFraction: 0.25 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dataPath: string;
const databases = { liveWhilePublished: 'fw_live_published', liveFromBacklog: 'fw_live_backlog', replay: 'fw_replay', replaySmallFetches: 'fw_replay_small' } as const;
type Way = keyof typeof databases;
const stored = new Map<Way, Stored>();
let expectedRuns = 0;

/**
 * Trailers on every partition: a short complete run two minutes of event time after the traffic
 * (its summary moves the user-grade clock past every real window), then a lone start two minutes
 * later (it moves the watermark past the first wave).
 */
async function publishTrailers(topic: string, afterMs: number): Promise<void> {
  const kafka = new Kafka({ clientId: 'runwatch-four-ways', brokers: [...brokers], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '+00:00');
  const record = (p: number, wave: string, type: string, atMs: number) => ({
    partition: p,
    key: `trailer_${wave}_${p}`,
    value: JSON.stringify({ type, run_id: `trailer_run_${wave}_${p}`, thread_id: `trailer_thread_${wave}_${p}`, user_id: `trailer_user_${wave}_${p}`, agent_name: 'trailer', timestamp: iso(atMs) }),
    timestamp: String(atMs),
  });
  const partitions = Array.from({ length: PARTITIONS }, (_, p) => p);
  const first = afterMs + 120_000;
  await producer.send({ topic, messages: partitions.flatMap((p) => [record(p, 'a', 'agent_started', first), record(p, 'a', 'agent_completed', first + 1_000)]) });
  await producer.send({ topic, messages: partitions.map((p) => record(p, 'b', 'agent_started', first + 120_000)) });
  await producer.disconnect();
}

function clickhouseFor(way: Way): ClickHouseConfig {
  return { mode: 'embedded', dataPath, database: databases[way] };
}

function jobConfig(way: Way, topic: string, mode: 'live' | 'bounded', maxBytesPerPartition?: number) {
  return {
    kafka: kafkaConfigSchema.parse({ brokers, topic, groupId: `four-ways-${way}-${randomUUID()}`, clientId: `runwatch-${way}`, stallTimeoutMs: 60_000, ...(maxBytesPerPartition === undefined ? {} : { maxBytesPerPartition }) }),
    clickhouse: clickhouseFor(way),
    detection,
    sink: { batchRows: 2_000, flushIntervalMs: 200 },
    mode,
    ...(mode === 'live' ? { idleHeartbeatMs: 500 } : {}),
  };
}

const count = z.object({ n: z.coerce.number() });

/** Live: runs until every real run of the traffic is summarized and its user windows are graded, then stops. */
async function untilJudged(job: MonitorJob, way: Way, timeoutMs: number): Promise<void> {
  const client = createClickHouseClient(clickhouseFor(way));
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [runs] = await queryRows(client, `SELECT count() AS n FROM ${databases[way]}.run_summaries FINAL WHERE run_id NOT LIKE 'trailer%'`, count);
      const [grades] = await queryRows(client, `SELECT count() AS n FROM ${databases[way]}.user_grades FINAL WHERE user_id NOT LIKE 'trailer%'`, count);
      if ((runs?.n ?? 0) >= expectedRuns && (grades?.n ?? 0) > 0) break;
      if (Date.now() > deadline) throw new Error(`${way}: ${runs?.n ?? 0} of ${expectedRuns} runs summarized after ${timeoutMs} ms`);
      await sleep(500);
    }
    await sleep(1_500); // the last batch's other rows (late events, revisions) are written with it
  } finally {
    await client.close();
  }
  job.stop();
  await job.done;
}

interface Stored {
  /** Final and still provisional (none once every run is final), with the status: what reports count. */
  violations: string[];
  /** Early firing (live): withdrawn per-event findings that no duplicate_delivery verdict of the same record explains (must be none). */
  unexplainedWithdrawals: string[];
  withdrawn: number;
  summaries: string[];
  lateEvents: string[];
  revisions: string[];
  userGrades: string[];
}

async function readStored(way: Way): Promise<Stored> {
  const db = databases[way];
  const client: ClickHouseClient = createClickHouseClient(clickhouseFor(way));
  const lines = async (query: string): Promise<string[]> => (await queryRows(client, query, z.object({ line: z.string() }))).map((r) => r.line);
  try {
    return {
      violations: await lines(`SELECT concat(violation_id, ' ', status, ' ', rule, ' ', severity, ' ', subject, ' ', run_id, ' ', user_id) AS line FROM ${db}.violations FINAL WHERE run_id NOT LIKE 'trailer%' AND status != 'withdrawn' ORDER BY line`),
      unexplainedWithdrawals: await lines(
        `SELECT concat(violation_id, ' ', rule, ' ', toString(source_offsets)) AS line FROM ${db}.violations FINAL WHERE status = 'withdrawn' AND rule IN ('content_invalid', 'delivery_latency') AND (source_partitions, source_offsets) NOT IN (SELECT source_partitions, source_offsets FROM ${db}.violations FINAL WHERE rule = 'duplicate_delivery' AND status = 'final') ORDER BY line`,
      ),
      withdrawn: (await lines(`SELECT toString(count()) AS line FROM ${db}.violations FINAL WHERE status = 'withdrawn'`)).map(Number)[0] ?? 0,
      summaries: await lines(
        `SELECT concat(run_id, ' ', outcome, ' ', toString(event_count), ' ', toString(duplicate_count), ' ', toString(late_event_count), ' ', arrayStringConcat(types_seen, ','), ' ', performance_grade, ' ', security_grade, ' ', toString(warnings), ' ', toString(criticals), ' ', toString(max_gap_ms), ' ', ifNull(toString(duration_ms), '-')) AS line FROM ${db}.run_summaries FINAL WHERE run_id NOT LIKE 'trailer%' ORDER BY line`,
      ),
      lateEvents: await lines(`SELECT concat(run_id, ' ', type, ' ', run_state, ' ', toString(source_partition), ':', toString(source_offset)) AS line FROM ${db}.late_events FINAL ORDER BY line`),
      revisions: await lines(`SELECT concat(violation_id, ' ', action, ' ', toString(source_partition), ':', toString(source_offset)) AS line FROM ${db}.verdict_revisions FINAL ORDER BY line`),
      userGrades: await lines(`SELECT concat(user_id, ' ', toString(window_start), ' ', toString(runs), ' ', toString(critical_isolation_violations), ' ', toString(other_isolation_violations), ' ', security_grade) AS line FROM ${db}.user_grades FINAL WHERE user_id NOT LIKE 'trailer%' ORDER BY line`),
    };
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  dataPath = await mkdtemp(join(tmpdir(), 'runwatch-ch-four-ways-')); // one engine data directory per process: one database per way
  const traffic = generateTraffic(trafficOptions);
  expectedRuns = traffic.expected.runs;
  const lastMs = Math.max(...traffic.records.map((r) => r.timestampMs));

  // 1. Live while published: the monitor is up first, the traffic arrives at 3 000 records/s.
  const publishedTopic = `four-ways-live-${randomUUID()}`;
  await ensureTopic(brokers, publishedTopic, PARTITIONS, { keepHistoricalRecords: true });
  const liveWhilePublished = await startMonitorJob(jobConfig('liveWhilePublished', publishedTopic, 'live'), logger);
  await sleep(2_000);
  await simulate({ brokers, topic: publishedTopic, traffic: trafficOptions, ratePerSecond: 3_000, logger });
  await publishTrailers(publishedTopic, lastMs);
  await untilJudged(liveWhilePublished, 'liveWhilePublished', 90_000);

  // 2–4 read one backlog topic holding the same records.
  const topic = `four-ways-${randomUUID()}`;
  await ensureTopic(brokers, topic, PARTITIONS, { keepHistoricalRecords: true });
  await simulate({ brokers, topic, traffic: trafficOptions, logger });
  await publishTrailers(topic, lastMs);
  const liveFromBacklog = await startMonitorJob(jobConfig('liveFromBacklog', topic, 'live'), logger);
  await untilJudged(liveFromBacklog, 'liveFromBacklog', 90_000);
  await (await startMonitorJob(jobConfig('replay', topic, 'bounded'), logger)).done;
  await (await startMonitorJob(jobConfig('replaySmallFetches', topic, 'bounded', 2_048), logger)).done;

  for (const way of Object.keys(databases) as Way[]) stored.set(way, await readStored(way));
}, 300_000);

afterAll(() => {
  stored.clear();
});

describe('one topic judged four ways: live while published, live from a backlog, replay, replay with other fetch sizes', () => {
  it('judged every run, with a workload that holds late replays, revisions and every kind of verdict', () => {
    const replay = stored.get('replay') as Stored;
    expect(replay.summaries).toHaveLength(expectedRuns);
    expect(replay.lateEvents.length).toBeGreaterThan(5);
    expect(replay.revisions.length).toBeGreaterThan(5);
    expect(new Set(replay.violations.map((v) => v.split(' ')[2])).size).toBeGreaterThanOrEqual(10);
    // Live, early firing fired on redelivered copies too (withdrawn since): the withdrawal check below has cases.
    expect((stored.get('liveWhilePublished') as Stored).withdrawn).toBeGreaterThan(0);
    expect(replay.userGrades.length).toBeGreaterThan(50);
  });

  it.each(['liveWhilePublished', 'liveFromBacklog', 'replaySmallFetches'] as const)('%s stores exactly what the replay stores', (way) => {
    const replay = stored.get('replay') as Stored;
    const other = stored.get(way) as Stored;
    expect(other.violations).toEqual(replay.violations);
    // Live, early firing withdrew what it had fired on redelivered copies; a replay fires nothing early.
    expect(other.unexplainedWithdrawals).toEqual([]);
    if (way === 'replaySmallFetches') expect(other.withdrawn).toBe(0);
    expect(other.summaries).toEqual(replay.summaries);
    expect(other.lateEvents).toEqual(replay.lateEvents);
    expect(other.revisions).toEqual(replay.revisions);
    expect(other.userGrades).toEqual(replay.userGrades);
  });
});
