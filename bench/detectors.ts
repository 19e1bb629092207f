/**
 * Detector benchmark (`npm run bench`). Not a test: it measures and prints, it never fails.
 *
 * Data: generateTraffic (default options: every wire shape, 10 % of runs with one injected fault,
 * 5 % missing an event type) with ≥ BENCH_EVENTS (default 1,000,000) lifecycle events: 300–600
 * byte records, thousands of runs in flight, 5–14 planned events per run (faults drop or repeat
 * some). Records are placed on 6
 * partitions by thread id (as Kafka's key partitioner does) and normalized once, outside the timed
 * region. Server messages and malformed records are left out, so every contender sees exactly the
 * same lifecycle events.
 *
 * Contenders, in one process, order alternating between rounds, a forced GC before each timed run:
 * - parse-only:  JSON.parse over the raw record strings of those events (what any consumer pays);
 * - baseline:    the hand-written Map-based detector of the same rules (bench/baseline-detector.ts);
 * - chain:       detectVerdicts(config) over the pre-normalized AgentEvent[] (detectors only:
 *                withWatermark → orderByEventTime → run engine with all rules → user grades);
 * - live:        the same chain as live mode runs it (early firing: provisional verdicts at arrival
 *                and when a run's completion arrives), for what early firing costs;
 * - end-to-end:  normalizeRecord + detectVerdicts from Buffers (information: one run over the first
 *                BENCH_E2E_PERCENT, default 25, of the records);
 * - normalizeRecord alone is timed while the data set is prepared (information).
 * Rates are events / wall-clock second (median over rounds); events / CPU-second (process user +
 * system, GC threads included) and GC pause time are printed too, because the machine may be
 * shared. Heap per open run (100k open runs) is measured in a child process (bench/memory.ts)
 * that runs while the data set is generated, before any timing starts.
 *
 * Env: BENCH_EVENTS (1000000), BENCH_REPS (max rounds, 3), BENCH_BUDGET_S (150: no new round is
 * started when it would end after this many seconds of timed rounds; the first always runs),
 * BENCH_E2E_PERCENT (25), BENCH_OPEN_RUNS (100000), BENCH_MEMORY_DETAIL=1, BENCH_SKIP_MEMORY=1,
 * BENCH_ONLY=parse|baseline|chain|live, or several comma-separated (for profiling:
 * BENCH_ONLY=chain node --cpu-prof --expose-gc --max-old-space-size=8192 --import tsx bench/detectors.ts).
 * Results and their reading: docs/performance.md.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { filter, from, map } from 'rxjs';
import { detectionConfigSchema, type DetectionConfig } from '../src/config/config.js';
import type { AgentEvent, SourceRecord } from '../src/contract/event.js';
import { normalizeRecord } from '../src/contract/normalize.js';
import type { Verdict } from '../src/contract/verdict.js';
import { detectVerdicts } from '../src/pipeline/detect.js';
import { generateTraffic } from '../src/simulator/generate.js';
import { runBaseline, type BaselineOutput } from './baseline-detector.js';
import { resolveExpected } from '../src/simulator/score.js';
import type { ExpectedViolation } from '../src/simulator/faults.js';
import { intEnv } from './env.js';
import { partitionOf, placeRecords, sourceRecord, type MemoryResult } from './memory.js';


const TARGET_EVENTS = intEnv('BENCH_EVENTS', 1_000_000);
const MAX_ROUNDS = intEnv('BENCH_REPS', 3);
const BUDGET_S = intEnv('BENCH_BUDGET_S', 150);
const OPEN_RUNS = intEnv('BENCH_OPEN_RUNS', 100_000);
const PARTITIONS = 6;
const USERS = 2_000;
const THREADS_PER_USER = 3;
const ONLY = process.env['BENCH_ONLY'] ? process.env['BENCH_ONLY'].split(',') : undefined;
if (ONLY !== undefined && !ONLY.every((name) => ['parse', 'baseline', 'chain', 'live'].includes(name))) throw new Error(`BENCH_ONLY must list some of parse, baseline, chain, live (comma-separated), got ${ONLY.join(',')}`);
/** Share of the records the end-to-end run (information only) goes through, to keep the bench short. */
const E2E_PERCENT = intEnv('BENCH_E2E_PERCENT', 25);
const SKIP_MEMORY = process.env['BENCH_SKIP_MEMORY'] === '1' || ONLY !== undefined;
/** Mean lifecycle events per run with pairRepeats 1..4 and the default fault mix (measured: ~9.5). */
const EVENTS_PER_RUN_ESTIMATE = 9.3;

const log = (message: string): void => {
  process.stderr.write(`[bench ${(performance.now() / 1000).toFixed(1).padStart(6)} s] ${message}\n`);
};

const forceGc = (): void => (globalThis as { gc?: () => void }).gc?.();
const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// GC pauses, from perf_hooks (entries arrive asynchronously: read them after yielding once).
const gcPauses: { start: number; duration: number }[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcPauses.push({ start: e.startTime, duration: e.duration });
}).observe({ entryTypes: ['gc'] });

// ---- Data set -----------------------------------------------------------------------------------

interface Dataset {
  /** normalizeRecord over every record, timed during preparation (information). */
  readonly normalize: { readonly records: number; readonly wallS: number; readonly cpuS: number; readonly gcS: number };
  readonly raw: string[];
  readonly records: SourceRecord[];
  readonly events: AgentEvent[];
  readonly expected: Partial<Record<string, number>>;
  readonly stats: [string, string][];
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Expected violations per rule, with the labels that depend on partitioning resolved for this bench's placement. */
function expectedCounts(violations: readonly ExpectedViolation[]): Partial<Record<string, number>> {
  const counts: Partial<Record<string, number>> = {};
  for (const v of resolveExpected(violations, (key) => partitionOf(key, PARTITIONS))) counts[v.rule] = (counts[v.rule] ?? 0) + 1;
  return counts;
}

function prepare(config: DetectionConfig): Dataset {
  let runs = Math.ceil(TARGET_EVENTS / EVENTS_PER_RUN_ESTIMATE);
  const options = (n: number) => ({
    seed: 42,
    runs: n,
    users: USERS,
    threadsPerUser: THREADS_PER_USER,
    // One run starts every ~1 ms of event time and lasts ~4 s: thousands of runs in flight.
    meanRunStartSpacingMs: 1,
    pairRepeats: { min: 1, max: 4 },
  });
  let traffic = generateTraffic(options(runs));
  if (traffic.expected.lifecycleEvents < TARGET_EVENTS) {
    runs = Math.ceil((runs * TARGET_EVENTS * 1.01) / traffic.expected.lifecycleEvents);
    traffic = generateTraffic(options(runs));
  }
  log(`generated ${traffic.records.length} records (${traffic.expected.lifecycleEvents} lifecycle) for ${runs} runs`);

  const placed = placeRecords(traffic.records, PARTITIONS);
  const sources = placed.map(({ record, partition, offset }) => sourceRecord(record, partition, offset));
  const raw: string[] = [];
  const records: SourceRecord[] = [];
  const events: AgentEvent[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < sources.length; i += 1) {
    const normalized = normalizeRecord(sources[i] as SourceRecord);
    if (normalized.kind !== 'lifecycle') continue;
    raw.push((placed[i] as { record: { value: string } }).record.value);
    records.push(sources[i] as SourceRecord);
    events.push(normalized.event);
  }
  const t1 = performance.now();
  const cpu1 = process.cpuUsage(cpu0);
  const normalize = { records: sources.length, wallS: (t1 - t0) / 1000, cpuS: (cpu1.user + cpu1.system) / 1e6, gcS: gcPauses.filter((g) => g.start >= t0 && g.start < t1).reduce((sum, g) => sum + g.duration, 0) / 1000 };

  // Describe what was measured (event-time figures leave out the deliberately skewed timestamps).
  const bytes = records.map((r) => (r.value as Buffer).length).sort((a, b) => a - b);
  const perRun = new Map<string, { count: number; first: number; last: number }>();
  for (const e of events) {
    const r = perRun.get(e.runId);
    const placeable = Math.abs(e.deliveredAtMs - e.emittedAtMs) <= config.suspiciousSkewMs;
    if (r === undefined) perRun.set(e.runId, { count: 1, first: placeable ? e.emittedAtMs : Infinity, last: placeable ? e.emittedAtMs : -Infinity });
    else {
      r.count += 1;
      if (placeable && e.emittedAtMs < r.first) r.first = e.emittedAtMs;
      if (placeable && e.emittedAtMs > r.last) r.last = e.emittedAtMs;
    }
  }
  const counts = [...perRun.values()].map((r) => r.count).sort((a, b) => a - b);
  const edges: [number, number][] = [];
  for (const r of perRun.values()) if (r.first <= r.last) edges.push([r.first, 1], [r.last, -1]);
  edges.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let inFlight = 0;
  let maxInFlight = 0;
  let weighted = 0;
  for (let i = 0; i < edges.length; i += 1) {
    const [t, d] = edges[i] as [number, number];
    inFlight += d;
    if (inFlight > maxInFlight) maxInFlight = inFlight;
    weighted += inFlight * ((edges[i + 1]?.[0] ?? t) - t);
  }
  const spanMs = (edges.at(-1)?.[0] ?? 0) - (edges[0]?.[0] ?? 0);
  const totalBytes = bytes.reduce((s, b) => s + b, 0);
  const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
  return {
    normalize,
    raw,
    records,
    events,
    expected: { ...expectedCounts(traffic.expected.violations), late_event: traffic.expected.lateEvents.length, revision: traffic.expected.revisions.length, run_summary: perRun.size },
    stats: [
      ['lifecycle events (records)', fmt(events.length)],
      ['runs', fmt(perRun.size)],
      ['events per run (min / median / max)', `${counts[0]} / ${quantile(counts, 0.5)} / ${counts.at(-1)}`],
      ['record bytes (p1 / median / p99 / mean)', `${quantile(bytes, 0.01)} / ${quantile(bytes, 0.5)} / ${quantile(bytes, 0.99)} / ${fmt(totalBytes / bytes.length)}`],
      ['runs in flight, first to last event (mean / max)', `${fmt(weighted / spanMs)} / ${fmt(maxInFlight)}`],
      ['event-time span', `${fmt(spanMs / 1000)} s`],
      ['runs with an injected fault', `${fmt(traffic.expected.faultRuns.length)} (${((100 * traffic.expected.faultRuns.length) / perRun.size).toFixed(0)} %)`],
      ['partitions / users / threads', `${PARTITIONS} / ${fmt(USERS)} / ${fmt(USERS * THREADS_PER_USER)}`],
    ],
  };
}

// ---- Contenders ---------------------------------------------------------------------------------

type Counts = Map<string, number>;

const add = (counts: Counts, key: string): void => {
  counts.set(key, (counts.get(key) ?? 0) + 1);
};

function parseOnly(raw: readonly string[]): Counts {
  let objects = 0;
  for (let i = 0; i < raw.length; i += 1) {
    const parsed = JSON.parse(raw[i] as string) as { type?: unknown };
    if (parsed.type !== undefined) objects += 1;
  }
  return new Map([['parsed', objects]]);
}

function baseline(events: readonly AgentEvent[], config: DetectionConfig): Counts {
  const counts: Counts = new Map();
  runBaseline(events, config, (v: BaselineOutput) => add(counts, v.kind === 'violation' ? v.rule : v.kind));
  return counts;
}

const countVerdicts = (counts: Counts) => (v: Verdict) => add(counts, v.kind === 'violation' ? v.violation.rule : v.kind);

function chain(events: readonly AgentEvent[], config: DetectionConfig, earlyFiring = false): Counts {
  const counts: Counts = new Map();
  from(events).pipe(detectVerdicts(config, undefined, { earlyFiring })).subscribe(countVerdicts(counts));
  return counts;
}

function endToEnd(records: readonly SourceRecord[], config: DetectionConfig): Counts {
  const counts: Counts = new Map();
  from(records)
    .pipe(
      map((record) => normalizeRecord(record)),
      filter((n) => n.kind === 'lifecycle'),
      map((n) => (n as { readonly event: AgentEvent }).event),
      detectVerdicts(config),
    )
    .subscribe(countVerdicts(counts));
  return counts;
}

interface Contender {
  readonly name: string;
  readonly label: string;
  readonly run: () => Counts;
}

interface Sample {
  readonly wallS: number;
  readonly cpuS: number;
  readonly gcS: number;
}

interface Measured {
  readonly samples: Sample[];
  counts: Counts | undefined;
}

async function timeIt(run: () => Counts): Promise<Sample & { counts: Counts }> {
  forceGc();
  await tick();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const counts = run();
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  await tick(50); // let the GC observer deliver (it reports from a later turn of the event loop)
  const gcMs = gcPauses.filter((p) => p.start >= t0 && p.start < t1).reduce((s, p) => s + p.duration, 0);
  return { wallS: (t1 - t0) / 1000, cpuS: (cpu.user + cpu.system) / 1e6, gcS: gcMs / 1000, counts };
}

const total = (counts: Counts | undefined): number => [...(counts?.values() ?? [])].reduce((s, n) => s + n, 0);
const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const fmtInt = (r: number): string => Math.round(r).toLocaleString('en-US');

// ---- Main ---------------------------------------------------------------------------------------

/** Starts the heap measurement in a child process; it runs while this process generates data. */
function startMemoryChild(): Promise<MemoryResult | undefined> {
  log(`memory: ${OPEN_RUNS} open runs, in a child process (runs while the data set is prepared)`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, new URL('./memory.ts', import.meta.url).pathname], {
      env: { ...process.env, BENCH_OPEN_RUNS: String(OPEN_RUNS) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('close', (status) => {
      if (status !== 0) {
        log(`memory child failed (status ${status}); heap figures omitted`);
        return resolve(undefined);
      }
      resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as MemoryResult);
    });
  });
}

async function main(): Promise<void> {
  if ((globalThis as { gc?: unknown }).gc === undefined) log('warning: no --expose-gc; GC is not forced between timed runs');
  const config = detectionConfigSchema.parse({});
  const memoryPromise = SKIP_MEMORY ? Promise.resolve(undefined) : startMemoryChild();

  log(`preparing ≥ ${TARGET_EVENTS} events`);
  const data = prepare(config);
  const n = data.events.length;
  log(`prepared ${n} events${SKIP_MEMORY ? '' : '; waiting for the memory child before timing'}`);
  const memory = await memoryPromise;

  const contenders: Contender[] = [
    { name: 'parse', label: 'JSON.parse only (raw record strings)', run: () => parseOnly(data.raw) },
    { name: 'baseline', label: 'hand-written Map baseline', run: () => baseline(data.events, config) },
    { name: 'chain', label: 'detector chain `detectVerdicts(config)`', run: () => chain(data.events, config) },
    { name: 'live', label: 'the same, live mode: early firing (provisional rows at arrival)', run: () => chain(data.events, config, true) },
  ].filter((c) => ONLY === undefined || ONLY.includes(c.name));
  const results = new Map<string, Measured>(contenders.map((c) => [c.name, { samples: [], counts: undefined }]));
  // Settle: the heap just grew by gigabytes (first timed run after it was consistently ~2× slower,
  // half of it GC); one untimed parse pass lets the GC and the JIT reach their steady state.
  forceGc();
  await tick(1_000);
  parseOnly(data.raw);
  const roundsStart = performance.now();
  let rounds = 0;
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    const elapsedS = (performance.now() - roundsStart) / 1000;
    if (round > 0 && elapsedS + elapsedS / round > BUDGET_S) {
      log(`stopping after ${round} round(s): another would end past BENCH_BUDGET_S=${BUDGET_S}`);
      break;
    }
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const c of order) {
      const s = await timeIt(c.run);
      const m = results.get(c.name) as Measured;
      m.samples.push(s);
      if (m.counts !== undefined && total(m.counts) !== total(s.counts)) log(`warning: ${c.name} gave ${total(s.counts)} outputs, ${total(m.counts)} before`);
      m.counts ??= s.counts;
      log(`round ${round + 1} ${c.name.padEnd(8)} wall ${s.wallS.toFixed(2).padStart(7)} s  cpu ${s.cpuS.toFixed(2).padStart(7)} s  gc ${s.gcS.toFixed(2).padStart(6)} s  ${fmtInt(n / s.wallS).padStart(9)} events/s`);
    }
    rounds += 1;
  }
  // The parse-only loop is cheap: it always gets its full number of samples.
  const parse = contenders.find((c) => c.name === 'parse');
  const parseSamples = results.get('parse')?.samples;
  while (parse !== undefined && parseSamples !== undefined && parseSamples.length < MAX_ROUNDS) {
    const s = await timeIt(parse.run);
    parseSamples.push(s);
    log(`extra    parse    wall ${s.wallS.toFixed(2).padStart(7)} s  cpu ${s.cpuS.toFixed(2).padStart(7)} s  ${fmtInt(n / s.wallS).padStart(9)} events/s`);
  }
  let e2e: (Sample & { counts: Counts }) | undefined;
  if (ONLY === undefined) {
    const e2eRecords = data.records.slice(0, Math.ceil((data.records.length * Math.min(E2E_PERCENT, 100)) / 100));
    e2e = await timeIt(() => endToEnd(e2eRecords, config));
    e2e = { ...e2e, wallS: (e2e.wallS * n) / e2eRecords.length, cpuS: (e2e.cpuS * n) / e2eRecords.length, gcS: (e2e.gcS * n) / e2eRecords.length };
    log(`end-to-end wall ${e2e.wallS.toFixed(2)} s  cpu ${e2e.cpuS.toFixed(2)} s  ${fmtInt(n / e2e.wallS)} events/s`);
  }

  // ---- Report (markdown) ----
  const cpus = os.cpus();
  const out: string[] = [];
  out.push('', '## Detector benchmark', '');
  out.push(`- machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.platform()} ${os.release()}, Node ${process.version}; load average at the end ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')}`);
  out.push(`- command: \`node ${process.execArgv.join(' ')} bench/detectors.ts\` (BENCH_EVENTS=${TARGET_EVENTS}, ${rounds} round(s) of at most ${MAX_ROUNDS}, BENCH_BUDGET_S=${BUDGET_S})`, '');
  out.push('| data set | |', '|---|---|');
  for (const [k, v] of data.stats) out.push(`| ${k} | ${v} |`);
  out.push('');

  const rate = (name: string, of: (s: Sample) => number): number | undefined => {
    const m = results.get(name);
    return m === undefined || m.samples.length === 0 ? undefined : median(m.samples.map((s) => n / of(s)));
  };
  const wall = (s: Sample): number => s.wallS;
  const cpu = (s: Sample): number => s.cpuS;
  const parseRate = rate('parse', wall);
  const baseRate = rate('baseline', wall);
  const parseCpuRate = rate('parse', cpu);
  const baseCpuRate = rate('baseline', cpu);
  const ratio = (r: number, of: number | undefined): string => (of === undefined ? '–' : `${(r / of).toFixed(2)}×`);
  out.push('| contender | median events/s (wall) | min – max (wall) | events/CPU-s | GC pauses | rounds | vs parse-only (wall / CPU) | vs baseline (wall / CPU) | outputs |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const row = (label: string, samples: readonly Sample[], counts: Counts | undefined): void => {
    const rates = samples.map((s) => n / s.wallS);
    const med = median(rates);
    const medCpu = median(samples.map((s) => n / s.cpuS));
    const gcShare = median(samples.map((s) => s.gcS / s.wallS));
    out.push(
      `| ${label} | ${fmtInt(med)} | ${fmtInt(Math.min(...rates))} – ${fmtInt(Math.max(...rates))} | ${fmtInt(medCpu)} | ${(100 * gcShare).toFixed(0)} % | ${samples.length} | ${ratio(med, parseRate)} / ${ratio(medCpu, parseCpuRate)} | ${ratio(med, baseRate)} / ${ratio(medCpu, baseCpuRate)} | ${fmtInt(total(counts))} |`,
    );
  };
  for (const c of contenders) {
    const m = results.get(c.name) as Measured;
    row(c.label, m.samples, m.counts);
  }
  if (e2e !== undefined) row(`normalizeRecord + chain from Buffers, first ${Math.min(E2E_PERCENT, 100)} % of the records (information)`, [e2e], e2e.counts);
  if (ONLY === undefined) {
    // Per record (all records, server messages and malformed ones included), scaled to this table's n.
    const scale = n / data.normalize.records;
    row('normalizeRecord only, all records, timed while preparing (information)', [{ wallS: data.normalize.wallS * scale, cpuS: data.normalize.cpuS * scale, gcS: data.normalize.gcS * scale }], new Map([['events', n]]));
  }
  out.push('');

  const chainRate = rate('chain', wall);
  const chainCpuRate = rate('chain', cpu);
  const targets: string[] = [];
  const verdict = (r: number, goal: number): string => (r >= goal ? 'met' : `**missed**: needs ${(goal / r).toFixed(1)}× the speed`);
  if (chainRate !== undefined && parseRate !== undefined && chainCpuRate !== undefined && parseCpuRate !== undefined) {
    targets.push(`| chain ≥ 0.5× parse-only | ${(chainRate / parseRate).toFixed(2)}× / ${(chainCpuRate / parseCpuRate).toFixed(2)}× | ${verdict(chainRate / parseRate, 0.5)} |`);
  }
  if (chainRate !== undefined && baseRate !== undefined && chainCpuRate !== undefined && baseCpuRate !== undefined) {
    targets.push(`| chain ≥ 1.0× hand-written baseline | ${(chainRate / baseRate).toFixed(2)}× / ${(chainCpuRate / baseCpuRate).toFixed(2)}× | ${verdict(chainRate / baseRate, 1)} |`);
  }
  const chainMemory = memory?.phases.find((p) => p.contender === 'chain' && p.eventsPerRun === 3);
  if (chainMemory !== undefined) {
    const b = chainMemory.bytesPerOpenRun;
    targets.push(`| chain heap ≤ 1 KB per open run (${fmtInt(chainMemory.openRuns)} open) | ${fmtInt(b)} B | ${b <= 1024 ? 'met' : `**missed**: ${(b / 1024).toFixed(1)}× the budget`} |`);
  }
  if (targets.length > 0) out.push('| target | measured (wall / CPU) | |', '|---|---:|---|', ...targets, '');

  if (memory !== undefined) {
    out.push(
      `Heap per open run: ${fmtInt(memory.openRunsTarget)} runs started within ${fmtInt(memory.eventTimeSpanMs / 1000)} s of event time, none completed, fed through a Subject; GC'd heapUsed + arrayBuffers (typed-array columns live outside the V8 heap) after feeding (and a heartbeat releasing the reorder buffer) minus before (empty detector subscribed), divided by open runs. One normalized AgentEvent with its parsed body retains ≈ ${fmtInt(memory.normalizedEventBytes)} B.`,
      '',
    );
    out.push('| detector | events fed per run | open runs | heap per open run |', '|---|---:|---:|---:|');
    for (const p of memory.phases) out.push(`| ${p.contender} | ${p.eventsPerRun} | ${fmtInt(p.openRuns)} | ${fmtInt(p.bytesPerOpenRun)} B |`);
    out.push('');
  }

  const chainCounts = results.get('chain')?.counts ?? e2e?.counts;
  const baseCounts = results.get('baseline')?.counts;
  if (chainCounts !== undefined || baseCounts !== undefined) {
    const keys = [...new Set([...(chainCounts?.keys() ?? []), ...(baseCounts?.keys() ?? []), ...Object.keys(data.expected)])].sort();
    out.push('| output per pass over the data set | chain | baseline | generator ground truth |', '|---|---:|---:|---:|');
    for (const k of keys) {
      const expected = data.expected[k];
      out.push(`| ${k} | ${fmtInt(chainCounts?.get(k) ?? 0)} | ${fmtInt(baseCounts?.get(k) ?? 0)} | ${expected === undefined ? (k === 'user_grade' ? '–' : '0') : fmtInt(expected)} |`);
    }
    out.push(`| total | ${fmtInt(total(chainCounts))} | ${fmtInt(total(baseCounts))} | |`, '');
  }
  process.stdout.write(`${out.join('\n')}\n`);
  log('done');
}

await main();
