import fc from 'fast-check';
import type { OperatorFunction } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { RunSummary, Verdict } from '../../../src/contract/verdict.js';
import { contaminationRule } from '../../../src/operators/rules/contamination.js';
import { deliveryLatencyRule } from '../../../src/operators/rules/delivery-latency.js';
import { gapRule } from '../../../src/operators/rules/event-gaps.js';
import { runDurationRule } from '../../../src/operators/rules/run-duration.js';
import type { StreamItem } from '../../../src/operators/stream-item.js';
import { summarizeRuns } from '../../../src/operators/summarizeRuns.js';
import { arrivalOrder, generatedRuns, ordered, redelivered, replayEvents, scheduler, SMALL_CONTRACT } from '../../support/detectors.js';
import { agentEvent, completeRun, ev, testContract, wm } from '../../support/events.js';

/** Deadline 1 000 (critical run duration); runs are final once event time passes their end + allowed lateness. */
const contract = testContract({ latency: [500, 2_000], gap: [1_000, 5_000], duration: [100, 1_000] });
const summarize = (allowedLatenessMs = 0): OperatorFunction<StreamItem, Verdict> => ordered(summarizeRuns(contract, () => [], { allowedLatenessMs }));
const summary = (fields: Partial<RunSummary>) => ({ kind: 'run_summary', summary: expect.objectContaining(fields) as RunSummary });

describe('summarizeRuns', () => {
  it('summarizes a completed run once event time passes agent_completed + the allowed lateness', () => {
    const run = completeRun('r1', 100, 10);
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-abcde-w-x-y-|', { a: ev(run[0]!), b: ev(run[1]!), c: ev(run[2]!), d: ev(run[3]!), e: ev(run[4]!), w: wm(140), x: wm(142), y: wm(143) });
      expectObservable(source.pipe(summarize(2))).toBe('-----------s-|', {
        s: summary({
          runId: 'r1',
          threadId: 'thread_of_r1',
          userId: 'user_of_r1',
          eventCount: 5,
          duplicateCount: 0,
          lateEventCount: 0,
          firstEventMs: 100,
          lastEventMs: 140,
          startedAtMs: 100,
          completedAtMs: 140,
          outcome: 'completed',
          decidedAtWatermarkMs: 142,
          typesSeen: ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'],
          warnings: 0,
          criticals: 0,
          performanceGrade: 'A',
          securityGrade: 'A',
          source: { topic: 'agent-events', partitions: [0, 0, 0, 0, 0], offsets: run.map((e) => e.source.offset) },
        }),
      });
      expectSubscriptions(source.subscriptions).toBe('^------------!');
    });
  });

  it('summarizes a silent run at its deadline and reports a later event of it as late, with its offset', () => {
    const started = agentEvent('agent_started', 'r2', 0);
    const late = agentEvent('agent_thinking', 'r2', 5);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-x-b-|', { a: ev(started), w: wm(1_000), x: wm(1_001), b: ev(late) });
      expectObservable(source.pipe(summarize())).toBe('-----s-l-|', {
        s: summary({ runId: 'r2', outcome: 'deadline', eventCount: 1, completedAtMs: undefined, decidedAtWatermarkMs: 1_000 }),
        l: { kind: 'late_event', runId: 'r2', type: 'agent_thinking', eventTimeMs: 5, watermarkMs: 1_001, runState: 'closed', source: late.source },
      });
    });
  });

  it('counts an event that arrived behind the watermark and joined the run, and a duplicate once', () => {
    const [s, t, f] = [agentEvent('agent_started', 'r3', 0), agentEvent('agent_thinking', 'r3', 5), agentEvent('agent_completed', 'r3', 20)];
    const copy = redelivered(s, 100_000);
    scheduler().run(({ hot, expectObservable }) => {
      // t arrives after watermark 10: late for ordering, still in the run (final after 20 + 15)
      const source = hot('-a-b-w-c-d-x-y-|', { a: ev(s), b: ev(f), w: wm(10), c: ev(t), d: ev(copy), x: wm(35), y: wm(36) });
      expectObservable(source.pipe(summarize(15))).toBe('---------D---s-|', {
        D: { kind: 'violation', violation: expect.objectContaining({ rule: 'duplicate_delivery', runId: 'r3' }) },
        s: summary({ runId: 'r3', eventCount: 3, lateEventCount: 1, duplicateCount: 1, typesSeen: ['agent_started', 'agent_thinking', 'agent_completed'], outcome: 'completed', decidedAtWatermarkMs: 35 }),
      });
    });
  });

  it('counts as late an event that arrives below the watermark, not one exactly at it (that one is still in order)', () => {
    const [s, f] = [agentEvent('agent_started', 'r9', 0), agentEvent('agent_completed', 'r9', 20)];
    const [atWatermark, behind] = [agentEvent('agent_thinking', 'r9', 10), agentEvent('tool_executing', 'r9', 9)];
    scheduler().run(({ hot, expectObservable }) => {
      // Both arrive when the watermark is 10: nothing at 10 has been released yet (release is strictly
      // below the watermark), so the one at 10 waits in order; the one at 9 is late, placed at 10.
      const source = hot('-a-b-w-c-d-x-|', { a: ev(s), b: ev(f), w: wm(10), c: ev(atWatermark), d: ev(behind), x: wm(21) });
      expectObservable(source.pipe(summarize())).toBe('-----------s-|', { s: summary({ runId: 'r9', eventCount: 4, lateEventCount: 1 }) });
    });
  });

  it('counts as late an event that came as a late item placed exactly at its own time, like one placed after it', () => {
    const [s, f] = [agentEvent('agent_started', 'r10', 0), agentEvent('agent_completed', 'r10', 20)];
    const [atOwnTime, behind] = [agentEvent('agent_thinking', 'r10', 10), agentEvent('tool_executing', 'r10', 9)];
    scheduler().run(({ hot, expectObservable }) => {
      // Both found behind their partition's watermark 10 (withWatermark: at or behind it is late), so
      // both are placed at 10: the thinking exactly at its own time. Both join the run (final at 20).
      const source = hot<StreamItem>('-a-b-w-c-d-x-|', {
        a: ev(s),
        b: ev(f),
        w: wm(5),
        c: { kind: 'late', event: atOwnTime, watermarkMs: 10 },
        d: { kind: 'late', event: behind, watermarkMs: 10 },
        x: wm(21),
      });
      expectObservable(source.pipe(summarize())).toBe('-----------s-|', { s: summary({ runId: 'r10', eventCount: 4, lateEventCount: 2, outcome: 'completed', decidedAtWatermarkMs: 20 }) });
    });
  });

  it('calls a run completed after its deadline, within the allowed lateness, completed', () => {
    const [s, f] = [agentEvent('agent_started', 'r4', 0), agentEvent('agent_completed', 'r4', 1_200)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-x----|', { a: ev(s), b: ev(f), w: wm(1_500), x: wm(1_501) });
      expectObservable(source.pipe(ordered(summarizeRuns(contract, () => [runDurationRule(contract)], { allowedLatenessMs: 500 })))).toBe('-------(vs)-|', {
        v: { kind: 'violation', violation: expect.objectContaining({ rule: 'run_duration', severity: 'CRITICAL', subject: 'duration' }) },
        s: summary({ runId: 'r4', outcome: 'completed', completedAtMs: 1_200, durationMs: 1_200, decidedAtWatermarkMs: 1_500, criticals: 1, performanceGrade: 'F' }),
      });
    });
  });

  it('forgets a final run after two more deadlines of event time (plus the allowed lateness), bounding memory', () => {
    const first = agentEvent('agent_started', 'r5', 0);
    const [stillKnown, reused] = [agentEvent('agent_started', 'r5', 2_500), agentEvent('agent_started', 'r5', 3_500)];
    scheduler().run(({ hot, expectObservable }) => {
      // final at 1000, remembered while event time is at most 1000 + 2 × 1000 = 3000: at 2500 the id
      // is still the judged run's (a late event of it, no new run)
      const source = hot('-a-w-x-b-|', { a: ev(first), w: wm(1_001), x: wm(2_001), b: ev(stillKnown) });
      expectObservable(source.pipe(summarize())).toBe('---s-----(l|)', {
        s: summary({ runId: 'r5', firstEventMs: 0, outcome: 'deadline', decidedAtWatermarkMs: 1_000 }),
        l: { kind: 'late_event', runId: 'r5', type: 'agent_started', eventTimeMs: 2_500, watermarkMs: 2_500, runState: 'closed', source: stillKnown.source },
      });
    });
    scheduler().run(({ hot, expectObservable }) => {
      // forgotten once event time passes 3000: the same id then opens a new run
      const source = hot('-a-w-x-b-|', { a: ev(first), w: wm(1_001), x: wm(3_001), b: ev(reused) });
      expectObservable(source.pipe(summarize())).toBe('---s-----(t|)', {
        s: summary({ runId: 'r5', firstEventMs: 0, outcome: 'deadline', decidedAtWatermarkMs: 1_000 }),
        t: summary({ runId: 'r5', firstEventMs: 3_500, outcome: 'end_of_input', decidedAtWatermarkMs: 3_500 }),
      });
    });
  });

  it('adds latency percentiles (linear interpolation), max gap, duration and grades from the rules', () => {
    // latencies 10, 20, 30, 40, 600 → p50 30, p95 488, p99 577.6; a latency WARNING and a
    // duration WARNING (200 > 100) → two warnings → performance grade C
    const latencies = [10, 20, 30, 40, 600];
    const run = completeRun('r6', 0, 50).map((e, i) => ({ ...e, deliveredAtMs: e.emittedAtMs + (latencies[i] as number) }));
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-|', { a: ev(run[0]!), b: ev(run[1]!), c: ev(run[2]!), d: ev(run[3]!), e: ev(run[4]!) });
      const rules = () => [deliveryLatencyRule(contract), gapRule(contract), runDurationRule(contract)];
      expectObservable(source.pipe(ordered(summarizeRuns(contract, rules)))).toBe('---------(wvs|)', {
        w: { kind: 'violation', violation: expect.objectContaining({ rule: 'delivery_latency', severity: 'WARNING' }) },
        v: { kind: 'violation', violation: expect.objectContaining({ rule: 'run_duration', severity: 'WARNING' }) },
        s: summary({ latencyP50Ms: 30, latencyP95Ms: expect.closeTo(488, 6), latencyP99Ms: expect.closeTo(577.6, 6), maxGapMs: 50, durationMs: 200, warnings: 2, criticals: 0, performanceGrade: 'C' }),
      });
    });
  });

  it('grades security from the run’s isolation verdicts', () => {
    const alice = agentEvent('agent_started', 'run_alice_1', 0, { userId: 'user_alice', threadId: 'thread_alice' });
    const bob = agentEvent('agent_started', 'run_bob_1', 1, { userId: 'user_bob', threadId: 'thread_bob' });
    const leak = agentEvent('agent_thinking', 'run_bob_1', 2, { userId: 'user_bob', threadId: 'thread_bob', body: { reasoning: 'see thread_alice' } });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abc)-|', { a: ev(alice), b: ev(bob), c: ev(leak) });
      expectObservable(source.pipe(ordered(summarizeRuns(contract, () => [contaminationRule()])))).toBe('-------(xyz|)', {
        x: { kind: 'violation', violation: expect.objectContaining({ rule: 'cross_user_contamination', runId: 'run_bob_1' }) },
        y: summary({ runId: 'run_alice_1', securityGrade: 'A', isolationCriticals: 0 }),
        z: summary({ runId: 'run_bob_1', securityGrade: 'F', isolationCriticals: 1, isolationWarnings: 0, criticals: 1, performanceGrade: 'A' }),
      });
    });
  });

  it('propagates errors and releases the source on unsubscribe', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-#', { a: ev(agentEvent('agent_started', 'r7', 0)) });
      expectObservable(source.pipe(summarize())).toBe('---#');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a---w-', { a: ev(agentEvent('agent_started', 'r8', 0)), w: wm(5_000) });
      expectObservable(source.pipe(summarize()), '^--!').toBe('---');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});

describe('summarizeRuns (properties)', () => {
  it('summarizes every run exactly once, with its own events counted, under any arrival order within the bound', async () => {
    const bound = 6;
    await fc.assert(
      fc.asyncProperty(generatedRuns({ maxSpanMs: 29, partitions: 2 }), fc.array(fc.nat({ max: bound - 1 }), { minLength: 1, maxLength: 40 }), async (events, delays) => {
        const chain = () => summarizeRuns(SMALL_CONTRACT, () => [gapRule(SMALL_CONTRACT), runDurationRule(SMALL_CONTRACT)], { allowedLatenessMs: 30 });
        const inOrder = await replayEvents(events, chain(), { maxOutOfOrdernessMs: bound });
        const summaries = inOrder.flatMap((v) => (v.kind === 'run_summary' ? [v.summary] : []));
        const runIds = [...new Set(events.map((e) => e.runId))].sort();
        expect(summaries.map((s) => s.runId).sort()).toEqual(runIds);
        for (const s of summaries) {
          const own = events.filter((e) => e.runId === s.runId);
          expect(s.eventCount).toBe(own.length);
          expect(s.firstEventMs).toBe(Math.min(...own.map((e) => e.emittedAtMs)));
          expect(s.lastEventMs).toBe(Math.max(...own.map((e) => e.emittedAtMs)));
          expect(new Set(s.typesSeen)).toEqual(new Set(own.map((e) => e.type)));
        }
        expect(await replayEvents(arrivalOrder(events, delays), chain(), { maxOutOfOrdernessMs: bound })).toEqual(inOrder);
      }),
      { numRuns: 200 },
    );
  });
});
