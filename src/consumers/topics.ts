import { logLevel } from 'kafkajs';
import { createKafka, type KafkaConnection } from './kafka-client.js';

export interface EnsureTopicOptions {
  /**
   * Create the topic with no time retention (`retention.ms=-1`). For topics of simulated traffic:
   * its record timestamps are historical, and a broker's default 7-day retention would delete
   * them at its next retention check. Has no effect on a topic that already exists.
   */
  readonly keepHistoricalRecords?: boolean;
}

/** Creates the topic if it does not exist yet (idempotent). */
export async function ensureTopic(kafka: readonly string[] | KafkaConnection, topic: string, numPartitions: number, options: EnsureTopicOptions = {}): Promise<void> {
  const connection: KafkaConnection = isBrokerList(kafka) ? { brokers: [...kafka] } : kafka;
  const admin = createKafka(connection, { clientId: 'runwatch-admin', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    const configEntries = options.keepHistoricalRecords === true ? [{ name: 'retention.ms', value: '-1' }] : [];
    if (!existing.includes(topic)) await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1, configEntries }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

function isBrokerList(kafka: readonly string[] | KafkaConnection): kafka is readonly string[] {
  return Array.isArray(kafka);
}
