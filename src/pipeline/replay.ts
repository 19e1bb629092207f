/**
 * `runwatch replay`: judges the runs of a range of a topic again, with a given contract, into the
 * same tables under a replay id (docs/operations.md, "Replays"). The read has a consumer group of
 * its own (runwatch-replay-<id>), set to the planned start offsets; the live group is never touched.
 */
import { randomBytes } from 'node:crypto';
import { logLevel, type LogEntry } from 'kafkajs';
import type { ClickHouseConfig, CheckpointConfig, DetectionConfig, KafkaConfig, SchemaRegistryConfig, SinkConfigInput } from '../config/config.js';
import { createKafka } from '../consumers/kafka-client.js';
import { setGroupOffsets } from '../consumers/group-offsets.js';
import type { LoadedContract } from '../contract/contract-file.js';
import { configHash } from './provenance.js';
import { RunwatchError } from '../errors.js';
import { buildInfo } from '../observability/build.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { createClickHouseClient } from '../sinks/clickhouse-client.js';
import { migrate } from '../sinks/migrations.js';
import { replayCounts, saveReplay, type ReplayRecord } from '../sinks/replays.js';
import { startMonitorJob } from './job.js';
import type { MonitorStats } from './monitor.js';
import { describeOffsets, planReplay, type RangeBound, type ReplayPlan } from './replay-range.js';

export interface ReplayRequest {
  readonly kafka: KafkaConfig;
  readonly clickhouse: ClickHouseConfig;
  readonly detection: DetectionConfig;
  readonly sink: SinkConfigInput;
  readonly checkpoint?: CheckpointConfig;
  readonly schemaRegistry?: SchemaRegistryConfig;
  readonly contract: LoadedContract;
  readonly from: RangeBound;
  readonly to: RangeBound;
  readonly replayId?: string;
  /** Store user ids as keyed pseudonyms, as the live monitor does (--hash-user-ids). */
  readonly userIdKey?: string;
}

export interface ReplayResult {
  readonly replayId: string;
  readonly plan: ReplayPlan;
  readonly stats: MonitorStats;
  readonly records: ReplayRecord;
}

const REPLAY_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function newReplayId(now: Date = new Date()): string {
  return `replay-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}


export interface ReplayHooks {
  /** Told the plan (records to read in all) before reading starts. */
  readonly onPlan?: (plan: ReplayPlan, totalRecords: bigint) => void;
  readonly signal?: AbortSignal;
}

/** A replay id names a consumer group and tags rows: a short, plain name. */
export function checkReplayId(replayId: string): string {
  if (!REPLAY_ID.test(replayId)) throw new RunwatchError('CONFIG_INVALID', `invalid replay configuration: --replay-id=${JSON.stringify(replayId)}: letters, digits, '_', '.', '-', at most 64, starting with a letter or digit`);
  return replayId;
}

export async function runReplay(request: ReplayRequest, logger: Logger, metrics: Metrics, hooks: ReplayHooks = {}): Promise<ReplayResult> {
  const replayId = checkReplayId(request.replayId ?? newReplayId());
  const groupId = `runwatch-replay-${replayId}`;
  const kafka = { ...request.kafka, groupId };
  // KafkaJS logs through ours (stderr): stdout carries the result alone.
  const kafkaLog = { logLevel: logLevel.WARN, logCreator: () => (entry: LogEntry) => logger.warn({ kafkajs: entry.log, namespace: entry.namespace }, entry.log.message) };
  const kafkaClient = createKafka(kafka, { clientId: 'runwatch-replay', ...kafkaLog });
  const admin = kafkaClient.admin();
  await admin.connect();
  let plan: ReplayPlan;
  try {
    const existing = await admin.fetchOffsets({ groupId, topics: [kafka.topic] });
    if ((existing[0]?.partitions ?? []).some((p) => Number(p.offset) >= 0)) {
      throw new RunwatchError('CONFIG_INVALID', `invalid replay configuration: --replay-id=${JSON.stringify(replayId)}: a replay with this id has run already (consumer group ${groupId} has offsets); choose another id`);
    }
    plan = await planReplay(admin, kafka.topic, request.from, request.to, request.detection);
    // The fresh group starts where the plan says; partitions with nothing to read start at their end.
    await setGroupOffsets(kafkaClient, groupId, kafka.topic, plan.startOffsets);
  } finally {
    await admin.disconnect();
  }
  const total = [...plan.endOffsets].reduce((sum, [partition, end]) => sum + (end > (plan.startOffsets.get(partition) ?? end) ? end - (plan.startOffsets.get(partition) ?? end) : 0n), 0n);
  hooks.onPlan?.(plan, total);
  const build = buildInfo();
  const startedAtMs = Date.now();
  const record = (status: ReplayRecord['status'], counts: { records: number; runs: number; violations: number; runsCut: number }, finishedAtMs?: number): ReplayRecord => ({
    replayId,
    status,
    topic: kafka.topic,
    rangeFrom: request.from.text,
    rangeTo: request.to.text,
    ...(plan.judged === undefined ? {} : { judgedFromMs: plan.judged.fromMs, judgedToMs: plan.judged.toMs }),
    readFrom: describeOffsets(plan.startOffsets),
    readTo: describeOffsets(plan.endOffsets),
    contractName: request.contract.name,
    contractHash: request.contract.hash,
    configHash: configHash(request.detection),
    buildVersion: build.version,
    buildCommit: build.commit,
    startedAtMs,
    ...(finishedAtMs === undefined ? {} : { finishedAtMs }),
    ...counts,
  });
  const client = createClickHouseClient(request.clickhouse);
  try {
    await migrate(client, request.clickhouse.database);
    await saveReplay(client, request.clickhouse.database, record('running', { records: 0, runs: 0, violations: 0, runsCut: 0 }));
    logger.info({ replayId, topic: kafka.topic, from: request.from.text, to: request.to.text, readFrom: describeOffsets(plan.startOffsets), readTo: describeOffsets(plan.endOffsets), records: String(total), contract: request.contract.name, contractHash: request.contract.hash }, 'replay: reading');
    try {
      const job = await startMonitorJob(
        {
          kafka,
          clickhouse: request.clickhouse,
          detection: request.detection,
          sink: request.sink,
          ...(request.checkpoint === undefined ? {} : { checkpoint: request.checkpoint }),
          ...(request.schemaRegistry === undefined ? {} : { schemaRegistry: request.schemaRegistry }),
          mode: 'bounded',
          contract: request.contract,
          ...(request.userIdKey === undefined ? {} : { userIdKey: request.userIdKey }),
          replay: { replayId, endOffsets: plan.endOffsets, keep: plan.keep },
        },
        logger,
        metrics,
        hooks.signal === undefined ? {} : { signal: hooks.signal },
      );
      hooks.signal?.addEventListener('abort', () => job.stop(), { once: true });
      if (hooks.signal?.aborted === true) job.stop(); // aborted while the job started
      const stats = await job.done;
      const counts = await replayCounts(client, request.clickhouse.database, replayId);
      const finished = record(hooks.signal?.aborted === true ? 'failed' : 'finished', { records: stats.records, ...counts }, Date.now());
      await saveReplay(client, request.clickhouse.database, finished);
      return { replayId, plan, stats, records: finished };
    } catch (err) {
      // Whatever failed, the replays row must not say running forever.
      await saveReplay(client, request.clickhouse.database, record('failed', { records: 0, runs: 0, violations: 0, runsCut: 0 }, Date.now())).catch(() => undefined);
      throw err;
    }
  } finally {
    await client.close();
  }
}
