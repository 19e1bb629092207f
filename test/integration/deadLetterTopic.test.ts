/**
 * Dead letters produced to a Kafka topic in Kafka Connect's convention, read back with kcat (a
 * third-party client): for every record the monitor could not read, the original key, value and
 * headers, plus __connect.errors.* headers naming the source topic, partition, offset and reason.
 * The same records are dead letters in ClickHouse too.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { ensureTopic } from '../../src/consumers/topics.js';
import { CONNECT_ERROR_HEADERS } from '../../src/sinks/dead-letter-topic.js';
import { generateTraffic } from '../oracle/producers.js';
import { freshDataPath, publish, startMonitorProcess } from '../support/crash-harness.js';

const brokers = inject('kafkaBrokers');

const BAD = [
  { value: '{not json', reason: 'invalid JSON' },
  { value: '[1,2,3]', reason: 'record is not a JSON object' },
  { value: '{"type":"agent_started","timestamp":"2025-09-18T12:00:00+00:00"}', reason: 'missing run_id' },
  { value: '{"run_id":"r-1","timestamp":"2025-09-18T12:00:00+00:00"}', reason: 'missing field: type' },
];

const kcatRecord = z.object({ partition: z.number(), offset: z.number(), key: z.string().nullable(), payload: z.string().nullable(), headers: z.array(z.string()).optional() });

describe('dead-letter topic (Kafka Connect convention), read with kcat', () => {
  it('holds every record the monitor could not read: original key, value and headers, and where it came from and why', async () => {
    const topic = `dlq-source-${randomUUID()}`;
    const deadLetterTopic = `dlq-${randomUUID()}`;
    const traffic = generateTraffic({ seed: 77, runs: 60, users: 10, partitions: 2, faultFraction: 0 });
    await ensureTopic(brokers, topic, 2, { keepHistoricalRecords: true });
    await publish(brokers, topic, traffic.records);
    const producer = new Kafka({ clientId: 'dlq-test', brokers: [...brokers], logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    const sent: Array<{ key: string; value: string; offset: number; reason: string }> = [];
    for (const [i, bad] of BAD.entries()) {
      const key = `bad-${i}`;
      const [meta] = await producer.send({ topic, acks: -1, messages: [{ partition: 1, key, value: bad.value, headers: { 'trace-id': `trace-${i}` } }] });
      sent.push({ key, value: bad.value, offset: Number(meta?.baseOffset), reason: bad.reason });
    }
    await producer.disconnect();

    const monitor = startMonitorProcess({ brokers, topic, group: `dlq-${randomUUID()}`, dataPath: await freshDataPath(), database: 'runwatch_dlq', replay: true, extraArgs: ['--dead-letter-topic', deadLetterTopic] });
    expect((await monitor.exited).code, monitor.logLines.slice(-5).join('\n')).toBe(0);
    const stats = z.object({ deadLetters: z.number() }).parse(JSON.parse(monitor.outLines.at(-1) ?? '{}'));
    expect(stats.deadLetters).toBe(BAD.length);

    const kcat = spawnSync('kcat', ['-b', brokers.join(','), '-C', '-t', deadLetterTopic, '-e', '-q', '-J'], { encoding: 'utf8', timeout: 60_000 });
    expect(kcat.status, kcat.stderr).toBe(0);
    const records = kcat.stdout.trim().split('\n').filter((l) => l !== '').map((l) => kcatRecord.parse(JSON.parse(l)));
    expect(records).toHaveLength(BAD.length);
    for (const expected of sent) {
      const record = records.find((r) => r.key === expected.key);
      expect(record, `dead letter of ${expected.key}`).toBeDefined();
      expect(record?.payload).toBe(expected.value);
      const headers = new Map<string, string>();
      const flat = record?.headers ?? [];
      for (let i = 0; i + 1 < flat.length; i += 2) headers.set(flat[i] ?? '', flat[i + 1] ?? '');
      expect(headers.get('trace-id')).toBe(`trace-${expected.key.slice(4)}`);
      expect(headers.get(CONNECT_ERROR_HEADERS.topic)).toBe(topic);
      expect(headers.get(CONNECT_ERROR_HEADERS.partition)).toBe('1');
      expect(headers.get(CONNECT_ERROR_HEADERS.offset)).toBe(String(expected.offset));
      expect(headers.get(CONNECT_ERROR_HEADERS.exceptionMessage)).toContain(expected.reason);
    }
  }, 180_000);
});
