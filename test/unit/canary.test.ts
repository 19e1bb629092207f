/**
 * Canary plans against the real detector chain: each plan's records, as the canary publishes
 * them, give exactly the violations the plan promises (what the monitor's check compares with).
 * And the checker: passed, failed (other verdicts stored), missed (none passed for too long).
 */
import { describe, expect, it } from 'vitest';
import { canaryRun } from '../../src/canary/plans.js';
import { CanaryChecker } from '../../src/canary/checker.js';
import { CANARY_PLANS, CANARY_PLAN_NAMES, canaryPlanOf, isCanaryRunId } from '../../src/contract/canary.js';
import type { Verdict } from '../../src/contract/verdict.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { normalizeLifecycle, runChain } from '../oracle/harness.js';
import type { WireRecord } from '../oracle/producers.js';

const START = Date.UTC(2026, 11, 2, 8, 0, 0);

async function verdictsOf(records: readonly WireRecord[]): Promise<Verdict[]> {
  return runChain(normalizeLifecycle(records), 1);
}

function asWire(plan: (typeof CANARY_PLAN_NAMES)[number], n: number, startMs = START): WireRecord[] {
  return canaryRun(plan, startMs, 'test', n).records.map((r, offset) => ({ key: r.key, value: r.value, partition: 0, offset, timestampMs: r.timestampMs }));
}

describe('canary plans', () => {
  for (const plan of CANARY_PLAN_NAMES) {
    it(`${plan}: the chain stores exactly ${JSON.stringify(CANARY_PLANS[plan].expect)}, one run summary, no user grade`, async () => {
      const verdicts = await verdictsOf(asWire(plan, 1));
      const rules = [...new Set(verdicts.flatMap((v) => (v.kind === 'violation' ? [v.violation.rule] : [])))].sort();
      expect(rules).toEqual([...CANARY_PLANS[plan].expect].sort());
      const summaries = verdicts.filter((v) => v.kind === 'run_summary');
      expect(summaries).toHaveLength(1);
      const runId = summaries[0]?.kind === 'run_summary' ? summaries[0].summary.runId : '';
      expect(isCanaryRunId(runId)).toBe(true);
      expect(canaryPlanOf(runId)).toBe(plan);
      expect(verdicts.filter((v) => v.kind === 'user_grade'), 'canaries are kept out of user grades').toEqual([]);
    });
  }

  it('a run id of another prefix or an unknown plan is not a canary plan', () => {
    expect(canaryPlanOf('run-1')).toBeUndefined();
    expect(canaryPlanOf('runwatch-canary-nosuchplan-1-2')).toBeUndefined();
    // Names every object inherits are not plans (a crafted run id must not reach them).
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) expect(canaryPlanOf(`runwatch-canary-${name}-1-2`)).toBeUndefined();
  });
});

describe('canary checker', () => {
  const setup = (maxAgeMs?: number) => {
    let now = START;
    const metrics = createMetrics();
    const checker = new CanaryChecker(metrics, createLogger('silent'), { ...(maxAgeMs === undefined ? {} : { maxAgeMs }), now: () => now });
    return { metrics, checker, advance: (ms: number) => (now += ms) };
  };
  const value = async (metrics: ReturnType<typeof createMetrics>, name: string, labels: Record<string, string> = {}): Promise<number> => {
    const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
    return metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? Number.NaN;
  };

  it('passes a canary whose stored verdicts are its plan, fails one with other verdicts, and reports a missed canary', async () => {
    const { metrics, checker, advance } = setup(10_000);
    expect(checker.status()).toEqual({});
    checker.stored({ verdicts: await verdictsOf(asWire('late_delivery', 1)), deadLetters: [] });
    expect(await value(metrics, 'runwatch_canary_runs_total', { plan: 'late_delivery', outcome: 'passed' })).toBe(1);
    expect(checker.status()).toEqual({});

    // A "clean" canary that got a violation: failed, and readiness says why until one passes.
    const tampered = asWire('clean', 2).map((r) => (r.value.includes('"agent_thinking"') ? { ...r, value: r.value.replace('checking that the monitor sees this run', '') } : r));
    checker.stored({ verdicts: await verdictsOf(tampered), deadLetters: [] });
    expect(await value(metrics, 'runwatch_canary_runs_total', { plan: 'clean', outcome: 'failed' })).toBe(1);
    expect(checker.status().problem).toMatch(/canary runwatch-canary-clean-test-2 failed: expected \[\], stored \["content_invalid"\]/);
    checker.stored({ verdicts: await verdictsOf(asWire('clean', 3)), deadLetters: [] });
    expect(checker.status()).toEqual({});

    advance(10_001);
    expect(checker.status().problem).toMatch(/canary missed: none passed for 10 s/);
    expect(await value(metrics, 'runwatch_canary_missed')).toBe(1);
  });

  it('provisional rows (a bounded read cut the run) are not judged', async () => {
    const { metrics, checker } = setup();
    checker.stored({ verdicts: await verdictsOf(asWire('clean', 1)), deadLetters: [], provisionalOf: 'group' });
    expect(await value(metrics, 'runwatch_canary_runs_total', { plan: 'clean', outcome: 'passed' })).toBe(0);
  });
});
