/**
 * KafkaSource's bounded read on a real broker: it must end exactly at the end offsets it saw at
 * start, whatever sits at the tail of a partition. A transactional producer ends every partition
 * with a commit or abort marker (a control record the consumer never hands to eachBatch), and an
 * aborted transaction leaves records a read-committed consumer must skip.
 */
import { randomUUID } from 'node:crypto';
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { firstValueFrom, filter, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, inject, it } from 'vitest';
import { kafkaConfigSchema } from '../../src/config/config.js';
import { KafkaSource } from '../../src/consumers/kafka-source.js';
import { ensureTopic } from '../../src/consumers/topics.js';
import { RunwatchError } from '../../src/errors.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';

const brokers = inject('kafkaBrokers');
const kafka = new Kafka({ clientId: 'runwatch-source-test', brokers, logLevel: logLevel.WARN });

async function readToEnd(topic: string, stallTimeoutMs = 60_000): Promise<string[]> {
  const source = new KafkaSource({ kafka: kafkaConfigSchema.parse({ brokers, topic, groupId: `source-test-${randomUUID()}`, stallTimeoutMs }), logger: createLogger('info'), mode: 'bounded' });
  try {
    const records = await lastValueFrom(source.records$().pipe(toArray()));
    return records.map((r) => `${r.partition}:${r.value?.toString() ?? ''}`).sort();
  } finally {
    await source.close();
  }
}

async function inTransaction(topic: string, transactionalId: string, messages: { partition: number; value: string }[], outcome: 'commit' | 'abort'): Promise<void> {
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const transaction = await producer.transaction();
    await transaction.send({ topic, messages });
    await (outcome === 'commit' ? transaction.commit() : transaction.abort());
  } finally {
    await producer.disconnect();
  }
}

describe('KafkaSource (real broker)', () => {
  it('ends at the end offsets of a transactional topic, with every committed record and no aborted one', async () => {
    const topic = `source-test-${randomUUID()}`;
    await ensureTopic(brokers, topic, 3);
    const transactionalId = `tx-${randomUUID()}`;
    const committed = Array.from({ length: 40 }, (_, i) => ({ partition: i % 2, value: `committed-${i}` }));
    await inTransaction(topic, transactionalId, committed.slice(0, 20), 'commit');
    await inTransaction(topic, transactionalId, [{ partition: 0, value: 'aborted-0' }, { partition: 1, value: 'aborted-1' }], 'abort');
    await inTransaction(topic, transactionalId, committed.slice(20), 'commit');
    // Partition 2 holds nothing but an aborted transaction: no batch of it ever reaches eachBatch.
    await inTransaction(topic, transactionalId, [{ partition: 2, value: 'aborted-2' }], 'abort');

    const read = await readToEnd(topic);

    expect(read).toEqual(committed.map((m) => `${m.partition}:${m.value}`).sort());
  }, 120_000);

  it('fails with SOURCE_FAILED, naming where each partition stands, when a read stops making progress', async () => {
    // A sink that stops accepting holds the consumer back (afterBatch never settles): no progress.
    const topic = `source-test-${randomUUID()}`;
    await ensureTopic(brokers, topic, 1);
    await inTransaction(topic, `tx-${randomUUID()}`, [{ partition: 0, value: 'committed-0' }, { partition: 0, value: 'committed-1' }], 'commit');
    let releaseSink!: () => void;
    const sinkStuck = new Promise<void>((resolve) => (releaseSink = resolve));
    const source = new KafkaSource({
      kafka: kafkaConfigSchema.parse({ brokers, topic, groupId: `source-test-${randomUUID()}`, stallTimeoutMs: 2_000 }),
      logger: createLogger('silent'),
      mode: 'bounded',
      afterBatch: () => sinkStuck,
    });
    try {
      const read = lastValueFrom(source.records$().pipe(toArray()));
      await expect(read).rejects.toMatchObject({ code: 'SOURCE_FAILED', message: expect.stringContaining('stalled') });
      await expect(read).rejects.toThrow(/"partition":0,"endOffset":"3","readUpTo":"-1"/);
    } finally {
      releaseSink(); // KafkaJS waits for the batch in progress before it disconnects
      await source.close();
    }
  }, 60_000);

  it('ends at once, reading nothing, on a topic with no records', async () => {
    const topic = `source-test-${randomUUID()}`;
    await ensureTopic(brokers, topic, 2);
    expect(await readToEnd(topic)).toEqual([]);
  });

  it('fails with SOURCE_FAILED instead of hanging when the topic does not exist', async () => {
    const read = readToEnd(`source-test-missing-${randomUUID()}`, 5_000);
    await expect(read).rejects.toBeInstanceOf(RunwatchError);
    await expect(read).rejects.toMatchObject({ code: 'SOURCE_FAILED' });
  });

  it('keeps records with historical timestamps: no time retention on the test broker or on topics of simulated traffic', async () => {
    // Simulated records carry 2025 timestamps; a 7-day retention deleted them 30 s after the
    // broker started, in the middle of a replay (reproduced: .ci flakes of stops 4 and 5).
    const plain = `source-test-${randomUUID()}`;
    const simulated = `source-test-${randomUUID()}`;
    await ensureTopic(brokers, plain, 1);
    await ensureTopic(brokers, simulated, 1, { keepHistoricalRecords: true });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const described = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [plain, simulated].map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms'] })),
      });
      const retention = Object.fromEntries(described.resources.map((r) => [r.resourceName, r.configEntries.find((e) => e.configName === 'retention.ms')?.configValue]));
      expect(retention).toEqual({ [plain]: '-1', [simulated]: '-1' });
    } finally {
      await admin.disconnect();
    }
  });

  it('counts and reports records deleted under a read (KafkaJS jumps to the earliest offset left)', async () => {
    const topic = `source-test-${randomUUID()}`;
    await ensureTopic(brokers, topic, 1);
    const producer = kafka.producer();
    const admin = kafka.admin();
    await Promise.all([producer.connect(), admin.connect()]);
    const send = (from: number, to: number) => producer.send({ topic, messages: Array.from({ length: to - from }, (_, i) => ({ partition: 0, value: `r${from + i}` })) });
    await send(0, 10);
    await admin.fetchTopicMetadata({ topics: [topic] }); // deleteTopicRecords needs it cached
    let deleted = false;
    const metrics = createMetrics();
    const source = new KafkaSource({
      kafka: kafkaConfigSchema.parse({ brokers, topic, groupId: `source-test-${randomUUID()}` }),
      logger: createLogger('silent'),
      mode: 'live',
      metrics,
      // After the first batch (offsets 0-9): ten more records, then retention-like deletion of all before offset 15.
      afterBatch: async () => {
        if (deleted) return;
        deleted = true;
        await send(10, 20);
        await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '15' }] });
      },
    });
    try {
      const seen: string[] = [];
      await firstValueFrom(source.records$().pipe(filter((r) => seen.push(`${r.offset}:${r.value?.toString() ?? ''}`) > 0 && r.offset === 19)));
      expect(seen).toEqual([...Array.from({ length: 10 }, (_, i) => `${i}:r${i}`), '15:r15', '16:r16', '17:r17', '18:r18', '19:r19']);
      const skipped = await metrics.skippedOffsets.get();
      expect(skipped.values).toEqual([{ labels: { partition: '0' }, value: 5 }]);
    } finally {
      await source.close();
      await Promise.all([producer.disconnect(), admin.disconnect()]);
    }
  }, 60_000);
});
