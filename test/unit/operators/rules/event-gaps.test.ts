import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AgentEvent, LifecycleType } from '../../../../src/contract/event.js';
import { runEngine } from '../../../../src/operators/engine/run-engine.js';
import { verdictId } from '../../../../src/operators/engine/verdict-id.js';
import { gapRule } from '../../../../src/operators/rules/event-gaps.js';
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

/**
 * SMALL_CONTRACT: a gap > 2 is a WARNING, > 5 CRITICAL (`silence`); runs end at their completion
 * or 30 after their first event, and are judged once event time passes that end + allowed lateness.
 */
const detect = (allowedLatenessMs = 0) => ruleEngine(gapRule(SMALL_CONTRACT), { allowedLatenessMs });

const at = (type: LifecycleType, t: number, runId = 'r1', userId?: string) => agentEvent(type, runId, t, userId === undefined ? {} : { userId });

describe('rule event_gap', () => {
  it('reports a slow gap and the silence up to the deadline when the run is final, from watermarks alone', () => {
    const [a, b] = [at('agent_started', 0), at('agent_thinking', 3)];
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      // Not before the run is final: its deadline 30 (first event + 30), strictly passed.
      const source = hot('-a-b-w-x-y----|', { a: ev(a), b: ev(b), w: wm(8), x: wm(30), y: wm(31) });
      const expected = '  ---------(gs)-|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        g: violation({
          violationId: verdictId('event_gap', 'r1', `0:${b.source.offset}`),
          rule: 'event_gap',
          severity: 'WARNING',
          subject: 'agent_thinking',
          detail: '3 ms without an event before agent_thinking',
          runId: 'r1',
          eventTimeMs: 3,
          decidedAtWatermarkMs: 30,
          source: { topic: 'agent-events', partitions: [0], offsets: [b.source.offset] },
        }),
        s: violation({
          violationId: verdictId('event_gap', 'r1', 'silence:3'),
          rule: 'event_gap',
          severity: 'CRITICAL',
          subject: 'silence',
          runId: 'r1',
          eventTimeMs: 8,
          decidedAtWatermarkMs: 30,
          source: { topic: 'agent-events', partitions: [0, 0], offsets: [a.source.offset, b.source.offset] },
        }),
      });
      expectSubscriptions(source.subscriptions).toBe('^-------------!');
    });
  });

  it('waits the allowed lateness after the run’s end before judging it', () => {
    const s = at('agent_started', 10);
    scheduler().run(({ hot, expectObservable }) => {
      // deadline 40, allowed lateness 3: final once event time passes 43
      const source = hot('-a-w-x-y-z-|', { a: ev(s), w: wm(15), x: wm(41), y: wm(43), z: wm(44) });
      expectObservable(source.pipe(detect(3))).toBe('---------s-|', {
        s: violation({ rule: 'event_gap', severity: 'CRITICAL', subject: 'silence', runId: 'r1', eventTimeMs: 15, decidedAtWatermarkMs: 43 }),
      });
    });
  });

  it('compares strictly: a gap of exactly the warning level is fine, one of exactly the critical level a WARNING', () => {
    const run = [at('agent_started', 0), at('agent_thinking', 2), at('tool_executing', 7), at('tool_completed', 8), at('agent_completed', 9)];
    scheduler().run(({ hot, expectObservable }) => {
      // completed at 9: final once event time passes 9, not at 9
      const source = hot('-(abcde)-w-x-|', { a: ev(run[0]!), b: ev(run[1]!), c: ev(run[2]!), d: ev(run[3]!), e: ev(run[4]!), w: wm(9), x: wm(10) });
      expectObservable(source.pipe(detect())).toBe('-----------g-|', {
        g: violation({ rule: 'event_gap', severity: 'WARNING', subject: 'tool_executing', eventTimeMs: 7, decidedAtWatermarkMs: 9 }),
      });
    });
  });

  it('reports a long gap once, as silence keyed by the event before it, and the silence after the last event separately', () => {
    const [s, t] = [at('agent_started', 0), at('agent_thinking', 8)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-x-y----|', { a: ev(s), w: wm(6), b: ev(t), x: wm(13), y: wm(31) });
      expectObservable(source.pipe(detect())).toBe('---------(st)-|', {
        s: violation({ rule: 'event_gap', severity: 'CRITICAL', subject: 'silence', eventTimeMs: 5, violationId: verdictId('event_gap', 'r1', 'silence:0') }),
        t: violation({ rule: 'event_gap', severity: 'CRITICAL', subject: 'silence', eventTimeMs: 13, violationId: verdictId('event_gap', 'r1', 'silence:8') }),
      });
    });
  });

  it('reports a long gap closed by an event in the same batch once, as silence', () => {
    const [s, t, f] = [at('agent_started', 0), at('agent_thinking', 7), at('agent_completed', 8)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-|', { a: ev(s), b: ev(t), c: ev(f), w: wm(9) });
      expectObservable(source.pipe(detect())).toBe('-------s-|', { s: violation({ rule: 'event_gap', severity: 'CRITICAL', subject: 'silence', eventTimeMs: 5, decidedAtWatermarkMs: 8 }) });
    });
  });

  it('is silent for a run without slow gaps, and for a completed run however long the watermark runs on', () => {
    const run = [at('agent_started', 0), at('agent_thinking', 2), at('tool_executing', 4), at('tool_completed', 6), at('agent_completed', 8)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-w-x-|', { a: ev(run[0]!), b: ev(run[1]!), c: ev(run[2]!), d: ev(run[3]!), e: ev(run[4]!), w: wm(8), x: wm(100) });
      expectObservable(source.pipe(detect())).toBe('-------------|');
    });
  });

  it('measures no gap after the completion: what follows it is event_after_completion, not a gap or a silence', () => {
    const [s, f, t] = [at('agent_started', 0), at('agent_completed', 1), at('agent_thinking', 20)];
    scheduler().run(({ hot, expectObservable }) => {
      // allowed lateness 30: the thinking event at 20 still joins the run (final after 31)
      const source = hot('-a-b-c-w-|', { a: ev(s), b: ev(f), c: ev(t), w: wm(40) });
      expectObservable(source.pipe(detect(30))).toBe('---------|');
    });
  });

  it('ignores a redelivered copy (no gap of zero): the engine reports it as a duplicate before the rule sees it', () => {
    const [s, t, f] = [at('agent_started', 0), at('agent_thinking', 2), at('agent_completed', 3)];
    const copy = redelivered(t, 100_444);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-w-x-|', { a: ev(s), b: ev(t), c: ev(copy), d: ev(f), w: wm(3), x: wm(4) });
      expectObservable(source.pipe(detect())).toBe('---------D---|', { D: violation({ rule: 'duplicate_delivery', subject: 'agent_thinking', eventTimeMs: 2 }) });
    });
  });

  it('measures gaps per run, not between interleaved runs of different users', () => {
    const alice = [at('agent_started', 0, 'run_alice', 'user_alice'), at('agent_thinking', 2, 'run_alice', 'user_alice'), at('tool_executing', 4, 'run_alice', 'user_alice'), at('agent_completed', 5, 'run_alice', 'user_alice')];
    const bob = [at('agent_started', 1, 'run_bob', 'user_bob'), at('agent_thinking', 3, 'run_bob', 'user_bob'), at('tool_executing', 7, 'run_bob', 'user_bob'), at('agent_completed', 8, 'run_bob', 'user_bob')];
    scheduler().run(({ hot, expectObservable }) => {
      const values = { a: ev(alice[0]!), b: ev(bob[0]!), c: ev(alice[1]!), d: ev(bob[1]!), e: ev(alice[2]!), f: ev(bob[2]!), g: ev(alice[3]!), h: ev(bob[3]!), w: wm(9) };
      const source = hot('-(abcdefgh)-w-|', values);
      expectObservable(source.pipe(detect())).toBe('------------g-|', {
        g: violation({ rule: 'event_gap', severity: 'WARNING', subject: 'tool_executing', runId: 'run_bob', userId: 'user_bob', eventTimeMs: 7 }),
      });
    });
  });

  it('counts an event that arrives behind the watermark but before its run is final like any other', () => {
    const [s, f] = [at('agent_started', 0), at('agent_completed', 4)];
    const lateThought = at('agent_thinking', 2);
    scheduler().run(({ hot, expectObservable }) => {
      // The thinking event at 2 arrives after watermark 3: the run (final after 4) still takes it,
      // so there is no gap of 4 between 0 and 4, and no late_event row.
      const source = hot('-a-w-b-c-x-|', { a: ev(s), w: wm(3), b: ev(lateThought), c: ev(f), x: wm(5) });
      expectObservable(source.pipe(detect())).toBe('-----------|');
    });
  });

  it('judges without an event that comes after the run is final: the gap stands and the event is a late_event row', () => {
    const [s, f] = [at('agent_started', 0), at('agent_completed', 4)];
    const lateThought = at('agent_thinking', 2);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-c-|', { a: ev(s), b: ev(f), w: wm(5), c: ev(lateThought) });
      expectObservable(source.pipe(detect())).toBe('-----g-l-|', {
        g: violation({ rule: 'event_gap', severity: 'WARNING', subject: 'agent_completed', eventTimeMs: 4, decidedAtWatermarkMs: 4 }),
        l: lateEvent(lateThought, 5, 'closed'),
      });
    });
    // With an allowed lateness of 3 the same input is judged with the event: no gap.
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-c-x-|', { a: ev(s), b: ev(f), w: wm(5), c: ev(lateThought), x: wm(8) });
      expectObservable(source.pipe(detect(3))).toBe('-----------|');
    });
  });

  it('judges every run still open at end of input (replay), up to where event time stood', () => {
    const [s, other] = [at('agent_started', 0), at('agent_started', 9, 'r2')];
    scheduler().run(({ hot, expectObservable }) => {
      // r1 is silent from 0 to 9 (the last event time); r2 from 9 to 9 is not
      const source = hot('-a-b-|', { a: ev(s), b: ev(other) });
      expectObservable(source.pipe(detect())).toBe('-----(s|)', { s: violation({ rule: 'event_gap', subject: 'silence', runId: 'r1', eventTimeMs: 5, decidedAtWatermarkMs: 9 }) });
    });
  });

  it('propagates errors and releases the source', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-w-#', { a: ev(at('agent_started', 0)), w: wm(31) });
      expectObservable(source.pipe(detect())).toBe('---s-#', { s: violation({ rule: 'event_gap', subject: 'silence' }) });
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

/** The gap verdicts of a replay as "run severity subject eventTime id", sorted. */
const gapKeys = (verdicts: ReturnType<typeof violationsOf>): string[] =>
  verdicts.filter((v) => v.rule === 'event_gap').map((v) => `${v.runId} ${v.severity} ${v.subject} ${v.eventTimeMs} ${v.violationId}`).sort();

/**
 * A reference for the rule, computed from the whole input: per run, the gaps between consecutive
 * events in event-time order up to its first completion; a run never completed is also silent
 * from its last event to its end (its deadline, or the last event time of the input when that
 * comes first).
 */
function referenceGaps(events: readonly AgentEvent[]): string[] {
  const { warning, critical } = SMALL_CONTRACT.thresholds.gapMs;
  const lastTime = Math.max(...events.map((e) => e.emittedAtMs));
  const byRun = new Map<string, AgentEvent[]>();
  for (const e of inEventTimeOrder(events)) byRun.set(e.runId, [...(byRun.get(e.runId) ?? []), e]);
  const out: string[] = [];
  for (const [runId, run] of byRun) {
    const silence = (from: AgentEvent) => out.push(`${runId} CRITICAL silence ${from.emittedAtMs + critical} ${verdictId('event_gap', runId, `silence:${from.emittedAtMs}`)}`);
    let previous: AgentEvent | undefined;
    let completed = false;
    for (const e of run) {
      if (previous !== undefined) {
        const gap = e.emittedAtMs - previous.emittedAtMs;
        if (gap > critical) silence(previous);
        else if (gap > warning) out.push(`${runId} WARNING ${e.type} ${e.emittedAtMs} ${verdictId('event_gap', runId, `${e.source.partition}:${e.source.offset}`)}`);
      }
      previous = e;
      if (e.type === 'agent_completed') {
        completed = true;
        break;
      }
    }
    const end = Math.min((run[0] as AgentEvent).emittedAtMs + SMALL_CONTRACT.runDeadlineMs, lastTime);
    if (!completed && previous !== undefined && end - previous.emittedAtMs > critical) silence(previous);
  }
  return out.sort();
}

describe('rule event_gap (properties)', () => {
  const bound = 6;
  // Every event lies within its run's deadline (30), so it belongs to its run however it arrives.
  const runs = generatedRuns({ maxSpanMs: 29, partitions: 2 });
  const chain = (allowedLatenessMs: number) => runEngine(SMALL_CONTRACT, () => [gapRule(SMALL_CONTRACT)], { allowedLatenessMs });

  it('equals the reference, and is the same verdict for verdict under any arrival order within the out-of-orderness bound', async () => {
    await fc.assert(
      fc.asyncProperty(runs, fc.array(fc.nat({ max: bound - 1 }), { minLength: 1, maxLength: 40 }), fc.nat({ max: 40 }), async (events, delays, lateness) => {
        const inOrder = await replayEvents(events, chain(lateness), { maxOutOfOrdernessMs: bound });
        expect(gapKeys(violationsOf(inOrder))).toEqual(referenceGaps(events));
        expect(await replayEvents(arrivalOrder(events, delays), chain(lateness), { maxOutOfOrdernessMs: bound })).toEqual(inOrder);
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same verdicts when events arrive behind the watermark by up to the allowed lateness (no late events)', async () => {
    const lateness = 10;
    // Nothing after a completion: such an event may be past the run's end + lateness, and then is late by definition.
    const untilCompletion = generatedRuns({ maxSpanMs: 29, partitions: 2, endAtCompletion: true });
    await fc.assert(
      fc.asyncProperty(untilCompletion, fc.array(fc.nat({ max: bound + lateness }), { minLength: 1, maxLength: 40 }), async (events, delays) => {
        const inOrder = await replayEvents(events, chain(lateness), { maxOutOfOrdernessMs: bound });
        const delayed = await replayEvents(arrivalOrder(events, delays), chain(lateness), { maxOutOfOrdernessMs: bound });
        expect(delayed.filter((v) => v.kind === 'late_event')).toEqual([]);
        expect(placeFree(delayed)).toEqual(placeFree(inOrder));
        // The judged verdicts are decided when the run is final, whatever the arrival.
        expect(delayed).toEqual(expect.arrayContaining(inOrder));
      }),
      { numRuns: 300 },
    );
  });
});
