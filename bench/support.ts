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

/** Above this many records a bench topic is generated and published in chunks of CHUNK_RECORDS. */
const SINGLE_CHUNK_MAX_RECORDS = 2_000_000;
const CHUNK_RECORDS = 1_000_000;
/** Between chunks: longer than any run, and than the simulator's active-id horizon (5 min). */
const CHUNK_SEPARATION_MS = 3_600_000;

/**
 * Publishes at least `records` simulator records (every wire shape, injected faults) to a new topic
 * of 6 partitions. About 9 records per run in the simulator's default mix; grown once if short.
 * Above 2M records (a 10M-record replay) the traffic is generated and published a million at a
 * time, so the bench's own memory stays bounded: each chunk has its own seed and starts an hour
 * after the previous one's last record, so no run or active id spans two chunks.
 */
export async function publishBenchTopic(brokers: readonly string[], records: number, seed: number, label: string, log: (text: string) => void): Promise<BenchTopic> {
  const topic = `${label}-${randomUUID()}`;
  await ensureTopic([...brokers], topic, 6, { keepHistoricalRecords: true });
  const producer = createKafka({ brokers: [...brokers] }, { clientId: label, logLevel: logLevel.WARN }).producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const chunks = records <= SINGLE_CHUNK_MAX_RECORDS ? [records] : Array.from({ length: Math.ceil(records / CHUNK_RECORDS) }, (_, i) => Math.min(CHUNK_RECORDS, records - i * CHUNK_RECORDS));
  let published = 0;
  let from = Number.POSITIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  for (const [index, chunkRecords] of chunks.entries()) {
    const startTimeMs = index === 0 ? undefined : to + CHUNK_SEPARATION_MS;
    const options = (runs: number) => trafficOptionsSchema.parse({ seed: seed + index, runs, users: 2_000, ...(startTimeMs === undefined ? {} : { startTimeMs }) });
    let traffic = generateTraffic(options(Math.ceil(chunkRecords / 9)));
    if (traffic.records.length < chunkRecords) traffic = generateTraffic(options(Math.ceil((traffic.options.runs * chunkRecords * 1.02) / traffic.records.length)));
    log(`publishing ${traffic.records.length} records (${(traffic.records.reduce((sum, r) => sum + r.value.length, 0) / traffic.records.length).toFixed(0)} B per value on average)${chunks.length > 1 ? `: chunk ${index + 1} of ${chunks.length}, ${published} published so far` : ''}`);
    await publishTraffic(producer, topic, traffic.records, { batchSize: 2_000 });
    published += traffic.records.length;
    for (const r of traffic.records) {
      if (r.timestampMs < from) from = r.timestampMs;
      if (r.timestampMs > to) to = r.timestampMs;
    }
  }
  await producer.disconnect();
  return { topic, records: published, from: new Date(from).toISOString(), to: new Date(to + 1).toISOString() };
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
