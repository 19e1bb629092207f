/**
 * `npm run bench:e2e` (issue 13): how fast runwatch reads a topic end to end, next to readers that
 * do none of its work. Publishes ≥ E2E_RECORDS (default 1,000,000) simulator records to 6
 * partitions of a broker it starts itself, once; then, in ROUNDS (default 3) interleaved rounds,
 * reads the whole topic with each contender as a process of its own:
 *   kcat (librdkafka, Debian's package), Kafka's ConsumerPerformance (the broker's own jars),
 *   bare KafkaJS (eachBatch + JSON.parse, bench/e2e/bare-kafkajs.ts),
 *   runwatch without its sink (source, normalization, detectors; bench/e2e/chain-only.ts),
 *   runwatch replay (everything, into a fresh embedded ClickHouse).
 * Prints per run and as medians: wall time (process start to exit), records/s, peak RSS, CPU
 * (user + system, every thread, from /proc) per record, and each one's speed as a ratio to bare
 * KafkaJS and to runwatch replay; then what runwatch's CPU per record allows at best on this
 * machine's cores. E2E_CONTENDERS picks contenders by name (bare KafkaJS always runs). Numbers,
 * not a pass/fail: exit 0 unless a run fails or reads short.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ensureKafkaJars, javaBinary, projectRoot } from '../src/infra/broker-config.js';
import { freshDataPath, samplePeakRss, startSharedStore } from '../test/support/crash-harness.js';
import { measureLiveFreshness, type LiveFreshnessResult } from './e2e/live-freshness.js';
import { startKafkaForTests } from '../test/support/kafka-broker.js';
import { intSetting } from '../scripts/settings.js';
import { cpuOf, median, publishBenchTopic } from './support.js';

const RECORDS = intSetting('bench:e2e', 'E2E_RECORDS', 1_000_000);
const ROUNDS = intSetting('bench:e2e', 'ROUNDS', 3);
const ROOT = projectRoot();
const TSX = ['--max-old-space-size=8192', '--import', 'tsx'];
const log = (text: string): void => void process.stderr.write(`[bench:e2e ${new Date().toISOString()}] ${text}\n`);

const ALL_CONTENDERS = ['kcat', 'ConsumerPerformance', 'bare KafkaJS', 'runwatch, no sink', 'runwatch replay'] as const;
type Contender = (typeof ALL_CONTENDERS)[number];
/** E2E_CONTENDERS (comma-separated names) runs only those; bare KafkaJS always runs, as the baseline. */
const CONTENDERS: readonly Contender[] = ((): readonly Contender[] => {
  const named = process.env['E2E_CONTENDERS']?.split(',').map((name) => name.trim());
  if (named === undefined) return ALL_CONTENDERS;
  const unknown = named.filter((name) => !(ALL_CONTENDERS as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`E2E_CONTENDERS: unknown ${JSON.stringify(unknown)}; known: ${ALL_CONTENDERS.join(', ')}`);
  return ALL_CONTENDERS.filter((c) => c === 'bare KafkaJS' || named.includes(c));
})();

interface Run {
  readonly contender: Contender;
  readonly elapsedMs: number;
  readonly peakRssMb: number;
  /** User + system CPU of the process, every thread (the embedded engine's included). */
  readonly cpuSeconds: number;
  readonly records: number;
}

interface Command {
  readonly file: string;
  readonly args: readonly string[];
  /** Records read, from the process's output. */
  readonly records: (out: string) => number;
}

/** The last line of a runwatch-style JSON output, its `records`. */
const jsonRecords = (out: string): number => Number((JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { records?: number }).records ?? 0);

async function commandFor(contender: Contender, brokers: string, topic: string, expected: number, range: { from: string; to: string }): Promise<Command> {
  switch (contender) {
    case 'kcat':
      // One line per record (its offset): counted as it streams.
      return { file: 'kcat', args: ['-C', '-b', brokers, '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%o\n'], records: (out) => Number(out) };
    case 'ConsumerPerformance':
      return {
        file: await javaBinary(),
        args: ['-cp', join(await ensureKafkaJars(), '*'), 'org.apache.kafka.tools.ConsumerPerformance', '--bootstrap-server', brokers, '--topic', topic, '--messages', String(expected), '--group', `bench-perf-${randomUUID()}`, '--timeout', '60000'],
        // It stops at --messages; its report's data line says how many it consumed (data.consumed.in.nMsg, the 5th field).
        records: (out) => Number(out.trim().split('\n').at(-1)?.split(',')[4]?.trim() ?? 0),
      };
    case 'bare KafkaJS':
      return { file: process.execPath, args: [...TSX, join(ROOT, 'bench/e2e/bare-kafkajs.ts'), brokers, topic, String(expected)], records: jsonRecords };
    case 'runwatch, no sink':
      return { file: process.execPath, args: [...TSX, join(ROOT, 'bench/e2e/chain-only.ts'), brokers, topic], records: jsonRecords };
    case 'runwatch replay': {
      const dataPath = await freshDataPath();
      return {
        file: process.execPath,
        args: [...TSX, join(ROOT, 'src/cli/main.ts'), 'replay', '--brokers', brokers, '--topic', topic, '--clickhouse-path', dataPath, '--database', 'runwatch_bench', '--from', range.from, '--to', range.to, '--json'],
        records: jsonRecords,
      };
    }
  }
}

async function run(command: Command, countLines: boolean): Promise<{ code: number | null; elapsedMs: number; peakRssMb: number; cpuSeconds: number; records: number }> {
  const started = performance.now();
  const child = spawn(command.file, [...command.args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUNWATCH_LOG_LEVEL: 'warn' } });
  const rss = samplePeakRss(child);
  const cpu = cpuOf(child.pid);
  let out = '';
  let lines = 0;
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => {
    if (!countLines) out += chunk.toString();
    else for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines += 1;
  });
  child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4_000)));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const elapsedMs = performance.now() - started;
  if (code !== 0) log(`exit ${code}: ${err}`);
  return { code, elapsedMs, peakRssMb: Math.round(rss.peakBytes() / 1_048_576), cpuSeconds: cpu.seconds(), records: countLines ? lines : command.records(out) };
}

if (process.argv.includes('--live')) {
  await liveFreshness();
  process.exit(0);
}

/** `--live`: verdict freshness of a live monitor, with and without early firing, alternating (bench/e2e/live-freshness.ts). */
async function liveFreshness(): Promise<void> {
  const rate = intSetting('bench:e2e --live', 'LIVE_RATE', 2_000);
  const seconds = intSetting('bench:e2e --live', 'LIVE_SECONDS', 40);
  const monitorArgs = (process.env['LIVE_MONITOR_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  const liveBroker = await startKafkaForTests();
  const store = await startSharedStore(await freshDataPath());
  const results: LiveFreshnessResult[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const earlyFiring of [true, false]) {
        log(`round ${round}`);
        results.push(await measureLiveFreshness({ brokers: liveBroker.brokers, storeUrl: store.url, ratePerSecond: rate, seconds, earlyFiring, monitorArgs, log }));
        const r = results.at(-1);
        if (r !== undefined) log(`  ${JSON.stringify(r)}`);
      }
    }
  } finally {
    await store.stop();
    await liveBroker.stop();
  }
  const ms = (v: number): string => (Number.isFinite(v) ? `${Math.round(v)} ms` : '—');
  const lines = [
    `bench:e2e --live: ${rate} records/s for ${seconds} s per run, ${ROUNDS} rounds each, every run listed; times from Kafka's acknowledgement of the record to the first poll (every 100 ms) that sees the row`,
    '| early firing | published/s | faults | violation queryable p50 / p99 / max | final p50 / p99 / max | runs missing a type | missing_events queryable p50 / p99 / max | final p50 / p99 / max | completed run summary p50 / p99 / max | monitor peak RSS |',
    '|---|---:|---:|---|---|---:|---|---|---|---:|',
    ...results.map((r) => {
      const d = (x: { n: number; p50: number; p99: number; max: number }): string => `${ms(x.p50)} / ${ms(x.p99)} / ${ms(x.max)} (n ${x.n})`;
      return `| ${r.earlyFiring ? 'on' : 'off'} | ${r.publishedPerSecond.toLocaleString('en-US')} | ${r.faultsExpected} | ${d(r.anyStatus)} | ${d(r.final)} | ${r.runFaultsExpected} | ${d(r.missingAnyStatus)} | ${d(r.missingFinal)} | ${d(r.runSummary)} | ${r.peakRssMb} MB |`;
    }),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

const broker = await startKafkaForTests();
let failed = false;
try {
  const { topic, records: total, from, to } = await publishBenchTopic(broker.brokers, RECORDS, 13, 'bench-e2e', log);
  const range = { from, to };
  const brokers = broker.brokers.join(',');
  const runs: Run[] = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    for (const contender of CONTENDERS) {
      log(`round ${round}: ${contender}`);
      const result = await run(await commandFor(contender, brokers, topic, total, range), contender === 'kcat');
      if (result.code !== 0 || result.records < total) {
        failed = true;
        log(`${contender} read ${result.records} of ${total} records (exit ${result.code})`);
      }
      const done = { contender, elapsedMs: Math.round(result.elapsedMs), peakRssMb: result.peakRssMb, cpuSeconds: result.cpuSeconds, records: result.records };
      runs.push(done);
      log(`  ${done.elapsedMs} ms, ${Math.round((total / done.elapsedMs) * 1_000)} records/s, peak RSS ${done.peakRssMb} MB, CPU ${done.cpuSeconds.toFixed(1)} s`);
    }
  }
  const rows = CONTENDERS.map((contender) => {
    const mine = runs.filter((r) => r.contender === contender);
    const ms = median(mine.map((r) => r.elapsedMs));
    const cpuUsPerRecord = (median(mine.map((r) => r.cpuSeconds)) / total) * 1e6;
    return { contender, ms, perSecond: Math.round((total / ms) * 1_000), peakRssMb: median(mine.map((r) => r.peakRssMb)), cpuUsPerRecord, all: mine.map((r) => r.elapsedMs) };
  });
  const speedOf = (contender: Contender): number => rows.find((r) => r.contender === contender)?.perSecond ?? Number.NaN;
  const lines = [
    `bench:e2e: ${total} records, 6 partitions, ${ROUNDS} interleaved rounds, medians (wall time from process start to exit)`,
    '| reader | wall time | records/s | ÷ bare KafkaJS | runwatch replay ÷ it | peak RSS | CPU-µs per record | cores busy | all runs (ms) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map((r) => `| ${r.contender} | ${(r.ms / 1_000).toFixed(1)} s | ${r.perSecond.toLocaleString('en-US')} | ${(r.perSecond / speedOf('bare KafkaJS')).toFixed(2)} | ${(speedOf('runwatch replay') / r.perSecond).toFixed(3)} | ${r.peakRssMb} MB | ${r.cpuUsPerRecord.toFixed(1)} | ${((r.cpuUsPerRecord * r.perSecond) / 1e6).toFixed(2)} | ${r.all.join(', ')} |`),
    // What both cores could do at best: a reader that kept every core busy with its own CPU cost per record.
    `cores: ${cpus().length}; at ${cpus().length} busy cores runwatch replay's CPU per record would allow at most ${Math.round((cpus().length * 1e6) / (rows.find((r) => r.contender === 'runwatch replay')?.cpuUsPerRecord ?? Number.NaN)).toLocaleString('en-US')} records/s, ${((cpus().length * 1e6) / (rows.find((r) => r.contender === 'runwatch replay')?.cpuUsPerRecord ?? Number.NaN) / speedOf('bare KafkaJS')).toFixed(2)}× bare KafkaJS`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await broker.stop();
}
process.exit(failed ? 1 : 0);
