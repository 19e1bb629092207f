/**
 * Checkpoint benchmark (`npm run bench:checkpoint`). Not a test: it measures and prints.
 *
 * 1. State at N open runs (BENCH_OPEN_RUNS, default 100 000; 3 events each, as bench/memory.ts):
 *    snapshot time and size (node:v8 serialization of every operator's state root), the same
 *    gzip-compressed at level 1 as the checkpoint store writes it, and restore time (decode +
 *    filling a freshly subscribed chain). Median of 5.
 * 2. What checkpoints cost a replay: the detector chain over ≥ BENCH_EVENTS (default 2 000 000)
 *    events with no checkpoint, with a snapshot every 5 s of wall time (the default interval) and
 *    every 1 s; alternating, BENCH_REPS (3) rounds, median events/s.
 *
 * node --expose-gc --max-old-space-size=8192 --import tsx bench/checkpoint.ts
 * Results and their reading: docs/performance.md, "Checkpoints".
 */
import { gzipSync } from 'node:zlib';
import { Subject } from 'rxjs';
import { detectionConfigSchema } from '../src/config/config.js';
import type { AgentEvent } from '../src/contract/event.js';
import { normalizeRecord } from '../src/contract/normalize.js';
import type { ChainInput } from '../src/operators/stream-item.js';
import { StateRegistry } from '../src/operators/state-registry.js';
import { detectVerdicts } from '../src/pipeline/detect.js';
import { generateTraffic } from '../src/simulator/generate.js';
import { intEnv } from './env.js';
import { feedList, normalized, placeRecords, prepareOpenRuns, sourceRecord } from './memory.js';

const OPEN_RUNS = intEnv('BENCH_OPEN_RUNS', 100_000);
const EVENTS = intEnv('BENCH_EVENTS', 2_000_000);
const REPS = intEnv('BENCH_REPS', 3);
const config = detectionConfigSchema.parse({});
const log = (text: string): void => void process.stderr.write(`[bench:checkpoint] ${text}\n`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

function openRunState(): void {
  const { byRun, maxEventTimeMs } = prepareOpenRuns(OPEN_RUNS);
  const feed = feedList(byRun, 3).map(normalized);
  const registry = new StateRegistry();
  const input = new Subject<ChainInput>();
  let summaries = 0;
  const subscription = input.pipe(detectVerdicts(config, undefined, { state: registry })).subscribe((v) => void (v.kind === 'run_summary' && (summaries += 1)));
  const empty = registry.snapshot().length;
  for (const event of feed) input.next(event);
  input.next({ kind: 'heartbeat', eventTimeMs: maxEventTimeMs + config.maxOutOfOrdernessMs });
  const openRuns = byRun.length - summaries;
  const snapshotMs: number[] = [];
  const gzipMs: number[] = [];
  const restoreMs: number[] = [];
  let bytes: Buffer = Buffer.alloc(0);
  let compressed: Buffer = Buffer.alloc(0);
  for (let i = 0; i < 5; i += 1) {
    gc();
    let t = performance.now();
    bytes = registry.snapshot();
    snapshotMs.push(performance.now() - t);
    t = performance.now();
    compressed = gzipSync(bytes, { level: 1 });
    gzipMs.push(performance.now() - t);
    gc();
    t = performance.now();
    const restored = new StateRegistry(StateRegistry.decode(bytes));
    const again = new Subject<ChainInput>().pipe(detectVerdicts(config, undefined, { state: restored })).subscribe();
    restoreMs.push(performance.now() - t);
    again.unsubscribe();
  }
  subscription.unsubscribe();
  const mb = (n: number): string => (n / 1_048_576).toFixed(1);
  console.log(`## State at ${openRuns.toLocaleString('en')} open runs (3 events each)\n`);
  console.log(`| measure | value |\n|---|---|`);
  console.log(`| snapshot (v8 serialize) | ${median(snapshotMs).toFixed(0)} ms, ${mb(bytes.length)} MB (${Math.round((bytes.length - empty) / openRuns)} B per open run; empty chain ${mb(empty)} MB) |`);
  console.log(`| gzip level 1 (as stored; zlib thread pool, off the chain's thread) | ${median(gzipMs).toFixed(0)} ms, ${mb(compressed.length)} MB (${Math.round(compressed.length / openRuns)} B per open run) |`);
  console.log(`| restore (decode + fill a fresh chain) | ${median(restoreMs).toFixed(0)} ms |\n`);
}

function replayEvents(): AgentEvent[] {
  let runs = Math.ceil(EVENTS / 8);
  for (;;) {
    const traffic = generateTraffic({ seed: 7, runs, users: 2_000, threadsPerUser: 3 });
    const events: AgentEvent[] = [];
    for (const placed of placeRecords(traffic.records, 6)) {
      const n = normalizeRecord(sourceRecord(placed.record, placed.partition, placed.offset));
      if (n.kind === 'lifecycle') events.push(n.event);
    }
    if (events.length >= EVENTS) return events;
    runs = Math.ceil((runs * EVENTS * 1.02) / events.length);
  }
}

/**
 * The chain over the events; a snapshot whenever `intervalMs` of wall time passed. Only the
 * snapshot runs on the chain's thread: the store compresses it in zlib's thread pool (async gzip)
 * while the chain goes on, so compression is reported apart (state table), not charged here.
 */
function replay(events: readonly AgentEvent[], intervalMs: number | undefined): { eventsPerSecond: number; checkpoints: number; meanBytes: number; meanSnapshotMs: number } {
  const registry = new StateRegistry();
  const input = new Subject<ChainInput>();
  const subscription = input.pipe(detectVerdicts(config, [0, 1, 2, 3, 4, 5], intervalMs === undefined ? {} : { state: registry })).subscribe();
  gc();
  const started = performance.now();
  let next = intervalMs === undefined ? Number.POSITIVE_INFINITY : started + intervalMs;
  let checkpoints = 0;
  let bytes = 0;
  let snapshotMs = 0;
  for (let i = 0; i < events.length; i += 1) {
    input.next(events[i] as AgentEvent);
    // The clock is read every 1 000 events, as a timer would interrupt between fetches.
    if (i % 1_000 === 0 && performance.now() >= next) {
      const t = performance.now();
      bytes += registry.snapshot().length;
      snapshotMs += performance.now() - t;
      checkpoints += 1;
      next = performance.now() + (intervalMs as number);
    }
  }
  input.complete();
  subscription.unsubscribe();
  return { eventsPerSecond: events.length / ((performance.now() - started) / 1_000), checkpoints, meanBytes: checkpoints === 0 ? 0 : bytes / checkpoints, meanSnapshotMs: checkpoints === 0 ? 0 : snapshotMs / checkpoints };
}

function replayCost(): void {
  const events = replayEvents();
  log(`${events.length} events prepared`);
  const contenders: Array<[string, number | undefined]> = [['no checkpoints', undefined], ['every 5 s (default)', 5_000], ['every 1 s', 1_000]];
  const rates = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
  const counts = new Map<string, { checkpoints: number; meanBytes: number; meanSnapshotMs: number }>();
  for (let round = 0; round < REPS; round += 1) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const [name, interval] of order) {
      const result = replay(events, interval);
      rates.get(name)?.push(result.eventsPerSecond);
      counts.set(name, result);
      log(`round ${round + 1}: ${name}: ${Math.round(result.eventsPerSecond)} events/s, ${result.checkpoints} checkpoints`);
    }
  }
  const base = median(rates.get('no checkpoints') ?? []);
  console.log(`## Replay of ${events.length.toLocaleString('en')} events through the chain (median of ${REPS})\n`);
  console.log(`| checkpoints | events/s | checkpoints taken (last round) | mean state size | mean snapshot time | cost |\n|---|---|---|---|---|---|`);
  for (const [name] of contenders) {
    const rate = median(rates.get(name) ?? []);
    const c = counts.get(name);
    const size = c === undefined || c.checkpoints === 0 ? '—' : `${(c.meanBytes / 1_048_576).toFixed(1)} MB`;
    const took = c === undefined || c.checkpoints === 0 ? '—' : `${c.meanSnapshotMs.toFixed(0)} ms`;
    console.log(`| ${name} | ${Math.round(rate).toLocaleString('en')} | ${c?.checkpoints ?? 0} | ${size} | ${took} | ${name === 'no checkpoints' ? '—' : `${(((base - rate) / base) * 100).toFixed(1)} %`} |`);
  }
  console.log('');
}

console.log(`# Checkpoint benchmark (node ${process.version}, ${new Date().toISOString()})\n`);
openRunState();
replayCost();
