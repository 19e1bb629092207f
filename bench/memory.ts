/**
 * Heap per open run: feeds the first events of N runs (all started within a few seconds of event
 * time, none completed) into the real detector chain through a Subject, so every run stays open
 * in the run engine, then compares the GC'd heap with an empty chain subscribed to the same
 * Subject. The same is done for the hand-written baseline.
 *
 * Records are normalized inside the feed loop and nothing else keeps the events, so whatever the
 * chain retains of an event (its parsed body included) is charged to the chain.
 *
 * Run by bench/detectors.ts in a child process (a clean heap, away from the 1M-event data set);
 * standalone: node --expose-gc --import tsx bench/memory.ts   (prints one JSON line on stdout)
 * Env: BENCH_OPEN_RUNS (default 100000), BENCH_MEMORY_DETAIL=1 (also feed 2 events per run).
 */
import { pathToFileURL } from 'node:url';
import { Subject } from 'rxjs';
import { detectionConfigSchema, type DetectionConfig } from '../src/config/config.js';
import type { AgentEvent, SourceRecord } from '../src/contract/event.js';
import { normalizeRecord } from '../src/contract/normalize.js';
import { lookupField, readId } from '../src/contract/wire.js';
import type { ChainInput } from '../src/operators/stream-item.js';
import { detectVerdicts } from '../src/pipeline/detect.js';
import { generateTraffic, type SimRecord } from '../src/simulator/generate.js';
import { BaselineDetector } from './baseline-detector.js';

export const TOPIC = 'agent-events';

/** FNV-1a of the record key (the thread id), so all runs of a thread share a partition, as with Kafka's key partitioner. */
export function partitionOf(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % partitions;
}

/** Positions the simulator's records (already in delivery order) on `partitions` partitions. */
export function placeRecords(records: readonly SimRecord[], partitions: number): { record: SimRecord; partition: number; offset: number }[] {
  const next = new Array<number>(partitions).fill(0);
  return records.map((record) => {
    const partition = partitionOf(record.key, partitions);
    const offset = next[partition] as number;
    next[partition] = offset + 1;
    return { record, partition, offset };
  });
}

export function sourceRecord(record: SimRecord, partition: number, offset: number): SourceRecord {
  return { topic: TOPIC, partition, offset, key: record.key, value: Buffer.from(record.value, 'utf8'), timestampMs: record.timestampMs };
}

export interface MemoryPhase {
  readonly contender: 'chain' | 'baseline';
  readonly eventsPerRun: number;
  readonly runsFed: number;
  readonly openRuns: number;
  readonly heapBeforeBytes: number;
  readonly heapAfterBytes: number;
  readonly bytesPerOpenRun: number;
  readonly verdicts: number;
}

export interface MemoryResult {
  readonly openRunsTarget: number;
  readonly eventTimeSpanMs: number;
  readonly normalizedEventBytes: number;
  readonly phases: MemoryPhase[];
}

const log = (message: string): void => {
  process.stderr.write(`[memory ${(performance.now() / 1000).toFixed(1).padStart(6)} s] ${message}\n`);
};

const gc = (): void => {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i += 1) collect();
};

/**
 * V8 heap plus ArrayBuffer backing stores: typed-array columns live outside the V8 heap, so heapUsed
 * alone would not see the run table.
 */
const memoryInUse = (): number => {
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
};

export interface Fed {
  readonly record: SimRecord;
  readonly partition: number;
  readonly offset: number;
  readonly runId: string;
}

export function prepareOpenRuns(openRuns: number): { byRun: Fed[][]; maxEventTimeMs: number; spanMs: number } {
  // All runs start within ~20 s of event time: none reaches its 30 s deadline, so all stay open.
  const traffic = generateTraffic({
    seed: 11,
    runs: openRuns,
    users: 2000,
    threadsPerUser: 3,
    meanRunStartSpacingMs: 20_000 / openRuns,
    pairRepeats: { min: 1, max: 1 },
    missingEventFraction: 0,
    faultFraction: 0,
    serverMessageFraction: 0,
    malformedFraction: 0,
  });
  const byRun = new Map<string, Fed[]>();
  let minMs = Number.POSITIVE_INFINITY;
  let maxEventTimeMs = Number.NEGATIVE_INFINITY;
  for (const placed of placeRecords(traffic.records, 6)) {
    const body = JSON.parse(placed.record.value) as Record<string, unknown>;
    const runId = lookupField(body, 'run_id', readId) as string;
    let list = byRun.get(runId);
    if (list === undefined) byRun.set(runId, (list = []));
    list.push({ ...placed, runId });
  }
  // Keep each run's first 3 events in event time (agent_started, agent_thinking, tool_executing).
  const kept: Fed[][] = [];
  for (const list of byRun.values()) {
    const withTime = list.map((fed) => {
      const n = normalizeRecord(sourceRecord(fed.record, fed.partition, fed.offset));
      return { fed, ms: n.kind === 'lifecycle' ? n.event.emittedAtMs : Number.NaN };
    });
    withTime.sort((a, b) => a.ms - b.ms);
    const first = withTime.slice(0, 3);
    for (const f of first) {
      if (f.ms < minMs) minMs = f.ms;
      if (f.ms > maxEventTimeMs) maxEventTimeMs = f.ms;
    }
    kept.push(first.map((f) => f.fed));
  }
  return { byRun: kept, maxEventTimeMs, spanMs: maxEventTimeMs - minMs };
}

/** The records to feed, in delivery order, for the first `eventsPerRun` events of each run. */
export function feedList(byRun: readonly Fed[][], eventsPerRun: number): Fed[] {
  const list = byRun.flatMap((events) => events.slice(0, eventsPerRun));
  list.sort((a, b) => a.record.timestampMs - b.record.timestampMs || a.partition - b.partition || a.offset - b.offset);
  return list;
}

export function normalized(fed: Fed): AgentEvent {
  const n = normalizeRecord(sourceRecord(fed.record, fed.partition, fed.offset));
  if (n.kind !== 'lifecycle') throw new Error(`not a lifecycle record: ${n.kind}`);
  return n.event;
}

function measureChain(config: DetectionConfig, feed: readonly Fed[], eventsPerRun: number, heartbeatMs: number): MemoryPhase {
  const input = new Subject<ChainInput>();
  let verdicts = 0;
  let summaries = 0;
  const subscription = input.pipe(detectVerdicts(config)).subscribe((v) => {
    verdicts += 1;
    if (v.kind === 'run_summary') summaries += 1;
  });
  const runs = new Set<string>();
  for (const fed of feed) runs.add(fed.runId);
  const before = memoryInUse();
  for (const fed of feed) input.next(normalized(fed));
  // Releases the reorder buffer into the engine (watermark = last event time); no run reaches its deadline.
  input.next({ kind: 'heartbeat', eventTimeMs: heartbeatMs + config.maxOutOfOrdernessMs });
  const after = memoryInUse();
  const openRuns = runs.size - summaries;
  subscription.unsubscribe();
  return { contender: 'chain', eventsPerRun, runsFed: runs.size, openRuns, heapBeforeBytes: before, heapAfterBytes: after, bytesPerOpenRun: (after - before) / openRuns, verdicts };
}

function measureBaseline(config: DetectionConfig, feed: readonly Fed[], eventsPerRun: number, heartbeatMs: number): MemoryPhase {
  let verdicts = 0;
  const runs = new Set<string>();
  for (const fed of feed) runs.add(fed.runId);
  let detector: BaselineDetector | undefined = new BaselineDetector(config, () => {
    verdicts += 1;
  });
  const before = memoryInUse();
  for (const fed of feed) detector.push(normalized(fed));
  detector.heartbeat(heartbeatMs + config.maxOutOfOrdernessMs);
  const after = memoryInUse();
  const openRuns = detector.openRunCount;
  detector = undefined;
  return { contender: 'baseline', eventsPerRun, runsFed: runs.size, openRuns, heapBeforeBytes: before, heapAfterBytes: after, bytesPerOpenRun: (after - before) / openRuns, verdicts };
}

/** Average retained heap of one normalized AgentEvent (with its parsed body), for reference. */
function eventBytes(feed: readonly Fed[]): number {
  const sample = feed.slice(0, 50_000);
  const before = memoryInUse();
  const held = sample.map(normalized);
  const after = memoryInUse();
  if (held.length !== sample.length) throw new Error('unreachable');
  return (after - before) / sample.length;
}

export function measureMemory(openRunsTarget: number): MemoryResult {
  const config = detectionConfigSchema.parse({});
  const { byRun, maxEventTimeMs, spanMs } = prepareOpenRuns(openRunsTarget);
  log(`prepared ${byRun.length} runs`);
  const phases: MemoryPhase[] = [];
  // 3 events: agent_started, agent_thinking, tool_executing (one tool call open). 2 events (no tool
  // call open) only with BENCH_MEMORY_DETAIL=1: it shows what an open tool call costs.
  for (const eventsPerRun of process.env['BENCH_MEMORY_DETAIL'] === '1' ? [3, 2] : [3]) {
    const feed = feedList(byRun, eventsPerRun);
    phases.push(measureChain(config, feed, eventsPerRun, maxEventTimeMs));
    log(`chain, ${eventsPerRun} events per run: ${Math.round(phases.at(-1)?.bytesPerOpenRun ?? 0)} B per open run`);
    phases.push(measureBaseline(config, feed, eventsPerRun, maxEventTimeMs));
    log(`baseline, ${eventsPerRun} events per run: ${Math.round(phases.at(-1)?.bytesPerOpenRun ?? 0)} B per open run`);
  }
  const normalizedEventBytes = eventBytes(feedList(byRun, 3));
  return { openRunsTarget, eventTimeSpanMs: spanMs, normalizedEventBytes, phases };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const target = Number(process.env['BENCH_OPEN_RUNS'] ?? 100_000);
  process.stdout.write(`${JSON.stringify(measureMemory(target))}\n`);
}
