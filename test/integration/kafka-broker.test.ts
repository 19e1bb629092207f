/**
 * Proves the test broker (test/global-setup.ts) is a real Kafka that the clients we rely on can
 * use: KafkaJS 2.2.4 is unmaintained and Kafka 4 removed old protocol versions, so produce and
 * classic consumer-group consume are checked end to end, and kcat (librdkafka, an independent
 * client) cross-checks that what KafkaJS writes is ordinary Kafka data.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, Partitioners, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const brokers = inject('kafkaBrokers');
const kafka = new Kafka({ clientId: 'runwatch-broker-test', brokers, logLevel: logLevel.WARN });
let admin: Admin;

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});
afterAll(async () => {
  await admin?.disconnect();
});

async function createTopic(numPartitions: number): Promise<string> {
  const topic = `broker-test-${randomUUID()}`;
  await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true });
  return topic;
}

async function produce(topic: string, messages: { key: string; value: string; partition?: number }[]): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({ topic, messages });
  } finally {
    await producer.disconnect();
  }
}

describe(`Kafka test broker (${inject('kafkaMode')} mode)`, () => {
  it('KafkaJS: a consumer group receives every one of 1000 messages over 3 partitions exactly once', async () => {
    const topic = await createTopic(3);
    const total = 1000;
    const sent = Array.from({ length: total }, (_, i) => ({ key: `k${i}`, value: `m${i}`, partition: i % 3 }));
    await produce(topic, sent);

    const seen = new Map<string, number>();
    const partitions = new Set<number>();
    const consumer = kafka.consumer({ groupId: `g-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let allArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (allArrived = resolve));
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const value = message.value?.toString() ?? '';
        seen.set(value, (seen.get(value) ?? 0) + 1);
        partitions.add(partition);
        if (seen.size === total) allArrived();
      },
    });
    try {
      await arrived;
      // Linger briefly so a duplicate delivery would be counted before we judge.
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await consumer.disconnect();
    }

    expect(seen.size).toBe(total);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect([...partitions].sort()).toEqual([0, 1, 2]);
  });

  it('kcat: consumes what KafkaJS produced, and produces what it then consumes', async () => {
    const kcatBin = findOnPath('kcat');
    const topic = await createTopic(2);
    const broker = brokers.join(',');

    const fromKafkaJs = Array.from({ length: 100 }, (_, i) => `js-${i}`);
    await produce(topic, fromKafkaJs.map((v, i) => ({ key: `k${i}`, value: v })));
    const fromKcat = Array.from({ length: 100 }, (_, i) => `kcat-${i}`);
    const produced = await run(kcatBin, ['-b', broker, '-t', topic, '-P', '-K', ':'], fromKcat.map((v, i) => `c${i}:${v}`).join('\n') + '\n');
    expect(produced.code, produced.stderr).toBe(0);

    // -e: exit once every partition's end is reached, so the read is bounded.
    const consumed = await run(kcatBin, ['-b', broker, '-t', topic, '-C', '-o', 'beginning', '-e', '-q', '-f', '%k=%s\\n']);
    expect(consumed.code, consumed.stderr).toBe(0);
    const lines = consumed.stdout.split('\n').filter((l) => l.length > 0);
    const values = lines.map((l) => l.slice(l.indexOf('=') + 1)).sort();
    expect(values).toEqual([...fromKafkaJs, ...fromKcat].sort());
    expect(lines).toContain('c7=kcat-7');
    expect(lines).toContain('k7=js-7');
  });
});

function findOnPath(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`${name} is not installed: it is the third-party client these tests check the broker with. Install the Debian package 'kcat' (apt-get install -y kcat); .ci/run does this.`);
}

function run(cmd: string, args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}
