/**
 * setGroupOffsets (how `runwatch replay` sets its fresh group to the planned start), checked with
 * Kafka's own kafka-consumer-groups tool: the committed offsets are exactly those given, the group
 * is left without members, and a group with a running member is refused.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { setGroupOffsets } from '../../src/consumers/group-offsets.js';
import { ensureTopic } from '../../src/consumers/topics.js';
import { describeGroupOffsets } from '../support/kafka-tools.js';

const brokers = inject('kafkaBrokers');

describe('setGroupOffsets (real broker, read back with kafka-consumer-groups)', () => {
  it('commits exactly the given offsets for a group with no members, and refuses a group with a running member', async () => {
    const topic = `group-offsets-${randomUUID()}`;
    await ensureTopic(brokers, topic, 3, { keepHistoricalRecords: true });
    const kafka = new Kafka({ clientId: 'group-offsets-test', brokers: [...brokers], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    for (const partition of [0, 1, 2]) await producer.send({ topic, acks: -1, messages: Array.from({ length: 12 }, (_, i) => ({ partition, value: `r${i}` })) });
    await producer.disconnect();

    const group = `group-offsets-${randomUUID()}`;
    await setGroupOffsets(kafka, group, topic, new Map([[0, 3n], [1, 0n], [2, 12n]]));
    expect(await describeGroupOffsets(brokers, group, topic)).toEqual(new Map([[0, 3], [1, 0], [2, 12]]));
    const admin = kafka.admin();
    await admin.connect();
    const { groups } = await admin.describeGroups([group]);
    await admin.disconnect();
    expect(groups.map((g) => [g.state, g.members.length])).toEqual([['Empty', 0]]);

    // Set again, elsewhere: the newest offsets win.
    await setGroupOffsets(kafka, group, topic, new Map([[0, 7n], [1, 5n], [2, 1n]]));
    expect(await describeGroupOffsets(brokers, group, topic)).toEqual(new Map([[0, 7], [1, 5], [2, 1]]));

    const member = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100 });
    await member.connect();
    await member.subscribe({ topic });
    let joined!: () => void;
    const hasJoined = new Promise<void>((resolve) => (joined = resolve));
    member.on(member.events.GROUP_JOIN, () => joined());
    await member.run({ eachBatch: async () => undefined, autoCommit: false });
    await hasJoined;
    try {
      await expect(setGroupOffsets(kafka, group, topic, new Map([[0, 0n]]))).rejects.toThrow(/running members/);
    } finally {
      await member.disconnect();
    }
  });
});
