import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import { LIFECYCLE_TYPES, type LifecycleType, type SourceRecord } from '../../src/contract/event.js';
import { normalizeRecord } from '../../src/contract/normalize.js';
import { CONTENT_FAULTS } from '../../src/simulator/faults.js';
import { EVERY_FAULT_CLASS } from '../../src/simulator/faults.js';
import { kafkaPartitionOf } from '../../src/simulator/partitioner.js';
import { resolveExpected } from '../../src/simulator/score.js';
import { FAULT_CLASSES, generateTraffic, trafficOptionsSchema, type FaultRun, type SimRecord, type SimulatedTraffic, type TrafficOptions } from '../../src/simulator/generate.js';
import { createRng } from '../../src/simulator/random.js';
import { publishTraffic } from '../../src/simulator/publish.js';

// ---- A deliberately small, independent decoder: the checks must not trust the simulator's own code. ----

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const LOCAL_TYPES: Record<string, LifecycleType> = {
  agent_started: 'agent_started',
  agent_thinking: 'agent_thinking',
  reasoning: 'agent_thinking',
  tool_executing: 'tool_executing',
  tool_completed: 'tool_completed',
  agent_completed: 'agent_completed',
};

/** Root first, then payload, then data: the product front end's lookup order. */
function field(o: Obj, key: string): unknown {
  for (const level of [o, o['payload'], o['data']]) {
    if (isObj(level) && level[key] !== undefined && level[key] !== null) return level[key];
  }
  return undefined;
}

type Decoded =
  | { kind: 'malformed' }
  | { kind: 'server'; type: string }
  | { kind: 'lifecycle'; type: LifecycleType; body: Obj; runId: string; userId: string | undefined; emittedMs: number; shape: string };

function decode(record: SimRecord): Decoded {
  let body: unknown;
  try {
    body = JSON.parse(record.value);
  } catch {
    return { kind: 'malformed' };
  }
  if (!isObj(body) || typeof body['type'] !== 'string') return { kind: 'malformed' };
  const type = LOCAL_TYPES[body['type']];
  if (type === undefined) return { kind: 'server', type: body['type'] };
  const ts = field(body, 'timestamp');
  // Whole milliseconds, truncating the microseconds the wire carries.
  const emittedMs = typeof ts === 'number' ? Math.floor(Math.round(ts * 1e6) / 1000) : Date.parse(String(ts));
  const userId = field(body, 'user_id');
  const shape =
    body['critical'] === true ? (isObj(body['payload']) ? 'wrapped' : 'flat')
    : typeof body['timestamp'] === 'number' ? 'fixture'
    : body['run_id'] !== undefined ? 'bridge'
    : 'data_nested';
  return { kind: 'lifecycle', type, body, runId: String(field(body, 'run_id')), userId: typeof userId === 'string' ? userId : undefined, emittedMs, shape };
}

interface RunView {
  threadKeys: Set<string>;
  users: Set<string>;
  events: Array<{ type: LifecycleType; emittedMs: number; deliveredMs: number; body: Obj; key: string }>;
}

function runsOf(traffic: SimulatedTraffic): Map<string, RunView> {
  const runs = new Map<string, RunView>();
  for (const record of traffic.records) {
    const d = decode(record);
    if (d.kind !== 'lifecycle') continue;
    let run = runs.get(d.runId);
    if (!run) runs.set(d.runId, (run = { threadKeys: new Set(), users: new Set(), events: [] }));
    run.threadKeys.add(record.key);
    // Emitter-path thinking/completed carry user_id == thread_id: the owner is the other value.
    // (A partitioning fault keys one record by run id: its thread is in the body, not the key.)
    const threadId = field(d.body, 'thread_id');
    if (d.userId !== undefined && d.userId !== record.key && d.userId !== threadId) run.users.add(d.userId);
    run.events.push({ type: d.type, emittedMs: d.emittedMs, deliveredMs: record.timestampMs, body: d.body, key: record.key });
  }
  return runs;
}

const toSource = (r: SimRecord, offset: number): SourceRecord => ({
  topic: 'agent-events',
  partition: 0,
  offset,
  key: r.key,
  value: Buffer.from(r.value, 'utf8'),
  timestampMs: r.timestampMs,
});

// ---- Tests ----

describe('createRng', () => {
  it('replays the same stream for the same seed and stays in range', () => {
    const a = createRng(99);
    const b = createRng(99);
    const xs = Array.from({ length: 1000 }, () => a.int(3, 7));
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.int(3, 7)));
    expect(new Set(xs)).toEqual(new Set([3, 4, 5, 6, 7]));
    expect(createRng(100).next()).not.toBe(createRng(99).next());
    expect(createRng(1).shuffle([1, 2, 3, 4, 5]).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(createRng(1).hex(13)).toMatch(/^[0-9a-f]{13}$/);
  });
});

describe('generateTraffic', () => {
  const traffic = generateTraffic({ seed: 5, runs: 2000, faultMix: EVERY_FAULT_CLASS });
  // Without the faults of faultFraction (the missing-event runs stay): the plain wire contract.
  const clean = generateTraffic({ seed: 5, runs: 2000, faultFraction: 0 });

  it('is deterministic per seed and differs across seeds', () => {
    expect(generateTraffic({ seed: 42, runs: 300 })).toEqual(generateTraffic({ seed: 42, runs: 300 }));
    const other = generateTraffic({ seed: 43, runs: 300 });
    const values = new Set(generateTraffic({ seed: 42, runs: 300 }).records.map((r) => r.value));
    expect(other.records.filter((r) => values.has(r.value))).toEqual([]);
  });

  it('reports exactly the runs that lack a lifecycle type', () => {
    // Recovery replays left out: a late one does not make its run complete (its verdict stands, revised).
    const recomputed = [...runsOf(traffic)]
      .map(([runId, run]) => {
        const seen = new Set(run.events.filter((e) => e.body['recovered'] !== true).map((e) => e.type));
        return { runId, userId: [...run.users][0], threadId: [...run.threadKeys][0], missing: LIFECYCLE_TYPES.filter((t) => !seen.has(t)) };
      })
      .filter((r) => r.missing.length > 0);
    const byRun = (a: { runId: string }, b: { runId: string }) => a.runId.localeCompare(b.runId);
    expect(recomputed.sort(byRun)).toEqual([...traffic.expected.incompleteRuns].sort(byRun));
    expect(traffic.expected.missingEventRuns).toHaveLength(100); // 5% of 2000, exactly
    const lateReplayRuns = traffic.expected.faultRuns.filter((f) => f.fault === 'late_replay').map((f) => f.runId);
    expect(lateReplayRuns.length).toBeGreaterThan(0);
    expect(traffic.expected.incompleteRuns.map((r) => r.runId).sort()).toEqual([...traffic.expected.missingEventRuns.map((r) => r.runId), ...lateReplayRuns].sort());
    // Dropped types are drawn over all five lifecycle types.
    expect(new Set(traffic.expected.missingEventRuns.flatMap((r) => r.missing))).toEqual(new Set(LIFECYCLE_TYPES));
  });

  it('counts match the records: runs, lifecycle events, server messages, malformed', () => {
    const decoded = traffic.records.map(decode);
    expect(runsOf(traffic).size).toBe(traffic.expected.runs);
    expect(decoded.filter((d) => d.kind === 'lifecycle')).toHaveLength(traffic.expected.lifecycleEvents);
    expect(decoded.filter((d) => d.kind === 'server')).toHaveLength(traffic.expected.serverMessages);
    expect(decoded.filter((d) => d.kind === 'malformed')).toHaveLength(traffic.expected.malformedRecords);
    expect(traffic.expected.serverMessages).toBeGreaterThan(0);
    expect(traffic.expected.malformedRecords).toBeGreaterThan(0);
  });

  it('every record round-trips through normalizeRecord', () => {
    const shapes = new Map<string, number>();
    clean.records.forEach((record, i) => {
      const d = decode(record);
      const result = normalizeRecord(toSource(record, i));
      if (d.kind === 'malformed') {
        expect(result.kind).toBe('dead_letter');
        return;
      }
      if (d.kind === 'server') {
        expect(result).toMatchObject({ kind: 'other', event: { type: d.type } });
        shapes.set('server', (shapes.get('server') ?? 0) + 1);
        return;
      }
      if (result.kind !== 'lifecycle') throw new Error(`not a lifecycle event: ${JSON.stringify(result)}`);
      const ev = result.event;
      shapes.set(ev.shape, (shapes.get(ev.shape) ?? 0) + 1);
      expect(ev.type).toBe(d.type);
      expect(ev.runId).toBe(d.runId);
      expect(ev.shape).toBe(d.shape);
      expect(Math.floor(ev.emittedAtMs)).toBe(d.emittedMs);
      expect(ev.deliveredAtMs).toBe(record.timestampMs);
      expect(ev.deliveredAtMs).toBeGreaterThan(ev.emittedAtMs);
      expect(ev.agentName).toBeTruthy();
      // Bridge-direct events carry no thread_id; all others carry the record key.
      expect(ev.threadId).toBe(d.shape === 'bridge' ? undefined : record.key);
      const emitterOwnerBug = (d.shape === 'flat' || d.shape === 'wrapped') && (d.type === 'agent_thinking' || d.type === 'agent_completed');
      if (emitterOwnerBug) expect(ev.userId).toBe(record.key);
      else expect(ev.userId).toMatch(/^user_/);
      if (d.type === 'tool_executing' || d.type === 'tool_completed') expect(ev.toolName).toBeTruthy();
    });
    for (const shape of ['flat', 'wrapped', 'bridge', 'fixture', 'data_nested', 'server']) {
      expect(shapes.get(shape) ?? 0, shape).toBeGreaterThan(20);
    }
  });

  it('without faults, expects no violation but those of the missing-event runs', () => {
    const missing = new Set(clean.expected.missingEventRuns.map((r) => r.runId));
    expect(clean.expected.faultRuns.map((f) => f.runId).sort()).toEqual([...missing].sort());
    expect(clean.expected.violations.filter((v) => !missing.has(v.runId))).toEqual([]);
    // A lost type also merges two gaps (maybe > 1 s) and, for agent_completed, leaves the run to its deadline.
    const rules = new Set(clean.expected.violations.map((v) => v.rule));
    for (const rule of rules) expect(['event_gap', 'missing_events', 'run_duration', 'run_never_started']).toContain(rule);
    const none = generateTraffic({ seed: 5, runs: 2000, faultFraction: 0, missingEventFraction: 0 });
    expect(none.expected).toMatchObject({ violations: [], faultRuns: [], incompleteRuns: [], lateEvents: [], revisions: [], violationCounts: {}, labelsExact: true });
  });

  it('labels a run that lost a tool type with the missing type only, not the calls it leaves unpaired', () => {
    const runs = runsOf(clean);
    const toolDrops = clean.expected.faultRuns.filter((f) => f.variant === 'drop:tool_completed' || f.variant === 'drop:tool_executing');
    expect(new Set(toolDrops.map((f) => f.variant))).toEqual(new Set(['drop:tool_completed', 'drop:tool_executing']));
    for (const f of toolDrops) {
      const lost = f.variant.slice('drop:'.length);
      const other = lost === 'tool_completed' ? 'tool_executing' : 'tool_completed';
      // The other half of every pair is still on the wire, unpaired: the missing type names the fault.
      expect(runs.get(f.runId)!.events.some((e) => e.type === other), f.runId).toBe(true);
      const labels = clean.expected.violations.filter((v) => v.runId === f.runId && v.rule !== 'event_gap');
      expect(labels.map((v) => `${v.rule} ${v.subject}`), f.runId).toEqual([`missing_events ${lost}`]);
    }
  });

  it('emits the "reasoning" wire-type bug on some thinking events', () => {
    expect(traffic.records.some((r) => r.value.includes('"type":"reasoning"'))).toBe(true);
  });

  it('records are mostly 300-600 bytes', () => {
    const sizes = traffic.records.map((r) => Buffer.byteLength(r.value, 'utf8'));
    const inBand = sizes.filter((s) => s >= 300 && s <= 600).length;
    expect(inBand / sizes.length).toBeGreaterThan(0.85);
    expect(Math.max(...sizes)).toBeLessThan(1024);
  });

  it('interleaves many runs in event time', () => {
    const spans = [...runsOf(traffic).values()].map((run) => {
      const times = run.events.map((e) => e.emittedMs);
      return [Math.min(...times), Math.max(...times)] as const;
    });
    const mid = spans[Math.floor(spans.length / 2)]?.[0] ?? 0;
    expect(spans.filter(([from, to]) => from <= mid && to >= mid).length).toBeGreaterThan(100);
  });

  it('validates options', () => {
    expect(() => generateTraffic({ shapeMix: { bridge: 1 } })).toThrow(/non-bridge/);
    expect(() => generateTraffic({ gapMs: { min: 10, max: 5 } })).toThrow();
    expect(() => generateTraffic({ latencyMs: { min: 0, max: 5 } })).toThrow();
    expect(() => generateTraffic({ faultFraction: 0.1, faultMix: {} })).toThrow(/faultMix/);
    expect(generateTraffic({ runs: 10, faultFraction: 0, faultMix: {}, missingEventFraction: 0 }).expected.faultRuns).toEqual([]);
    expect(trafficOptionsSchema.parse({}).faultMix).toEqual(Object.fromEntries(FAULT_CLASSES.map((c) => [c, 1])));
    expect(trafficOptionsSchema.parse({}).startTimeMs).toBe(Date.UTC(2025, 8, 18, 12));
  });
});

const optionsArb: fc.Arbitrary<TrafficOptions> = fc
  .record({
    seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    users: fc.integer({ min: 1, max: 5 }),
    threadsPerUser: fc.integer({ min: 1, max: 3 }),
    runs: fc.integer({ min: 1, max: 60 }),
    meanRunStartSpacingMs: fc.integer({ min: 0, max: 2000 }),
    pairMax: fc.integer({ min: 1, max: 3 }),
    gapMin: fc.integer({ min: 1, max: 900 }),
    latencyMin: fc.integer({ min: 1, max: 300 }),
    missingEventFraction: fc.double({ min: 0, max: 0.5, noNaN: true }),
    serverMessageFraction: fc.double({ min: 0, max: 0.2, noNaN: true }),
    malformedFraction: fc.double({ min: 0, max: 0.1, noNaN: true }),
    mix: fc.tuple(fc.nat(5), fc.nat(5), fc.nat(5), fc.nat(5), fc.integer({ min: 1, max: 5 })),
  })
  .map((o) => ({
    seed: o.seed,
    users: o.users,
    threadsPerUser: o.threadsPerUser,
    runs: o.runs,
    meanRunStartSpacingMs: o.meanRunStartSpacingMs,
    pairRepeats: { min: 1, max: o.pairMax },
    gapMs: { min: o.gapMin, max: 900 },
    latencyMs: { min: o.latencyMin, max: 300 },
    missingEventFraction: o.missingEventFraction,
    faultFraction: 0,
    serverMessageFraction: o.serverMessageFraction,
    malformedFraction: o.malformedFraction,
    shapeMix: { flat: o.mix[0], wrapped: o.mix[1], bridge: o.mix[2], fixture: o.mix[3], data_nested: o.mix[4] },
  }));

describe('generateTraffic invariants (property)', () => {
  it('holds for any seed and options', () => {
    fc.assert(
      fc.property(optionsArb, (options) => {
        const traffic = generateTraffic(options);
        const { records, expected } = traffic;
        for (let i = 1; i < records.length; i++) expect(records[i]!.timestampMs).toBeGreaterThanOrEqual(records[i - 1]!.timestampMs);
        expect(expected.missingEventRuns).toHaveLength(Math.round((options.missingEventFraction ?? 0) * (options.runs ?? 0)));

        const runs = runsOf(traffic);
        expect(runs.size).toBe(options.runs);
        for (const run of runs.values()) {
          expect(run.threadKeys.size).toBe(1);
          expect(run.users.size).toBe(1);
          for (const e of run.events) expect(e.deliveredMs - e.emittedMs).toBeGreaterThanOrEqual(options.latencyMs?.min ?? 1);
          const byTime = [...run.events].sort((a, b) => a.emittedMs - b.emittedMs);
          // Well under the 30 s critical run duration: at most 10 gaps of at most 900 ms.
          expect(byTime.at(-1)!.emittedMs - byTime[0]!.emittedMs).toBeLessThanOrEqual(9000);
          if (new Set(run.events.map((e) => e.type)).size < LIFECYCLE_TYPES.length) continue;
          expect(byTime[0]!.type).toBe('agent_started');
          expect(byTime.at(-1)!.type).toBe('agent_completed');
          expect(byTime.filter((e) => e.type === 'agent_started' || e.type === 'agent_completed')).toHaveLength(2);
          // Pairing by order: running count of open tool calls never goes negative and ends at 0.
          let open = 0;
          for (const e of byTime) {
            if (e.type === 'tool_executing') open++;
            if (e.type === 'tool_completed') expect(--open).toBeGreaterThanOrEqual(0);
          }
          expect(open).toBe(0);
        }
      }),
      { numRuns: 60 },
    );
  });
});

// ---- Fault injection, checked on the records with the small decoder above ----

/** User index encoded in ids: user_<seed>_<u>_..., thread_<seed>_<u>_<t>_... */
const userIndexOf = (id: string): string => id.split('_')[2] ?? '';

function maxGap(times: readonly number[]): number {
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, (times[i] as number) - (times[i - 1] as number));
  return gap;
}

/** What each fault must look like on the wire, read without the simulator's code. */
function checkFaultOnWire(f: FaultRun, run: RunView, ids: Map<string, string>): void {
  const byTime = [...run.events].sort((a, b) => a.emittedMs - b.emittedMs);
  const normal = byTime.filter((e) => e.body['recovered'] !== true);
  const types = normal.map((e) => e.type);
  const count = (t: LifecycleType) => types.filter((x) => x === t).length;
  const latencies = normal.map((e) => e.deliveredMs - e.emittedMs);
  const ctx = `${f.fault}:${f.variant} ${f.runId}`;
  switch (f.fault) {
    case 'missing_event':
      expect(types, ctx).not.toContain(f.variant.slice('drop:'.length));
      return;
    case 'out_of_order':
      if (f.variant === 'thinking_before_start') expect(types.slice(0, 2), ctx).toEqual(['agent_thinking', 'agent_started']);
      else expect(types.some((t, i) => t === 'tool_completed' && types[i + 1] === 'tool_executing' && types[i - 1] === 'agent_thinking'), ctx).toBe(true);
      return;
    case 'unpaired_tool':
      expect(count('tool_executing'), ctx).toBe(count('tool_completed') + 1);
      return;
    case 'event_after_completion': {
      const [completed, after] = types.slice(-2);
      expect([completed, after], ctx).toEqual(['agent_completed', 'agent_thinking']);
      const dt = (normal.at(-1)?.emittedMs ?? 0) - (normal.at(-2)?.emittedMs ?? 0);
      expect(dt, ctx).toBeGreaterThanOrEqual(100);
      expect(dt, ctx).toBeLessThanOrEqual(800);
      return;
    }
    case 'duplicate_delivery': {
      const copies = byTime.filter((e, i) => i > 0 && byTime[i - 1]?.emittedMs === e.emittedMs && byTime[i - 1]?.type === e.type);
      expect(copies, ctx).toHaveLength(1);
      const copy = copies[0]!;
      const original = byTime[byTime.indexOf(copy) - 1]!;
      const [first, second] = original.deliveredMs <= copy.deliveredMs ? [original, copy] : [copy, original];
      expect(second.deliveredMs - first.deliveredMs, ctx).toBeGreaterThanOrEqual(100);
      expect(second.deliveredMs - first.deliveredMs, ctx).toBeLessThanOrEqual(800);
      if (f.variant.startsWith('recovery_replay')) expect(second.body, ctx).toMatchObject({ recovered: true, original_failure: expect.any(String) });
      else expect(second.body, ctx).toEqual(first.body);
      return;
    }
    case 'content_invalid': {
      const spec = CONTENT_FAULTS.find((c) => c.variant === f.variant)!;
      const fields = spec.subject.split('|');
      const broken = normal.filter((e) => e.type === spec.type && fields.every((k) => { const v = field(e.body, k); return v === undefined || (typeof v === 'string' && v.trim() === ''); }));
      expect(broken, ctx).toHaveLength(1);
      return;
    }
    case 'delivery_latency_warning':
    case 'delivery_latency_critical': {
      const [min, max] = f.fault === 'delivery_latency_warning' ? [501, 2000] : [2001, 2999];
      expect(latencies.filter((l) => l >= min && l <= max), ctx).toHaveLength(1);
      expect(latencies.filter((l) => l > 300), ctx).toHaveLength(1);
      return;
    }
    case 'event_gap_warning':
    case 'event_gap_critical': {
      const gap = maxGap(normal.map((e) => e.emittedMs));
      expect(gap, ctx).toBeGreaterThan(f.fault === 'event_gap_warning' ? 1000 : 5000);
      expect(gap, ctx).toBeLessThan(f.fault === 'event_gap_warning' ? 5000 : 8001);
      return;
    }
    case 'run_duration_warning':
      expect((normal.at(-1)?.emittedMs ?? 0) - (normal[0]?.emittedMs ?? 0), ctx).toBeGreaterThan(10_000);
      expect(maxGap(normal.map((e) => e.emittedMs)), ctx).toBeLessThan(1000);
      return;
    case 'contamination_thread':
      expect(run.users.size, ctx).toBe(1);
      expect(userIndexOf([...run.threadKeys][0]!), ctx).not.toBe(userIndexOf([...run.users][0]!));
      return;
    case 'contamination_user':
      expect(run.users.size, ctx).toBe(2);
      return;
    case 'contamination_content': {
      const owner = userIndexOf(f.userId);
      const foreign = normal
        .filter((e) => e.type === 'agent_thinking')
        .flatMap((e) => String(field(e.body, 'reasoning')).split(/[^A-Za-z0-9_-]+/))
        .filter((token) => ids.has(token) && ids.get(token) !== owner);
      expect(foreign, ctx).toHaveLength(1);
      return;
    }
    case 'suspicious_timestamp':
      expect(byTime.filter((e) => e.deliveredMs - e.emittedMs > 3_600_000), ctx).toHaveLength(1);
      return;
    case 'partitioning_broken': {
      // One record (never the run's first event) keyed by the run id, every other by the thread.
      const stray = run.events.filter((e) => e.key === f.runId);
      expect(stray.map((e) => e.type), ctx).toEqual([f.variant]);
      expect(stray[0]?.emittedMs, ctx).toBeGreaterThan(Math.min(...run.events.map((e) => e.emittedMs)));
      expect(new Set(run.events.filter((e) => e.key !== f.runId).map((e) => e.key)), ctx).toEqual(new Set([f.threadId]));
      return;
    }
    case 'late_replay': {
      // One pair, its thinking lost; then (unless too near the end of the input) one recovery
      // replay delivered 15-23 s after the run's completion.
      expect(types, ctx).toEqual(['agent_started', 'tool_executing', 'tool_completed', 'agent_completed']);
      const replays = byTime.filter((e) => e.body['recovered'] === true);
      if (f.variant.endsWith(':not_sent')) {
        expect(replays, ctx).toHaveLength(0);
        return;
      }
      expect(replays, ctx).toHaveLength(1);
      const replay = replays[0]!;
      expect(replay.type, ctx).toBe(f.variant === 'retracts' ? 'agent_thinking' : f.variant.slice('confirms:'.length));
      const afterClose = replay.deliveredMs - (normal.at(-1)?.emittedMs ?? 0);
      expect(afterClose, ctx).toBeGreaterThanOrEqual(15_000 - 1);
      expect(afterClose, ctx).toBeLessThanOrEqual(23_000 + 1);
      return;
    }
  }
}

describe('generateTraffic fault injection', () => {
  const traffic = generateTraffic({ seed: 11, runs: 6000, meanRunStartSpacingMs: 20, faultFraction: 0.4, faultMix: EVERY_FAULT_CLASS });
  const runs = runsOf(traffic);

  it('injects exactly round(faultFraction * runs) faults, one per run, disjoint from the missing-event runs, every class', () => {
    const { faultRuns, missingEventRuns } = traffic.expected;
    expect(faultRuns.filter((f) => f.fault !== 'missing_event')).toHaveLength(2400);
    expect(faultRuns.filter((f) => f.fault === 'missing_event').map((f) => f.runId)).toEqual(missingEventRuns.map((r) => r.runId));
    expect(new Set(faultRuns.map((f) => f.runId)).size).toBe(faultRuns.length);
    expect(new Set(faultRuns.map((f) => f.fault))).toEqual(new Set([...FAULT_CLASSES, 'missing_event']));
    expect(traffic.expected.labelsExact).toBe(true);
  });

  it('labels only faulted runs, and says how many violations each must produce', () => {
    const perRun = new Map<string, number>();
    for (const v of traffic.expected.violations) perRun.set(v.runId, (perRun.get(v.runId) ?? 0) + 1);
    for (const f of traffic.expected.faultRuns) expect(perRun.get(f.runId) ?? 0, `${f.fault} ${f.runId}`).toBe(f.violations);
    expect([...perRun.keys()].every((id) => traffic.expected.faultRuns.some((f) => f.runId === id))).toBe(true);
    const counts: Record<string, number> = {};
    for (const v of traffic.expected.violations) if (v.onlyIfApart === undefined) counts[v.rule] = (counts[v.rule] ?? 0) + 1;
    expect(traffic.expected.violationCounts).toEqual(counts);
  });

  it('labels each class with the violation it is about', () => {
    const labelsOf = new Map<string, string[]>();
    for (const v of traffic.expected.violations) labelsOf.set(v.runId, [...(labelsOf.get(v.runId) ?? []), `${v.rule} ${v.severity} ${v.subject}`]);
    const signature: Record<string, string> = {
      out_of_order: 'out_of_order CRITICAL',
      unpaired_tool: 'unpaired_tool CRITICAL tool_executing',
      event_after_completion: 'event_after_completion CRITICAL agent_thinking',
      duplicate_delivery: 'duplicate_delivery WARNING',
      content_invalid: 'content_invalid CRITICAL',
      delivery_latency_warning: 'delivery_latency WARNING',
      delivery_latency_critical: 'delivery_latency CRITICAL',
      event_gap_warning: 'event_gap WARNING',
      event_gap_critical: 'event_gap CRITICAL silence',
      run_duration_warning: 'run_duration WARNING duration',
      contamination_thread: 'cross_user_contamination CRITICAL thread_id',
      contamination_user: 'cross_user_contamination CRITICAL user_id',
      contamination_content: 'cross_user_contamination CRITICAL content',
      suspicious_timestamp: 'suspicious_timestamp WARNING timestamp',
      late_replay: 'missing_events CRITICAL agent_thinking',
      partitioning_broken: 'partitioning_broken WARNING partition',
    };
    for (const f of traffic.expected.faultRuns) {
      const labels = labelsOf.get(f.runId) ?? [];
      if (f.fault === 'missing_event') {
        // One fault, one verdict: besides the timing verdicts its lost events cause, only the missing type.
        const dropped = f.variant.slice('drop:'.length);
        const timing = /^(event_gap|run_duration|delivery_latency) /;
        expect(labels.filter((l) => !timing.test(l)), f.runId).toEqual([dropped === 'agent_started' ? 'run_never_started CRITICAL agent_started' : `missing_events CRITICAL ${dropped}`]);
        continue;
      }
      expect(labels.filter((l) => l.startsWith(signature[f.fault]!)), `${f.fault}:${f.variant} ${f.runId}`).toHaveLength(1);
    }
  });

  it('expects each late replay sent to be counted late and to revise its run\'s missing_events verdict', () => {
    const replays = traffic.expected.faultRuns.filter((f) => f.fault === 'late_replay');
    const sent = replays.filter((f) => !f.variant.endsWith(':not_sent'));
    // 6000 runs over ~120 s: only the runs of the last ~20 s lack the traffic that makes a replay late.
    expect(sent.length).toBeGreaterThan(0.7 * replays.length);
    expect(new Set(sent.map((f) => f.variant.split(':')[0]))).toEqual(new Set(['retracts', 'confirms']));
    expect(traffic.expected.lateEvents.map((e) => e.runId)).toEqual(sent.map((f) => f.runId));
    expect(traffic.expected.revisions).toEqual(sent.map((f) => ({ runId: f.runId, action: f.variant === 'retracts' ? 'retracted' : 'confirmed' })));
    for (const f of sent) {
      const labels = traffic.expected.violations.filter((v) => v.runId === f.runId).map((v) => `${v.rule} ${v.severity} ${v.subject}`);
      const type = f.variant === 'retracts' ? 'agent_thinking' : f.variant.slice('confirms:'.length);
      expect(labels, f.runId).toContain(`delivery_latency CRITICAL ${type}`);
    }
  });

  it('each fault is visible in the records, read without the simulator', () => {
    // Every id to its user index: user ids, thread ids (by key), run ids (by their runs' one real user).
    const ids = new Map<string, string>();
    for (const [runId, run] of runs) {
      for (const user of run.users) ids.set(user, userIndexOf(user));
      for (const key of run.threadKeys) ids.set(key, userIndexOf(key));
      if (run.users.size === 1) ids.set(runId, userIndexOf([...run.users][0]!));
    }
    for (const f of traffic.expected.faultRuns) ids.set(f.runId, userIndexOf(f.userId));
    for (const f of traffic.expected.faultRuns) checkFaultOnWire(f, runs.get(f.runId)!, ids);
  });

  it('the records of a faulted run still normalize as lifecycle events', () => {
    const faulted = new Set(traffic.expected.faultRuns.map((f) => f.runId));
    let n = 0;
    traffic.records.forEach((record, i) => {
      const d = decode(record);
      if (d.kind !== 'lifecycle' || !faulted.has(d.runId)) return;
      n++;
      expect(normalizeRecord(toSource(record, i)).kind).toBe('lifecycle');
    });
    expect(n).toBeGreaterThan(10_000);
  });

  it('replaces an isolation fault that cannot be injected with one that can', () => {
    // One user: nobody else's ids exist. 300 runs over ~1.5 s: nobody was active 15 s earlier either.
    for (const options of [{ users: 1 }, { users: 5, meanRunStartSpacingMs: 5 }]) {
      const t = generateTraffic({ ...options, seed: 3, runs: 300, faultFraction: 0.5, faultMix: { contamination_thread: 1, contamination_content: 1, contamination_user: options.users === 1 ? 1 : 0, delivery_latency_warning: 1 } });
      expect(t.expected.faultRuns.filter((f) => f.fault !== 'missing_event')).toHaveLength(150);
      expect(new Set(t.expected.faultRuns.map((f) => f.fault))).toEqual(new Set(['delivery_latency_warning', 'missing_event']));
    }
  });
});

describe('resolveExpected', () => {
  const plain = { runId: 'r1', rule: 'missing_events', severity: 'CRITICAL', subject: 'agent_thinking' } as const;
  const conditional = { runId: 'r2', rule: 'partitioning_broken', severity: 'WARNING', subject: 'partition', onlyIfApart: ['thread_a', 'r2'] } as const;

  it('keeps a conditional label only where its two keys land on different partitions', () => {
    expect(resolveExpected([plain, conditional], (key) => (key === 'r2' ? 1 : 0))).toEqual([plain, { runId: 'r2', rule: 'partitioning_broken', severity: 'WARNING', subject: 'partition' }]);
    expect(resolveExpected([plain, conditional], () => 3)).toEqual([plain]);
  });

  it('refuses to guess without the partitioner', () => {
    expect(resolveExpected([plain])).toEqual([plain]);
    expect(() => resolveExpected([plain, conditional])).toThrow(/partitioner/);
  });

  it('resolves with the partition KafkaJS\'s default partitioner gives a key (murmur2, as Java clients)', () => {
    const partitionOf = kafkaPartitionOf(4);
    const keys = Array.from({ length: 200 }, (_, i) => `thread_${i}`);
    const partitions = keys.map(partitionOf);
    expect(new Set(partitions)).toEqual(new Set([0, 1, 2, 3]));
    expect(keys.map(partitionOf)).toEqual(partitions); // stable
  });
});

describe('generateTraffic with faults (property)', () => {
  it('unfaulted runs keep the contract and expect nothing; every fault run is labelled', () => {
    fc.assert(
      fc.property(optionsArb, fc.double({ min: 0, max: 0.6, noNaN: true }), (options, faultFraction) => {
        const traffic = generateTraffic({ ...options, faultFraction });
        const { expected } = traffic;
        expect(expected.labelsExact).toBe(true);
        const missing = expected.missingEventRuns.length;
        expect(expected.faultRuns.length - missing).toBe(Math.min(Math.round(faultFraction * (options.runs ?? 0)), (options.runs ?? 0) - missing));
        const faulted = new Set(expected.faultRuns.map((f) => f.runId));
        for (const v of expected.violations) expect(faulted.has(v.runId)).toBe(true);
        for (const f of expected.faultRuns) if (f.fault !== 'missing_event') expect(f.violations).toBeGreaterThan(0);
        for (const [runId, run] of runsOf(traffic)) {
          if (faulted.has(runId)) continue;
          expect(run.users.size).toBe(1);
          const byTime = [...run.events].sort((a, b) => a.emittedMs - b.emittedMs);
          expect(byTime[0]!.type).toBe('agent_started');
          expect(byTime.at(-1)!.type).toBe('agent_completed');
          expect(byTime.at(-1)!.emittedMs - byTime[0]!.emittedMs).toBeLessThanOrEqual(9000);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('publishTraffic', () => {
  const records = generateTraffic({ seed: 9, runs: 40 }).records;
  const fakeProducer = () => {
    const calls: Array<Parameters<Producer['send']>[0]> = [];
    const producer: Pick<Producer, 'send'> = {
      send: async (record) => {
        calls.push(record);
        return [];
      },
    };
    return { producer, calls };
  };

  it('sends every record once, in order, with its simulated timestamp and acks=all', async () => {
    const { producer, calls } = fakeProducer();
    const progress: number[] = [];
    const result = await publishTraffic(producer, 'agent-events', records, { batchSize: 64, onProgress: (p) => progress.push(p.sent) });
    expect(result).toMatchObject({ sent: records.length, batches: Math.ceil(records.length / 64), aborted: false });
    expect(calls.every((c) => c.topic === 'agent-events' && c.acks === -1)).toBe(true);
    const sent = calls.flatMap((c) => c.messages);
    expect(sent).toEqual(records.map((r) => ({ key: r.key, value: r.value, timestamp: String(r.timestampMs) })));
    expect(progress.at(-1)).toBe(records.length);
  });

  it('paces sends to the requested rate and stops on abort', async () => {
    const { producer } = fakeProducer();
    const slice = records.slice(0, 100);
    const paced = await publishTraffic(producer, 't', slice, { ratePerSecond: 1000 });
    expect(paced.elapsedMs).toBeGreaterThanOrEqual(95); // 100 records at 1000/s (timer slack of a few ms)
    expect(paced.batches).toBe(2); // capped to 50 ms worth (50 records) per batch

    const controller = new AbortController();
    const aborted = await publishTraffic(producer, 't', slice, {
      ratePerSecond: 200,
      onProgress: (p) => {
        if (p.sent >= 20) controller.abort();
      },
      signal: controller.signal,
    });
    expect(aborted).toMatchObject({ sent: 20, aborted: true });
    await expect(publishTraffic(producer, 't', slice, { batchSize: 0 })).rejects.toThrow(RangeError);
  });
});
