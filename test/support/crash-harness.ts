/**
 * Crash testing the real monitor: the CLI as a child process (`runwatch monitor`), killed with
 * SIGKILL from outside or by itself at a named fault point (src/pipeline/fault-points.ts), started
 * again, and its ClickHouse tables compared with those of an uninterrupted run.
 * Used by test/integration/crashRecovery.test.ts and scripts/crash-soak.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { z } from 'zod';
import type { WireRecord } from '../oracle/producers.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const TSX = ['--import', 'tsx'];

/**
 * Publishes records to the partitions they name, keys, values and timestamps as given, in order per
 * partition; with `pauseMs`, waits that long between batches (a live publisher).
 */
export async function publish(brokers: readonly string[], topic: string, records: readonly WireRecord[], batch = 1_000, pauseMs = 0): Promise<void> {
  const kafka = new Kafka({ clientId: 'runwatch-crash-harness', brokers: [...brokers], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let i = 0; i < records.length; i += batch) {
      const slice = records.slice(i, i + batch);
      const byPartition = new Map<number, WireRecord[]>();
      for (const r of slice) byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r]);
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...byPartition].map(([partition, rs]) => ({ topic, messages: rs.map((r) => ({ partition, key: r.key, value: r.value, timestamp: String(Math.round(r.timestampMs)) })) })),
      });
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  } finally {
    await producer.disconnect();
  }
}

export interface MonitorProcessOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly group: string;
  readonly dataPath: string;
  readonly database: string;
  readonly replay: boolean;
  /** RUNWATCH_FAULT_INJECT for this process, e.g. "checkpoint-after-save:3". */
  readonly faultInject?: string;
  readonly checkpointIntervalMs?: number;
  readonly extraArgs?: readonly string[];
}

export interface MonitorProcess {
  readonly child: ChildProcess;
  /** Resolves when the process is gone: its exit code, or the signal that ended it. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>;
  /** Log lines (stderr) and output lines (stdout) so far. */
  readonly logLines: string[];
  readonly outLines: string[];
}

/** Starts `runwatch monitor` as a child process, as an operator would. */
export function startMonitorProcess(options: MonitorProcessOptions): MonitorProcess {
  const args = [
    ...TSX,
    join(ROOT, 'src/cli/main.ts'),
    'monitor',
    '--brokers',
    options.brokers.join(','),
    '--topic',
    options.topic,
    '--group',
    options.group,
    '--clickhouse-path',
    options.dataPath,
    '--database',
    options.database,
    '--checkpoint-interval-ms',
    String(options.checkpointIntervalMs ?? 5_000),
    '--session-timeout-ms',
    '6000',
    ...(options.replay ? ['--replay'] : []),
    ...(options.extraArgs ?? []),
  ];
  const env = { ...process.env, RUNWATCH_LOG_LEVEL: 'info', RUNWATCH_FAULT_INJECT: options.faultInject ?? '' };
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logLines: string[] = [];
  const outLines: string[] = [];
  const collect = (into: string[]) => {
    let partial = '';
    return (chunk: Buffer): void => {
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      into.push(...lines.filter((l) => l.length > 0));
    };
  };
  child.stdout?.on('data', collect(outLines));
  child.stderr?.on('data', collect(logLines));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => child.once('exit', (code, signal) => resolveExit({ code, signal })));
  return { child, exited, logLines, outLines };
}

/**
 * The process's exit, or a failure with its last log lines once `ms` have passed: a test that
 * awaited the exit without a bound would only say that it timed out, not which process hung where.
 */
export async function exitWithin(proc: MonitorProcess, ms: number, what: string): Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running ${ms} ms later; last log lines:\n${proc.logLines.slice(-15).join('\n')}`)), ms);
  });
  try {
    return await Promise.race([proc.exited, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** A fresh embedded ClickHouse data directory. */
export function freshDataPath(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'runwatch-crash-ch-'));
}

/** Every result table of a data directory, read with FINAL by a separate process (test/support/dump-tables.ts). */
export async function dumpTables(dataPath: string, database: string, leaveOut: readonly string[] = []): Promise<Record<string, string[]>> {
  const child = spawn(process.execPath, [...TSX, join(ROOT, 'test/support/dump-tables.ts'), dataPath, database, leaveOut.join(',')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const code = await new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
  if (code !== 0) throw new Error(`dump-tables exited ${code}: ${Buffer.concat(err).toString('utf8').slice(0, 2_000)}`);
  return z.record(z.array(z.string())).parse(JSON.parse(Buffer.concat(out).toString('utf8')));
}

/** What differs between two dumps, table by table (empty: identical). A few example lines each. */
export function diffDumps(expected: Record<string, string[]>, actual: Record<string, string[]>, examples = 3): string[] {
  const problems: string[] = [];
  for (const table of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
    const want = new Set(expected[table] ?? []);
    const got = new Set(actual[table] ?? []);
    const missing = [...want].filter((row) => !got.has(row));
    const extra = [...got].filter((row) => !want.has(row));
    if (missing.length === 0 && extra.length === 0) continue;
    problems.push(`${table}: ${missing.length} missing, ${extra.length} extra (of ${want.size})`);
    for (const row of missing.slice(0, examples)) problems.push(`  missing ${row.slice(0, 400)}`);
    for (const row of extra.slice(0, examples)) problems.push(`  extra   ${row.slice(0, 400)}`);
  }
  return problems;
}

export interface CrashRunReport {
  /** Processes started, in order: how each ended. */
  readonly attempts: ReadonlyArray<{ readonly faultInject: string; readonly externalKillAfterMs: number | undefined; readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly restored: boolean; readonly elapsedMs: number }>;
  readonly kills: number;
}

export interface CrashPlanStep {
  /** A fault point to die at (RUNWATCH_FAULT_INJECT), or none. */
  readonly faultInject?: string;
  /** Or SIGKILL from outside this long after the process joined its consumer group. */
  readonly externalKillAfterMs?: number;
}

/**
 * A bounded replay killed at each step of `plan`, restarted after each death; then run to
 * completion (exit 0) without faults, at most `finalAttempts` times.
 */
export async function replayThroughCrashes(options: Omit<MonitorProcessOptions, 'faultInject' | 'replay'>, plan: readonly CrashPlanStep[], finalAttempts = 3): Promise<CrashRunReport> {
  const attempts: Array<CrashRunReport['attempts'][number]> = [];
  let kills = 0;
  const steps: CrashPlanStep[] = [...plan, ...Array.from({ length: finalAttempts }, () => ({}))];
  for (const step of steps) {
    const startedAt = Date.now();
    const processHandle = startMonitorProcess({ ...options, replay: true, ...(step.faultInject === undefined ? {} : { faultInject: step.faultInject }) });
    let externalTimer: NodeJS.Timeout | undefined;
    if (step.externalKillAfterMs !== undefined) {
      const waitForCheckpoint = setInterval(() => {
        // From the moment it reads: restored (or found nothing to restore), as a member holding the partitions.
        if (!processHandle.logLines.some((l) => l.includes('restoring the checkpoint') || l.includes('no checkpoint to restore'))) return;
        clearInterval(waitForCheckpoint);
        externalTimer = setTimeout(() => processHandle.child.kill('SIGKILL'), step.externalKillAfterMs);
      }, 20);
      void processHandle.exited.then(() => clearInterval(waitForCheckpoint));
    }
    const { code, signal } = await processHandle.exited;
    clearTimeout(externalTimer);
    const restored = processHandle.logLines.some((l) => l.includes('restoring the checkpoint'));
    // Debugging a failure: RUNWATCH_CRASH_LOGS=<dir> keeps each process's log lines there.
    if (process.env['RUNWATCH_CRASH_LOGS'] !== undefined) writeFileSync(`${process.env['RUNWATCH_CRASH_LOGS']}/attempt-${attempts.length}.log`, processHandle.logLines.join('\n'));
    attempts.push({ faultInject: step.faultInject ?? '', externalKillAfterMs: step.externalKillAfterMs, code, signal, restored, elapsedMs: Date.now() - startedAt });
    if (signal === 'SIGKILL') {
      kills += 1;
      continue;
    }
    if (code === 0 && step.faultInject === undefined && step.externalKillAfterMs === undefined) return { attempts, kills };
    if (code !== 0) throw new Error(`monitor exited ${code} (${signal ?? 'no signal'}); last log lines:\n${processHandle.logLines.slice(-15).join('\n')}`);
  }
  throw new Error(`the replay did not complete after ${steps.length} starts: ${JSON.stringify(attempts)}`);
}

/** The group's committed offsets summed over partitions (−1 for none), read with KafkaJS's admin client. */
export async function committedTotal(brokers: readonly string[], topic: string, group: string): Promise<number> {
  const admin = new Kafka({ clientId: 'runwatch-crash-harness', brokers: [...brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const [answer] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return (answer?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

/**
 * The embedded engine behind ClickHouse's HTTP interface in a process of its own
 * (test/support/chdb-http-server.ts): one store several monitor processes share through `--clickhouse-url`.
 */
export interface SharedStore {
  readonly url: string;
  readonly port: number;
  /** The store's process (benchmarks read its CPU time). */
  readonly pid: number | undefined;
  /** SIGTERM, then waits for the process to end. */
  stop(): Promise<void>;
  /** SIGKILL: the server dies as a crashed host's would. */
  kill(): Promise<void>;
}

export async function startSharedStore(dataPath: string, options: { readonly port?: number; readonly delayMs?: number; readonly tls?: { readonly keyFile: string; readonly certFile: string; readonly caFile?: string } } = {}): Promise<SharedStore> {
  const args = [...TSX, join(ROOT, 'test/support/chdb-http-server.ts'), dataPath, String(options.port ?? 0), String(options.delayMs ?? 0)];
  const tls = options.tls === undefined ? {} : { STORE_TLS_KEY: options.tls.keyFile, STORE_TLS_CERT: options.tls.certFile, ...(options.tls.caFile === undefined ? {} : { STORE_TLS_CA: options.tls.caFile }) };
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...tls }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
  const port = await new Promise<number>((resolvePort, rejectPort) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const match = /listening (\d+)/.exec(out);
      if (match !== null) resolvePort(Number(match[1]));
    });
    void exited.then((code) => rejectPort(new Error(`the shared store exited ${code} before listening`)));
  });
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    child.kill(signal);
    await exited;
  };
  return { url: `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`, port, pid: child.pid, stop: () => end('SIGTERM'), kill: () => end('SIGKILL') };
}

/** Peak resident set size of a process, sampled from /proc every `everyMs` until it ends (Linux). */
export function samplePeakRss(child: ChildProcess, everyMs = 100): { readonly peakBytes: () => number } {
  let peak = 0;
  const timer = setInterval(() => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
      peak = Math.max(peak, kb * 1_024);
    } catch {
      // The process has ended.
    }
  }, everyMs);
  child.once('exit', () => clearInterval(timer));
  return { peakBytes: () => peak };
}

/** Which of these monitor processes says it holds the partitions now (the newest such line wins). */
export function activeProcess(processes: readonly MonitorProcess[]): MonitorProcess | undefined {
  return processes.find((p) => p.child.exitCode === null && p.child.signalCode === null && p.logLines.some((l) => l.includes('active: this member holds every partition')));
}

/**
 * Records after the traffic that move every partition's event time 4 minutes on, in 30 s steps
 * (each within --max-ahead-ms of the one before, so it is trusted): every real run becomes final
 * and every real user window closes by event time, in live mode as in a replay. Their own rows
 * (ids starting "trailer-") are left out of comparisons.
 */
export function trailer(records: readonly WireRecord[], partitions: number): WireRecord[] {
  const lastMs = records.reduce((latest, r) => Math.max(latest, r.timestampMs), 0);
  const out: WireRecord[] = [];
  for (let p = 0; p < partitions; p += 1) {
    for (let k = 1; k <= 8; k += 1) {
      const at = lastMs + k * 30_000;
      for (const [type, dt] of [['agent_started', 0], ['agent_completed', 100]] as const) {
        const body = { type, run_id: `trailer-p${p}-${k}`, thread_id: `trailer-thread-p${p}`, user_id: 'trailer-user-0001', agent_name: 'trailer', timestamp: new Date(at + dt).toISOString().replace('Z', '+00:00') };
        out.push({ key: `trailer-thread-p${p}`, value: JSON.stringify(body), partition: p, offset: -1, timestampMs: at + dt + 30 });
      }
    }
  }
  return out;
}

/**
 * A live store without its withdrawn early findings (a replay has none), and the withdrawn per-event
 * findings that no duplicate_delivery verdict of the same record explains (must be none): early
 * firing withdraws a per-event finding only when it was fired on a redelivered copy.
 */
export function settleEarlyFiring(dump: Record<string, string[]>): { readonly dump: Record<string, string[]>; readonly unexplainedWithdrawals: string[]; readonly withdrawn: number } {
  const place = (line: string): string => {
    const row = z.object({ source_partitions: z.array(z.number()), source_offsets: z.array(z.union([z.number(), z.string()])) }).passthrough().parse(JSON.parse(line));
    return `${row.source_partitions[0]}:${row.source_offsets[0]}`;
  };
  const copies = new Set((dump['violations'] ?? []).filter((line) => line.includes('"rule":"duplicate_delivery"')).map(place));
  const withdrawn = dump['violations withdrawn'] ?? [];
  const { ['violations withdrawn']: _left, ...rest } = dump;
  // A per-event finding (content, latency) is withdrawn only on a copy; a run's (fired when its
  // completion took its place) whenever its final judgement differs, which a replay cannot show.
  const perEvent = (line: string): boolean => line.includes('"rule":"content_invalid"') || line.includes('"rule":"delivery_latency"');
  return { dump: rest, unexplainedWithdrawals: withdrawn.filter((line) => perEvent(line) && !copies.has(place(line))), withdrawn: withdrawn.length };
}

export const withoutTrailer = (dump: Record<string, string[]>): Record<string, string[]> =>
  Object.fromEntries(Object.entries(dump).map(([table, rows]) => [table, rows.filter((row) => !row.includes('trailer-'))]));

export interface StoreOutageReport {
  /** The shared store's data directory (dump it once the call returns). */
  readonly storePath: string;
  readonly code: number | null;
  readonly peakRssBytes: number;
  /** The monitor said the store failed, and paused fetching (backpressure). */
  readonly outageReported: boolean;
  readonly fetchingPaused: boolean;
  readonly elapsedMs: number;
  readonly logLines: readonly string[];
}

/**
 * A replay whose ClickHouse server (the shared store) is killed with SIGKILL once the group has
 * committed `afterCommitted` records, stays down `outageMs`, and comes back on the same port and
 * data; with `delayMs`, a slow server throughout instead of (or besides) the outage.
 */
export async function replayThroughStoreOutage(options: {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly database: string;
  readonly outageMs: number;
  readonly afterCommitted: number;
  readonly delayMs?: number;
  readonly extraArgs?: readonly string[];
}): Promise<StoreOutageReport> {
  const storePath = await freshDataPath();
  const serve = { ...(options.delayMs === undefined ? {} : { delayMs: options.delayMs }) };
  let store = await startSharedStore(storePath, serve);
  const group = `store-outage-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  const startedAt = Date.now();
  const monitor = startMonitorProcess({ brokers: options.brokers, topic: options.topic, group, dataPath: await freshDataPath(), database: options.database, replay: true, extraArgs: [...(options.extraArgs ?? []), '--clickhouse-url', store.url] });
  const rss = samplePeakRss(monitor.child);
  if (options.outageMs > 0) {
    while ((await committedTotal(options.brokers, options.topic, group)) < options.afterCommitted) {
      if (monitor.child.exitCode !== null) throw new Error(`the monitor ended before the outage: ${monitor.logLines.slice(-5).join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await store.kill();
    await new Promise((resolve) => setTimeout(resolve, options.outageMs));
    store = await startSharedStore(storePath, { ...serve, port: store.port });
  }
  const { code } = await monitor.exited;
  await store.stop();
  return {
    storePath,
    code,
    peakRssBytes: rss.peakBytes(),
    outageReported: monitor.logLines.some((l) => l.includes('ClickHouse is not answering')),
    fetchingPaused: monitor.logLines.some((l) => l.includes('fetching paused')),
    elapsedMs: Date.now() - startedAt,
    logLines: monitor.logLines,
  };
}

/** Records as producers send them: all partitions at once, in delivery-time order (stable). */
export function inDeliveryOrder(records: readonly WireRecord[]): WireRecord[] {
  return records
    .map((record, index) => ({ record, index }))
    .sort((a, b) => a.record.timestampMs - b.record.timestampMs || a.index - b.index)
    .map(({ record }) => record);
}

/** Polls `condition` every 50 ms until it holds; fails naming `what` after `ms`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
