import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AgentEvent, LifecycleType } from '../../../../src/contract/event.js';
import { runEngine } from '../../../../src/operators/engine/run-engine.js';
import { verdictId } from '../../../../src/operators/engine/verdict-id.js';
import { runDurationRule } from '../../../../src/operators/rules/run-duration.js';
import {
  arrivalOrder,
  generatedRuns,
  inEventTimeOrder,
  lateEvent,
  placeFree,
  redelivered,
  replayEvents,
  ruleEngine,
  scheduler,
  SMALL_CONTRACT,
  violation,
  violationsOf,
} from '../../../support/detectors.js';
import { agentEvent, ev, wm } from '../../../support/events.js';

/** SMALL_CONTRACT: a run longer than 10 is a WARNING, longer than 30 CRITICAL; a run not completed 30 after its first event ends there (deadline). */
const detect = (allowedLatenessMs = 0) => ruleEngine(runDurationRule(SMALL_CONTRACT), { allowedLatenessMs });

const at = (type: LifecycleType, t: number, runId = 'r1', userId?: string) => agentEvent(type, runId, t, userId === undefined ? {} : { userId });

describe('rule run_duration', () => {
  it('reports a run past its deadline from watermarks alone, once event time passes the deadline', () => {
    const s = at('agent_started', 0);
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-w-x-y-|', { a: ev(s), w: wm(10), x: wm(30), y: wm(31) });
      const expected = '  -------D-|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        D: violation({
          violationId: verdictId('run_duration', 'r1', 'deadline'),
          rule: 'run_duration',
          severity: 'CRITICAL',
          subject: 'deadline',
          detail: 'not completed 30 ms after it started',
          runId: 'r1',
          eventTimeMs: 30,
          decidedAtWatermarkMs: 30,
          source: { topic: 'agent-events', partitions: [0], offsets: [s.source.offset] },
        }),
      });
      expectSubscriptions(source.subscriptions).toBe('^--------!');
    });
  });

  it('reports the deadline only after the allowed lateness on top of it', () => {
    const s = at('agent_started', 0);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-x-y-|', { a: ev(s), w: wm(31), x: wm(35), y: wm(36) });
      expectObservable(source.pipe(detect(5))).toBe('-------D-|', { D: violation({ rule: 'run_duration', subject: 'deadline', eventTimeMs: 30, decidedAtWatermarkMs: 35 }) });
    });
  });

  it('reports a run longer than the warning level once it is final, measured from agent_started', () => {
    const [t, s, f] = [at('agent_thinking', 0), at('agent_started', 2), at('agent_completed', 13)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-c-x-y-|', { a: ev(t), b: ev(s), w: wm(2), c: ev(f), x: wm(13), y: wm(14) });
      expectObservable(source.pipe(detect())).toBe('-----------w-|', {
        w: violation({
          violationId: verdictId('run_duration', 'r1', `0:${f.source.offset}`),
          rule: 'run_duration',
          severity: 'WARNING',
          subject: 'duration',
          detail: 'run took 11 ms (limit 10 ms)',
          runId: 'r1',
          eventTimeMs: 13,
          decidedAtWatermarkMs: 13,
          source: { topic: 'agent-events', partitions: [0], offsets: [f.source.offset] },
        }),
      });
    });
  });

  it('compares strictly and is silent for runs within the levels', () => {
    const exactly = [at('agent_started', 0, 'r1'), at('agent_completed', 10, 'r1')];
    const quick = [at('agent_started', 1, 'r2'), at('agent_thinking', 2, 'r2'), at('agent_completed', 4, 'r2')];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-w-x-|', { a: ev(exactly[0]!), b: ev(quick[0]!), c: ev(quick[1]!), d: ev(quick[2]!), e: ev(exactly[1]!), w: wm(10), x: wm(80) });
      expectObservable(source.pipe(detect())).toBe('-------------|');
    });
  });

  it('a completion after the deadline but within the allowed lateness makes the run a CRITICAL duration, not a deadline', () => {
    const [s, f] = [at('agent_started', 0), at('agent_completed', 31)];
    scheduler().run(({ hot, expectObservable }) => {
      // The run ends at its deadline (30); with lateness 5 it is final after 35 and takes the completion at 31.
      const source = hot('-a-w-b-x-y-|', { a: ev(s), w: wm(30), b: ev(f), x: wm(35), y: wm(36) });
      expectObservable(source.pipe(detect(5))).toBe('---------C-|', {
        C: violation({
          violationId: verdictId('run_duration', 'r1', `0:${f.source.offset}`),
          rule: 'run_duration',
          severity: 'CRITICAL',
          subject: 'duration',
          detail: 'run took 31 ms (limit 30 ms)',
          eventTimeMs: 31,
          decidedAtWatermarkMs: 35,
        }),
      });
    });
  });

  it('judges a run once: a completion after its deadline + lateness is a late event of the judged run, not a second verdict', () => {
    const [s, f] = [at('agent_started', 0), at('agent_completed', 31)];
    scheduler().run(({ hot, expectObservable }) => {
      // The completion at 31 (placed once the watermark is past it) moves event time past the
      // deadline (30): the run is judged first.
      const source = hot('-a-w-b-x------|', { a: ev(s), w: wm(30), b: ev(f), x: wm(32) });
      expectObservable(source.pipe(detect())).toBe('-------(Dl)---|', {
        D: violation({ rule: 'run_duration', severity: 'CRITICAL', subject: 'deadline', eventTimeMs: 30, decidedAtWatermarkMs: 30 }),
        l: lateEvent(f, 31, 'closed'),
      });
    });
  });

  it('counts a redelivered agent_completed once (the engine reports the copy)', () => {
    const [s, f] = [at('agent_started', 0), at('agent_completed', 12)];
    scheduler().run(({ hot, expectObservable }) => {
      // wm(13) places the completion and its copy at 12 and passes the run's end (12): the copy is
      // reported as it takes its place, then the run is judged, both with that watermark.
      const source = hot('-a-b-c-w-x-|', { a: ev(s), b: ev(f), c: ev(redelivered(f, 100_321)), w: wm(13), x: wm(14) });
      expectObservable(source.pipe(detect())).toBe('-------(Dw)|', {
        D: violation({ rule: 'duplicate_delivery', subject: 'agent_completed', eventTimeMs: 12, decidedAtWatermarkMs: 12 }),
        w: violation({ rule: 'run_duration', severity: 'WARNING', subject: 'duration', eventTimeMs: 12, decidedAtWatermarkMs: 12, detail: 'run took 12 ms (limit 10 ms)' }),
      });
    });
  });

  it('times interleaved runs of different users separately', () => {
    const alice = [at('agent_started', 0, 'run_alice', 'user_alice'), at('agent_completed', 5, 'run_alice', 'user_alice')];
    const bob = [at('agent_started', 3, 'run_bob', 'user_bob'), at('agent_thinking', 4, 'run_bob', 'user_bob'), at('agent_completed', 15, 'run_bob', 'user_bob')];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-w-x-|', { a: ev(alice[0]!), b: ev(bob[0]!), c: ev(bob[1]!), d: ev(alice[1]!), e: ev(bob[2]!), w: wm(10), x: wm(20) });
      expectObservable(source.pipe(detect())).toBe('-----------w-|', {
        w: violation({ rule: 'run_duration', severity: 'WARNING', subject: 'duration', runId: 'run_bob', userId: 'user_bob', eventTimeMs: 15, detail: 'run took 12 ms (limit 10 ms)' }),
      });
    });
  });

  it('measures from an agent_started that arrives behind the watermark but before the run is final, with no late_event row', () => {
    const [t, f] = [at('agent_thinking', 0), at('agent_completed', 12)];
    const lateStart = at('agent_started', 2);
    scheduler().run(({ hot, expectObservable }) => {
      // From the start at 2 the run took 10 (fine); from the first event it would be 12.
      const source = hot('-a-w-b-c-x-|', { a: ev(t), w: wm(3), b: ev(lateStart), c: ev(f), x: wm(13) });
      expectObservable(source.pipe(detect())).toBe('-----------|');
    });
  });

  it('judges a run still open at end of input without a deadline verdict (it did not reach its deadline)', () => {
    const [s, other] = [at('agent_started', 0), at('agent_started', 29, 'r2')];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-|', { a: ev(s), b: ev(other) });
      expectObservable(source.pipe(detect())).toBe('-----|');
    });
    // ... but with a deadline verdict once the input's event time reached the deadline.
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-|', { a: ev(s), b: ev(at('agent_started', 30, 'r2')) });
      expectObservable(source.pipe(detect(5))).toBe('-----(D|)', { D: violation({ rule: 'run_duration', subject: 'deadline', runId: 'r1', decidedAtWatermarkMs: 30 }) });
    });
  });

  it('propagates errors and releases the source', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-w-#', { a: ev(at('agent_started', 0)), w: wm(31) });
      expectObservable(source.pipe(detect())).toBe('---D-#', { D: violation({ rule: 'run_duration', subject: 'deadline' }) });
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('releases the source on unsubscribe', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a---w-|', { a: ev(at('agent_started', 0)), w: wm(31) });
      expectObservable(source.pipe(detect()), '^--!').toBe('---');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});

/**
 * A reference for the rule from the whole input. A run holds its events up to its end + the
 * allowed lateness, its end being its first agent_completed or its deadline (first event + 30),
 * whichever is first. Its duration runs from its first agent_started (else its first event) to
 * that completion; a run without one is past its deadline once the input's event time reached it.
 * A judged run is remembered for two deadlines plus the allowed lateness after it became final: a
 * later event of its id (in event-time order, so not late) starts a new run; one before that is a
 * late event of the judged run (judged by nothing here).
 */
function referenceDurations(events: readonly AgentEvent[], allowedLatenessMs: number): string[] {
  const { warning, critical } = SMALL_CONTRACT.thresholds.runDurationMs;
  const deadlineMs = SMALL_CONTRACT.runDeadlineMs;
  const lastTime = Math.max(...events.map((e) => e.emittedAtMs));
  const byRun = new Map<string, AgentEvent[]>();
  for (const e of inEventTimeOrder(events)) byRun.set(e.runId, [...(byRun.get(e.runId) ?? []), e]);
  const out: string[] = [];
  const judge = (runId: string, run: readonly AgentEvent[]): number => {
    const first = (run[0] as AgentEvent).emittedAtMs;
    const deadline = first + deadlineMs;
    const completion = run.find((e) => e.type === 'agent_completed' && e.emittedAtMs <= deadline + allowedLatenessMs);
    const end = Math.min(completion?.emittedAtMs ?? Number.POSITIVE_INFINITY, deadline);
    if (completion !== undefined) {
      const start = run.find((e) => e.type === 'agent_started' && e.emittedAtMs <= end + allowedLatenessMs)?.emittedAtMs ?? first;
      const d = completion.emittedAtMs - start;
      const severity = d > critical ? 'CRITICAL' : d > warning ? 'WARNING' : undefined;
      if (severity !== undefined) out.push(`${runId} ${severity} duration ${completion.emittedAtMs} ${verdictId('run_duration', runId, `${completion.source.partition}:${completion.source.offset}`)}`);
    } else if (deadline <= lastTime) {
      out.push(`${runId} CRITICAL deadline ${first + critical} ${verdictId('run_duration', runId, 'deadline')}`);
    }
    return end + allowedLatenessMs; // when it is final
  };
  for (const [runId, all] of byRun) {
    let rest = all;
    while (rest.length > 0) {
      const finalAt = judge(runId, rest);
      rest = rest.filter((e) => e.emittedAtMs > finalAt + 2 * deadlineMs + allowedLatenessMs);
    }
  }
  return out.sort();
}

const durationKeys = (verdicts: ReturnType<typeof violationsOf>): string[] =>
  verdicts.filter((v) => v.rule === 'run_duration').map((v) => `${v.runId} ${v.severity} ${v.subject} ${v.eventTimeMs} ${v.violationId}`).sort();

describe('rule run_duration (properties)', () => {
  const bound = 6;
  const chain = (allowedLatenessMs: number) => runEngine(SMALL_CONTRACT, () => [runDurationRule(SMALL_CONTRACT)], { allowedLatenessMs });

  it('equals the reference, and is the same verdict for verdict under any arrival order within the out-of-orderness bound', async () => {
    // Runs up to 45 long: some complete before their deadline, some after it (within the lateness
    // or not), some never; some have events so long after their completion that they start anew.
    const runs = generatedRuns({ maxStepMs: 9, maxSpanMs: 45, partitions: 2 });
    await fc.assert(
      fc.asyncProperty(runs, fc.array(fc.nat({ max: bound - 1 }), { minLength: 1, maxLength: 40 }), fc.nat({ max: 40 }), async (events, delays, lateness) => {
        const inOrder = await replayEvents(events, chain(lateness), { maxOutOfOrdernessMs: bound });
        expect(durationKeys(violationsOf(inOrder))).toEqual(referenceDurations(events, lateness));
        expect(await replayEvents(arrivalOrder(events, delays), chain(lateness), { maxOutOfOrdernessMs: bound })).toEqual(inOrder);
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same verdicts when events arrive behind the watermark by up to the allowed lateness', async () => {
    const lateness = 10;
    const runs = generatedRuns({ maxStepMs: 9, maxSpanMs: 29, partitions: 2, endAtCompletion: true });
    await fc.assert(
      fc.asyncProperty(runs, fc.array(fc.nat({ max: bound + lateness }), { minLength: 1, maxLength: 40 }), async (events, delays) => {
        const inOrder = await replayEvents(events, chain(lateness), { maxOutOfOrdernessMs: bound });
        const delayed = await replayEvents(arrivalOrder(events, delays), chain(lateness), { maxOutOfOrdernessMs: bound });
        expect(delayed.filter((v) => v.kind === 'late_event')).toEqual([]);
        expect(placeFree(delayed)).toEqual(placeFree(inOrder));
      }),
      { numRuns: 300 },
    );
  });
});
