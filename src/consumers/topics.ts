import { Kafka, logLevel } from 'kafkajs';

/** Creates the topic if it does not exist yet (idempotent). */
export async function ensureTopic(brokers: readonly string[], topic: string, numPartitions: number): Promise<void> {
  const admin = new Kafka({ clientId: 'runwatch-admin', brokers: [...brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}
