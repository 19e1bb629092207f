import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import { LIFECYCLE_TYPES, type LifecycleType, type SourceRecord } from '../../src/contract/event.js';
import { normalizeRecord } from '../../src/contract/normalize.js';
import { generateTraffic, trafficOptionsSchema, type SimRecord, type SimulatedTraffic, type TrafficOptions } from '../../src/simulator/generate.js';
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
  events: Array<{ type: LifecycleType; emittedMs: number; deliveredMs: number }>;
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
    if (d.userId !== undefined && d.userId !== record.key) run.users.add(d.userId);
    run.events.push({ type: d.type, emittedMs: d.emittedMs, deliveredMs: record.timestampMs });
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
  const traffic = generateTraffic({ seed: 5, runs: 2000 });

  it('is deterministic per seed and differs across seeds', () => {
    expect(generateTraffic({ seed: 42, runs: 300 })).toEqual(generateTraffic({ seed: 42, runs: 300 }));
    const other = generateTraffic({ seed: 43, runs: 300 });
    const values = new Set(generateTraffic({ seed: 42, runs: 300 }).records.map((r) => r.value));
    expect(other.records.filter((r) => values.has(r.value))).toEqual([]);
  });

  it('reports exactly the runs that lack a lifecycle type', () => {
    const recomputed = [...runsOf(traffic)]
      .map(([runId, run]) => {
        const seen = new Set(run.events.map((e) => e.type));
        return { runId, userId: [...run.users][0], threadId: [...run.threadKeys][0], missing: LIFECYCLE_TYPES.filter((t) => !seen.has(t)) };
      })
      .filter((r) => r.missing.length > 0);
    const byRun = (a: { runId: string }, b: { runId: string }) => a.runId.localeCompare(b.runId);
    expect(recomputed.sort(byRun)).toEqual([...traffic.expected.missingEventRuns].sort(byRun));
    expect(traffic.expected.missingEventRuns).toHaveLength(100); // 5% of 2000, exactly
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
    traffic.records.forEach((record, i) => {
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
