import { describe, expect, it } from 'vitest';
import type { AgentEvent, LifecycleType } from '../../../src/contract/event.js';
import type { Verdict } from '../../../src/contract/verdict.js';
import fc from 'fast-check';
import { CONTENT_CHECKS, detectContent } from '../../../src/operators/detectContent.js';
import { verdictId } from '../../../src/operators/engine/verdict-id.js';
import { lateEvent, ordered, redelivered, replay, scheduler, SMALL_CONTRACT, violation } from '../../support/detectors.js';
import { agentEvent, ev, wm } from '../../support/events.js';

const detect = () => ordered(detectContent(SMALL_CONTRACT));

/** Flat (emitter path) content that satisfies each type's schema. */
const GOOD_BODY: Readonly<Record<LifecycleType, Record<string, unknown>>> = {
  agent_started: { agent_name: 'supervisor' },
  agent_thinking: { reasoning: 'Checking cost drivers' },
  tool_executing: { tool_name: 'sql_query', agent_name: 'data_agent' },
  tool_completed: { tool_name: 'sql_query', results: { rows: 12 } },
  agent_completed: { agent_name: 'supervisor', run_id: 'r1' },
};

const good = (type: LifecycleType, runId: string, t: number, body: Record<string, unknown> = GOOD_BODY[type], overrides: Partial<AgentEvent> = {}): AgentEvent =>
  agentEvent(type, runId, t, { body, ...overrides });

describe('detectContent', () => {
  it('reports empty reasoning as content_invalid naming the field (doc example)', () => {
    const s = good('agent_started', 'r1', 0);
    const blank = agentEvent('agent_thinking', 'r1', 1, { body: { reasoning: '' } });
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-w-|', { a: ev(s), b: ev(blank), w: wm(1) });
      const expected = '  -----v-|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        v: violation({
          violationId: verdictId('content_invalid', 'r1', `0:${blank.source.offset}:reasoning`),
          rule: 'content_invalid',
          severity: 'CRITICAL',
          subject: 'reasoning',
          detail: 'agent_thinking.reasoning: must not be empty',
          runId: 'r1',
          eventTimeMs: 1,
          source: { topic: 'agent-events', partitions: [0], offsets: [blank.source.offset] },
        }),
      });
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
  });

  it('reports the field each type requires when it is missing or not text', () => {
    const events = [
      agentEvent('agent_started', 'r1', 0, { body: { data: { status: 'started' } } }),
      agentEvent('agent_thinking', 'r1', 1, { body: { reasoning: '   ' } }),
      agentEvent('tool_executing', 'r1', 2, { body: { tool_name: 42, agent_name: 'data_agent' } }),
      agentEvent('tool_completed', 'r1', 3, { body: { tool_name: 'sql_query', data: { status: 'completed' } } }),
      agentEvent('agent_completed', 'r1', 4, { body: { agent_name: 'supervisor' } }),
    ];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-w-------|', { a: ev(events[0]!), b: ev(events[1]!), c: ev(events[2]!), d: ev(events[3]!), e: ev(events[4]!), w: wm(4) });
      const expected = '  ---------(12345)-|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        1: violation({ rule: 'content_invalid', severity: 'CRITICAL', runId: 'r1', eventTimeMs: 0, subject: 'agent_name', detail: 'agent_started.agent_name: required' }),
        2: violation({ rule: 'content_invalid', severity: 'CRITICAL', runId: 'r1', eventTimeMs: 1, subject: 'reasoning', detail: 'agent_thinking.reasoning: must not be empty' }),
        3: violation({ rule: 'content_invalid', severity: 'CRITICAL', runId: 'r1', eventTimeMs: 2, subject: 'tool_name', detail: 'tool_executing.tool_name: must be a string' }),
        4: violation({
          rule: 'content_invalid',
          severity: 'CRITICAL',
          runId: 'r1',
          eventTimeMs: 3,
          subject: 'result|results|success|error',
          detail: 'tool_completed.result|results|success|error: one of result, results, success, error is required',
        }),
        5: violation({ rule: 'content_invalid', severity: 'CRITICAL', runId: 'r1', eventTimeMs: 4, subject: 'run_id', detail: 'agent_completed.run_id: required' }),
      });
    });
  });

  it('is silent for valid content, read from the root, from payload or from data (the six wire shapes)', () => {
    const events = [
      good('agent_started', 'r1', 0, { agent_name: 'supervisor', data: { status: 'started' } }), // bridge
      good('agent_thinking', 'r1', 1, { payload: { reasoning: 'Checking', agent_name: 'supervisor' } }), // fixture (C)
      good('tool_executing', 'r1', 2, { data: { tool_name: 'sql_query', agent_name: 'data_agent' } }), // data-nested (D)
      good('tool_completed', 'r1', 3, { tool_name: 'sql_query', data: { result: { rows: 12 } } }), // bridge: result under data
      good('tool_completed', 'r1', 4, { tool_name: 'sql_query', success: false }), // emitter: success only
      good('tool_completed', 'r1', 5, { tool_name: 'sql_query', error: 'timeout' }),
      good('agent_completed', 'r1', 6, { agent_name: 'supervisor', run_id: 'r1', final_response: 'done' }),
    ];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcdefg)-w-|', { a: ev(events[0]!), b: ev(events[1]!), c: ev(events[2]!), d: ev(events[3]!), e: ev(events[4]!), f: ev(events[5]!), g: ev(events[6]!), w: wm(6) });
      expectObservable(source.pipe(detect())).toBe('-------------|');
    });
  });

  it('reports one verdict per failing field, each its own row (distinct violation ids)', async () => {
    const noNames = agentEvent('tool_executing', 'r1', 2, { body: { data: { parameters: {} } } });
    const verdicts = await replay([ev(noNames), wm(2)], detectContent(SMALL_CONTRACT));
    expect(verdicts).toEqual([
      violation({ rule: 'content_invalid', subject: 'tool_name', detail: 'tool_executing.tool_name: required', eventTimeMs: 2 }),
      violation({ rule: 'content_invalid', subject: 'agent_name', detail: 'tool_executing.agent_name: required', eventTimeMs: 2 }),
    ]);
    const ids = verdicts.map((v) => (v.kind === 'violation' ? v.violation.violationId : ''));
    expect(new Set(ids).size).toBe(2);
  });

  it('reports both failing fields of a tool_completed with neither tool_name nor any result', async () => {
    const bare = agentEvent('tool_completed', 'r1', 3, { body: { data: { status: 'completed' } } });
    const verdicts = await replay([ev(bare), wm(3)], detectContent(SMALL_CONTRACT));
    expect(verdicts).toEqual([
      violation({ rule: 'content_invalid', subject: 'tool_name', eventTimeMs: 3 }),
      violation({ rule: 'content_invalid', subject: 'result|results|success|error', eventTimeMs: 3 }),
    ]);
  });

  it('names the run’s thread and owner, also on a verdict about the run’s first event', () => {
    const first = agentEvent('agent_started', 'r1', 0, { userId: 'user_42', threadId: 'thread_9', body: {} });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-|', { a: ev(first), w: wm(0) });
      expectObservable(source.pipe(detect())).toBe('---v-|', {
        v: violation({ rule: 'content_invalid', subject: 'agent_name', runId: 'r1', threadId: 'thread_9', userId: 'user_42', eventTimeMs: 0 }),
      });
    });
  });

  it('checks each delivery of a redelivered event against its own offset', () => {
    const blank = agentEvent('agent_thinking', 'r1', 1, { body: { reasoning: '' } });
    const copy = redelivered(blank, 777);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-----|', { a: ev(blank), b: ev(copy), w: wm(1) });
      const expected = '  -----(xy)--|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        x: violation({ rule: 'content_invalid', subject: 'reasoning', runId: 'r1', eventTimeMs: 1, source: { topic: 'agent-events', partitions: [0], offsets: [blank.source.offset] } }),
        y: violation({ rule: 'content_invalid', subject: 'reasoning', runId: 'r1', eventTimeMs: 1, source: { topic: 'agent-events', partitions: [0], offsets: [777] } }),
      });
    });
  });

  it('keeps interleaved runs of different users apart', () => {
    const [asAlice, asBob] = [{ userId: 'user_alice', threadId: 'thread_alice' }, { userId: 'user_bob', threadId: 'thread_bob' }];
    const alice = [good('agent_started', 'run_alice', 0, undefined, asAlice), good('agent_thinking', 'run_alice', 2, { reasoning: '' }, asAlice)];
    const bob = [good('agent_started', 'run_bob', 1, undefined, asBob), good('agent_thinking', 'run_bob', 3, undefined, asBob)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-w-|', { a: ev(bob[1]!), b: ev(alice[0]!), c: ev(alice[1]!), d: ev(bob[0]!), w: wm(3) });
      expectObservable(source.pipe(detect())).toBe('---------v-|', { v: violation({ rule: 'content_invalid', runId: 'run_alice', userId: 'user_alice', subject: 'reasoning', eventTimeMs: 2 }) });
    });
  });

  it('reports an event that arrives after the watermark as a late event', () => {
    const s = good('agent_started', 'r1', 0);
    const late = good('agent_thinking', 'r1', 1);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-|', { a: ev(s), w: wm(5), b: ev(late) });
      expectObservable(source.pipe(detect())).toBe('-----l-|', { l: lateEvent(late, 5, 'open') });
    });
  });

  it('still checks the content of an event that comes after its run was judged (deadline passed, or after completion)', async () => {
    // SMALL_CONTRACT: the run deadline is 30. No watermark: both events come in event-time order, not late,
    // after r2 closed at its completion (5) and r1 at its deadline (30).
    const afterDeadline = agentEvent('agent_thinking', 'r1', 40, { body: { reasoning: '' } });
    const afterCompletion = agentEvent('agent_thinking', 'r2', 9, { body: { reasoning: ' ' } });
    const verdicts: Verdict[] = await replay(
      [ev(good('agent_started', 'r1', 0)), ev(good('agent_started', 'r2', 1)), ev(good('agent_completed', 'r2', 5)), ev(afterCompletion), ev(afterDeadline)],
      detectContent(SMALL_CONTRACT),
    );
    expect(verdicts.filter((v) => v.kind === 'violation' && v.violation.rule === 'content_invalid')).toEqual([
      violation({ rule: 'content_invalid', subject: 'reasoning', runId: 'r2', eventTimeMs: 9 }),
      violation({ rule: 'content_invalid', subject: 'reasoning', runId: 'r1', eventTimeMs: 40 }),
    ]);
  });

  it('still checks the content of a late event (content needs no ordering)', async () => {
    const s = good('agent_started', 'r1', 0);
    const late = agentEvent('agent_thinking', 'r1', 1, { body: { reasoning: '' } });
    const verdicts: Verdict[] = await replay([ev(s), wm(5), ev(late)], detectContent(SMALL_CONTRACT));
    expect(verdicts).toEqual(expect.arrayContaining([lateEvent(late, 5, 'open'), violation({ rule: 'content_invalid', subject: 'reasoning', runId: 'r1', eventTimeMs: 1 })]));
  });

  it('propagates errors and releases the source', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-w-#', { a: ev(agentEvent('agent_thinking', 'r1', 1, { body: {} })), w: wm(1) });
      expectObservable(source.pipe(detect())).toBe('---v-#', { v: violation({ rule: 'content_invalid', subject: 'reasoning' }) });
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('releases the source on unsubscribe', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a---w-|', { a: ev(agentEvent('agent_thinking', 'r1', 1, { body: {} })), w: wm(1) });
      expectObservable(source.pipe(detect()), '^--!').toBe('---');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});

describe('content checks: fast path and zod agree', () => {
  it('each field check accepts exactly what its zod schema accepts', () => {
    const value = fc.oneof(fc.string(), fc.constantFrom('', ' ', '\t', 'x', ' y '), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.object(), fc.array(fc.anything()));
    const outcome = fc.record({ result: value, results: value, success: value, error: value });
    for (const checks of Object.values(CONTENT_CHECKS)) {
      for (const check of checks) {
        fc.assert(
          fc.property(check.fields.length === 1 ? value : outcome, (v) => {
            expect(check.accepts(v)).toBe(check.schema.safeParse(v).success);
          }),
          { numRuns: 300 },
        );
      }
    }
  });
});
