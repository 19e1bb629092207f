/** What the replay and end-to-end benchmarks share: the topic they read, and how they summarize runs. */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Partitioners, logLevel } from 'kafkajs';
import { createKafka } from '../src/consumers/kafka-client.js';
import { ensureTopic } from '../src/consumers/topics.js';
import { generateTraffic, trafficOptionsSchema } from '../src/simulator/generate.js';
import { publishTraffic } from '../src/simulator/publish.js';

export interface BenchTopic {
  readonly topic: string;
  readonly records: number;
  /** Record times covered, ISO: [from, to) holds every record (for `runwatch replay`). */
  readonly from: string;
  readonly to: string;
}

/**
 * Publishes at least `records` simulator records (every wire shape, injected faults) to a new topic
 * of 6 partitions. About 9 records per run in the simulator's default mix; grown once if short.
 */
export async function publishBenchTopic(brokers: readonly string[], records: number, seed: number, label: string, log: (text: string) => void): Promise<BenchTopic> {
  const options = (runs: number) => trafficOptionsSchema.parse({ seed, runs, users: 2_000 });
  let traffic = generateTraffic(options(Math.ceil(records / 9)));
  if (traffic.records.length < records) traffic = generateTraffic(options(Math.ceil((traffic.options.runs * records * 1.02) / traffic.records.length)));
  const topic = `${label}-${randomUUID()}`;
  await ensureTopic([...brokers], topic, 6, { keepHistoricalRecords: true });
  log(`publishing ${traffic.records.length} records (${(traffic.records.reduce((sum, r) => sum + r.value.length, 0) / traffic.records.length).toFixed(0)} B per value on average)`);
  const producer = createKafka({ brokers: [...brokers] }, { clientId: label, logLevel: logLevel.WARN }).producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await publishTraffic(producer, topic, traffic.records, { batchSize: 2_000 });
  await producer.disconnect();
  const timestamps = traffic.records.map((r) => r.timestampMs);
  return {
    topic,
    records: traffic.records.length,
    from: new Date(timestamps.reduce((a, b) => Math.min(a, b))).toISOString(),
    to: new Date(timestamps.reduce((a, b) => Math.max(a, b)) + 1).toISOString(),
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** User + system CPU seconds of a process, sampled from /proc until it is gone (the last sample counts). */
export function cpuOf(pid: number | undefined): { readonly seconds: () => number } {
  let ticks = 0;
  const timer = setInterval(() => {
    try {
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks = Number(fields[11]) + Number(fields[12]);
    } catch {
      clearInterval(timer); // gone: the last sample stands
    }
  }, 50);
  return { seconds: () => ticks / TICKS_PER_SECOND };
}
