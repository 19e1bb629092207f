/**
 * Two monitors' sources in one consumer group on the real broker: one is active and holds every
 * partition, the other stands by (no partition, no record) and takes over when the active one
 * leaves; a standby joining never moves the partitions (src/consumers/single-active-assigner.ts).
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, inject, it } from 'vitest';
import { kafkaConfigSchema } from '../../src/config/config.js';
import { isSourceRecord, KafkaSource, type Activation, type SourceItem } from '../../src/consumers/kafka-source.js';
import { ensureTopic } from '../../src/consumers/topics.js';
import { publish } from '../support/crash-harness.js';

const brokers = inject('kafkaBrokers');

function capturingLogger(lines: string[]) {
  return pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString('utf8')), done()) }));
}

async function until(what: string, condition: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const records = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ partition: (from + i) % 3, offset: Math.floor((from + i) / 3), key: `k${from + i}`, value: `{"n":${from + i}}`, timestampMs: 1_700_000_000_000 + from + i }));

describe('two instances in one consumer group: active and standby', () => {
  it('gives every partition to the first, none to the second until the first leaves; then the second takes all', async () => {
    const topic = `shared-${randomUUID()}`;
    const groupId = `shared-${randomUUID()}`;
    await ensureTopic(brokers, topic, 3);
    const logs: string[][] = [[], []];
    const sources = logs.map((lines) => new KafkaSource({ kafka: kafkaConfigSchema.parse({ brokers, topic, groupId, sessionTimeoutMs: 6_000 }), logger: capturingLogger(lines), mode: 'live' }));
    const [first, second] = sources as [KafkaSource, KafkaSource];
    const items: SourceItem[][] = [[], []];
    try {
      const firstActivation = await first.activation();
      expect(firstActivation).toEqual({ kind: 'active', partitions: [0, 1, 2] });
      const firstItems = first.items$().subscribe((item) => items[0]?.push(item));
      let secondActivation: Activation | undefined;
      void second.activation().then((a) => (secondActivation = a));
      await until('the second member to stand by', () => logs[1]?.some((l) => l.includes('standby: another member of the group is active')) === true);
      await until('the active member to see its standby', () => logs[0]?.some((l) => l.includes('"standbys":1')) === true);
      await publish(brokers, topic, records(0, 30));
      await until('the active member to read every record', () => items[0]?.filter(isSourceRecord).length === 30);
      expect(secondActivation).toBeUndefined();

      // The active one leaves: the standby now holds every partition and reads on from the committed offsets.
      await first.commit(new Map([[0, 10], [1, 10], [2, 10]]));
      firstItems.unsubscribe();
      await first.close();
      await until('the standby to take over', () => secondActivation !== undefined);
      expect(secondActivation).toEqual({ kind: 'active', partitions: [0, 1, 2] });
      const secondItems = second.items$().subscribe((item) => items[1]?.push(item));
      await publish(brokers, topic, records(30, 3));
      await until('the new active member to read on from the committed offsets', () => items[1]?.filter(isSourceRecord).length === 3);
      expect(items[1]?.filter(isSourceRecord).map((r) => r.value?.toString()).sort()).toEqual(['{"n":30}', '{"n":31}', '{"n":32}']);
      secondItems.unsubscribe();
    } finally {
      await Promise.all(sources.map((s) => s.close().catch(() => undefined)));
    }
  }, 120_000);
});
