import { checkpointConfigSchema, sinkConfigSchema, type CheckpointConfig, type ClickHouseConfig, type DetectionConfig, type KafkaConfig, type SinkConfigInput } from '../config/config.js';
import { KafkaSource } from '../consumers/kafka-source.js';
import type { Logger } from '../observability/logger.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { StateRegistry } from '../operators/state-registry.js';
import { loadActiveIds } from '../sinks/active-ids.js';
import { CheckpointStore, describe } from '../sinks/checkpoint-store.js';
import { createClickHouseClient } from '../sinks/clickhouse-client.js';
import { ClickHouseSink, removeProvisionalRows } from '../sinks/clickhouse-sink.js';
import { migrate } from '../sinks/migrations.js';
import { retryThroughOutage } from '../sinks/store-outage.js';
import { armFaultPoints } from './fault-points.js';
import { emptyStats, runMonitor, type MonitorStats } from './monitor.js';

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
export async function startMonitorJob(config: MonitorJobConfig, logger: Logger, metrics: Metrics = createMetrics()): Promise<MonitorJob> {
  armFaultPoints();
  const checkpointConfig = config.checkpoint ?? checkpointConfigSchema.parse({});
  const sinkConfig = sinkConfigSchema.parse(config.sink);
  const client = createClickHouseClient(config.clickhouse);
  // ClickHouse not answering yet (a server restarting) is waited out, as during the run.
  const outagePolicy = { maxBackoffMs: sinkConfig.maxBackoffMs, ...(sinkConfig.giveUpAfterMs === undefined ? {} : { giveUpAfterMs: sinkConfig.giveUpAfterMs }) };
  const whileStoreIsDown = { logger, metrics, ...outagePolicy };
  await retryThroughOutage('creating the tables', () => migrate(client, config.clickhouse.database), whileStoreIsDown);
  const source = new KafkaSource({ kafka: config.kafka, logger, mode: config.mode, metrics });
  // Active/standby (src/consumers/single-active-assigner.ts): a standby waits here until the
  // active member leaves or dies, then restores the checkpoint matching the offsets committed then.
  const activation = await source.activation().catch(async (err: unknown) => {
    await source.close().catch(() => undefined);
    await client.close();
    throw err;
  });
  if (activation.kind === 'finished') {
    await source.close().catch((err: unknown) => logger.warn({ err }, 'closing the Kafka consumer failed'));
    await client.close();
    return { done: Promise.resolve(emptyStats()), metrics, stop: () => undefined };
  }
  const checkpoints = new CheckpointStore(client, { database: config.clickhouse.database, groupId: config.kafka.groupId, topic: config.kafka.topic, logger });
  const committed = await source.committedOffsets();
  const restored = await retryThroughOutage('reading checkpoints', () => checkpoints.loadMatching(committed), whileStoreIsDown);
  const state = new StateRegistry(restored === undefined ? undefined : StateRegistry.decode(restored.state));
  // A fresh start must not leave the isolation check blind: what was active before comes from the
  // store. A restored state has its own index (the seed would be stale next to it).
  const activeIds = restored === undefined ? await retryThroughOutage('reading active ids', () => loadActiveIds(client, config.clickhouse.database, config.detection.activeUserWindowMs), whileStoreIsDown) : undefined;
  if (activeIds !== undefined) logger.info({ runs: activeIds.runs.length, committed: describe(committed) }, 'no checkpoint to restore: fresh state, active-id index seeded from run_summaries');
  // Rows this group wrote at the end of an earlier bounded read judged runs that the restored
  // state holds open again: they give way before the group writes anything (final rows follow).
  const removed = await retryThroughOutage('removing provisional rows', () => removeProvisionalRows(client, config.clickhouse.database, config.kafka.groupId), whileStoreIsDown);
  if (removed > 0) logger.info({ rows: removed, groupId: config.kafka.groupId }, 'reading on after a bounded read: its provisional rows (runs cut by the end of its input) removed; they are judged again when final');
  const partitions = config.mode === 'bounded' ? await source.boundedPartitions() : undefined;
  const sink = new ClickHouseSink(client, {
    database: config.clickhouse.database,
    logger,
    metrics,
    ...outagePolicy,
  });
  const started = Date.now();
  let latest: MonitorStats | undefined;
  const monitor = runMonitor({
    source,
    sink,
    detection: config.detection,
    sinkConfig,
    metrics,
    logger,
    ...(partitions === undefined ? {} : { partitions }),
    ...(activeIds === undefined ? {} : { activeIds }),
    state,
    ...(restored === undefined ? {} : { startOffsets: restored.nextOffsets }),
    checkpoints,
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
    await client.close();
  });
  return { done, metrics, stop: monitor.stop };
}
