/**
 * runwatch without its sink, for `npm run bench:e2e`: the real Kafka source, normalization and
 * detector chain of a bounded read (as `monitor --replay`), with every result discarded instead of
 * written to ClickHouse, and no checkpoints. The difference to the full replay is the sink's cost.
 *
 *   node --import tsx bench/e2e/chain-only.ts <brokers> <topic>
 */
import { randomUUID } from 'node:crypto';
import { detectionConfigSchema, kafkaConfigSchema } from '../../src/config/config.js';
import { KafkaSource } from '../../src/consumers/kafka-source.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { runMonitor } from '../../src/pipeline/monitor.js';

const [brokers, topic] = process.argv.slice(2);
if (brokers === undefined || topic === undefined) {
  process.stderr.write('usage: chain-only.ts <brokers> <topic>\n');
  process.exit(2);
}
const logger = createLogger('warn');
const metrics = createMetrics();
const kafka = kafkaConfigSchema.parse({ brokers: brokers.split(','), topic, groupId: `bench-chain-${randomUUID()}`, clientId: 'bench-chain' });
const source = new KafkaSource({ kafka, logger, mode: 'bounded', metrics });
const activation = await source.activation();
if (activation.kind === 'finished') throw new Error('nothing to read');
const partitions = await source.boundedPartitions();
const monitor = runMonitor({
  source,
  sink: { write: async () => undefined },
  detection: detectionConfigSchema.parse({}),
  sinkConfig: { batchRows: 5_000, flushIntervalMs: 1_000 },
  metrics,
  logger,
  partitions,
});
const stats = await monitor.done;
await source.close();
process.stdout.write(`${JSON.stringify(stats)}\n`);
