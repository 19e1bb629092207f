import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LIFECYCLE_TYPES, type LifecycleType } from '../../../../src/contract/event.js';
import type { Verdict } from '../../../../src/contract/verdict.js';
import { runEngine } from '../../../../src/operators/engine/run-engine.js';
import { verdictId } from '../../../../src/operators/engine/verdict-id.js';
import { deliveryLatencyRule } from '../../../../src/operators/rules/delivery-latency.js';
import type { StreamItem } from '../../../../src/operators/stream-item.js';
import { arrivalOrder, lateEvent, redelivered, replay, replayEvents, ruleEngine, scheduler, SMALL_CONTRACT, violation, violationsOf } from '../../../support/detectors.js';
import { agentEvent, ev, wm } from '../../../support/events.js';

const detect = (allowedLatenessMs = 0) => ruleEngine(deliveryLatencyRule(SMALL_CONTRACT), { allowedLatenessMs });

/** An event of `runId` emitted at `t` and delivered `latency` ms later (SMALL_CONTRACT: > 5 WARNING, > 20 CRITICAL). */
const sent = (type: LifecycleType, runId: string, t: number, latency: number, userId?: string) =>
  agentEvent(type, runId, t, { deliveredAtMs: t + latency, recordTimestampMs: t + latency, ...(userId === undefined ? {} : { userId }) });

describe('rule delivery_latency', () => {
  it('reports a WARNING above the warning level and a CRITICAL above the critical level, as each event takes its place', () => {
    const [a, b] = [sent('agent_started', 'r1', 0, 6), sent('agent_thinking', 'r1', 1, 21)];
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      // Each watermark is 1 past an event: that event takes its place (and is judged) with it.
      const source = hot('-a-w-b-x-|', { a: ev(a), w: wm(1), b: ev(b), x: wm(2) });
      const expected = '  ---w---c-|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        w: violation({
          violationId: verdictId('delivery_latency', 'r1', `0:${a.source.offset}`),
          rule: 'delivery_latency',
          severity: 'WARNING',
          subject: 'agent_started',
          detail: 'agent_started delivered 6 ms after it was emitted (limit 5 ms)',
          runId: 'r1',
          eventTimeMs: 0,
          decidedAtWatermarkMs: 0,
          source: { topic: 'agent-events', partitions: [0], offsets: [a.source.offset] },
        }),
        c: violation({
          rule: 'delivery_latency',
          severity: 'CRITICAL',
          subject: 'agent_thinking',
          detail: 'agent_thinking delivered 21 ms after it was emitted (limit 20 ms)',
          runId: 'r1',
          eventTimeMs: 1,
        }),
      });
      expectSubscriptions(source.subscriptions).toBe('^--------!');
    });
  });

  it('compares strictly: exactly the warning level is fine, exactly the critical level is a WARNING', () => {
    const [atWarning, atCritical, fast] = [sent('agent_started', 'r1', 0, 5), sent('agent_thinking', 'r1', 1, 20), sent('tool_executing', 'r1', 2, 0)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-|', { a: ev(atWarning), b: ev(atCritical), c: ev(fast), w: wm(2) });
      expectObservable(source.pipe(detect())).toBe('-------w-|', { w: violation({ rule: 'delivery_latency', severity: 'WARNING', subject: 'agent_thinking', eventTimeMs: 1 }) });
    });
  });

  it('is silent for a run delivered in time', () => {
    const run = LIFECYCLE_TYPES.map((type, i) => sent(type, 'r1', i, i));
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-w-x-|', { a: ev(run[4]!), b: ev(run[3]!), c: ev(run[2]!), d: ev(run[1]!), e: ev(run[0]!), w: wm(4), x: wm(50) });
      expectObservable(source.pipe(detect())).toBe('-------------|');
    });
  });

  it('judges an event once: a slow redelivery is the engine’s duplicate, its own delivery time is not judged', () => {
    const original = sent('tool_completed', 'r1', 3, 1);
    const retry = redelivered(original, 100_650, { deliveredAtMs: 3 + 30, recovered: true });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-|', { a: ev(original), b: ev(retry), w: wm(4) });
      expectObservable(source.pipe(detect())).toBe('-----D-|', {
        D: violation({ rule: 'duplicate_delivery', subject: 'tool_completed', runId: 'r1', eventTimeMs: 3, source: { topic: 'agent-events', partitions: [0], offsets: [100_650] } }),
      });
    });
  });

  it('keeps interleaved runs of different users apart', () => {
    const alice = [sent('agent_started', 'run_alice', 0, 1, 'user_alice'), sent('agent_thinking', 'run_alice', 2, 9, 'user_alice')];
    const bob = [sent('agent_started', 'run_bob', 1, 25, 'user_bob'), sent('agent_thinking', 'run_bob', 3, 2, 'user_bob')];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-w------|', { a: ev(bob[1]!), b: ev(alice[1]!), c: ev(bob[0]!), d: ev(alice[0]!), w: wm(3) });
      const expected = '  ---------(xy)---|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        x: violation({ rule: 'delivery_latency', severity: 'CRITICAL', runId: 'run_bob', userId: 'user_bob', eventTimeMs: 1 }),
        y: violation({ rule: 'delivery_latency', severity: 'WARNING', runId: 'run_alice', userId: 'user_alice', eventTimeMs: 2 }),
      });
    });
  });

  it('an event behind the watermark joins its open run without a late_event row; one after the run is final is a late_event', () => {
    const [s, f] = [sent('agent_started', 'r1', 0, 0), sent('agent_completed', 'r1', 2, 0)];
    const [late1, late2] = [sent('agent_thinking', 'r1', 1, 0), sent('tool_executing', 'r1', 1, 0)];
    scheduler().run(({ hot, expectObservable }) => {
      // late1 (at 1) arrives behind watermark 2 and joins the open run; late2 arrives after r1 was final (at 2).
      const source = hot('-a-w-b-c-x-d-|', { a: ev(s), w: wm(2), b: ev(late1), c: ev(f), x: wm(3), d: ev(late2) });
      expectObservable(source.pipe(detect())).toBe('-----------m-|', { m: lateEvent(late2, 3, 'closed') });
    });
  });

  it('still judges the delivery latency of an event behind the watermark, after its run is final, or of an unknown run', async () => {
    const s = sent('agent_started', 'r1', 0, 0);
    const [slow, slower] = [sent('agent_thinking', 'r1', 1, 40), sent('tool_executing', 'r1', 2, 100)];
    const f = sent('agent_completed', 'r1', 3, 0);
    const orphan = sent('agent_thinking', 'r9', 4, 96);
    const verdicts: Verdict[] = await replay([ev(s), wm(10), ev(slow), ev(f), wm(12), ev(slower), wm(100), ev(orphan)], runEngine(SMALL_CONTRACT, () => [deliveryLatencyRule(SMALL_CONTRACT)]));
    expect(verdicts).toEqual([
      violation({ rule: 'delivery_latency', severity: 'CRITICAL', subject: 'agent_thinking', runId: 'r1', eventTimeMs: 1, decidedAtWatermarkMs: 10 }),
      lateEvent(slower, 12, 'closed'),
      violation({ rule: 'delivery_latency', severity: 'CRITICAL', subject: 'tool_executing', runId: 'r1', eventTimeMs: 2, decidedAtWatermarkMs: 12 }),
      lateEvent(orphan, 100, 'unknown'),
      violation({ rule: 'delivery_latency', severity: 'CRITICAL', subject: 'agent_thinking', runId: 'r9', eventTimeMs: 4, decidedAtWatermarkMs: 100 }),
    ]);
  });

  it('does not judge an event whose timestamp cannot be trusted', async () => {
    const odd = sent('agent_thinking', 'r1', 99_999_999, -99_999_000);
    const verdicts: Verdict[] = await replay([ev(sent('agent_started', 'r1', 0, 0)), { kind: 'suspicious', event: odd, watermarkMs: 0 } satisfies StreamItem], runEngine(SMALL_CONTRACT, () => [deliveryLatencyRule(SMALL_CONTRACT)]));
    expect(verdicts).toEqual([violation({ rule: 'suspicious_timestamp', runId: 'r1' })]);
  });

  it('adds the latency percentiles of the run’s events to its summary (not those of copies, nor of events after the run is final)', async () => {
    const run = LIFECYCLE_TYPES.map((type, i) => sent(type, 'r1', i, [1, 2, 3, 4, 5][i] as number));
    const copy = redelivered(run[1]!, 100_123, { deliveredAtMs: 1 + 500 });
    const late = sent('agent_thinking', 'r1', 2, 0);
    const verdicts = await replay([...run.map(ev), ev(copy), wm(5), ev(late)], runEngine(SMALL_CONTRACT, () => [deliveryLatencyRule(SMALL_CONTRACT)], { summaries: true }));
    const summaries = verdicts.flatMap((v) => (v.kind === 'run_summary' ? [v.summary] : []));
    expect(summaries).toEqual([expect.objectContaining({ runId: 'r1', latencyP50Ms: 3, latencyP95Ms: expect.closeTo(4.8, 6), latencyP99Ms: expect.closeTo(4.96, 6) })]);
  });

  it('propagates errors and releases the source', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-w-#', { a: ev(sent('agent_started', 'r1', 0, 7)), w: wm(1) });
      expectObservable(source.pipe(detect())).toBe('---w-#', { w: violation({ rule: 'delivery_latency', severity: 'WARNING' }) });
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('releases the source on unsubscribe', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a---w-|', { a: ev(sent('agent_started', 'r1', 0, 50)), w: wm(0) });
      expectObservable(source.pipe(detect()), '^--!').toBe('---');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});

describe('rule delivery_latency (properties)', () => {
  const { warning, critical } = SMALL_CONTRACT.thresholds.deliveryLatencyMs;

  it('judges every event by its own latency, once, however (and however late) it arrives', async () => {
    const eventArb = fc.record({ type: fc.constantFrom(...LIFECYCLE_TYPES), run: fc.nat({ max: 3 }), t: fc.nat({ max: 60 }), latencyMs: fc.nat({ max: 60 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(eventArb, { minLength: 1, maxLength: 40 }), fc.nat({ max: 20 }), fc.nat({ max: 10 }), async (specs, lateness, bound) => {
        // Distinct times: no event is a copy of another. Arrival in delivery order, so a slow event
        // may be behind the watermark, after its run is final, or for a run long forgotten.
        const events = specs.map((spec, i) =>
          agentEvent(spec.type, `run_${spec.run}`, spec.t * 41 + i, { deliveredAtMs: spec.t * 41 + i + spec.latencyMs, source: { topic: 'agent-events', partition: 0, offset: i } }),
        );
        const expected = events.flatMap((e) => {
          const latency = e.deliveredAtMs - e.emittedAtMs;
          const severity = latency > critical ? 'CRITICAL' : latency > warning ? 'WARNING' : undefined;
          return severity === undefined ? [] : [`${severity} ${e.runId} ${e.type} ${e.emittedAtMs} ${verdictId('delivery_latency', e.runId, `0:${e.source.offset}`)}`];
        });
        const arrived = arrivalOrder(events, specs.map((s) => s.latencyMs));
        const verdicts = await replayEvents(arrived, runEngine(SMALL_CONTRACT, () => [deliveryLatencyRule(SMALL_CONTRACT)], { allowedLatenessMs: lateness }), { maxOutOfOrdernessMs: bound });
        const found = violationsOf(verdicts)
          .filter((v) => v.rule === 'delivery_latency')
          .map((v) => `${v.severity} ${v.runId} ${v.subject} ${v.eventTimeMs} ${v.violationId}`);
        expect(found.sort()).toEqual(expected.sort());
      }),
      { numRuns: 300 },
    );
  });
});
