import { describe, it } from 'vitest';
import { detectDuplicates, duplicatesRule } from '../../../src/operators/detectDuplicates.js';
import { missingEventsRule } from '../../../src/operators/detectMissingEvents.js';
import { runEngine } from '../../../src/operators/engine/run-engine.js';
import { verdictId } from '../../../src/operators/engine/verdict-id.js';
import { lateEvent, ordered, redelivered, revision, scheduler, SMALL_CONTRACT, violation } from '../../support/detectors.js';
import { agentEvent, completeRun, ev, wm } from '../../support/events.js';

const detect = () => ordered(detectDuplicates(SMALL_CONTRACT));

describe('detectDuplicates', () => {
  it('reports the second delivery of an event as duplicate_delivery, pointing at the copy', () => {
    const [s, t, x] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1), agentEvent('tool_executing', 'r1', 2)];
    const copy = redelivered(t, 900);
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-d-w-|', { a: ev(s), b: ev(t), c: ev(copy), d: ev(x), w: wm(2) });
      const expected = '  ---------D-|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        D: violation({
          violationId: verdictId('duplicate_delivery', 'r1', '0:900'),
          rule: 'duplicate_delivery',
          severity: 'WARNING',
          subject: 'agent_thinking',
          runId: 'r1',
          eventTimeMs: 1,
          detail: 'agent_thinking delivered again; counted once',
          source: { topic: 'agent-events', partitions: [0], offsets: [900] },
        }),
      });
      expectSubscriptions(source.subscriptions).toBe('^----------!');
    });
  });

  it('reports every further copy, and says so when the copy is a recovery replay', () => {
    const x = agentEvent('tool_executing', 'r1', 4, { toolName: 'search', executionId: 'exec_1' });
    const [retry, replayed] = [redelivered(x, 501), redelivered(x, 502, { recovered: true })];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-------|', { a: ev(replayed), b: ev(x), c: ev(retry), w: wm(4) });
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
    const aliceCopy = redelivered(alice, 700);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-|', { a: ev(alice), b: ev(bob), c: ev(aliceCopy), w: wm(5) });
      expectObservable(source.pipe(detect())).toBe('-------D-|', { D: violation({ rule: 'duplicate_delivery', runId: 'run_alice', userId: 'user_alice', eventTimeMs: 5 }) });
    });
  });

  it('reports a copy that arrives after the watermark as a late event (of an open run, then of a closed one)', () => {
    const [s, t, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1), agentEvent('agent_completed', 'r1', 3)];
    const [copy1, copy2] = [redelivered(t, 801), redelivered(t, 802)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-c-d-x-e-|', { a: ev(s), b: ev(t), w: wm(1), c: ev(copy1), d: ev(f), x: wm(3), e: ev(copy2) });
      const expected = '  -------l-----m-|';
      expectObservable(source.pipe(detect())).toBe(expected, { l: lateEvent(copy1, 1, 'open'), m: lateEvent(copy2, 3, 'closed') });
    });
  });

  it('propagates errors and releases the source', () => {
    const t = agentEvent('agent_thinking', 'r1', 1);
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-w-#', { a: ev(t), b: ev(redelivered(t, 990)), w: wm(1) });
      expectObservable(source.pipe(detect())).toBe('-----D-#', { D: violation({ rule: 'duplicate_delivery', runId: 'r1' }) });
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
  });

  it('releases the source on unsubscribe', () => {
    const t = agentEvent('agent_thinking', 'r1', 1);
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b---w-|', { a: ev(t), b: ev(redelivered(t, 991)), w: wm(1) });
      expectObservable(source.pipe(detect()), '^----!').toBe('------');
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });
});

describe('detectDuplicates with missing_events in the same engine (production rule order)', () => {
  const detectBoth = () => ordered(runEngine(SMALL_CONTRACT, () => [duplicatesRule(), missingEventsRule(SMALL_CONTRACT)]));

  it('a late event of a judged run confirms its missing_events verdict; the late missing type retracts it', () => {
    const [s, t, x, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1), agentEvent('tool_executing', 'r1', 2), agentEvent('agent_completed', 'r1', 3)];
    const lateCopy = redelivered(t, 880);
    const lateCompletion = agentEvent('tool_completed', 'r1', 2);
    const missingId = verdictId('missing_events', 'r1');
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-w-e----f----|', { a: ev(s), b: ev(t), c: ev(x), d: ev(f), w: wm(3), e: ev(lateCopy), f: ev(lateCompletion) });
      const expected = '  ---------V-(lr)-(ms)-|';
      expectObservable(source.pipe(detectBoth())).toBe(expected, {
        V: violation({ violationId: missingId, rule: 'missing_events', severity: 'CRITICAL', runId: 'r1', missing: ['tool_completed'], eventTimeMs: 0 }),
        l: lateEvent(lateCopy, 3, 'closed'),
        r: revision(lateCopy, missingId, 'confirmed'),
        m: lateEvent(lateCompletion, 3, 'closed'),
        s: revision(lateCompletion, missingId, 'retracted'),
      });
    });
  });

  it('a late event that brings any type the run was judged to miss retracts the verdict (docs/detection.md, even if another type is still missing)', () => {
    const [s, t, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1), agentEvent('agent_completed', 'r1', 3)];
    const lateCall = agentEvent('tool_executing', 'r1', 2);
    const missingId = verdictId('missing_events', 'r1');
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-e----|', { a: ev(s), b: ev(t), c: ev(f), w: wm(3), e: ev(lateCall) });
      const expected = '  -------V-(lr)-|';
      expectObservable(source.pipe(detectBoth())).toBe(expected, {
        V: violation({ violationId: missingId, rule: 'missing_events', runId: 'r1', missing: ['tool_executing', 'tool_completed'] }),
        l: lateEvent(lateCall, 3, 'closed'),
        r: revision(lateCall, missingId, 'retracted'),
      });
    });
  });
});
