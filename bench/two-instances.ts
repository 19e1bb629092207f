/**
 * `npm run bench:two-instances` (issue 13): CPU-seconds per event of one runwatch instance against
 * two instances of one consumer group on the same machine (docs/architecture.md, "Several
 * instances": one holds every partition, the other stands by). Publishes ≥ TWO_RECORDS (default
 * 300,000) simulator records to 6 partitions of a broker it starts itself; then, in ROUNDS
 * (default 3) interleaved rounds, replays the topic (`monitor --replay`) with one instance and
 * with two, each round into a fresh shared store (the engine behind ClickHouse's HTTP interface,
 * test/support/chdb-http-server.ts: two processes cannot share an embedded store). CPU is user +
 * system time from /proc of every runwatch process and of the store, read until each exits.
 * Numbers, not a pass/fail.
 *
 * TWO_CLI (default `dist,tsx`) says how runwatch is started, each measured in the same rounds:
 * `dist` is the compiled build (`node dist/cli/main.js`, as deployed; built once here with
 * `npm run build`), `tsx` compiles the TypeScript sources at start-up (development).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { projectRoot } from '../src/infra/broker-config.js';
import { freshDataPath, startSharedStore } from '../test/support/crash-harness.js';
import { startKafkaForTests } from '../test/support/kafka-broker.js';
import { intSetting } from '../scripts/settings.js';
import { cpuOf, median, publishBenchTopic } from './support.js';

const RECORDS = intSetting('bench:two-instances', 'TWO_RECORDS', 300_000);
const ROUNDS = intSetting('bench:two-instances', 'ROUNDS', 3);
const ROOT = projectRoot();
const LAUNCHES = { dist: ['dist/cli/main.js'], tsx: ['--import', 'tsx', 'src/cli/main.ts'] } as const;
type Launch = keyof typeof LAUNCHES;
const CLIS = (process.env['TWO_CLI'] ?? 'dist,tsx').split(',').map((name) => name.trim());
for (const name of CLIS) if (!(name in LAUNCHES)) throw new Error(`bench:two-instances: TWO_CLI takes dist and/or tsx, not "${name}"`);
const launches = CLIS as Launch[];
const log = (text: string): void => void process.stderr.write(`[bench:two-instances ${new Date().toISOString()}] ${text}\n`);

async function replay(launch: Launch, instances: number, brokers: string, topic: string): Promise<{ cpuSeconds: number; standbyCpuSeconds: number; elapsedMs: number; records: number }> {
  const store = await startSharedStore(await freshDataPath());
  const storeCpu = cpuOf(store.pid);
  const group = `two-${randomUUID()}`;
  const started = performance.now();
  const members = Array.from({ length: instances }, () => {
    const child = spawn(process.execPath, [...LAUNCHES[launch].map((arg) => (arg.endsWith('.js') || arg.endsWith('.ts') ? join(ROOT, arg) : arg)), 'monitor', '--replay', '--brokers', brokers, '--topic', topic, '--group', group, '--clickhouse-url', store.url, '--database', 'runwatch_two', '--json'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, RUNWATCH_LOG_LEVEL: 'warn' },
    });
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    return { child, cpu: cpuOf(child.pid), exited: new Promise<number | null>((resolve) => child.once('exit', resolve)), out: () => out };
  });
  const codes = await Promise.all(members.map((m) => m.exited));
  const elapsedMs = performance.now() - started;
  if (codes.some((code) => code !== 0)) throw new Error(`a member exited ${codes.join(', ')}`);
  const cpuSeconds = members.reduce((sum, m) => sum + m.cpu.seconds(), 0) + storeCpu.seconds();
  await store.stop();
  // Each member prints its counts: the active one read everything, a standby nothing.
  const readBy = members.map((m) => Number((JSON.parse(m.out().trim().split('\n').at(-1) ?? '{}') as { records?: number }).records ?? 0));
  const records = readBy.reduce((sum, n) => sum + n, 0);
  // The standby's own CPU: what a second instance costs directly, without the round-to-round noise.
  const standbyCpuSeconds = instances === 1 ? 0 : members.reduce((sum, m, i) => sum + (readBy[i] === 0 ? m.cpu.seconds() : 0), 0);
  return { cpuSeconds, standbyCpuSeconds, elapsedMs, records };
}

if (launches.includes('dist')) {
  log('npm run build');
  execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' });
}
const broker = await startKafkaForTests();
try {
  const { topic, records: total } = await publishBenchTopic(broker.brokers, RECORDS, 29, 'bench-two', log);
  const brokers = broker.brokers.join(',');
  const runs: Array<{ launch: Launch; round: number; instances: number; cpuSeconds: number; standbyCpuSeconds: number; elapsedMs: number }> = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    for (const launch of launches) {
      // The order flips every round, so a machine that speeds up or slows down favours neither.
      for (const instances of round % 2 === 1 ? [1, 2] : [2, 1]) {
        log(`round ${round}, ${launch}: ${instances} instance${instances === 1 ? '' : 's'}`);
        const result = await replay(launch, instances, brokers, topic);
        if (result.records !== total) throw new Error(`read ${result.records} of ${total} records`);
        runs.push({ launch, round, instances, cpuSeconds: result.cpuSeconds, standbyCpuSeconds: result.standbyCpuSeconds, elapsedMs: result.elapsedMs });
        log(`  ${Math.round(result.elapsedMs)} ms, ${result.cpuSeconds.toFixed(1)} CPU-s${instances > 1 ? ` (standby ${result.standbyCpuSeconds.toFixed(2)})` : ''}, ${((result.cpuSeconds / total) * 1e6).toFixed(1)} CPU-µs per record`);
      }
    }
  }
  const row = (launch: Launch, instances: number) => {
    const mine = runs.filter((r) => r.launch === launch && r.instances === instances);
    return { cpu: median(mine.map((r) => r.cpuSeconds)), standby: median(mine.map((r) => r.standbyCpuSeconds)), ms: median(mine.map((r) => r.elapsedMs)), all: mine.map((r) => r.cpuSeconds.toFixed(1)).join(', ') };
  };
  const lines = [
    `bench:two-instances: ${total} records, 6 partitions, ${ROUNDS} interleaved rounds, medians; CPU = user + system of every runwatch process and of the store`,
    '| runwatch started as | instances | wall time | CPU-s | CPU-µs per record | ÷ one instance | per-round ratio, median | the standby\'s own CPU-s | all rounds (CPU-s) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const launch of launches) {
    const one = row(launch, 1);
    const two = row(launch, 2);
    // Rounds alternate, so each two-instance replay has a one-instance replay of the same round beside it.
    const perRound = runs.filter((r) => r.launch === launch && r.instances === 2).map((r) => r.cpuSeconds / (runs.find((o) => o.launch === launch && o.round === r.round && o.instances === 1)?.cpuSeconds ?? Number.NaN));
    const started = launch === 'dist' ? '`node dist/cli/main.js`' : '`node --import tsx src/cli/main.ts`';
    lines.push(
      `| ${started} | 1 | ${(one.ms / 1_000).toFixed(1)} s | ${one.cpu.toFixed(1)} | ${((one.cpu / total) * 1e6).toFixed(1)} | 1.00 | 1.00 | | ${one.all} |`,
      `| ${started} | 2 (one active, one standing by) | ${(two.ms / 1_000).toFixed(1)} s | ${two.cpu.toFixed(1)} | ${((two.cpu / total) * 1e6).toFixed(1)} | ${(two.cpu / one.cpu).toFixed(2)} | ${median(perRound).toFixed(2)} | ${two.standby.toFixed(2)} | ${two.all} |`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
} finally {
  await broker.stop();
}
