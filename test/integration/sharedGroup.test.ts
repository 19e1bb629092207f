/**
 * Two monitors in one consumer group (scale-out is not built yet: one checkpoint holds every
 * partition's state). The real broker splits the partitions between them; each must say so loudly
 * instead of quietly judging half the input.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, inject, it } from 'vitest';
import { kafkaConfigSchema } from '../../src/config/config.js';
import { KafkaSource } from '../../src/consumers/kafka-source.js';
import { ensureTopic } from '../../src/consumers/topics.js';

const brokers = inject('kafkaBrokers');

function capturingLogger(lines: string[]) {
  return pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString('utf8')), done()) }));
}

describe('two instances in one consumer group', () => {
  it('each logs an error naming the other member once the group has both', async () => {
    const topic = `shared-${randomUUID()}`;
    const groupId = `shared-${randomUUID()}`;
    await ensureTopic(brokers, topic, 2);
    const logs: string[][] = [[], []];
    const sources = logs.map((lines) => new KafkaSource({ kafka: kafkaConfigSchema.parse({ brokers, topic, groupId, sessionTimeoutMs: 6_000 }), logger: capturingLogger(lines), mode: 'live' }));
    const subscriptions = sources.map((source) => (source.items$?.() ?? source.records$()).subscribe());
    try {
      const deadline = Date.now() + 60_000;
      const warned = (lines: string[]) => lines.some((l) => l.includes('another runwatch instance is in this consumer group'));
      while (!logs.every(warned) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(logs.map(warned)).toEqual([true, true]);
      const line = JSON.parse(logs[0]?.find((l) => l.includes('another runwatch instance')) ?? '{}') as { level?: number; members?: unknown[] };
      expect(line.level).toBe(50); // error
      expect(line.members).toHaveLength(2);
    } finally {
      subscriptions.forEach((s) => s.unsubscribe());
      await Promise.all(sources.map((s) => s.close()));
    }
  }, 90_000);
});
