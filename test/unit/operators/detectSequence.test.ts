import { describe, it } from 'vitest';
import type { LifecycleType } from '../../../src/contract/event.js';
import { compileRunContract, REFERENCE_RUN_CONTRACT } from '../../../src/contract/run-contract.js';
import { detectDuplicates, duplicatesRule } from '../../../src/operators/detectDuplicates.js';
import { detectSequence, sequenceRule } from '../../../src/operators/detectSequence.js';
import { runEngine } from '../../../src/operators/engine/run-engine.js';
import type { StreamItem } from '../../../src/operators/stream-item.js';
import { verdictId } from '../../../src/operators/engine/verdict-id.js';
import { lateEvent, ordered, redelivered, scheduler, SMALL_CONTRACT, violation } from '../../support/detectors.js';
import { agentEvent, completeRun, ev, wm } from '../../support/events.js';

const detect = () => ordered(detectSequence(SMALL_CONTRACT));

describe('detectSequence', () => {
  it('is silent for a run in contract order, with thinking and tool pairs repeated', () => {
    const types = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const;
    const run = types.map((type, i) => agentEvent(type, 'r1', i, { toolName: type.startsWith('tool') ? `tool_${i < 4 ? 1 : 2}` : undefined }));
    scheduler().run(({ hot, expectObservable }) => {
      const values: Record<string, StreamItem> = { w: wm(7) };
      run.forEach((e, i) => (values['abcdefgh'.charAt(i)] = ev(e)));
      const source = hot('-(hgfedcba)-w-|', values);
      expectObservable(source.pipe(detect())).toBe('--------------|');
    });
  });

  it('reports a tool_completed before its tool_executing once, as out_of_order, and leaves no unpaired tool (doc example)', () => {
    const [s, c, x, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('tool_completed', 'r1', 1), agentEvent('tool_executing', 'r1', 2), agentEvent('agent_completed', 'r1', 4)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-x-d-y-|', { a: ev(s), b: ev(c), c: ev(x), x: wm(3), d: ev(f), y: wm(5) });
      const expected = '  -------o-----|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        o: violation({ violationId: verdictId('out_of_order', 'r1', `0:${c.source.offset}`), rule: 'out_of_order', severity: 'CRITICAL', subject: 'tool_completed', runId: 'r1', eventTimeMs: 1 }),
      });
    });
  });

  it('reports an event before agent_started as out_of_order, naming that event', () => {
    const [t, s, f] = [agentEvent('agent_thinking', 'r1', 0), agentEvent('agent_started', 'r1', 1), agentEvent('agent_completed', 'r1', 2)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-|', { a: ev(s), b: ev(f), c: ev(t), w: wm(2) });
      expectObservable(source.pipe(detect())).toBe('-------o-|', {
        o: violation({ rule: 'out_of_order', severity: 'CRITICAL', subject: 'agent_thinking', detail: 'agent_thinking before agent_started', runId: 'r1', eventTimeMs: 0 }),
      });
    });
  });

  it('reports a second agent_started as out_of_order', () => {
    const [s, t, again] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1), agentEvent('agent_started', 'r1', 2)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-|', { a: ev(s), b: ev(t), c: ev(again), w: wm(2) });
      expectObservable(source.pipe(detect())).toBe('-------o-|', {
        o: violation({ rule: 'out_of_order', severity: 'CRITICAL', subject: 'agent_started', detail: 'agent_started again after the run started', runId: 'r1', eventTimeMs: 2 }),
      });
    });
  });

  it('follows the contract’s transition table', () => {
    const strict = compileRunContract({ ...REFERENCE_RUN_CONTRACT, transitions: { ...REFERENCE_RUN_CONTRACT.transitions, tool_executing: ['tool_completed'] } });
    const [s, x, t, c, f] = ['agent_started', 'tool_executing', 'agent_thinking', 'tool_completed', 'agent_completed'].map((type, i) => agentEvent(type as LifecycleType, 'r1', i));
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-e-w-|', { a: ev(s!), b: ev(x!), c: ev(t!), d: ev(c!), e: ev(f!), w: wm(4) });
      expectObservable(source.pipe(ordered(detectSequence(strict)))).toBe('-----------o-|', {
        o: violation({ rule: 'out_of_order', severity: 'CRITICAL', subject: 'agent_thinking', detail: 'agent_thinking may not follow tool_executing', runId: 'r1', eventTimeMs: 2 }),
      });
    });
  });

  it('reports a tool call never completed as unpaired_tool when the run completes', () => {
    const [s, x, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('tool_executing', 'r1', 1, { toolName: 'search' }), agentEvent('agent_completed', 'r1', 2)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-x-|', { a: ev(s), b: ev(x), c: ev(f), w: wm(1), x: wm(2) });
      expectObservable(source.pipe(detect())).toBe('---------u-|', {
        u: violation({
          violationId: verdictId('unpaired_tool', 'r1', `0:${x.source.offset}`),
          rule: 'unpaired_tool',
          severity: 'CRITICAL',
          subject: 'tool_executing',
          detail: 'tool_executing of search never got its tool_completed',
          runId: 'r1',
          eventTimeMs: 1,
        }),
      });
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
      const source = hot('-(abcde)-w-|', { a: ev(s), b: ev(x1), c: ev(x2), d: ev(c2), e: ev(f), w: wm(4) });
      expectObservable(source.pipe(detect())).toBe('---------u-|', { u: violation({ rule: 'unpaired_tool', subject: 'tool_executing', runId: 'r1', eventTimeMs: 1 }) });
    });
  });

  it('judges a run that never completes at its deadline, from watermarks alone: never started, unpaired tool', () => {
    const [t, x] = [agentEvent('agent_thinking', 'r1', 0), agentEvent('tool_executing', 'r1', 1, { toolName: 'search' })];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-x-y------|', { a: ev(t), b: ev(x), w: wm(1), x: wm(29), y: wm(30) });
      const expected = '  ---------(nu)---|';
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
          source: { topic: 'agent-events', partitions: [0, 0], offsets: [t.source.offset, x.source.offset] },
        }),
        u: violation({ rule: 'unpaired_tool', severity: 'CRITICAL', subject: 'tool_executing', runId: 'r1', eventTimeMs: 1, decidedAtWatermarkMs: 30 }),
      });
    });
  });

  it('reports an event after agent_completed as event_after_completion, at the same instant and later', () => {
    const [s, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_completed', 'r1', 1)];
    const [sameInstant, later] = [agentEvent('agent_thinking', 'r1', 1), agentEvent('tool_executing', 'r1', 2)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-d-x-|', { a: ev(s), b: ev(f), c: ev(sameInstant), w: wm(1), d: ev(later), x: wm(2) });
      const expected = '  -------e---f-|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        e: violation({ rule: 'event_after_completion', severity: 'CRITICAL', subject: 'agent_thinking', runId: 'r1', eventTimeMs: 1 }),
        f: violation({ rule: 'event_after_completion', severity: 'CRITICAL', subject: 'tool_executing', runId: 'r1', eventTimeMs: 2 }),
      });
    });
  });

  it('keeps interleaved runs of different users apart', () => {
    const alice = completeRun('run_alice', 0, 2);
    const bob = [agentEvent('agent_started', 'run_bob', 1, { userId: 'user_bob' }), agentEvent('tool_completed', 'run_bob', 3, { userId: 'user_bob' }), agentEvent('agent_completed', 'run_bob', 5, { userId: 'user_bob' })];
    const items = { a: ev(alice[0]!), b: ev(bob[0]!), c: ev(alice[1]!), d: ev(bob[1]!), e: ev(alice[2]!), f: ev(bob[2]!), g: ev(alice[3]!), h: ev(alice[4]!), w: wm(8) };
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcdefgh)-w------|', items);
      // tool_completed after agent_started is allowed by the transition table: the missing call
      // is the pairing rule's finding, reported once
      const expected = '  ------------u------|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        u: violation({ rule: 'unpaired_tool', subject: 'tool_completed', runId: 'run_bob', userId: 'user_bob', eventTimeMs: 3 }),
      });
    });
  });

  it('reports events that arrive after the watermark as late, and never judges their order', () => {
    const [s, x, c, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('tool_executing', 'r1', 1), agentEvent('tool_completed', 'r1', 2), agentEvent('agent_completed', 'r1', 3)];
    const lateThought = agentEvent('agent_thinking', 'r1', 1);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-c-d-e-x-|', { a: ev(s), b: ev(x), w: wm(1), c: ev(lateThought), d: ev(c), e: ev(f), x: wm(3) });
      expectObservable(source.pipe(detect())).toBe('-------l-------|', { l: lateEvent(lateThought, 1, 'open') });
    });
  });

  it('propagates errors and releases the source', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-w-#', { a: ev(agentEvent('agent_started', 'r1', 0)), b: ev(agentEvent('agent_started', 'r1', 1)), w: wm(1) });
      expectObservable(source.pipe(detect())).toBe('-----o-#', { o: violation({ rule: 'out_of_order', subject: 'agent_started', eventTimeMs: 1 }) });
      expectSubscriptions(source.subscriptions).toBe('^------!');
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

describe('detectSequence with detectDuplicates in front (production rule order)', () => {
  it('never sees a redelivered copy: a repeated agent_started or tool_executing is a duplicate, not out of order or unpaired', () => {
    const [s, x, c, f] = [
      agentEvent('agent_started', 'r1', 0),
      agentEvent('tool_executing', 'r1', 1, { toolName: 'search' }),
      agentEvent('tool_completed', 'r1', 2, { toolName: 'search' }),
      agentEvent('agent_completed', 'r1', 3),
    ];
    const [sCopy, xCopy] = [redelivered(s, 600, { recovered: true }), redelivered(x, 601)];
    const both = () => ordered(runEngine(SMALL_CONTRACT, () => [duplicatesRule(), sequenceRule(SMALL_CONTRACT)]));
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcdef)-w-----|', { a: ev(s), b: ev(sCopy), c: ev(x), d: ev(xCopy), e: ev(c), f: ev(f), w: wm(3) });
      const expected = '  ----------(12)--|';
      expectObservable(source.pipe(both())).toBe(expected, {
        1: violation({ rule: 'duplicate_delivery', subject: 'agent_started', runId: 'r1', eventTimeMs: 0 }),
        2: violation({ rule: 'duplicate_delivery', subject: 'tool_executing', runId: 'r1', eventTimeMs: 1 }),
      });
    });
    // The standalone duplicates detector sees the same two copies.
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcdef)-w-----|', { a: ev(s), b: ev(sCopy), c: ev(x), d: ev(xCopy), e: ev(c), f: ev(f), w: wm(3) });
      expectObservable(source.pipe(ordered(detectDuplicates(SMALL_CONTRACT)))).toBe('----------(12)--|', {
        1: violation({ rule: 'duplicate_delivery', subject: 'agent_started' }),
        2: violation({ rule: 'duplicate_delivery', subject: 'tool_executing' }),
      });
    });
  });
});
