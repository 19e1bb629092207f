import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { OperatorFunction } from 'rxjs';
import type { Verdict } from '../../../src/contract/verdict.js';
import { deliveryLatencyRule } from '../../../src/operators/detectDeliveryLatency.js';
import { gapRule } from '../../../src/operators/detectGaps.js';
import { runDurationRule } from '../../../src/operators/detectRunDuration.js';
import { orderByEventTime } from '../../../src/operators/orderByEventTime.js';
import type { StreamItem } from '../../../src/operators/stream-item.js';
import { summarizeRuns } from '../../../src/operators/summarizeRuns.js';
import { agentEvent, completeRun, ev, testContract, wm } from '../../support/events.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
const contract = testContract({ latency: [500, 2_000], gap: [1_000, 5_000], duration: [100, 1_000] });
const summarize = (): OperatorFunction<StreamItem, Verdict> => (source) => source.pipe(orderByEventTime(), summarizeRuns(contract));

describe('summarizeRuns', () => {
  it('summarizes a completed run once event time passes agent_completed', () => {
    const run = completeRun('r1', 100, 10);
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-abcde-w-x-|', { a: ev(run[0]!), b: ev(run[1]!), c: ev(run[2]!), d: ev(run[3]!), e: ev(run[4]!), w: wm(139), x: wm(140) });
      expectObservable(source.pipe(summarize())).toBe('---------s-|', {
        s: {
          kind: 'run_summary',
          summary: expect.objectContaining({
            runId: 'r1',
            eventCount: 5,
            firstEventMs: 100,
            lastEventMs: 140,
            startedAtMs: 100,
            completedAtMs: 140,
            outcome: 'completed',
            decidedAtWatermarkMs: 140,
            typesSeen: ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'],
            performanceGrade: 'A',
            securityGrade: 'A',
          }),
        },
      });
      expectSubscriptions(source.subscriptions).toBe('^----------!');
    });
  });

  it('closes a silent run at its deadline and reports a later event of it as late, with its offset', () => {
    const started = agentEvent('agent_started', 'r2', 0);
    const late = agentEvent('agent_thinking', 'r2', 5);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-|', { a: ev(started), w: wm(1_000), b: ev(late) });
      expectObservable(source.pipe(summarize())).toBe('---s-l-|', {
        s: { kind: 'run_summary', summary: expect.objectContaining({ runId: 'r2', outcome: 'deadline', eventCount: 1, completedAtMs: undefined }) },
        l: { kind: 'late_event', runId: 'r2', type: 'agent_thinking', eventTimeMs: 5, watermarkMs: 1_000, runState: 'closed', source: late.source },
      });
    });
  });

  it('forgets a closed run after one more deadline of event time, bounding memory', () => {
    const first = agentEvent('agent_started', 'r3', 0);
    const reused = agentEvent('agent_started', 'r3', 2_500);
    scheduler().run(({ hot, expectObservable }) => {
      // closed at 1000, forgotten once the watermark passes 2000: the same id then opens a new run
      const source = hot('-a-w-x-b-|', { a: ev(first), w: wm(1_000), x: wm(2_001), b: ev(reused) });
      expectObservable(source.pipe(summarize())).toBe('---s-----(t|)', {
        s: { kind: 'run_summary', summary: expect.objectContaining({ runId: 'r3', firstEventMs: 0, outcome: 'deadline' }) },
        t: { kind: 'run_summary', summary: expect.objectContaining({ runId: 'r3', firstEventMs: 2_500, outcome: 'end_of_input' }) },
      });
    });
  });

  it('adds latency percentiles (linear interpolation), max gap, duration and grades from the rules', () => {
    // latencies 10, 20, 30, 40, 600 → p50 30, p95 488, p99 577.6; a latency WARNING and a
    // duration WARNING (200 > 100) → two warnings → performance grade C
    const latencies = [10, 20, 30, 40, 600];
    const run = completeRun('r4', 0, 50).map((e, i) => ({ ...e, deliveredAtMs: e.emittedAtMs + (latencies[i] as number) }));
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-|', { a: ev(run[0]!), b: ev(run[1]!), c: ev(run[2]!), d: ev(run[3]!), e: ev(run[4]!) });
      const rules = () => [deliveryLatencyRule(contract), gapRule(contract), runDurationRule(contract)];
      const verdicts = source.pipe(orderByEventTime(), summarizeRuns(contract, rules));
      expectObservable(verdicts).toBe('---------(wvs|)', {
        w: expect.objectContaining({ kind: 'violation', violation: expect.objectContaining({ rule: 'delivery_latency', severity: 'WARNING' }) }),
        v: expect.objectContaining({ kind: 'violation', violation: expect.objectContaining({ rule: 'run_duration', severity: 'WARNING' }) }),
        s: {
          kind: 'run_summary',
          summary: expect.objectContaining({ latencyP50Ms: 30, latencyP95Ms: expect.closeTo(488, 6), latencyP99Ms: expect.closeTo(577.6, 6), maxGapMs: 50, durationMs: 200, warnings: 2, criticals: 0, performanceGrade: 'C' }),
        },
      });
    });
  });
});
