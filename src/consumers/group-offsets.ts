import type { Kafka } from 'kafkajs';
import { RunwatchError } from '../errors.js';

/** How long the helper consumer's fetch waits when it has nothing to fetch (all paused). */
const FETCH_WAIT_MS = 50;

/**
 * Sets a consumer group's committed offsets for one topic, as KafkaJS's `admin.setOffsets` does
 * (a consumer of the group joins, seeks, which commits, and leaves), but without its 5 s wait: that
 * consumer has every partition paused, so its first fetch sleeps its `maxWaitTime` (KafkaJS's
 * default, 5 s) before it can stop. Here the wait is 50 ms. The group must have no running member.
 */
export async function setGroupOffsets(kafka: Kafka, groupId: string, topic: string, offsets: ReadonlyMap<number, bigint | number>): Promise<void> {
  if (offsets.size === 0) return;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: FETCH_WAIT_MS, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const { state } = await consumer.describeGroup();
    if (state !== 'Empty' && state !== 'Dead') {
      throw new RunwatchError('CONFIG_INVALID', `consumer group ${groupId} has running members (state ${state}); its offsets can only be set while none runs`);
    }
    await new Promise<void>((resolve, reject) => {
      // The seeks are committed in the first fetch round, before FETCH is reported.
      consumer.on(consumer.events.FETCH, () => resolve());
      // KafkaJS reports a consumer that gave up (broker gone, group refused) as CRASH, not by rejecting run().
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
      consumer.run({ eachBatchAutoResolve: false, eachBatch: async () => undefined }).catch(reject);
      consumer.pause([{ topic }]);
      for (const [partition, offset] of offsets) consumer.seek({ topic, partition, offset: String(offset) });
    });
  } finally {
    await consumer.disconnect();
  }
}
