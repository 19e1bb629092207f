// Throwaway: repeat bounded reads of one topic under CPU load to catch the stall.
import { randomUUID } from 'node:crypto';
import { lastValueFrom, count } from 'rxjs';
import { kafkaConfigSchema } from './src/config/config.js';
import { KafkaSource } from './src/consumers/kafka-source.js';
import { ensureTopic } from './src/consumers/topics.js';
import { createLogger } from './src/observability/logger.js';
import { simulate } from './src/simulator/simulate.js';
import { startLocalBroker } from './src/infra/local-broker.js';
const broker = await startLocalBroker();
const brokers = broker.brokers;
const topic = `stress-${randomUUID()}`;
await ensureTopic(brokers, topic, 4);
const published = await simulate({ brokers, topic, traffic: { seed: 20261125, runs: 1_500, users: 120, missingEventFraction: 0.05 }, logger: createLogger('warn') });
const expected = published.traffic.records.length;
const logger = createLogger('info');
for (let i = 0; i < Number(process.env.ITER ?? 40); i++) {
  const source = new KafkaSource({ kafka: kafkaConfigSchema.parse({ brokers, topic, groupId: `stress-${randomUUID()}`, stallTimeoutMs: 20_000 }), logger, mode: 'bounded' });
  const t0 = Date.now();
  try {
    const n = await lastValueFrom(source.records$().pipe(count()));
    console.error(`iter ${i}: ${n}/${expected} in ${Date.now() - t0} ms`);
  } catch (err) {
    console.error(`iter ${i}: FAILED after ${Date.now() - t0} ms: ${String(err)}`);
  } finally {
    await source.close();
  }
}
await broker.stop();
process.exit(0);
