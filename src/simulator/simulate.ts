import { logLevel, Partitioners } from 'kafkajs';
import { createKafka, type KafkaConnection } from '../consumers/kafka-client.js';
import type { Logger } from '../observability/logger.js';
import { generateTraffic, type SimulatedTraffic, type TrafficOptions } from './generate.js';
import { publishTraffic, type PublishResult } from './publish.js';
import type { ValueFramer } from './registry-framing.js';

export interface SimulateOptions {
  readonly brokers: readonly string[];
  /** TLS and SASL for the producer (brokers as above). */
  readonly connection?: KafkaConnection;
  readonly topic: string;
  readonly traffic: TrafficOptions;
  readonly ratePerSecond?: number;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  /** Frame records for a schema registry (Avro or JSON Schema); plain JSON without it. */
  readonly framer?: ValueFramer;
}

/** Generates traffic and publishes it; returns the ground truth with what was sent. */
export async function simulate(options: SimulateOptions): Promise<{ traffic: SimulatedTraffic; published: PublishResult }> {
  const traffic = generateTraffic(options.traffic);
  const kafka = createKafka({ ...options.connection, brokers: options.brokers }, { clientId: 'runwatch-simulator', logLevel: logLevel.WARN });
  // The default partitioner (murmur2 of the key, as Java clients do): all runs of a thread share a partition.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    let lastLog = 0;
    const published = await publishTraffic(producer, options.topic, traffic.records, {
      ...(options.ratePerSecond === undefined ? {} : { ratePerSecond: options.ratePerSecond }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.framer === undefined ? {} : { framer: options.framer }),
      onProgress: (p) => {
        if (p.elapsedMs - lastLog < 2_000 && p.sent < p.total) return;
        lastLog = p.elapsedMs;
        options.logger.info({ sent: p.sent, total: p.total, elapsedMs: Math.round(p.elapsedMs) }, 'publishing simulated traffic');
      },
    });
    return { traffic, published };
  } finally {
    await producer.disconnect();
  }
}
