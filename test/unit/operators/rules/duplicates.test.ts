/**
 * The engine's duplicate-delivery filter (src/operators/engine/duplicate-filter.ts), which runs
 * before every rule: a copy of an event its open run already holds is reported once as
 * `duplicate_delivery` and hidden from the rules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../../../src/contract/event.js';
import { runEngine } from '../../../../src/operators/engine/run-engine.js';
import { verdictId } from '../../../../src/operators/engine/verdict-id.js';
import { contentRule } from '../../../../src/operators/rules/content.js';
import { deliveryLatencyRule } from '../../../../src/operators/rules/delivery-latency.js';
import { gapRule } from '../../../../src/operators/rules/event-gaps.js';
import { missingEventsRule } from '../../../../src/operators/rules/missing-events.js';
import { runDurationRule } from '../../../../src/operators/rules/run-duration.js';
import { sequenceRule } from '../../../../src/operators/rules/sequence.js';
import { arrivalOrder, generatedRuns, lateEvent, redelivered, replayEvents, revision, ruleEngine, scheduler, SMALL_CONTRACT, violation } from '../../../support/detectors.js';
import { agentEvent, completeRun, ev, wm } from '../../../support/events.js';

/** The engine with no rule: only its duplicate filter (and late events) speak. */
const detect = (allowedLatenessMs = 0) => ruleEngine([], { allowedLatenessMs });

describe('duplicate filter (duplicate_delivery)', () => {
  it('reports the second delivery of an event as duplicate_delivery, pointing at the copy', () => {
    const [s, t, x] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1), agentEvent('tool_executing', 'r1', 2)];
    const copy = redelivered(t, 100_900);
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-d-w-|', { a: ev(s), b: ev(t), c: ev(copy), d: ev(x), w: wm(2) });
      const expected = '  ---------D-|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        D: violation({
          violationId: verdictId('duplicate_delivery', 'r1', '0:100900'),
          rule: 'duplicate_delivery',
          severity: 'WARNING',
          subject: 'agent_thinking',
          runId: 'r1',
          eventTimeMs: 1,
          decidedAtWatermarkMs: 1,
          detail: 'agent_thinking delivered again; counted once',
          source: { topic: 'agent-events', partitions: [0], offsets: [100_900] },
        }),
      });
      expectSubscriptions(source.subscriptions).toBe('^----------!');
    });
  });

  it('reports every further copy, and says so when the copy is a recovery replay', () => {
    const x = agentEvent('tool_executing', 'r1', 4, { toolName: 'search', executionId: 'exec_1' });
    const [retry, replayed] = [redelivered(x, 100_501), redelivered(x, 100_502, { recovered: true })];
    scheduler().run(({ hot, expectObservable }) => {
      // Arrival order does not matter: all delivered at once, the record with the lowest offset is the original.
      const source = hot('-a-b-c-w-------|', { a: ev(replayed), b: ev(x), c: ev(retry), w: wm(5) });
      const expected = '  -------(12)----|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        1: violation({ rule: 'duplicate_delivery', severity: 'WARNING', subject: 'tool_executing', runId: 'r1', eventTimeMs: 4, detail: 'tool_executing delivered again; counted once' }),
        2: violation({ rule: 'duplicate_delivery', severity: 'WARNING', subject: 'tool_executing', runId: 'r1', eventTimeMs: 4, detail: 'tool_executing delivered again (recovery replay); counted once' }),
      });
    });
  });

  it('is silent for a clean run, for parallel tool calls at the same instant, and for the same type at another time', () => {
    const run = completeRun('r1', 0);
    const parallel = [agentEvent('tool_executing', 'r2', 3, { toolName: 'search', executionId: 'e1' }), agentEvent('tool_executing', 'r2', 3, { toolName: 'search', executionId: 'e2' })];
    const thoughts = [agentEvent('agent_thinking', 'r3', 1), agentEvent('agent_thinking', 'r3', 2)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-(fg)-(hi)-w-|', { a: ev(run[0]!), b: ev(run[1]!), c: ev(run[2]!), d: ev(run[3]!), e: ev(run[4]!), f: ev(parallel[0]!), g: ev(parallel[1]!), h: ev(thoughts[0]!), i: ev(thoughts[1]!), w: wm(10) });
      expectObservable(source.pipe(detect())).toBe('---------------------|');
    });
  });

  it('keeps runs apart: the same event of two users’ interleaved runs is not a duplicate', () => {
    const alice = agentEvent('agent_thinking', 'run_alice', 5, { userId: 'user_alice', threadId: 'thread_alice' });
    const bob = agentEvent('agent_thinking', 'run_bob', 5, { userId: 'user_bob', threadId: 'thread_bob' });
    const aliceCopy = redelivered(alice, 100_700);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-|', { a: ev(alice), b: ev(bob), c: ev(aliceCopy), w: wm(6) });
      expectObservable(source.pipe(detect())).toBe('-------D-|', { D: violation({ rule: 'duplicate_delivery', runId: 'run_alice', userId: 'user_alice', threadId: 'thread_alice', eventTimeMs: 5 }) });
    });
  });

  it('filters a copy that arrives behind the watermark while its run is open; once the run is final a copy is a late event, and a further copy of it a duplicate', () => {
    const [s, t, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1), agentEvent('agent_completed', 'r1', 3)];
    const [copy1, copy2, copy3] = [redelivered(t, 100_801), redelivered(t, 100_802), redelivered(t, 100_803, { recovered: true })];
    scheduler().run(({ hot, expectObservable }) => {
      // copy1 arrives behind watermark 2 (1 < 2), placed at 2: decided there.
      const source = hot('-a-b-w-c-d-x-e-g-|', { a: ev(s), b: ev(t), w: wm(2), c: ev(copy1), d: ev(f), x: wm(4), e: ev(copy2), g: ev(copy3) });
      const expected = '  -------D-----l-E-|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        D: violation({ rule: 'duplicate_delivery', subject: 'agent_thinking', eventTimeMs: 1, decidedAtWatermarkMs: 2, source: { topic: 'agent-events', partitions: [0], offsets: [100_801] } }),
        l: lateEvent(copy2, 4, 'closed'),
        E: violation({
          rule: 'duplicate_delivery',
          subject: 'agent_thinking',
          detail: 'agent_thinking delivered again (recovery replay); counted once',
          eventTimeMs: 1,
          decidedAtWatermarkMs: 4,
          source: { topic: 'agent-events', partitions: [0], offsets: [100_803] },
        }),
      });
    });
  });

  it('counts the copy delivered first as the event, wherever it sits (ties: partition, then offset)', () => {
    const original = agentEvent('agent_thinking', 'r1', 1, { deliveredAtMs: 9, source: { topic: 'agent-events', partition: 0, offset: 7 } });
    const earlierOnOtherPartition = redelivered(original, 3, { deliveredAtMs: 2, source: { topic: 'agent-events', partition: 1, offset: 3 } });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-|', { a: ev(original), b: ev(earlierOnOtherPartition), w: wm(2) });
      expectObservable(source.pipe(detect())).toBe('-----D-|', {
        D: violation({ rule: 'duplicate_delivery', subject: 'agent_thinking', source: { topic: 'agent-events', partitions: [0], offsets: [7] } }),
      });
    });
  });

  it('propagates errors and releases the source', () => {
    const t = agentEvent('agent_thinking', 'r1', 1);
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-w-#', { a: ev(t), b: ev(redelivered(t, 100_990)), w: wm(2) });
      expectObservable(source.pipe(detect())).toBe('-----D-#', { D: violation({ rule: 'duplicate_delivery', runId: 'r1' }) });
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
  });

  it('releases the source on unsubscribe', () => {
    const t = agentEvent('agent_thinking', 'r1', 1);
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b---w-|', { a: ev(t), b: ev(redelivered(t, 100_991)), w: wm(1) });
      expectObservable(source.pipe(detect()), '^----!').toBe('------');
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });
});

describe('duplicate filter in front of the rules (production order)', () => {
  it('the sequence rule never sees a copy: a repeated agent_started or tool_executing is a duplicate, not out of order or unpaired', () => {
    const [s, x, c, f] = [
      agentEvent('agent_started', 'r1', 0),
      agentEvent('tool_executing', 'r1', 1, { toolName: 'search' }),
      agentEvent('tool_completed', 'r1', 2, { toolName: 'search' }),
      agentEvent('agent_completed', 'r1', 3),
    ];
    const [sCopy, xCopy] = [redelivered(s, 100_600, { recovered: true }), redelivered(x, 100_601)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcdef)-w-x-----|', { a: ev(s), b: ev(sCopy), c: ev(x), d: ev(xCopy), e: ev(c), f: ev(f), w: wm(3), x: wm(4) });
      const expected = '  ----------(12)----|';
      expectObservable(source.pipe(ruleEngine(sequenceRule(SMALL_CONTRACT)))).toBe(expected, {
        1: violation({ rule: 'duplicate_delivery', subject: 'agent_started', runId: 'r1', eventTimeMs: 0, detail: 'agent_started delivered again (recovery replay); counted once' }),
        2: violation({ rule: 'duplicate_delivery', subject: 'tool_executing', runId: 'r1', eventTimeMs: 1 }),
      });
    });
  });

  it('per-event rules never see a copy either: its content and its delivery latency are not judged again', () => {
    const blank = agentEvent('agent_thinking', 'r1', 1, { body: { reasoning: '' }, deliveredAtMs: 1 });
    const slowCopy = redelivered(blank, 100_777, { deliveredAtMs: 1 + 30 });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-----|', { a: ev(blank), b: ev(slowCopy), w: wm(2) });
      expectObservable(source.pipe(ruleEngine([contentRule(), deliveryLatencyRule(SMALL_CONTRACT)]))).toBe('-----(cD)--|', {
        c: violation({ rule: 'content_invalid', subject: 'reasoning', source: { topic: 'agent-events', partitions: [0], offsets: [blank.source.offset] } }),
        D: violation({ rule: 'duplicate_delivery', subject: 'agent_thinking', source: { topic: 'agent-events', partitions: [0], offsets: [100_777] } }),
      });
    });
  });

  describe('with missing_events in the same engine', () => {
    const detectBoth = () => ruleEngine(missingEventsRule(SMALL_CONTRACT));

    it('a late copy of a judged run confirms its missing_events verdict; the late missing type retracts it', () => {
      const [s, t, x, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1), agentEvent('tool_executing', 'r1', 2), agentEvent('agent_completed', 'r1', 3)];
      const lateCopy = redelivered(t, 100_880);
      const lateCompletion = agentEvent('tool_completed', 'r1', 2);
      const missingId = verdictId('missing_events', 'r1');
      scheduler().run(({ hot, expectObservable }) => {
        const source = hot('-a-b-c-d-w-e----f----|', { a: ev(s), b: ev(t), c: ev(x), d: ev(f), w: wm(4), e: ev(lateCopy), f: ev(lateCompletion) });
        const expected = '  ---------V-(lr)-(ms)-|';
        expectObservable(source.pipe(detectBoth())).toBe(expected, {
          V: violation({ violationId: missingId, rule: 'missing_events', severity: 'CRITICAL', runId: 'r1', missing: ['tool_completed'], eventTimeMs: 0, decidedAtWatermarkMs: 3 }),
          l: lateEvent(lateCopy, 4, 'closed'),
          r: revision(lateCopy, missingId, 'confirmed'),
          m: lateEvent(lateCompletion, 4, 'closed'),
          s: revision(lateCompletion, missingId, 'retracted'),
        });
      });
    });

    it('a late event that brings one of several missing types confirms the verdict; it is retracted once every missing type came', () => {
      const [s, t, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1), agentEvent('agent_completed', 'r1', 3)];
      const [lateCall, lateCompletion] = [agentEvent('tool_executing', 'r1', 2), agentEvent('tool_completed', 'r1', 2)];
      const missingId = verdictId('missing_events', 'r1');
      scheduler().run(({ hot, expectObservable }) => {
        const source = hot('-a-b-c-w-e----f----|', { a: ev(s), b: ev(t), c: ev(f), w: wm(4), e: ev(lateCall), f: ev(lateCompletion) });
        const expected = '  -------V-(lr)-(ms)-|';
        expectObservable(source.pipe(detectBoth())).toBe(expected, {
          V: violation({ violationId: missingId, rule: 'missing_events', runId: 'r1', missing: ['tool_executing', 'tool_completed'] }),
          l: lateEvent(lateCall, 4, 'closed'),
          r: revision(lateCall, missingId, 'confirmed'),
          m: lateEvent(lateCompletion, 4, 'closed'),
          s: revision(lateCompletion, missingId, 'retracted'),
        });
      });
    });
  });
});

describe('duplicate filter (properties)', () => {
  const bound = 6;
  const rules = () => [sequenceRule(SMALL_CONTRACT), missingEventsRule(SMALL_CONTRACT), gapRule(SMALL_CONTRACT), runDurationRule(SMALL_CONTRACT), contentRule(), deliveryLatencyRule(SMALL_CONTRACT)];
  // Allowed lateness 30: every event of a run (all within 29 of its first) joins it, wherever it arrives within the bound.
  const chain = () => runEngine(SMALL_CONTRACT, rules, { allowedLatenessMs: 30 });

  it('copies change nothing but add one duplicate_delivery each, pointing at the copy, whatever the arrival order within the bound', async () => {
    await fc.assert(
      fc.asyncProperty(
        generatedRuns({ maxSpanMs: 29, partitions: 2 }),
        fc.array(fc.record({ of: fc.nat(), recovered: fc.boolean() }), { maxLength: 8 }),
        fc.array(fc.nat({ max: bound - 1 }), { minLength: 1, maxLength: 40 }),
        async (events, copies, delays) => {
          const copied: AgentEvent[] = copies.map(({ of, recovered }, i) => {
            const original = events[of % events.length] as AgentEvent;
            return redelivered(original, 1_000_000 + i, { recovered });
          });
          const without = await replayEvents(events, chain(), { maxOutOfOrdernessMs: bound });
          const withCopies = await replayEvents(arrivalOrder([...events, ...copied], delays), chain(), { maxOutOfOrdernessMs: bound });
          const duplicates = withCopies.filter((v) => v.kind === 'violation' && v.violation.rule === 'duplicate_delivery');
          expect(withCopies.filter((v) => !duplicates.includes(v))).toEqual(without);
          const reported = duplicates.map((v) => (v.kind === 'violation' ? `${v.violation.runId} ${v.violation.subject} ${v.violation.eventTimeMs} ${v.violation.source.offsets.join()}` : '')).sort();
          expect(reported).toEqual(copied.map((c) => `${c.runId} ${c.type} ${c.emittedAtMs} ${c.source.offset}`).sort());
        },
      ),
      { numRuns: 300 },
    );
  });
});
