/**
 * `npm run bench:replay-memory` (issue 13): where a replay's memory goes, and what settings change
 * it. Publishes ≥ MEMORY_RECORDS (default 1,000,000) simulator records to 6 partitions of a broker
 * it starts itself; then, in ROUNDS (default 1) rounds, replays them with the built CLI
 * (`node dist/cli/main.js monitor --replay`, into a fresh embedded store) once per variant.
 *
 * MEMORY_VARIANTS (JSON) lists the variants: `[{"name": "heap 512", "node": ["--max-old-space-size=512"],
 * "args": ["--max-pending-rows", "5000"], "env": {"JE_MALLOC_CONF": "dirty_decay_ms:0"}}]` (`node`:
 * options of node, `args`: of the monitor). The default compares Node's default heap limit
 * with a 512 MB cap. Every variant runs with `--trace-gc`, so V8's heap after each full GC is known.
 *
 * Per variant it prints: wall time, peak RSS with its anonymous and file-backed parts and threads
 * (from /proc/<pid>/status every 100 ms), V8's largest live heap after a full GC and largest
 * committed heap, and anonymous/file RSS every 5 s. Numbers, not a pass/fail.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { projectRoot } from '../src/infra/broker-config.js';
import { freshDataPath } from '../test/support/crash-harness.js';
import { startKafkaForTests } from '../test/support/kafka-broker.js';
import { intSetting } from '../scripts/settings.js';
import { publishBenchTopic } from './support.js';

const RECORDS = intSetting('bench:replay-memory', 'MEMORY_RECORDS', 1_000_000);
const ROUNDS = intSetting('bench:replay-memory', 'ROUNDS', 1);
const ROOT = projectRoot();
const variantsSchema = z.array(z.object({ name: z.string().min(1), node: z.array(z.string()).default([]), args: z.array(z.string()).default([]), env: z.record(z.string()).default({}) }).strict()).min(1);
const DEFAULT_VARIANTS = [{ name: "Node's default heap limit" }, { name: 'heap capped at 512 MB', node: ['--max-old-space-size=512'] }];
const parsedVariants = variantsSchema.safeParse(process.env['MEMORY_VARIANTS'] === undefined ? DEFAULT_VARIANTS : (JSON.parse(process.env['MEMORY_VARIANTS']) as unknown));
if (!parsedVariants.success) {
  process.stderr.write(`bench:replay-memory: MEMORY_VARIANTS: ${parsedVariants.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n`);
  process.exit(2);
}
const variants = parsedVariants.data;
const log = (text: string): void => void process.stderr.write(`[bench:replay-memory ${new Date().toISOString()}] ${text}\n`);
const mb = (kb: number): number => Math.round(kb / 1024);

/** The kB fields of /proc/<pid>/status this bench reads; empty once the process has ended. */
function memoryStatus(pid: number): { rssKb: number; anonKb: number; fileKb: number; threads: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { rssKb: field('VmRSS'), anonKb: field('RssAnon'), fileKb: field('RssFile'), threads: field('Threads') };
  } catch {
    return undefined;
  }
}

/** V8's heap after each mark-compact, from `--trace-gc` lines: "Mark-Compact 180.2 (200.5) -> 120.3 (210.0) MB". */
function fullGcHeaps(traceGc: string): Array<{ liveMb: number; committedMb: number }> {
  return [...traceGc.matchAll(/Mark-Compact[^\n]*? ([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB/g)].map((m) => ({ liveMb: Number(m[3]), committedMb: Math.max(Number(m[2]), Number(m[4])) }));
}

log('npm run build');
execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' });
const broker = await startKafkaForTests();
try {
  const { topic, records } = await publishBenchTopic(broker.brokers, RECORDS, 31, 'bench-memory', log);
  const lines = [
    `bench:replay-memory: ${records} records, 6 partitions, \`node dist/cli/main.js monitor --replay\` into the embedded engine`,
    '| variant | round | wall time | peak RSS | anonymous | file | threads | V8 live after full GC, max | V8 committed, max |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (let round = 1; round <= ROUNDS; round += 1) {
    for (const variant of variants) {
      log(`round ${round}: ${variant.name}`);
      const started = performance.now();
      const args = [...variant.node, '--trace-gc', join(ROOT, 'dist/cli/main.js'), 'monitor', '--replay', '--brokers', broker.brokers.join(','), '--topic', topic, '--group', `bench-memory-${round}-${Date.now()}`, '--clickhouse-path', await freshDataPath(), '--json', ...variant.args];
      const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUNWATCH_LOG_LEVEL: 'warn', ...variant.env } });
      let peak = { rssKb: 0, anonKb: 0, fileKb: 0, threads: 0 };
      const timeline: string[] = [];
      let samples = 0;
      const sampler = setInterval(() => {
        const now = child.pid === undefined ? undefined : memoryStatus(child.pid);
        if (now === undefined) return;
        if (now.rssKb > peak.rssKb) peak = now;
        samples += 1;
        if (samples % 50 === 0) timeline.push(`${Math.round((performance.now() - started) / 1_000)} s ${mb(now.anonKb)}/${mb(now.fileKb)}`);
      }, 100);
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      clearInterval(sampler);
      const elapsedMs = performance.now() - started;
      const counts = stdout.split('\n').filter((line) => line.startsWith('{')).at(-1) ?? '{}';
      const read = Number((JSON.parse(counts) as { records?: number }).records ?? 0);
      if (code !== 0 || read !== records) throw new Error(`${variant.name}: exit ${code}, read ${read} of ${records} records`);
      const heaps = fullGcHeaps(stdout);
      const liveMb = Math.max(0, ...heaps.map((h) => h.liveMb));
      const committedMb = Math.max(0, ...heaps.map((h) => h.committedMb));
      log(`  ${Math.round(elapsedMs)} ms, peak RSS ${mb(peak.rssKb)} MB; anonymous/file RSS (MB) every 5 s: ${timeline.join(', ')}`);
      lines.push(`| ${variant.name} | ${round} | ${(elapsedMs / 1_000).toFixed(1)} s | ${mb(peak.rssKb)} MB | ${mb(peak.anonKb)} MB | ${mb(peak.fileKb)} MB | ${peak.threads} | ${Math.round(liveMb)} MB | ${Math.round(committedMb)} MB |`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await broker.stop();
}
