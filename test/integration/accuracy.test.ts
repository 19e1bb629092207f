/**
 * Accuracy of the detector chain against the simulator's ground truth, in process (no Kafka):
 * generated records → normalizeRecord → the real chain `detectVerdicts(config)`. Every violation
 * the simulator injected must be found and nothing else reported: precision = recall = 1, per
 * (run, rule, severity, subject), as a multiset. Late recovery replays must be counted late, and
 * revise (retract or confirm) the missing_events verdict of their judged run, exactly as labelled.
 *
 * Records are consumed as a Kafka consumer would see them: keyed by thread, partition =
 * hash(key) % 4, offsets increasing per partition, each partition in publish (delivery) order.
 * A smaller workload also checks that other legal interleavings of the partitions (round-robin in
 * various chunk sizes, some letting one partition run far ahead) give the same verdicts, late
 * events and revisions.
 *
 * Cost (2 cores, shared): the 100k-run workload (~0.8M lifecycle records) takes ~80 s of CPU
 * (generate ~15 s, normalize + detect ~65 s) and runs in a 1 GiB heap (~0.6 GiB live: the records).
 */
import { Subject } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectionConfigSchema } from '../../src/config/config.js';
import type { AgentEvent, SourceRecord, WireShape } from '../../src/contract/event.js';
import { normalizeRecord } from '../../src/contract/normalize.js';
import { RULES, type RuleId, type Verdict } from '../../src/contract/verdict.js';
import { detectVerdicts } from '../../src/pipeline/detect.js';
import { CONTENT_FAULTS, EVERY_FAULT_CLASS, FAULT_CLASSES } from '../../src/simulator/faults.js';
import { generateTraffic, type ExpectedLateEvent, type ExpectedRevision, type ExpectedViolation, type SimRecord, type SimulatedTraffic, type TrafficOptions } from '../../src/simulator/generate.js';
import { resolveExpected, scoreLateEvents, scoreRevisions } from '../../src/simulator/score.js';

const PARTITIONS = [0, 1, 2, 3] as const;
const config = detectionConfigSchema.parse({});

/** FNV-1a: a stable key → partition mapping (any deterministic hash does; Kafka uses murmur2). */
function partitionOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % PARTITIONS.length;
}

interface Consumed {
  lifecycle: number;
  other: number;
  deadLetters: number;
  recovered: number;
  shapes: Map<WireShape, number>;
}

/** Records in publish order as a consumer of a 4-partition topic sees them, normalized; lifecycle events only. */
function* consume(records: readonly SimRecord[], stats: Consumed): Generator<AgentEvent> {
  const offsets = PARTITIONS.map(() => 0);
  for (const record of records) {
    const partition = partitionOf(record.key);
    const offset = offsets[partition] as number;
    offsets[partition] = offset + 1;
    const source: SourceRecord = { topic: 'agent-events', partition, offset, key: record.key, value: Buffer.from(record.value, 'utf8'), timestampMs: record.timestampMs };
    const result = normalizeRecord(source);
    if (result.kind === 'other') stats.other += 1;
    else if (result.kind === 'dead_letter') stats.deadLetters += 1;
    else {
      stats.lifecycle += 1;
      if (result.event.recovered) stats.recovered += 1;
      stats.shapes.set(result.event.shape, (stats.shapes.get(result.event.shape) ?? 0) + 1);
      yield result.event;
    }
  }
}

const newStats = (): Consumed => ({ lifecycle: 0, other: 0, deadLetters: 0, recovered: 0, shapes: new Map() });

interface ChainOutput {
  /** Violations, reduced to what the comparison and the interleaving check need. */
  violations: Array<{ id: string; key: string; rule: RuleId; detail: string; eventTimeMs: number; owner: string }>;
  summaries: string[];
  summaryCount: number;
  grades: string[];
  lateEvents: ExpectedLateEvent[];
  /** Each with the rule of the verdict it revises (looked up by violation id). */
  revisions: Array<ExpectedRevision & { rule: string | undefined }>;
}

const labelKey = (v: { runId: string; rule: string; severity: string; subject?: string }): string => `${v.runId} ${v.rule} ${v.severity} ${v.subject ?? ''}`;

/** The real chain over `events`, synchronously (from() of an iterable emits on subscribe). */
/**
 * Feeds the chain in slices, yielding to the event loop between them: a single synchronous pass
 * over 0.8M events would starve the test worker's RPC with the runner (it times out after 60 s).
 * Slicing is just one more chunking, which the verdicts do not depend on.
 */
async function runChain(events: Iterable<AgentEvent>, partitions?: readonly number[], keepSummaries = true): Promise<ChainOutput> {
  const out: ChainOutput = { violations: [], summaries: [], summaryCount: 0, grades: [], lateEvents: [], revisions: [] };
  const ruleOf = new Map<string, string>();
  let completed = false;
  const input = new Subject<AgentEvent>();
  input
    .pipe(detectVerdicts(config, partitions))
    .subscribe({
      next: (verdict: Verdict) => {
        switch (verdict.kind) {
          case 'violation': {
            const v = verdict.violation;
            out.violations.push({ id: v.violationId, key: labelKey(v), rule: v.rule, detail: v.detail, eventTimeMs: v.eventTimeMs, owner: `${v.userId ?? '-'} ${v.threadId ?? '-'}` });
            ruleOf.set(v.violationId, v.rule);
            return;
          }
          case 'run_summary': {
            // Everything but the decision watermark, which depends on when watermarks happened to advance.
            out.summaryCount += 1;
            if (!keepSummaries) return;
            const { decidedAtWatermarkMs: _decided, ...summary } = verdict.summary;
            out.summaries.push(JSON.stringify(summary));
            return;
          }
          case 'user_grade':
            out.grades.push(JSON.stringify(verdict.grade));
            return;
          case 'late_event':
            out.lateEvents.push({ runId: verdict.runId, type: verdict.type });
            return;
          case 'revision':
            out.revisions.push({ runId: verdict.runId, action: verdict.action, rule: ruleOf.get(verdict.violationId) });
        }
      },
      complete: () => {
        completed = true;
      },
    });
  let sent = 0;
  for (const event of events) {
    input.next(event);
    if (++sent % 20_000 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  input.complete();
  expect(completed).toBe(true);
  return out;
}

/** Order-free form of a chain output, for comparing interleavings (decision watermarks excluded). */
function canonical(o: ChainOutput) {
  return {
    violations: o.violations.map((v) => `${v.id} ${v.key} ${v.eventTimeMs} ${v.detail}`).sort(),
    owners: o.violations.map((v) => `${v.id} ${v.owner}`).sort(),
    summaries: [...o.summaries].sort(),
    grades: [...o.grades].sort(),
    lateEvents: o.lateEvents.map((e) => `${e.runId} ${e.type}`).sort(),
    revisions: o.revisions.map((r) => `${r.runId} ${r.action} ${r.rule ?? '?'}`).sort(),
  };
}

interface Score {
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  precision: number;
  recall: number;
  perRule: Map<string, { expected: number; found: number; matched: number }>;
  /** Up to 25 differences, each with the fault injected into its run. */
  mismatches: string[];
}

/** Multiset comparison of found vs expected (run, rule, severity, subject). */
function score(found: ChainOutput['violations'], expected: readonly ExpectedViolation[], traffic: SimulatedTraffic): Score {
  const count = (keys: Iterable<string>): Map<string, number> => {
    const m = new Map<string, number>();
    for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
    return m;
  };
  const foundCounts = count(found.map((v) => v.key));
  const expectedCounts = count(expected.map(labelKey));
  const faultOf = new Map(traffic.expected.faultRuns.map((f) => [f.runId, `${f.fault}:${f.variant}`]));
  const detailOf = new Map(found.map((v) => [v.key, v.detail]));
  const perRule = new Map<string, { expected: number; found: number; matched: number }>(Object.keys(RULES).map((rule) => [rule, { expected: 0, found: 0, matched: 0 }]));
  let truePositives = 0;
  let falsePositives = 0;
  let falseNegatives = 0;
  const mismatches: string[] = [];
  for (const key of new Set([...foundCounts.keys(), ...expectedCounts.keys()])) {
    const f = foundCounts.get(key) ?? 0;
    const e = expectedCounts.get(key) ?? 0;
    const [runId = '', rule = ''] = key.split(' ');
    const row = perRule.get(rule);
    if (row !== undefined) {
      row.expected += e;
      row.found += f;
      row.matched += Math.min(e, f);
    }
    truePositives += Math.min(e, f);
    if (f > e) falsePositives += f - e;
    if (e > f) falseNegatives += e - f;
    if (f !== e && mismatches.length < 25) {
      mismatches.push(`${f > e ? `unexpected x${f - e}` : `missed x${e - f}`}: ${key} [fault ${faultOf.get(runId) ?? 'none'}]${f > e ? ` "${detailOf.get(key) ?? ''}"` : ''}`);
    }
  }
  return {
    truePositives,
    falsePositives,
    falseNegatives,
    precision: truePositives / Math.max(1, truePositives + falsePositives),
    recall: truePositives / Math.max(1, truePositives + falseNegatives),
    perRule,
    mismatches,
  };
}

/**
 * Late events and revisions equal the simulator's: every late replay (and nothing else) counted
 * late, and each revises the missing_events verdict of its run as labelled.
 */
function expectLateEffects({ output, traffic }: Measured): void {
  const late = scoreLateEvents(output.lateEvents, traffic.expected.lateEvents);
  expect(late.examples).toEqual({ unexpected: [], missed: [] });
  expect(late.truePositives).toBe(traffic.expected.lateEvents.length);
  const revisions = scoreRevisions(output.revisions, traffic.expected.revisions);
  expect(revisions.examples).toEqual({ unexpected: [], missed: [] });
  expect(revisions.truePositives).toBe(traffic.expected.revisions.length);
  expect(new Set(output.revisions.map((r) => r.rule))).toEqual(new Set(output.revisions.length === 0 ? [] : ['missing_events']));
}

function report(title: string, s: Score): void {
  const rows = [...s.perRule].filter(([, r]) => r.expected + r.found > 0).map(([rule, r]) => `  ${rule.padEnd(26)} ${String(r.expected).padStart(7)} ${String(r.found).padStart(7)} ${String(r.matched).padStart(7)}`);
  process.stdout.write(
    [
      `${title}: precision ${s.precision.toFixed(6)}, recall ${s.recall.toFixed(6)} (TP ${s.truePositives}, FP ${s.falsePositives}, FN ${s.falseNegatives})`,
      `  ${'rule'.padEnd(26)} ${'expected'.padStart(7)} ${'found'.padStart(7)} ${'matched'.padStart(7)}`,
      ...rows,
      ...s.mismatches.map((m) => `  ${m}`),
      '',
    ].join('\n'),
  );
}

interface Measured {
  traffic: SimulatedTraffic;
  stats: Consumed;
  output: ChainOutput;
  score: Score;
}

/** Generates, normalizes, detects and scores; prints the table and the cost. */
async function measure(title: string, options: TrafficOptions, keepSummaries: boolean): Promise<Measured> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const traffic = generateTraffic(options);
  const generatedMs = performance.now() - t0;
  const stats = newStats();
  const output = await runChain(consume(traffic.records, stats), undefined, keepSummaries);
  const chainMs = performance.now() - t0 - generatedMs;
  const cpu = process.cpuUsage(cpu0);
  const memory = process.memoryUsage();
  const s = score(output.violations, resolveExpected(traffic.expected.violations, partitionOf), traffic);
  report(`${title}: ${traffic.expected.runs} runs, ${stats.lifecycle} lifecycle events`, s);
  const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
  process.stdout.write(
    `  generate ${(generatedMs / 1000).toFixed(1)} s, normalize+detect ${(chainMs / 1000).toFixed(1)} s, cpu ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s; heap ${mib(memory.heapUsed)} MiB, rss ${mib(memory.rss)} MiB\n`,
  );
  return { traffic, stats, output, score: s };
}

describe('detector accuracy: 5k runs, other legal interleavings of the partitions', () => {
  let m: Measured;
  let reference: ReturnType<typeof canonical>;
  const others: Array<ReturnType<typeof canonical>> = [];
  beforeAll(async () => {
    // Every fault class, late replays included, over 50 s of event time (a run every 10 ms) so that
    // most replays are sent. Some interleavings below let one partition run arbitrarily far ahead:
    // lateness is judged per partition and a late event waits for its run's close, so even the
    // late events and the revisions they make must not depend on it.
    m = await measure('accuracy (interleavings)', { seed: 77, runs: 5_000, faultFraction: 0.3, meanRunStartSpacingMs: 10, faultMix: EVERY_FAULT_CLASS }, true);
    const events = [...consume(m.traffic.records, newStats())];
    const byPartition = PARTITIONS.map((p) => events.filter((e) => e.source.partition === p));
    /** Round-robin over the partitions in `order`, `sizes[(turn + p) % sizes.length]` events at a time: each partition stays in order. */
    const interleave = (sizes: readonly number[], order: readonly number[]): AgentEvent[] => {
      const out: AgentEvent[] = [];
      const next = PARTITIONS.map(() => 0);
      for (let turn = 0; out.length < events.length; turn++) {
        for (const p of order) {
          const queue = byPartition[p] as AgentEvent[];
          const start = next[p] as number;
          const to = Math.min(queue.length, start + (sizes[(turn + p) % sizes.length] as number));
          for (let i = start; i < to; i++) out.push(queue[i] as AgentEvent);
          next[p] = to;
        }
      }
      return out;
    };
    reference = canonical(await runChain(events, PARTITIONS));
    // Without the assignment, the same record order; then three other interleavings.
    others.push(canonical(await runChain(events)));
    for (const [sizes, order] of [
      [[1, 7, 64], [3, 2, 1, 0]],
      [[500, 3, 1_000, 40], [1, 3, 0, 2]],
      [[2_000], [0, 1, 2, 3]],
    ] as const) {
      others.push(canonical(await runChain(interleave(sizes, order), PARTITIONS)));
    }
  }, 300_000);

  it('is exact in record order as well', () => {
    expectLateEffects(m);
    expect(m.traffic.expected.lateEvents.length).toBeGreaterThan(50);
    expect(m.score.mismatches).toEqual([]);
    expect(m.score.precision).toBe(1);
    expect(m.score.recall).toBe(1);
  });

  it('reports the same violations (ids, rule, run, subject, event time, detail), late events and revisions whatever the interleaving', () => {
    expect(reference.violations.length).toBeGreaterThan(1_000);
    for (const other of others) {
      expect(other.lateEvents).toEqual(reference.lateEvents);
      expect(other.revisions).toEqual(reference.revisions);
      expect(other.violations).toEqual(reference.violations);
    }
  });

  it('attributes violations to the same owner and summarizes and grades identically whatever the interleaving', () => {
    for (const other of others) {
      expect(other.owners).toEqual(reference.owners);
      expect(other.summaries).toEqual(reference.summaries);
      expect(other.grades).toEqual(reference.grades);
    }
  });
});

describe('detector accuracy against the simulator ground truth: 100k runs', () => {
  let m: Measured | undefined;
  const measured = (): Measured => m ?? expect.unreachable('the 100k workload was not measured');
  beforeAll(async () => {
    m = await measure('accuracy', { seed: 20_250_918, runs: 100_000, faultFraction: 0.15, faultMix: EVERY_FAULT_CLASS }, false);
  }, 600_000);
  afterAll(() => {
    m = undefined; // ~0.8M records: not kept for the rest of the file
  });

  it('exercises every wire shape, every fault class and every injectable rule', () => {
    const { traffic, stats } = measured();
    expect(traffic.expected.runs).toBe(100_000);
    expect(stats.lifecycle).toBe(traffic.expected.lifecycleEvents);
    expect(stats.lifecycle).toBeGreaterThanOrEqual(800_000);
    expect(stats.other).toBe(traffic.expected.serverMessages);
    expect(stats.deadLetters).toBe(traffic.expected.malformedRecords);
    // A-D as lifecycle shapes, E = server messages, F = recovery replays.
    for (const shape of ['flat', 'wrapped', 'bridge', 'fixture', 'data_nested'] as const) expect(stats.shapes.get(shape) ?? 0, shape).toBeGreaterThan(10_000);
    expect(stats.other).toBeGreaterThan(1_000);
    expect(stats.recovered).toBeGreaterThan(100);
    const faults = new Map<string, number>();
    for (const f of traffic.expected.faultRuns) faults.set(f.fault, (faults.get(f.fault) ?? 0) + 1);
    for (const fault of [...FAULT_CLASSES, 'missing_event']) expect(faults.get(fault) ?? 0, fault).toBeGreaterThan(500);
    const variants = new Set(traffic.expected.faultRuns.map((f) => f.variant));
    for (const spec of CONTENT_FAULTS) expect(variants.has(spec.variant), spec.variant).toBe(true);
    for (const variant of ['tool_completed_first', 'thinking_before_start', 'user_id', 'run_id', 'thread_id', 'retracts', 'confirms:agent_completed']) expect(variants.has(variant), variant).toBe(true);
    // Every rule is exercised (partitioning_broken where the stray record's key hashes elsewhere).
    const perRule = new Map<string, number>();
    for (const v of resolveExpected(traffic.expected.violations, partitionOf)) perRule.set(v.rule, (perRule.get(v.rule) ?? 0) + 1);
    for (const rule of Object.keys(RULES)) expect(perRule.get(rule) ?? 0, rule).toBeGreaterThan(100);
    expect(traffic.expected.labelsExact).toBe(true);
  });

  it('counts exactly the injected late replays as late, revises their runs\' verdicts, and summarizes every run once', () => {
    const { output, traffic } = measured();
    expectLateEffects(measured());
    const actions = new Set(traffic.expected.revisions.map((r) => r.action));
    expect([...actions].sort()).toEqual(['confirmed', 'retracted']);
    expect(traffic.expected.lateEvents.length).toBeGreaterThan(500);
    expect(output.summaryCount).toBe(traffic.expected.runs);
  });

  it('finds every injected violation and nothing else: precision = recall = 1', () => {
    const { score: s } = measured();
    expect(s.mismatches).toEqual([]);
    expect(s.precision).toBe(1);
    expect(s.recall).toBe(1);
  });
});
