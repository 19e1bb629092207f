import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LifecycleType } from '../../../../src/contract/event.js';
import { compileRunContract } from '../../../../src/contract/run-contract.js';
import type { StreamItem } from '../../../../src/operators/stream-item.js';
import { runEngine } from '../../../../src/operators/engine/run-engine.js';
import { verdictId } from '../../../../src/operators/engine/verdict-id.js';
import { missingEventsRule } from '../../../../src/operators/rules/missing-events.js';
import { sequenceRule } from '../../../../src/operators/rules/sequence.js';
import { arrivalOrder, generatedRuns, lateEvent, placeFree, replayEvents, ruleEngine, scheduler, SMALL_CONTRACT, violation } from '../../../support/detectors.js';
import { agentEvent, completeRun, ev, wm } from '../../../support/events.js';

/** SMALL_CONTRACT: a run ends at its completion or 30 after its first event, and is judged once event time passes that end + allowed lateness. */
const detect = (allowedLatenessMs = 0) => ruleEngine(sequenceRule(SMALL_CONTRACT), { allowedLatenessMs });

describe('rule sequence (out_of_order, event_after_completion, unpaired_tool, run_never_started)', () => {
  it('is silent for a run in contract order, with thinking and tool pairs repeated, whatever the arrival order', () => {
    const types = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const;
    const run = types.map((type, i) => agentEvent(type, 'r1', i, { toolName: type.startsWith('tool') ? `tool_${i < 4 ? 1 : 2}` : undefined }));
    scheduler().run(({ hot, expectObservable }) => {
      const values: Record<string, StreamItem> = { w: wm(7), x: wm(8) };
      run.forEach((e, i) => (values['abcdefgh'.charAt(i)] = ev(e)));
      const source = hot('-(hgfedcba)-w-x-|', values);
      expectObservable(source.pipe(detect())).toBe('----------------|');
    });
  });

  it('reports a tool_completed before its tool_executing once, as out_of_order, when the run is final, and leaves no unpaired tool', () => {
    const [s, c, x, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('tool_completed', 'r1', 1), agentEvent('tool_executing', 'r1', 2), agentEvent('agent_completed', 'r1', 4)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-x-d-y-z-|', { a: ev(s), b: ev(c), c: ev(x), x: wm(3), d: ev(f), y: wm(4), z: wm(5) });
      expectObservable(source.pipe(detect())).toBe('-------------o-|', {
        o: violation({
          violationId: verdictId('out_of_order', 'r1', `0:${c.source.offset}`),
          rule: 'out_of_order',
          severity: 'CRITICAL',
          subject: 'tool_completed',
          detail: 'tool_completed of a tool before its tool_executing',
          runId: 'r1',
          eventTimeMs: 1,
          decidedAtWatermarkMs: 4,
          source: { topic: 'agent-events', partitions: [0], offsets: [c.source.offset] },
        }),
      });
    });
  });

  it('reports an event before agent_started as out_of_order, naming that event', () => {
    const [t, s, f] = [agentEvent('agent_thinking', 'r1', 0), agentEvent('agent_started', 'r1', 1), agentEvent('agent_completed', 'r1', 2)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-x-|', { a: ev(s), b: ev(f), c: ev(t), w: wm(2), x: wm(3) });
      expectObservable(source.pipe(detect())).toBe('---------o-|', {
        o: violation({ rule: 'out_of_order', severity: 'CRITICAL', subject: 'agent_thinking', detail: 'agent_thinking before agent_started', runId: 'r1', eventTimeMs: 0 }),
      });
    });
  });

  it('reports a second agent_started as out_of_order, at the deadline of a run never completed', () => {
    const [s, t, again] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1), agentEvent('agent_started', 'r1', 2)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-x-|', { a: ev(s), b: ev(t), c: ev(again), w: wm(30), x: wm(31) });
      expectObservable(source.pipe(detect())).toBe('---------o-|', {
        o: violation({ rule: 'out_of_order', severity: 'CRITICAL', subject: 'agent_started', detail: 'agent_started again after the run started', runId: 'r1', eventTimeMs: 2, decidedAtWatermarkMs: 30 }),
      });
    });
  });

  it('follows the contract’s transition table', () => {
    const strict = compileRunContract({ ...SMALL_CONTRACT.source, transitions: { ...SMALL_CONTRACT.source.transitions, tool_executing: ['tool_completed'] } });
    const [s, x, t, c, f] = (['agent_started', 'tool_executing', 'agent_thinking', 'tool_completed', 'agent_completed'] as const).map((type, i) => agentEvent(type, 'r1', i));
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-e-w-|', { a: ev(s!), b: ev(x!), c: ev(t!), d: ev(c!), e: ev(f!), w: wm(5) });
      expectObservable(source.pipe(ruleEngine(sequenceRule(strict), { contract: strict }))).toBe('-----------o-|', {
        o: violation({ rule: 'out_of_order', severity: 'CRITICAL', subject: 'agent_thinking', detail: 'agent_thinking may not follow tool_executing', runId: 'r1', eventTimeMs: 2 }),
      });
    });
  });

  it('reports a tool call never completed as unpaired_tool when the run is final', () => {
    const [s, x1, x2, c2, f] = [
      agentEvent('agent_started', 'r1', 0),
      agentEvent('tool_executing', 'r1', 1, { toolName: 'search' }),
      agentEvent('tool_executing', 'r1', 2, { toolName: 'sql_query' }),
      agentEvent('tool_completed', 'r1', 3, { toolName: 'sql_query' }),
      agentEvent('agent_completed', 'r1', 4),
    ];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-e-w-x-|', { a: ev(s), b: ev(x1), c: ev(x2), d: ev(c2), e: ev(f), w: wm(4), x: wm(5) });
      expectObservable(source.pipe(detect())).toBe('-------------u-|', {
        u: violation({
          violationId: verdictId('unpaired_tool', 'r1', `0:${x1.source.offset}`),
          rule: 'unpaired_tool',
          severity: 'CRITICAL',
          subject: 'tool_executing',
          detail: 'tool_executing of search never got its tool_completed',
          runId: 'r1',
          eventTimeMs: 1,
          decidedAtWatermarkMs: 4,
        }),
      });
    });
  });

  it('does not report unpaired_tool when a whole tool type is absent (missing_events names it)', () => {
    const calls = [agentEvent('agent_started', 'r1', 0), agentEvent('tool_executing', 'r1', 1, { toolName: 'search' }), agentEvent('tool_executing', 'r1', 2, { toolName: 'fetch' }), agentEvent('agent_completed', 'r1', 3)];
    const completions = [agentEvent('agent_started', 'r2', 0), agentEvent('tool_completed', 'r2', 1, { toolName: 'search' }), agentEvent('agent_completed', 'r2', 2)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcd)-(efg)-w-|', { a: ev(calls[0]!), b: ev(calls[1]!), c: ev(calls[2]!), d: ev(calls[3]!), e: ev(completions[0]!), f: ev(completions[1]!), g: ev(completions[2]!), w: wm(10) });
      expectObservable(source.pipe(detect())).toBe('----------------|');
    });
  });

  it('pairs tool calls by execution id before order', () => {
    const [s, x1, x2, c2, f] = [
      agentEvent('agent_started', 'r1', 0),
      agentEvent('tool_executing', 'r1', 1, { toolName: 'search', executionId: 'e1' }),
      agentEvent('tool_executing', 'r1', 2, { toolName: 'search', executionId: 'e2' }),
      agentEvent('tool_completed', 'r1', 3, { toolName: 'search', executionId: 'e2' }),
      agentEvent('agent_completed', 'r1', 4),
    ];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-w-|', { a: ev(s), b: ev(x1), c: ev(x2), d: ev(c2), e: ev(f), w: wm(5) });
      expectObservable(source.pipe(detect())).toBe('---------u-|', { u: violation({ rule: 'unpaired_tool', subject: 'tool_executing', runId: 'r1', eventTimeMs: 1 }) });
    });
  });

  it('judges a run that never completes once event time passes its deadline, from watermarks alone: never started, unpaired tool', () => {
    const [t, x1, x2, c2] = [
      agentEvent('agent_thinking', 'r1', 0),
      agentEvent('tool_executing', 'r1', 1, { toolName: 'search' }),
      agentEvent('tool_executing', 'r1', 2, { toolName: 'sql_query' }),
      agentEvent('tool_completed', 'r1', 3, { toolName: 'sql_query' }),
    ];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcd)-w-x-y------|', { a: ev(t), b: ev(x1), c: ev(x2), d: ev(c2), w: wm(3), x: wm(30), y: wm(31) });
      const expected = '  ------------(nu)---|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        n: violation({
          violationId: verdictId('run_never_started', 'r1'),
          rule: 'run_never_started',
          severity: 'CRITICAL',
          subject: 'agent_started',
          detail: 'no agent_started; first event was agent_thinking',
          runId: 'r1',
          eventTimeMs: 0,
          decidedAtWatermarkMs: 30,
          source: { topic: 'agent-events', partitions: [0, 0, 0, 0], offsets: [t.source.offset, x1.source.offset, x2.source.offset, c2.source.offset] },
        }),
        u: violation({ rule: 'unpaired_tool', severity: 'CRITICAL', subject: 'tool_executing', runId: 'r1', eventTimeMs: 1, decidedAtWatermarkMs: 30 }),
      });
    });
  });

  it('reports an event after agent_completed as event_after_completion: in the run while it is open, from the engine once it is final', () => {
    const [s, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_completed', 'r1', 1)];
    const [sameInstant, later] = [agentEvent('agent_thinking', 'r1', 1), agentEvent('tool_executing', 'r1', 2)];
    const values = { a: ev(s), b: ev(f), c: ev(sameInstant), w: wm(2), d: ev(later), x: wm(3), y: wm(5) };
    // Without lateness the run is final at event time 1: wm(2) places the events at 1 and judges the
    // run; the event at 2, placed with wm(3), comes after it and is judged by the engine.
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-d-x-y------|', values);
      expectObservable(source.pipe(detect())).toBe('-------e---f--------|', {
        e: violation({ rule: 'event_after_completion', severity: 'CRITICAL', subject: 'agent_thinking', detail: 'agent_thinking after agent_completed', runId: 'r1', eventTimeMs: 1, decidedAtWatermarkMs: 1 }),
        f: violation({
          violationId: verdictId('event_after_completion', 'r1', `0:${later.source.offset}`),
          rule: 'event_after_completion',
          severity: 'CRITICAL',
          subject: 'tool_executing',
          detail: 'tool_executing 1 ms after agent_completed',
          runId: 'r1',
          eventTimeMs: 2,
          decidedAtWatermarkMs: 2,
        }),
      });
    });
    // With lateness 3 both join the run (final after 4) and the rule reports both, under the same ids.
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-d-x-y------|', values);
      expectObservable(source.pipe(detect(3))).toBe('-------------(ef)---|', {
        e: violation({ rule: 'event_after_completion', subject: 'agent_thinking', eventTimeMs: 1, decidedAtWatermarkMs: 4 }),
        f: violation({ violationId: verdictId('event_after_completion', 'r1', `0:${later.source.offset}`), rule: 'event_after_completion', subject: 'tool_executing', detail: 'tool_executing after agent_completed', eventTimeMs: 2, decidedAtWatermarkMs: 4 }),
      });
    });
  });

  it('a tool_completed stamped after agent_completed, within the run, is event_after_completion only: it still pairs, nothing is missing', () => {
    const [s, t, x, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1), agentEvent('tool_executing', 'r1', 2, { toolName: 'search' }), agentEvent('agent_completed', 'r1', 3)];
    const c = agentEvent('tool_completed', 'r1', 4, { toolName: 'search' });
    const both = ruleEngine([sequenceRule(SMALL_CONTRACT), missingEventsRule(SMALL_CONTRACT)], { allowedLatenessMs: 2 });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-w-x-|', { a: ev(s), b: ev(t), c: ev(x), d: ev(f), e: ev(c), w: wm(5), x: wm(6) });
      expectObservable(source.pipe(both)).toBe('-----------e-|', {
        e: violation({ rule: 'event_after_completion', severity: 'CRITICAL', subject: 'tool_completed', eventTimeMs: 4, decidedAtWatermarkMs: 5 }),
      });
    });
  });

  it('keeps interleaved runs of different users apart', () => {
    const alice = completeRun('run_alice', 0, 2);
    const bob = [
      agentEvent('agent_started', 'run_bob', 1, { userId: 'user_bob' }),
      agentEvent('tool_executing', 'run_bob', 2, { userId: 'user_bob', toolName: 'search' }),
      agentEvent('tool_executing', 'run_bob', 3, { userId: 'user_bob', toolName: 'sql_query' }),
      agentEvent('tool_completed', 'run_bob', 4, { userId: 'user_bob', toolName: 'search' }),
      agentEvent('agent_completed', 'run_bob', 5, { userId: 'user_bob' }),
    ];
    const items = { a: ev(alice[0]!), b: ev(bob[0]!), c: ev(alice[1]!), d: ev(bob[1]!), e: ev(bob[2]!), f: ev(alice[2]!), g: ev(bob[3]!), h: ev(bob[4]!), i: ev(alice[3]!), j: ev(alice[4]!), w: wm(9) };
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcdefghij)-w------|', items);
      const expected = '  --------------u------|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        u: violation({ rule: 'unpaired_tool', subject: 'tool_executing', runId: 'run_bob', userId: 'user_bob', eventTimeMs: 3, detail: 'tool_executing of sql_query never got its tool_completed' }),
      });
    });
  });

  it('counts events that arrive behind the watermark before the run is final for pairing and order, like any other', () => {
    const [s, x1, x2, c2, f] = [
      agentEvent('agent_started', 'r1', 0),
      agentEvent('tool_executing', 'r1', 1, { toolName: 'search' }),
      agentEvent('tool_executing', 'r1', 2, { toolName: 'sql_query' }),
      agentEvent('tool_completed', 'r1', 5, { toolName: 'sql_query' }),
      agentEvent('agent_completed', 'r1', 6),
    ];
    const lateCompletion = agentEvent('tool_completed', 'r1', 3, { toolName: 'search' });
    const values = { a: ev(s), b: ev(x1), c: ev(x2), d: ev(c2), w: wm(4), e: ev(lateCompletion), f: ev(f), x: wm(7) };
    // The completion of search at 3 comes after watermark 4, while the run (final after 6) is open: it pairs.
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-w-e-f-x-|', values);
      expectObservable(source.pipe(detect())).toBe('-----------------|');
    });
    // A second agent_started behind the watermark is out of order in the run it joins.
    const [t, again] = [agentEvent('agent_thinking', 'r2', 1), agentEvent('agent_started', 'r2', 3)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-d-x-|', { a: ev(agentEvent('agent_started', 'r2', 0)), b: ev(t), c: ev(agentEvent('agent_completed', 'r2', 5)), w: wm(4), d: ev(again), x: wm(6) });
      expectObservable(source.pipe(detect())).toBe('-----------o-|', { o: violation({ rule: 'out_of_order', subject: 'agent_started', detail: 'agent_started again after the run started', eventTimeMs: 3, decidedAtWatermarkMs: 5 }) });
    });
  });

  it('judges without an event that comes after the run is final: a late_event row, no second judgement', () => {
    const [s, x1, x2, c2, f] = [
      agentEvent('agent_started', 'r1', 0),
      agentEvent('tool_executing', 'r1', 1, { toolName: 'search' }),
      agentEvent('tool_executing', 'r1', 2, { toolName: 'sql_query' }),
      agentEvent('tool_completed', 'r1', 5, { toolName: 'sql_query' }),
      agentEvent('agent_completed', 'r1', 6),
    ];
    const lateCompletion = agentEvent('tool_completed', 'r1', 3, { toolName: 'search' });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-e-w-f-|', { a: ev(s), b: ev(x1), c: ev(x2), d: ev(c2), e: ev(f), w: wm(7), f: ev(lateCompletion) });
      expectObservable(source.pipe(detect())).toBe('-----------u-l-|', {
        u: violation({ rule: 'unpaired_tool', subject: 'tool_executing', eventTimeMs: 1, decidedAtWatermarkMs: 6 }),
        l: lateEvent(lateCompletion, 7, 'closed'),
      });
    });
  });

  it('propagates errors and releases the source', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-w-#', { a: ev(agentEvent('agent_started', 'r1', 0)), b: ev(agentEvent('agent_started', 'r1', 1)), c: ev(agentEvent('agent_completed', 'r1', 2)), w: wm(3) });
      expectObservable(source.pipe(detect())).toBe('-------o-#', { o: violation({ rule: 'out_of_order', subject: 'agent_started', eventTimeMs: 1 }) });
      expectSubscriptions(source.subscriptions).toBe('^--------!');
    });
  });

  it('releases the source on unsubscribe', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a---w-|', { a: ev(agentEvent('agent_thinking', 'r1', 0)), w: wm(40) });
      expectObservable(source.pipe(detect()), '^---!').toBe('----');
      expectSubscriptions(source.subscriptions).toBe('^---!');
    });
  });
});

describe('rule sequence (properties)', () => {
  const bound = 6;
  const chain = (allowedLatenessMs: number) => runEngine(SMALL_CONTRACT, () => [sequenceRule(SMALL_CONTRACT)], { allowedLatenessMs });

  it('is the same verdict for verdict under any arrival order within the out-of-orderness bound', async () => {
    const runs = generatedRuns({ maxSpanMs: 45, partitions: 2 });
    await fc.assert(
      fc.asyncProperty(runs, fc.array(fc.nat({ max: bound - 1 }), { minLength: 1, maxLength: 40 }), fc.nat({ max: 40 }), async (events, delays, lateness) => {
        const inOrder = await replayEvents(events, chain(lateness), { maxOutOfOrdernessMs: bound });
        expect(await replayEvents(arrivalOrder(events, delays), chain(lateness), { maxOutOfOrdernessMs: bound, emitEveryMs: delays[0] ?? 0 })).toEqual(inOrder);
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same verdicts when events arrive behind the watermark by up to the allowed lateness', async () => {
    const lateness = 10;
    const runs = generatedRuns({ maxSpanMs: 29, partitions: 2, endAtCompletion: true });
    await fc.assert(
      fc.asyncProperty(runs, fc.array(fc.nat({ max: bound + lateness }), { minLength: 1, maxLength: 40 }), async (events, delays) => {
        const inOrder = await replayEvents(events, chain(lateness), { maxOutOfOrdernessMs: bound });
        const delayed = await replayEvents(arrivalOrder(events, delays), chain(lateness), { maxOutOfOrdernessMs: bound });
        expect(delayed.filter((v) => v.kind === 'late_event')).toEqual([]);
        expect(placeFree(delayed)).toEqual(placeFree(inOrder));
        expect(delayed).toEqual(expect.arrayContaining(inOrder));
      }),
      { numRuns: 300 },
    );
  });

  it('reports a run’s unpaired calls only when both tool types occur in it, and never a whole absent type', async () => {
    const runs = generatedRuns({ maxSpanMs: 29 });
    await fc.assert(
      fc.asyncProperty(runs, async (events) => {
        const verdicts = await replayEvents(events, chain(30), { maxOutOfOrdernessMs: bound });
        for (const v of verdicts) {
          if (v.kind !== 'violation' || v.violation.rule !== 'unpaired_tool') continue;
          const types = new Set(events.filter((e) => e.runId === v.violation.runId).map((e) => e.type));
          expect(types.has('tool_executing') && types.has('tool_completed')).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });
});
