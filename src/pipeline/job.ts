import { checkpointConfigSchema, sinkConfigSchema, type CheckpointConfig, type ClickHouseConfig, type DetectionConfig, type KafkaConfig, type SinkConfigInput } from '../config/config.js';
import { CanaryChecker } from '../canary/checker.js';
import { KafkaSource } from '../consumers/kafka-source.js';
import type { SchemaRegistryConfig, SchemaRegistryDecoder } from '../consumers/schema-registry.js';
import { ensureTopic } from '../consumers/topics.js';
import type { Logger } from '../observability/logger.js';
import type { Health } from '../observability/health.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import type { LoadedContract } from '../contract/contract-file.js';
import { keepRuns, type KeepRunsOptions } from '../operators/keepRuns.js';
import { provenanceOf } from './provenance.js';
import { StateRegistry } from '../operators/state-registry.js';
import { loadActiveIds } from '../sinks/active-ids.js';
import { CheckpointStore, describe, type Checkpoint } from '../sinks/checkpoint-store.js';
import { CompletenessLedger } from '../sinks/completeness-ledger.js';
import { DeadLetterTopic } from '../sinks/dead-letter-topic.js';
import { createClickHouseClient } from '../sinks/clickhouse-client.js';
import { ClickHouseSink, removeProvisionalRows, withdrawProvisionalRows } from '../sinks/clickhouse-sink.js';
import { migrate } from '../sinks/migrations.js';
import { UserIdPseudonyms } from '../sinks/pseudonyms.js';
import { retryThroughOutage } from '../sinks/store-outage.js';
import { StopRequested } from '../errors.js';
import type { ActiveIdSeed } from '../operators/rules/contamination.js';
import { armFaultPoints } from './fault-points.js';
import { emptyStats, runMonitor, type MonitorStats, type VerdictSink } from './monitor.js';

export interface MonitorJobConfig {
  readonly kafka: KafkaConfig;
  readonly clickhouse: ClickHouseConfig;
  readonly detection: DetectionConfig;
  readonly sink: SinkConfigInput;
  /** Checkpoint interval, backpressure bound, shutdown bound (defaults when absent). */
  readonly checkpoint?: CheckpointConfig;
  /** bounded: up to the end offsets seen at start (replay); live: until stopped. */
  readonly mode: 'bounded' | 'live';
  readonly idleHeartbeatMs?: number;
  /** Also produce dead letters to this Kafka topic (Kafka Connect's dead-letter convention); created if missing. */
  readonly deadLetterTopic?: string;
  /** Decode schema-registry framed records (Avro, JSON Schema) with this registry. */
  readonly schemaRegistry?: SchemaRegistryConfig;
  /** The contract file judged with (--contract), for the rows' provenance; absent: the built-in one. */
  readonly contract?: LoadedContract;
  /** Also store every lifecycle event with its placement (table events; `runwatch audit reverify`). */
  readonly storeEvents?: boolean;
  /**
   * Live mode: store findings as provisional violations before they are final (early firing,
   * default on; false: --no-early-firing). Replays never do.
   */
  readonly earlyFiring?: boolean;
  /** Store user ids as keyed pseudonyms (--hash-user-ids): the key (RUNWATCH_USER_ID_KEY). */
  readonly userIdKey?: string;
  /** apply (default): migrate the store at start; check: refuse to start unless it is migrated (`runwatch migrate` by a DBA). */
  readonly migrations?: 'apply' | 'check';
  /**
   * A replay (runwatch replay, src/pipeline/replay.ts): read up to these end offsets (the group's
   * committed offsets say where it starts), keep the verdicts of the runs of its range, and tag every
   * row with its id. The active-id index starts empty: the replay's lead-in fills it.
   */
  readonly replay?: { readonly replayId: string; readonly endOffsets: ReadonlyMap<number, bigint>; readonly keep: KeepRunsOptions };
}

export interface MonitorJob {
  readonly done: Promise<MonitorStats>;
  readonly metrics: Metrics;
  /** Graceful stop: a last checkpoint (bounded in time), then `done` resolves. */
  stop(): void;
}

/**
 * Wires the real parts: Kafka source → monitor → ClickHouse sink (tables created if missing), and
 * restores the detector chain's state from the checkpoint matching the group's committed offsets.
 * Closes the consumer and the ClickHouse client when the job ends, however it ends.
 */
export interface MonitorJobOptions {
  /** Told the member's role (standby, active) for readiness. */
  readonly health?: Health;
  /** Aborted (SIGTERM during start-up): start-up stops at its next step, closes what it opened and throws StopRequested. */
  readonly signal?: AbortSignal;
  /** Told every batch ClickHouse acknowledged, to check canary runs (src/canary/checker.ts). */
  readonly canary?: CanaryChecker;
}

export async function startMonitorJob(config: MonitorJobConfig, logger: Logger, metrics: Metrics = createMetrics(), options: MonitorJobOptions = {}): Promise<MonitorJob> {
  const { health, signal } = options;
  armFaultPoints();
  const checkpointConfig = config.checkpoint ?? checkpointConfigSchema.parse({});
  const sinkConfig = sinkConfigSchema.parse(config.sink);
  const client = createClickHouseClient(config.clickhouse);
  // ClickHouse not answering yet (a server restarting) is waited out, as during the run.
  const outagePolicy = { maxBackoffMs: sinkConfig.maxBackoffMs, ...(sinkConfig.giveUpAfterMs === undefined ? {} : { giveUpAfterMs: sinkConfig.giveUpAfterMs }) };
  const whileStoreIsDown = { logger, metrics, ...outagePolicy, ...(signal === undefined ? {} : { signal }) };
  let source: KafkaSource | undefined;
  /** Between start-up steps: a stop requested meanwhile ends start-up here (no query is in flight). */
  const step = <T>(value: T): T => {
    if (signal?.aborted === true) throw new StopRequested();
    return value;
  };
  try {
    step(await retryThroughOutage('migrating the schema', () => migrate(client, config.clickhouse.database, { checkOnly: config.migrations === 'check' }), whileStoreIsDown));
    // Loaded only when used: the registry client and its Avro, JSON Schema and Protobuf libraries are
    // a fifth of the modules a start-up would otherwise load (a standby's start-up is CPU it pays).
    const framedDecoder = config.schemaRegistry === undefined ? undefined : await loadSchemaRegistryDecoder(config.schemaRegistry, logger, metrics);
    if (framedDecoder !== undefined && config.schemaRegistry !== undefined) step(await framedDecoder.checkApi(config.schemaRegistry));
    const prepareBatch = framedDecoder === undefined ? {} : { prepareBatch: framedDecoder.resolve.bind(framedDecoder) };
    const kafkaSource = new KafkaSource({ kafka: config.kafka, logger, mode: config.mode, metrics, ...prepareBatch, ...(config.replay === undefined ? {} : { endOffsets: config.replay.endOffsets }) });
    source = kafkaSource;
    // Active/standby (src/consumers/single-active-assigner.ts): a standby waits here until the
    // active member leaves or dies, then restores the checkpoint matching the offsets committed then.
    health?.setRole('standby');
    const activation = step(await untilStopped(kafkaSource.activation(), signal));
    if (activation.kind === 'finished') {
      await kafkaSource.close().catch((err: unknown) => logger.warn({ err }, 'closing the Kafka consumer failed'));
      await client.close();
      return { done: Promise.resolve(emptyStats()), metrics, stop: () => undefined };
    }
    health?.setRole('active');
    const checkpoints = new CheckpointStore(client, { database: config.clickhouse.database, groupId: config.kafka.groupId, topic: config.kafka.topic, logger });
    const committed = step(await kafkaSource.committedOffsets());
    const restored = step(await retryThroughOutage('reading checkpoints', () => checkpoints.loadMatching(committed), whileStoreIsDown));
    const state = new StateRegistry(restored === undefined ? undefined : StateRegistry.decode(restored.state));
    // A fresh start must not leave the isolation check blind: what was active before comes from the
    // store. A restored state has its own index (the seed would be stale next to it).
    // Pseudonymized store: its user ids cannot be compared with the raw ones of new events, so it
    // seeds nothing (a checkpoint, which holds the raw state, still restores the whole index).
    if (restored === undefined && config.replay === undefined && config.userIdKey !== undefined) logger.warn('user ids are stored hashed (--hash-user-ids): no checkpoint to restore, so the isolation check starts without the ids active before this start');
    const activeIds = restored === undefined && config.replay === undefined && config.userIdKey === undefined ? step(await retryThroughOutage('reading active ids', () => loadActiveIds(client, config.clickhouse.database, config.detection.activeUserWindowMs), whileStoreIsDown)) : undefined;
    if (activeIds !== undefined) logger.info({ runs: activeIds.runs.length, committed: describe(committed) }, 'no checkpoint to restore: fresh state, active-id index seeded from run_summaries');
    // Rows this group wrote at the end of an earlier bounded read judged runs that the restored
    // state holds open again: they give way before the group writes anything (final rows follow).
    // The ledger goes on from its last row, once the restored checkpoint's pending rows are in.
    const ledger = new CompletenessLedger(client, { database: config.clickhouse.database, groupId: config.kafka.groupId, topic: config.kafka.topic, replayId: config.replay?.replayId ?? '', provenance: provenanceOf(config.detection, config.contract), logger });
    step(await retryThroughOutage('restoring the completeness ledger', () => ledger.restore(restored?.ledgerPending), whileStoreIsDown));
    const removed = step(await retryThroughOutage('removing provisional rows', () => removeProvisionalRows(client, config.clickhouse.database, config.kafka.groupId), whileStoreIsDown));
    if (removed > 0) logger.info({ rows: removed, groupId: config.kafka.groupId }, 'reading on after a bounded read: its provisional rows (runs cut by the end of its input) removed; they are judged again when final');
    if (earlyFiringOn(config)) {
      const withdrawn = step(await retryThroughOutage('settling early-fired rows', () => withdrawProvisionalRows(client, config.clickhouse.database, config.kafka.topic), whileStoreIsDown));
      if (withdrawn > 0) logger.info({ rows: withdrawn, topic: config.kafka.topic }, 'early-fired rows left provisional by an earlier start withdrawn; what is fired again, or final, replaces them');
    }
    const partitions = config.mode === 'bounded' ? step(await kafkaSource.boundedPartitions()) : undefined;
    if (config.deadLetterTopic !== undefined) step(await ensureTopic(config.kafka, config.deadLetterTopic, 1));
    return run({ config, logger, metrics, client, source: kafkaSource, checkpoints, ledger, committed, state, restored, activeIds, partitions, sinkConfig, checkpointConfig, outagePolicy, framedDecoder, canary: options.canary });
  } catch (err) {
    await source?.close().catch(() => undefined);
    await client.close().catch(() => undefined);
    throw err;
  }
}

/** Early firing runs in live mode unless turned off (--no-early-firing). */
function earlyFiringOn(config: MonitorJobConfig): boolean {
  return config.mode === 'live' && config.earlyFiring !== false;
}

/** Resolves as `work` does, or rejects with StopRequested as soon as `signal` is aborted. */
function untilStopped<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new StopRequested());
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

interface Prepared {
  readonly config: MonitorJobConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly client: ReturnType<typeof createClickHouseClient>;
  readonly source: KafkaSource;
  readonly checkpoints: CheckpointStore;
  readonly ledger: CompletenessLedger;
  /** The group's committed offsets at start (where the ledger's first ranges start). */
  readonly committed: ReadonlyMap<number, number>;
  readonly state: StateRegistry;
  readonly restored: Checkpoint | undefined;
  readonly activeIds: ActiveIdSeed | undefined;
  readonly partitions: number[] | undefined;
  readonly sinkConfig: ReturnType<typeof sinkConfigSchema.parse>;
  readonly checkpointConfig: CheckpointConfig;
  readonly outagePolicy: { readonly maxBackoffMs: number; readonly giveUpAfterMs?: number };
  readonly framedDecoder: SchemaRegistryDecoder | undefined;
  readonly canary: CanaryChecker | undefined;
}

/** The job proper, once this member is active and its state restored. */
function run(prepared: Prepared): MonitorJob {
  const { config, logger, metrics, client, source, checkpoints, ledger, committed, state, restored, activeIds, partitions, sinkConfig, checkpointConfig, outagePolicy, framedDecoder, canary } = prepared;
  const sink = new ClickHouseSink(client, {
    database: config.clickhouse.database,
    logger,
    metrics,
    ...outagePolicy,
    ...(config.replay === undefined ? {} : { replayId: config.replay.replayId }),
    provenance: provenanceOf(config.detection, config.contract),
    ...(config.userIdKey === undefined ? {} : { pseudonyms: new UserIdPseudonyms(config.userIdKey) }),
  });
  const deadLetterTopic = config.deadLetterTopic === undefined ? undefined : new DeadLetterTopic(config.kafka, config.deadLetterTopic, logger);
  // Dead letters go to the topic first, then with the batch to ClickHouse (which the checkpoint
  // follows); canaries are checked on what ClickHouse acknowledged.
  const verdictSink: VerdictSink = {
    write: async (batch) => {
      if (deadLetterTopic !== undefined) await deadLetterTopic.publish(batch.deadLetters);
      await sink.write(batch);
      try {
        canary?.stored(batch);
      } catch (err) {
        // Checking canaries must never stop monitoring.
        logger.error({ err: String(err) }, 'canary check failed');
      }
    },
  };
  const started = Date.now();
  let latest: MonitorStats | undefined;
  const monitor = runMonitor({
    source,
    sink: verdictSink,
    detection: config.detection,
    sinkConfig,
    metrics,
    logger,
    ...(partitions === undefined ? {} : { partitions }),
    ...(framedDecoder === undefined ? {} : { framedDecoder }),
    ...(config.replay === undefined ? {} : { keepVerdicts: keepRuns(config.replay.keep) }),
    ...(config.storeEvents === true ? { storeEvents: true } : {}),
    ...(earlyFiringOn(config) ? { earlyFiring: true } : {}),
    ...(activeIds === undefined ? {} : { activeIds }),
    state,
    ...(restored === undefined ? {} : { startOffsets: restored.nextOffsets }),
    checkpoints,
    ledger,
    committedOffsets: committed,
    outagePolicy,
    checkpointIntervalMs: checkpointConfig.intervalMs,
    maxPendingRows: checkpointConfig.maxPendingRows,
    shutdownTimeoutMs: checkpointConfig.shutdownTimeoutMs,
    readerId: config.kafka.groupId,
    // Processing-time hints only in live mode: a replay's verdicts must not depend on the wall clock.
    ...(config.mode === 'live' && config.idleHeartbeatMs !== undefined ? { idleHeartbeatMs: config.idleHeartbeatMs } : {}),
    onProgress: (stats) => {
      latest = stats;
      logger.debug({ ...stats }, 'batch written');
    },
  });
  const progress = setInterval(() => logger.info({ elapsedMs: Date.now() - started, ...latest }, 'monitor progress'), 10_000);
  progress.unref();
  const done = monitor.done.finally(async () => {
    clearInterval(progress);
    await source.close().catch((err: unknown) => logger.warn({ err }, 'closing the Kafka consumer failed'));
    await deadLetterTopic?.close().catch((err: unknown) => logger.warn({ err }, 'closing the dead-letter producer failed'));
    await client.close();
    // The next job of this process (a standby again) must not export this one's engine.
    metrics.live.engine = undefined;
  });
  return { done, metrics, stop: monitor.stop };
}

async function loadSchemaRegistryDecoder(config: SchemaRegistryConfig, logger: Logger, metrics: Metrics): Promise<SchemaRegistryDecoder> {
  const registry = await import('../consumers/schema-registry.js');
  return new registry.SchemaRegistryDecoder(registry.createSchemaRegistryClient(config), logger, metrics);
}
