/**
 * The detector chain against an independent oracle (test/oracle/oracle.ts) on traffic from an
 * independent producer model (test/oracle/producers.ts): wire records in four shapes from three
 * producers (keyed by thread, keyed by run, round-robin), read as a Kafka consumer reads them,
 * normalized, and run through `detectVerdicts` on reference defaults. The chain's effective
 * verdicts must equal the oracle's, run by run, rule by rule, grade by grade.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Verdict } from '../../src/contract/verdict.js';
import { compareWithOracle, formatComparison, NO_DIFFERENCES } from './compare.js';
import { canonicalVerdicts, consumeLikeKafka, judgeRecords, normalizeLifecycle, runChain, type ReadPattern } from './harness.js';
import { FAULT_KINDS, generateTraffic, type FaultKind, type Traffic, type TrafficOptions } from './producers.js';

/** What a reader of a failing diff wants to know about a run: the fault injected into it. */
function faultDescriber(traffic: Traffic): (runId: string) => string {
  const faults = new Map(traffic.faults.map((f) => [f.runId, `${f.kind}: ${f.detail}`]));
  return (runId) => faults.get(runId) ?? 'no fault';
}

async function chainVerdicts(traffic: Traffic, pattern: ReadPattern): Promise<Verdict[]> {
  return runChain(normalizeLifecycle(consumeLikeKafka(traffic, pattern)), traffic.partitions);
}

async function diffAgainstOracle(traffic: Traffic, pattern: ReadPattern): Promise<string> {
  const verdicts = await chainVerdicts(traffic, pattern);
  return formatComparison(compareWithOracle(verdicts, judgeRecords(traffic.records)), faultDescriber(traffic));
}

/** Lines only one of two sorted lists has, marked with the side that has them. */
function symmetricDifference(left: readonly string[], right: readonly string[], maxLines = 20): string[] {
  const count = (lines: readonly string[]) => lines.reduce((m, l) => m.set(l, (m.get(l) ?? 0) + 1), new Map<string, number>());
  const [l, r] = [count(left), count(right)];
  const out: string[] = [];
  for (const line of new Set([...left, ...right])) {
    const d = (l.get(line) ?? 0) - (r.get(line) ?? 0);
    if (d !== 0) out.push(`${d > 0 ? 'first only' : 'second only'} x${Math.abs(d)}: ${line}`);
  }
  return out.slice(0, maxLines);
}

const trafficArb: fc.Arbitrary<TrafficOptions> = fc.record({
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
  runs: fc.integer({ min: 150, max: 300 }),
  users: fc.integer({ min: 6, max: 30 }),
  meanRunSpacingMs: fc.integer({ min: 300, max: 1_200 }),
  partitions: fc.constantFrom(3 as const, 4 as const),
});

const readArb: fc.Arbitrary<ReadPattern> = fc.record(
  {
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    maxChunk: fc.integer({ min: 1, max: 300 }),
    leadAheadMs: fc.integer({ min: 15_000, max: 25_000 }),
  },
  { requiredKeys: ['seed', 'maxChunk'] },
);

describe('producer model (test/oracle/producers.ts)', () => {
  const traffic = generateTraffic({ seed: 2024, runs: 120 });
  const events = normalizeLifecycle(traffic.records);

  it('is deterministic from its seed', () => {
    expect(generateTraffic({ seed: 2024, runs: 120 }).records).toEqual(traffic.records);
  });

  it('writes each partition in delivery order with increasing offsets', () => {
    for (let p = 0; p < traffic.partitions; p++) {
      const records = traffic.records.filter((r) => r.partition === p);
      records.forEach((r, i) => expect(r.offset).toBe(i));
      for (let i = 1; i < records.length; i++) expect((records[i]?.timestampMs ?? 0) >= (records[i - 1]?.timestampMs ?? 0)).toBe(true);
    }
  });

  it('uses at least four wire shapes, all of them read as lifecycle events', () => {
    expect(new Set(events.map((e) => e.shape))).toEqual(new Set(['flat', 'wrapped', 'bridge', 'data_nested']));
    const lifecycleRecords = traffic.records.filter((r) => !r.value.includes('"heartbeat"'));
    expect(events).toHaveLength(lifecycleRecords.length);
  });

  it('stamps the events of a run at distinct times unless one is a copy', () => {
    const identities = new Set(events.map((e) => `${e.runId} ${e.type} ${e.emittedAtMs} ${e.toolName ?? ''}`));
    const times = new Set(events.map((e) => `${e.runId} ${e.emittedAtMs}`));
    expect(times.size).toBe(identities.size);
  });
});

describe('detector chain vs oracle: random traffic', () => {
  it('finds exactly what the oracle finds, whatever the interleaving of partitions', async () => {
    await fc.assert(
      fc.asyncProperty(trafficArb, readArb, async (options, pattern) => {
        const traffic = generateTraffic(options);
        expect(await diffAgainstOracle(traffic, pattern)).toBe(NO_DIFFERENCES);
      }),
      { numRuns: 15, endOnFailure: true },
    );
  }, 60_000);

  it('gives the same verdicts under two different interleavings (one reading a partition ~20 s ahead)', async () => {
    await fc.assert(
      fc.asyncProperty(trafficArb, readArb, fc.integer({ min: 1, max: 0x7fffffff }), async (options, pattern, otherSeed) => {
        const traffic = generateTraffic(options);
        const first = canonicalVerdicts(await chainVerdicts(traffic, { ...pattern, leadAheadMs: undefined }));
        const second = canonicalVerdicts(await chainVerdicts(traffic, { seed: otherSeed, maxChunk: 97, leadAheadMs: 20_000 }));
        expect(symmetricDifference(first, second)).toEqual([]);
      }),
      { numRuns: 8, endOnFailure: true },
    );
  }, 60_000);
});

describe('detector chain vs oracle: one fault kind at a time', () => {
  /** Fixed examples: 60 % of 80 runs get the fault (enough to cover its variants), clean runs after them so all are judged. */
  const exampleOf = (kind: FaultKind, seed: number): Traffic =>
    generateTraffic({ seed, runs: 80, users: 10, faultKinds: [kind], faultFraction: 0.6, meanRunSpacingMs: 700, partitions: 4 });

  it.each(FAULT_KINDS.map((kind, i) => [kind, 9_001 + i] as const))('%s', async (kind, seed) => {
    const traffic = exampleOf(kind, seed);
    expect(traffic.faults.length, `no ${kind} fault could be injected`).toBeGreaterThan(0);

    // The oracle itself reports what each injected fault implies (a check of the oracle, not the chain).
    const oracle = judgeRecords(traffic.records);
    const unexplained = traffic.faults.flatMap((fault) =>
      fault.expected
        .filter((e) => !oracle.findings.some((f) => f.runId === fault.runId && f.rule === e.rule && f.severity === e.severity))
        .map((e) => `${fault.runId} (${fault.detail}): oracle lacks ${e.rule} ${e.severity}`),
    );
    expect(unexplained).toEqual([]);

    expect(await diffAgainstOracle(traffic, { seed, maxChunk: 25 })).toBe(NO_DIFFERENCES);
  });
});
