/**
 * `npm run bench:replay`: `runwatch replay` of a whole topic against `runwatch monitor --replay` of
 * the same topic (issue 11's throughput evidence). Publishes ≥ REPLAY_RECORDS (default 1,000,000)
 * records of the simulator (every wire shape, injected faults) to a broker it starts itself, then runs
 * both CLIs as processes in ROUNDS (default 2) interleaved rounds, each on a fresh embedded
 * ClickHouse directory, and prints per run and as medians: wall time, records/s, peak RSS, and
 * replay ÷ monitor. Numbers, not a pass/fail: exit 0 unless a run fails.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { projectRoot } from '../src/infra/broker-config.js';
import { freshDataPath, samplePeakRss } from '../test/support/crash-harness.js';
import { startKafkaForTests } from '../test/support/kafka-broker.js';
import { intSetting } from '../scripts/settings.js';
import { median, publishBenchTopic } from './support.js';

const RECORDS = intSetting('bench:replay', 'REPLAY_RECORDS', 1_000_000);
const ROUNDS = intSetting('bench:replay', 'ROUNDS', 2);
const ROOT = projectRoot();
const log = (text: string): void => void process.stderr.write(`[bench:replay ${new Date().toISOString()}] ${text}\n`);

interface Run {
  readonly contender: 'monitor --replay' | 'replay';
  readonly elapsedMs: number;
  readonly peakRssMb: number;
  readonly records: number;
}

async function runCli(args: readonly string[]): Promise<{ code: number | null; elapsedMs: number; peakRssMb: number; out: string }> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--max-old-space-size=8192', '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUNWATCH_LOG_LEVEL: 'warn' } });
  const rss = samplePeakRss(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4_000)));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) log(`exit ${code}: ${err}`);
  return { code, elapsedMs: performance.now() - started, peakRssMb: Math.round(rss.peakBytes() / 1_048_576), out };
}

const broker = await startKafkaForTests();
let failed = false;
try {
  const { topic, records: total, from, to } = await publishBenchTopic(broker.brokers, RECORDS, 11, 'bench-replay', log);
  const runs: Run[] = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    for (const contender of ['monitor --replay', 'replay'] as const) {
      const dataPath = await freshDataPath();
      const common = ['--brokers', broker.brokers.join(','), '--topic', topic, '--clickhouse-path', dataPath, '--database', 'runwatch_bench'];
      const args = contender === 'replay' ? ['replay', ...common, '--from', from, '--to', to, '--json'] : ['monitor', ...common, '--replay', '--group', `bench-${randomUUID()}`, '--json'];
      log(`round ${round}: ${contender}`);
      const result = await runCli(args);
      if (result.code !== 0) failed = true;
      const records = Number((JSON.parse(result.out.trim().split('\n').at(-1) ?? '{}') as { records?: number }).records ?? 0);
      const run = { contender, elapsedMs: Math.round(result.elapsedMs), peakRssMb: result.peakRssMb, records };
      runs.push(run);
      process.stdout.write(`${JSON.stringify({ round, ...run, recordsPerSecond: Math.round(records / (result.elapsedMs / 1_000)) })}\n`);
    }
  }
  const summary = (contender: Run['contender']) => {
    const mine = runs.filter((r) => r.contender === contender);
    return { contender, medianMs: median(mine.map((r) => r.elapsedMs)), recordsPerSecond: Math.round(median(mine.map((r) => r.records / (r.elapsedMs / 1_000)))), peakRssMb: Math.max(...mine.map((r) => r.peakRssMb)) };
  };
  const monitor = summary('monitor --replay');
  const replay = summary('replay');
  process.stdout.write(`${JSON.stringify({ records: total, rounds: ROUNDS, monitor, replay, replayOverMonitor: Number((replay.recordsPerSecond / monitor.recordsPerSecond).toFixed(3)) })}\n`);
} finally {
  await broker.stop();
}
process.exitCode = failed ? 1 : 0;
