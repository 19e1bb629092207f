import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LIFECYCLE_TYPES, type AgentEvent, type LifecycleType } from '../../../../src/contract/event.js';
import type { Verdict } from '../../../../src/contract/verdict.js';
import { runEngine } from '../../../../src/operators/engine/run-engine.js';
import { verdictId } from '../../../../src/operators/engine/verdict-id.js';
import { CONTENT_CHECKS, contentRule } from '../../../../src/operators/rules/content.js';
import type { StreamItem } from '../../../../src/operators/stream-item.js';
import { arrivalOrder, lateEvent, redelivered, replay, replayEvents, ruleEngine, scheduler, SMALL_CONTRACT, violation, violationsOf } from '../../../support/detectors.js';
import { agentEvent, ev, wm } from '../../../support/events.js';

const detect = (allowedLatenessMs = 0) => ruleEngine(contentRule(), { allowedLatenessMs });

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

describe('rule content_invalid', () => {
  it('reports empty reasoning as content_invalid naming the field, as soon as the event takes its place in event time', () => {
    const s = good('agent_started', 'r1', 0);
    const blank = agentEvent('agent_thinking', 'r1', 1, { body: { reasoning: '' } });
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      // wm(2): the watermark is strictly past the blank thought at 1, which then takes its place.
      const source = hot('-a-b-w-|', { a: ev(s), b: ev(blank), w: wm(2) });
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
          decidedAtWatermarkMs: 1,
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
      const source = hot('-(abcde)-w-------|', { a: ev(events[0]!), b: ev(events[1]!), c: ev(events[2]!), d: ev(events[3]!), e: ev(events[4]!), w: wm(5) });
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
    const verdicts = await replay([ev(noNames), wm(2)], runEngine(SMALL_CONTRACT, () => [contentRule()]));
    expect(verdicts).toEqual([
      violation({ rule: 'content_invalid', subject: 'tool_name', detail: 'tool_executing.tool_name: required', eventTimeMs: 2 }),
      violation({ rule: 'content_invalid', subject: 'agent_name', detail: 'tool_executing.agent_name: required', eventTimeMs: 2 }),
    ]);
    const ids = verdicts.map((v) => (v.kind === 'violation' ? v.violation.violationId : ''));
    expect(new Set(ids).size).toBe(2);
  });

  it('reports both failing fields of a tool_completed with neither tool_name nor any result', async () => {
    const bare = agentEvent('tool_completed', 'r1', 3, { body: { data: { status: 'completed' } } });
    const verdicts = await replay([ev(bare), wm(3)], runEngine(SMALL_CONTRACT, () => [contentRule()]));
    expect(verdicts).toEqual([
      violation({ rule: 'content_invalid', subject: 'tool_name', eventTimeMs: 3 }),
      violation({ rule: 'content_invalid', subject: 'result|results|success|error', eventTimeMs: 3 }),
    ]);
  });

  it('names the run’s thread and owner, also on a verdict about the run’s first event', () => {
    const first = agentEvent('agent_started', 'r1', 0, { userId: 'user_42', threadId: 'thread_9', body: {} });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-|', { a: ev(first), w: wm(1) });
      expectObservable(source.pipe(detect())).toBe('---v-|', {
        v: violation({ rule: 'content_invalid', subject: 'agent_name', runId: 'r1', threadId: 'thread_9', userId: 'user_42', eventTimeMs: 0 }),
      });
    });
  });

  it('checks an event once: a redelivered copy is the engine’s duplicate, not a second content verdict', () => {
    const blank = agentEvent('agent_thinking', 'r1', 1, { body: { reasoning: '' } });
    const copy = redelivered(blank, 100_777);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-----|', { a: ev(blank), b: ev(copy), w: wm(2) });
      const expected = '  -----(xD)--|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        x: violation({ rule: 'content_invalid', subject: 'reasoning', runId: 'r1', eventTimeMs: 1, source: { topic: 'agent-events', partitions: [0], offsets: [blank.source.offset] } }),
        D: violation({ rule: 'duplicate_delivery', subject: 'agent_thinking', runId: 'r1', eventTimeMs: 1, source: { topic: 'agent-events', partitions: [0], offsets: [100_777] } }),
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

  it('checks an event that arrives behind the watermark at once, at its place (no late_event row while its run is open)', () => {
    const s = good('agent_started', 'r1', 0);
    const [lateGood, lateBlank] = [good('agent_thinking', 'r1', 1), agentEvent('agent_thinking', 'r1', 2, { body: { reasoning: '' } })];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-c-|', { a: ev(s), w: wm(5), b: ev(lateGood), c: ev(lateBlank) });
      expectObservable(source.pipe(detect())).toBe('-------v-|', { v: violation({ rule: 'content_invalid', subject: 'reasoning', runId: 'r1', eventTimeMs: 2, decidedAtWatermarkMs: 5 }) });
    });
  });

  it('still checks the content of an event that comes after its run was judged (deadline passed, or after completion)', async () => {
    // SMALL_CONTRACT: the run deadline is 30. No watermark: both events come in event-time order, not
    // late, after r2 became final at its completion (5) and r1 at its deadline (30).
    const afterDeadline = agentEvent('agent_thinking', 'r1', 40, { body: { reasoning: '' } });
    const afterCompletion = agentEvent('agent_thinking', 'r2', 9, { body: { reasoning: ' ' } });
    const verdicts: Verdict[] = await replay(
      [ev(good('agent_started', 'r1', 0)), ev(good('agent_started', 'r2', 1)), ev(good('agent_completed', 'r2', 5)), ev(afterCompletion), ev(afterDeadline)],
      runEngine(SMALL_CONTRACT, () => [contentRule()]),
    );
    expect(verdicts).toEqual([
      violation({ rule: 'event_after_completion', subject: 'agent_thinking', runId: 'r2', eventTimeMs: 9 }),
      violation({ rule: 'content_invalid', subject: 'reasoning', runId: 'r2', eventTimeMs: 9 }),
      lateEvent(afterDeadline, 40, 'closed'),
      violation({ rule: 'content_invalid', subject: 'reasoning', runId: 'r1', eventTimeMs: 40 }),
    ]);
  });

  it('still checks the content of a late event of a judged run, and of an event whose run is unknown', async () => {
    const [s, f] = [good('agent_started', 'r1', 0), good('agent_completed', 'r1', 2)];
    const late = agentEvent('agent_thinking', 'r1', 1, { body: { reasoning: '' } });
    // r9's event is too old to open a run at watermark 100 (its run would have been final at 1 + 30).
    const orphan = agentEvent('agent_thinking', 'r9', 1, { body: { reasoning: '' } });
    const verdicts: Verdict[] = await replay([ev(s), ev(f), wm(5), ev(late), wm(100), ev(orphan)], runEngine(SMALL_CONTRACT, () => [contentRule()]));
    expect(verdicts).toEqual([
      lateEvent(late, 5, 'closed'),
      violation({ rule: 'content_invalid', subject: 'reasoning', runId: 'r1', eventTimeMs: 1, decidedAtWatermarkMs: 5 }),
      lateEvent(orphan, 100, 'unknown'),
      violation({ rule: 'content_invalid', subject: 'reasoning', runId: 'r9', eventTimeMs: 1, decidedAtWatermarkMs: 100 }),
    ]);
  });

  it('still checks the content of an event whose timestamp cannot be trusted', async () => {
    const odd = agentEvent('agent_thinking', 'r1', 99_999_999, { deliveredAtMs: 1, body: { reasoning: '' } });
    const verdicts: Verdict[] = await replay([ev(good('agent_started', 'r1', 0)), { kind: 'suspicious', event: odd, watermarkMs: 0 } satisfies StreamItem], runEngine(SMALL_CONTRACT, () => [contentRule()]));
    expect(verdicts).toEqual([violation({ rule: 'suspicious_timestamp', runId: 'r1' }), violation({ rule: 'content_invalid', subject: 'reasoning', runId: 'r1', eventTimeMs: 99_999_999 })]);
  });

  it('propagates errors and releases the source', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-w-#', { a: ev(agentEvent('agent_thinking', 'r1', 1, { body: {} })), w: wm(2) });
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

describe('rule content_invalid (properties)', () => {
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

  /** Ways to break a field: absent, null, blank, not text (the last one breaks only the text fields). */
  const BREAKS = ['absent', 'null', 'blank', 'number'] as const;
  const broken = (how: (typeof BREAKS)[number]): unknown => (how === 'null' ? null : how === 'blank' ? '  ' : how === 'number' ? 7 : undefined);

  const eventArb = fc.record({
    type: fc.constantFrom(...LIFECYCLE_TYPES),
    run: fc.nat({ max: 3 }),
    t: fc.nat({ max: 80 }),
    /** Per field path of the type: kept, or broken one way. */
    fields: fc.array(fc.option(fc.constantFrom(...BREAKS), { nil: undefined, freq: 2 }), { minLength: 2, maxLength: 2 }),
    nest: fc.constantFrom('root', 'payload', 'data'),
    latencyMs: fc.nat({ max: 60 }),
  });

  it('reports exactly the fields each event breaks, however (and however late) its events arrive', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(eventArb, { minLength: 1, maxLength: 30 }), fc.nat({ max: 20 }), async (specs, lateness) => {
        const expected: string[] = [];
        const events = specs.map((spec, i) => {
          // Distinct times: no event is a copy of another (the engine would hide a copy from the rule).
          const t = spec.t * 32 + i;
          const body: Record<string, unknown> = { ...GOOD_BODY[spec.type] };
          CONTENT_CHECKS[spec.type].forEach((check, k) => {
            const how = spec.fields[k];
            if (how === undefined) return;
            for (const name of check.fields) {
              if (how === 'absent') delete body[name];
              else body[name] = broken(how);
            }
            // A number breaks only a text field: the outcome only needs a value (`success: false` is one),
            // run_id only needs to be there (a blank one is there).
            if (how === 'number' && (check.path === 'run_id' || check.fields.length > 1)) return;
            if (how === 'blank' && check.path === 'run_id') return;
            expected.push(`run_${spec.run} ${check.path} ${t} ${verdictId('content_invalid', `run_${spec.run}`, `0:${i}:${check.path}`)}`);
          });
          const nested = spec.nest === 'root' ? body : { [spec.nest]: body };
          return agentEvent(spec.type, `run_${spec.run}`, t, { body: nested, deliveredAtMs: t + spec.latencyMs, source: { topic: 'agent-events', partition: 0, offset: i } });
        });
        // Arrival by delivery time: some events arrive behind the watermark, some after their run is final.
        const arrived = arrivalOrder(events, specs.map((s) => s.latencyMs));
        const verdicts = await replayEvents(arrived, runEngine(SMALL_CONTRACT, () => [contentRule()], { allowedLatenessMs: lateness }), { maxOutOfOrdernessMs: 5 });
        const found = violationsOf(verdicts)
          .filter((v) => v.rule === 'content_invalid')
          .map((v) => `${v.runId} ${v.subject} ${v.eventTimeMs} ${v.violationId}`);
        expect(found.sort()).toEqual(expected.sort());
      }),
      { numRuns: 300 },
    );
  });
});
