import { Kafka, logLevel } from 'kafkajs';

export interface EnsureTopicOptions {
  /**
   * Create the topic with no time retention (`retention.ms=-1`). For topics of simulated traffic:
   * its record timestamps are historical, and a broker's default 7-day retention would delete
   * them at its next retention check. Has no effect on a topic that already exists.
   */
  readonly keepHistoricalRecords?: boolean;
}

/** Creates the topic if it does not exist yet (idempotent). */
export async function ensureTopic(brokers: readonly string[], topic: string, numPartitions: number, options: EnsureTopicOptions = {}): Promise<void> {
  const admin = new Kafka({ clientId: 'runwatch-admin', brokers: [...brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    const configEntries = options.keepHistoricalRecords === true ? [{ name: 'retention.ms', value: '-1' }] : [];
    if (!existing.includes(topic)) await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1, configEntries }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}
