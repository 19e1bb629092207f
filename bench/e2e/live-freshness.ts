/**
 * The live-freshness mode of `npm run bench:e2e -- --live` (issue 13): how soon after Kafka
 * acknowledged the record that reveals it a verdict can be queried.
 *
 * A live `runwatch monitor` (a process of its own, the CLI) writes to a ClickHouse HTTP endpoint
 * (the engine behind it, test/support/chdb-http-server.ts) while this script publishes runs at a
 * steady rate, each event at its own time (timestamps near now), one send per 10 ms tick, acks
 * from all replicas; and polls the tables every POLL_MS (100 ms) through the same endpoint. It measures, from
 * the acknowledgement of the record to the first poll that sees the row:
 *   - a delivery-latency or content violation (any status: provisional counts, it is queryable);
 *   - the same violation once final;
 *   - a run's missing_events (a run without tool_completed), any status and final, from the ack of
 *     its agent_completed;
 *   - the summary of a completed run (from the ack of its agent_completed).
 * Run with and without early firing (--no-early-firing), alternating, same traffic shape: the
 * baseline is in the same run. Numbers, not a pass/fail.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { logLevel, type Producer } from 'kafkajs';
import { z } from 'zod';
import { createKafka } from '../../src/consumers/kafka-client.js';
import { ensureTopic } from '../../src/consumers/topics.js';
import { projectRoot } from '../../src/infra/broker-config.js';
import { samplePeakRss } from '../../test/support/crash-harness.js';

const PARTITIONS = 6;
const TICK_MS = 10;
const POLL_MS = 100;
/** Event-time spacing of a run's five events. */
const STEP_MS = 100;
const TYPES = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const;
/** A run in this many gets agent_started delivered late (CRITICAL latency); as many others a blank reasoning. */
const FAULT_EVERY = 40;
const LATE_BY_MS = 2_500;
/** Run ids are unique across every publishing call of the process. */
let nextRunIndex = 0;

export interface LiveFreshnessOptions {
  readonly brokers: readonly string[];
  readonly storeUrl: string;
  readonly ratePerSecond: number;
  readonly seconds: number;
  readonly earlyFiring: boolean;
  /** More monitor flags, e.g. a checkpoint interval (LIVE_MONITOR_ARGS). */
  readonly monitorArgs: readonly string[];
  readonly log: (text: string) => void;
}

export interface Distribution {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface LiveFreshnessResult {
  readonly earlyFiring: boolean;
  readonly published: number;
  readonly publishedPerSecond: number;
  readonly faultsExpected: number;
  readonly anyStatus: Distribution;
  readonly final: Distribution;
  readonly runSummary: Distribution;
  /** Runs without tool_completed, and their missing_events from the ack of their agent_completed. */
  readonly runFaultsExpected: number;
  readonly missingAnyStatus: Distribution;
  readonly missingFinal: Distribution;
  readonly peakRssMb: number;
}

interface Planned {
  readonly atMs: number;
  readonly partition: number;
  readonly value: string;
  readonly runId: string;
  readonly faulty: boolean;
  /** The record that reveals its run's missing_events (the run's agent_completed, the run lacking tool_completed). */
  readonly runFault: boolean;
  readonly last: boolean;
}

/** One run's events, flat wire shape, keyed (partition) by thread; `fault` 1: late start, 2: blank reasoning, 3: no tool_completed. */
function plannedRun(index: number, startMs: number): Planned[] {
  const runId = `fresh_run_${index}`;
  const user = `fresh_user_${index % 500}`;
  const thread = `fresh_thread_${index % 2_000}`;
  const partition = (index % 2_000) % PARTITIONS;
  const fault = index % FAULT_EVERY === 0 ? 1 : index % FAULT_EVERY === FAULT_EVERY / 2 ? 2 : index % FAULT_EVERY === FAULT_EVERY / 4 ? 3 : 0;
  return TYPES.filter((type) => !(fault === 3 && type === 'tool_completed')).map((type) => {
    const i = TYPES.indexOf(type);
    const atMs = startMs + i * STEP_MS;
    const emittedMs = fault === 1 && i === 0 ? atMs - LATE_BY_MS : atMs;
    const body: Record<string, unknown> = { type, run_id: runId, thread_id: thread, user_id: user, agent_name: 'fresh_agent', timestamp: new Date(emittedMs).toISOString(), critical: true };
    if (type === 'agent_thinking') body['reasoning'] = fault === 2 ? '   ' : 'looking at the request';
    if (type === 'tool_executing' || type === 'tool_completed') Object.assign(body, { tool_name: 'search', execution_id: `${runId}_x1` });
    if (type === 'tool_completed') body['result'] = 'ok';
    return { atMs, partition, value: JSON.stringify(body), runId, faulty: (fault === 1 && i === 0) || (fault === 2 && type === 'agent_thinking'), runFault: fault === 3 && type === 'agent_completed', last: type === 'agent_completed' };
  });
}

function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? Number.NaN };
}

/** Kafka's acknowledgement times of the records that reveal something. */
interface Acks {
  /** Per-event findings, by "partition:offset". */
  readonly faults: Map<string, number>;
  /** A run's missing_events, by run id (its agent_completed). */
  readonly runFaults: Map<string, number>;
  /** Each run's agent_completed, by run id. */
  readonly lastOfRun: Map<string, number>;
}

/** Publishes what is due each tick, one acknowledged send at a time; returns ack times by "partition:offset". */
async function publishSteadily(producer: Producer, topic: string, options: LiveFreshnessOptions, acks: Acks): Promise<{ published: number; elapsedMs: number }> {
  const runsPerSecond = options.ratePerSecond / TYPES.length;
  const startedAt = Date.now();
  const endAt = startedAt + options.seconds * 1_000;
  const due: Planned[] = [];
  let runsPlanned = 0;
  const firstRun = nextRunIndex;
  let published = 0;
  while (Date.now() < endAt || due.length > 0) {
    const now = Date.now();
    // Plan the runs that start by now (until the end), then send every event due.
    while (now < endAt && runsPlanned < ((now - startedAt) / 1_000) * runsPerSecond) due.push(...plannedRun(firstRun + runsPlanned++, now));
    due.sort((a, b) => a.atMs - b.atMs);
    const cut = due.findIndex((p) => p.atMs > now);
    const batch = due.splice(0, cut === -1 ? due.length : cut);
    if (batch.length > 0) {
      const sentAt = Date.now();
      const metadata = await producer.send({ topic, acks: -1, messages: batch.map((p) => ({ partition: p.partition, key: p.runId, value: p.value, timestamp: String(sentAt) })) });
      const ackedAt = Date.now();
      const base = new Map(metadata.map((m) => [m.partition, Number(m.baseOffset)]));
      const next = new Map<number, number>();
      for (const p of batch) {
        const offset = (base.get(p.partition) ?? 0) + (next.get(p.partition) ?? 0);
        next.set(p.partition, (next.get(p.partition) ?? 0) + 1);
        if (p.faulty) acks.faults.set(`${p.partition}:${offset}`, ackedAt);
        if (p.last) acks.lastOfRun.set(p.runId, ackedAt);
        if (p.runFault) acks.runFaults.set(p.runId, ackedAt);
      }
      published += batch.length;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, TICK_MS - (Date.now() - now))));
  }
  nextRunIndex = firstRun + runsPlanned;
  return { published, elapsedMs: Date.now() - startedAt };
}

/** Polls the two tables; first-seen wall times by "partition:offset" (per status) and by run id. */
class Poller {
  readonly firstAny = new Map<string, number>();
  readonly firstFinal = new Map<string, number>();
  readonly summaries = new Map<string, number>();
  readonly missingAny = new Map<string, number>();
  readonly missingFinal = new Map<string, number>();
  private stopped = false;
  private done: Promise<void> | undefined;

  constructor(
    private readonly client: ClickHouseClient,
    private readonly database: string,
  ) {}

  start(): void {
    this.done = (async () => {
      while (!this.stopped) {
        const startedAt = Date.now();
        await this.pollOnce().catch(() => undefined); // tables not created yet
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, POLL_MS - (Date.now() - startedAt))));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  private async pollOnce(): Promise<void> {
    // One query for every finding measured: the store serializes statements, and the monitor's inserts wait behind polls.
    const violations = await this.client.query({
      query: `SELECT rule, status, run_id, toString(source_partitions[1]) AS p, toString(source_offsets[1]) AS o FROM ${this.database}.violations WHERE rule IN ('delivery_latency', 'content_invalid', 'missing_events') AND detected_at >= now64(3) - INTERVAL 30 SECOND`,
      format: 'JSONEachRow',
    });
    const seenAt = Date.now();
    for (const row of z.array(z.object({ rule: z.string(), status: z.string(), run_id: z.string(), p: z.string(), o: z.string() })).parse(await violations.json())) {
      const [any, final, key] = row.rule === 'missing_events' ? [this.missingAny, this.missingFinal, row.run_id] : [this.firstAny, this.firstFinal, `${row.p}:${row.o}`];
      if (!any.has(key)) any.set(key, seenAt);
      if (row.status === 'final' && !final.has(key)) final.set(key, seenAt);
    }
    const runs = await this.client.query({ query: `SELECT run_id FROM ${this.database}.run_summaries WHERE outcome = 'completed' AND recorded_at >= now64(3) - INTERVAL 30 SECOND`, format: 'JSONEachRow' });
    const runsSeenAt = Date.now();
    for (const row of z.array(z.object({ run_id: z.string() })).parse(await runs.json())) if (!this.summaries.has(row.run_id)) this.summaries.set(row.run_id, runsSeenAt);
  }
}

function startMonitor(options: LiveFreshnessOptions, topic: string, database: string): ChildProcess {
  const root = projectRoot();
  const args = ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'monitor', '--brokers', options.brokers.join(','), '--topic', topic, '--group', `fresh-${randomUUID()}`, '--clickhouse-url', options.storeUrl, '--database', database, ...(options.earlyFiring ? [] : ['--no-early-firing']), ...options.monitorArgs];
  return spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, RUNWATCH_LOG_LEVEL: 'warn' } });
}

/** One measured live run: a fresh topic and database, a monitor, steady publishing, polling. */
export async function measureLiveFreshness(options: LiveFreshnessOptions): Promise<LiveFreshnessResult> {
  const topic = `bench-live-${randomUUID()}`;
  const database = `runwatch_live_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  await ensureTopic([...options.brokers], topic, PARTITIONS);
  const monitor = startMonitor(options, topic, database);
  const rss = samplePeakRss(monitor);
  const exited = new Promise<number | null>((resolve) => monitor.once('exit', resolve));
  // Its own logger would print every poll that runs before the monitor has created the tables.
  const client = createClient({ url: options.storeUrl, log: { level: ClickHouseLogLevel.OFF } });
  const producer = createKafka({ brokers: [...options.brokers] }, { clientId: 'bench-live', logLevel: logLevel.WARN }).producer();
  await producer.connect();
  const poller = new Poller(client, database);
  try {
    // Warm-up: runs until one summary is queryable (the monitor has started, joined and written).
    options.log(`${options.earlyFiring ? 'early firing' : 'no early firing'}: waiting for the monitor to store a first run`);
    poller.start();
    const warmUp: Acks = { faults: new Map(), runFaults: new Map(), lastOfRun: new Map() };
    for (let i = 0; poller.summaries.size === 0; i += 1) {
      if (i > 120) throw new Error('the monitor stored nothing within 60 s');
      await publishSteadily(producer, topic, { ...options, ratePerSecond: 50, seconds: 0.5 }, warmUp);
    }
    await poller.stop();
    const measuring = new Poller(client, database);
    measuring.start();
    const acks: Acks = { faults: new Map(), runFaults: new Map(), lastOfRun: new Map() };
    options.log(`publishing ${options.ratePerSecond} records/s for ${options.seconds} s`);
    const { published, elapsedMs } = await publishSteadily(producer, topic, options, acks);
    // Runs become final about 8 s after their completion (3 s out-of-orderness, 5 s allowed lateness).
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    await measuring.stop();
    const since = (seen: ReadonlyMap<string, number>, acked: ReadonlyMap<string, number>): number[] => [...acked].flatMap(([key, ackedAt]) => (seen.has(key) ? [(seen.get(key) ?? 0) - ackedAt] : []));
    const result: LiveFreshnessResult = {
      earlyFiring: options.earlyFiring,
      published,
      publishedPerSecond: Math.round((published / elapsedMs) * 1_000),
      faultsExpected: acks.faults.size,
      anyStatus: distribution(since(measuring.firstAny, acks.faults)),
      final: distribution(since(measuring.firstFinal, acks.faults)),
      runSummary: distribution(since(measuring.summaries, acks.lastOfRun)),
      runFaultsExpected: acks.runFaults.size,
      missingAnyStatus: distribution(since(measuring.missingAny, acks.runFaults)),
      missingFinal: distribution(since(measuring.missingFinal, acks.runFaults)),
      peakRssMb: 0,
    };
    monitor.kill('SIGTERM');
    await exited;
    return { ...result, peakRssMb: Math.round(rss.peakBytes() / 1_048_576) };
  } finally {
    if (monitor.exitCode === null && monitor.signalCode === null) monitor.kill('SIGKILL');
    await producer.disconnect();
    await client.close();
  }
}
