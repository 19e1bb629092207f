import type { ClickHouseConfig, DetectionConfig, KafkaConfig, SinkConfig } from '../config/config.js';
import { KafkaSource } from '../consumers/kafka-source.js';
import type { Logger } from '../observability/logger.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { createClickHouseClient } from '../sinks/clickhouse-client.js';
import { loadActiveIds } from '../sinks/active-ids.js';
import { ClickHouseSink } from '../sinks/clickhouse-sink.js';
import { migrate } from '../sinks/migrations.js';
import { runMonitor, type MonitorStats } from './monitor.js';

export interface MonitorJobConfig {
  readonly kafka: KafkaConfig;
  readonly clickhouse: ClickHouseConfig;
  readonly detection: DetectionConfig;
  readonly sink: SinkConfig;
  /** bounded: up to the end offsets seen at start (replay); live: until stopped. */
  readonly mode: 'bounded' | 'live';
  readonly idleHeartbeatMs?: number;
}

export interface MonitorJob {
  readonly done: Promise<MonitorStats>;
  readonly metrics: Metrics;
  stop(): void;
}

/**
 * Wires the real parts: Kafka source → monitor → ClickHouse sink (tables created if missing).
 * Closes the consumer and the ClickHouse client when the job ends, however it ends.
 */
export async function startMonitorJob(config: MonitorJobConfig, logger: Logger, metrics: Metrics = createMetrics()): Promise<MonitorJob> {
  const client = createClickHouseClient(config.clickhouse);
  await migrate(client, config.clickhouse.database);
  // Rule (c) must not be blind after a restart or deploy: what was active before comes from the store.
  const activeIds = await loadActiveIds(client, config.clickhouse.database, config.detection.activeUserWindowMs);
  logger.info({ runs: activeIds.runs.length }, 'restored the active-id index from run_summaries');
  const source = new KafkaSource({ kafka: config.kafka, logger, mode: config.mode, metrics });
  const partitions = config.mode === 'bounded' ? await source.boundedPartitions() : undefined;
  const sink = new ClickHouseSink(client, { database: config.clickhouse.database, logger, metrics });
  const started = Date.now();
  let latest: MonitorStats | undefined;
  const monitor = runMonitor({
    source,
    sink,
    detection: config.detection,
    sinkConfig: config.sink,
    metrics,
    logger,
    ...(partitions === undefined ? {} : { partitions }),
    activeIds,
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
