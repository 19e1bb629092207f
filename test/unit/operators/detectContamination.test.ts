import { describe, expect, it } from 'vitest';
import type { AgentEvent, LifecycleType } from '../../../src/contract/event.js';
import { detectContamination } from '../../../src/operators/detectContamination.js';
import { verdictId } from '../../../src/operators/engine/verdict-id.js';
import { lateEvent, ordered, redelivered, replay, scheduler, SMALL_CONTRACT, violation } from '../../support/detectors.js';
import { ev, agentEvent, wm } from '../../support/events.js';

const detect = () => ordered(detectContamination(SMALL_CONTRACT));

interface Person {
  readonly user: string;
  readonly thread: string;
}
const ALICE: Person = { user: 'user_alice', thread: 'thread_alice' };
const BOB: Person = { user: 'user_bob', thread: 'thread_bob' };

/** An event naming the real user (bridge path, or emitter path with the thread), with `content` merged into its body. */
function asUser(who: Person, type: LifecycleType, runId: string, t: number, content: Record<string, unknown> = {}): AgentEvent {
  return agentEvent(type, runId, t, { userId: who.user, threadId: who.thread, body: { type, run_id: runId, user_id: who.user, thread_id: who.thread, ...content } });
}

/** An emitter-path event: user_id == thread_id (fact sheet §1.3), the thread is not a user. */
function viaEmitter(thread: string, type: LifecycleType, runId: string, t: number, content: Record<string, unknown> = {}): AgentEvent {
  return agentEvent(type, runId, t, { userId: thread, threadId: thread, body: { type, run_id: runId, user_id: thread, thread_id: thread, ...content } });
}

describe('detectContamination', () => {
  it('reports another active user’s thread id inside an event’s content as CRITICAL cross_user_contamination', () => {
    const aliceStart = asUser(ALICE, 'agent_started', 'run_alice_1', 0, { agent_name: 'supervisor' });
    const bobStart = asUser(BOB, 'agent_started', 'run_bob_1', 1, { agent_name: 'supervisor' });
    const bobLeak = viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_1', 2, { reasoning: 'Comparing with the notes of thread_alice first' });
    const aliceThinks = viaEmitter(ALICE.thread, 'agent_thinking', 'run_alice_1', 3, { reasoning: 'Own thread thread_alice, own run run_alice_1, user user_alice' });
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-d-w-|', { a: ev(aliceStart), b: ev(bobStart), c: ev(bobLeak), d: ev(aliceThinks), w: wm(3) });
      const expected = '  ---------c-|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        c: violation({
          violationId: verdictId('cross_user_contamination', 'run_bob_1', `0:${bobLeak.source.offset}:mention:thread_alice`),
          rule: 'cross_user_contamination',
          severity: 'CRITICAL',
          subject: 'content',
          detail: "agent_thinking of user user_bob's run mentions thread_alice, an id of user user_alice",
          runId: 'run_bob_1',
          threadId: 'thread_bob',
          userId: 'user_bob',
          eventTimeMs: 2,
          source: { topic: 'agent-events', partitions: [0], offsets: [bobLeak.source.offset] },
        }),
      });
      expectSubscriptions(source.subscriptions).toBe('^----------!');
    });
  });

  it('finds another user’s user id and run id in nested content too (payload, data, arrays)', () => {
    const aliceStart = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const bobStart = asUser(BOB, 'agent_started', 'run_bob_1', 1);
    const nestedUser = asUser(BOB, 'tool_completed', 'run_bob_1', 2, { data: { result: { rows: [{ owner: 'user_alice' }] } } });
    const nestedRun = asUser(BOB, 'agent_completed', 'run_bob_1', 3, { payload: { final_response: 'see run_alice_1' } });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcd)-w------|', { a: ev(aliceStart), b: ev(bobStart), c: ev(nestedUser), d: ev(nestedRun), w: wm(3) });
      const expected = '  --------(xy)---|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        x: violation({ rule: 'cross_user_contamination', severity: 'CRITICAL', subject: 'content', runId: 'run_bob_1', userId: 'user_bob', eventTimeMs: 2, detail: "tool_completed of user user_bob's run mentions user_alice, an id of user user_alice" }),
        y: violation({ rule: 'cross_user_contamination', severity: 'CRITICAL', subject: 'content', runId: 'run_bob_1', userId: 'user_bob', eventTimeMs: 3, detail: "agent_completed of user user_bob's run mentions run_alice_1, an id of user user_alice" }),
      });
    });
  });

  it('does not flag emitter-path events whose user_id is the thread id, nor a user’s own ids in its content', () => {
    const events = [
      asUser(ALICE, 'agent_started', 'run_alice_1', 0),
      asUser(BOB, 'agent_started', 'run_bob_1', 0),
      viaEmitter(ALICE.thread, 'agent_thinking', 'run_alice_1', 1, { reasoning: 'Continuing thread_alice for user_alice (run_alice_1)' }),
      viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_1', 1, { reasoning: 'Continuing thread_bob for user_bob (run_bob_1)' }),
      viaEmitter(ALICE.thread, 'agent_completed', 'run_alice_1', 2, { agent_name: 'supervisor', metadata: { thread: 'thread_alice' } }),
      viaEmitter(BOB.thread, 'agent_completed', 'run_bob_1', 2, { agent_name: 'supervisor', metadata: { thread: 'thread_bob' } }),
    ];
    scheduler().run(({ hot, expectObservable }) => {
      const values = { a: ev(events[0]!), b: ev(events[1]!), c: ev(events[2]!), d: ev(events[3]!), e: ev(events[4]!), f: ev(events[5]!), w: wm(2) };
      const source = hot('-(fedcba)-w-|', values);
      expectObservable(source.pipe(detect())).toBe('------------|');
    });
  });

  it('reports an event of one user’s run addressed to another user (doc example)', () => {
    const start = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const misaddressed = agentEvent('tool_executing', 'run_alice_1', 1, { userId: 'user_bob', threadId: undefined, body: { tool_name: 'search', user_id: 'user_bob' } });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-|', { a: ev(start), b: ev(misaddressed), w: wm(1) });
      expectObservable(source.pipe(detect())).toBe('-----c-|', {
        c: violation({
          rule: 'cross_user_contamination',
          severity: 'CRITICAL',
          subject: 'user_id',
          detail: "tool_executing of user user_alice's run addressed to user user_bob",
          runId: 'run_alice_1',
          userId: 'user_alice',
          eventTimeMs: 1,
        }),
      });
    });
  });

  it('reports a thread that a second user’s run claims', () => {
    const aliceStart = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const bobOnAliceThread = agentEvent('agent_started', 'run_bob_2', 1, { userId: BOB.user, threadId: ALICE.thread, body: {} });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-|', { a: ev(aliceStart), b: ev(bobOnAliceThread), w: wm(1) });
      expectObservable(source.pipe(detect())).toBe('-----c-|', {
        c: violation({
          rule: 'cross_user_contamination',
          severity: 'CRITICAL',
          subject: 'thread_id',
          detail: "thread thread_alice belongs to user user_alice but run run_bob_2 is user user_bob's",
          runId: 'run_bob_2',
          eventTimeMs: 1,
        }),
      });
    });
  });

  it('reports an emitter-path event of one user’s run that carries another user’s thread (user_id == thread_id == the other thread)', () => {
    const aliceStart = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const bobStart = asUser(BOB, 'agent_started', 'run_bob_1', 1);
    // Bob's run, but the emitter addressed this event to Alice's thread: user_id == thread_id == thread_alice.
    const crossed = viaEmitter(ALICE.thread, 'agent_thinking', 'run_bob_1', 2, { reasoning: 'Summarising the results' });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-|', { a: ev(aliceStart), b: ev(bobStart), c: ev(crossed), w: wm(2) });
      expectObservable(source.pipe(detect())).toBe('-------c-|', {
        c: violation({ rule: 'cross_user_contamination', severity: 'CRITICAL', subject: 'thread_id', runId: 'run_bob_1', userId: 'user_bob', eventTimeMs: 2 }),
      });
    });
  });

  it('reports each other user’s id an event mentions, each its own row (distinct violation ids)', async () => {
    const carol: Person = { user: 'user_carol', thread: 'thread_carol' };
    const events = [
      asUser(ALICE, 'agent_started', 'run_alice_1', 0),
      asUser(carol, 'agent_started', 'run_carol_1', 0),
      asUser(BOB, 'agent_started', 'run_bob_1', 1),
      viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_1', 2, { reasoning: 'Merging thread_alice with thread_carol' }),
    ];
    const verdicts = await replay([...events.map(ev), wm(2)], detectContamination(SMALL_CONTRACT));
    expect(verdicts).toEqual([
      violation({ rule: 'cross_user_contamination', subject: 'content', runId: 'run_bob_1', eventTimeMs: 2, detail: "agent_thinking of user user_bob's run mentions thread_alice, an id of user user_alice" }),
      violation({ rule: 'cross_user_contamination', subject: 'content', runId: 'run_bob_1', eventTimeMs: 2, detail: "agent_thinking of user user_bob's run mentions thread_carol, an id of user user_carol" }),
    ]);
    const ids = verdicts.map((v) => (v.kind === 'violation' ? v.violation.violationId : ''));
    expect(new Set(ids).size).toBe(2);
  });

  it('forgets a user’s ids once they have been inactive for activeForMs of event time', () => {
    const aliceStart = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const bobStart = asUser(BOB, 'agent_started', 'run_bob_1', 20);
    const mention = viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_1', 21, { reasoning: 'thread_alice' });
    const detectShort = () => ordered(detectContamination(SMALL_CONTRACT, { activeForMs: 10 }));
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-x-b-c-y-|', { a: ev(aliceStart), w: wm(0), x: wm(15), b: ev(bobStart), c: ev(mention), y: wm(21) });
      expectObservable(source.pipe(detectShort())).toBe('-------------|');
    });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-x-b-c-y-|', { a: ev(aliceStart), w: wm(0), x: wm(9), b: ev(bobStart), c: ev(mention), y: wm(21) });
      expectObservable(source.pipe(detectShort())).toBe('-----------c-|', { c: violation({ rule: 'cross_user_contamination', subject: 'content', runId: 'run_bob_1' }) });
    });
  });

  it('reports every delivery of a contaminated event, each with its own offset', () => {
    const aliceStart = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const bobStart = asUser(BOB, 'agent_started', 'run_bob_1', 1);
    const leak = viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_1', 2, { reasoning: 'thread_alice' });
    const copy = redelivered(leak, 555);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-w-----|', { a: ev(aliceStart), b: ev(bobStart), c: ev(leak), d: ev(copy), w: wm(2) });
      const expected = '  ---------(xy)--|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        x: violation({ rule: 'cross_user_contamination', runId: 'run_bob_1', source: { topic: 'agent-events', partitions: [0], offsets: [leak.source.offset] } }),
        y: violation({ rule: 'cross_user_contamination', runId: 'run_bob_1', source: { topic: 'agent-events', partitions: [0], offsets: [555] } }),
      });
    });
  });

  it('reports an event that arrives after the watermark as a late event', () => {
    const start = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const late = viaEmitter(ALICE.thread, 'agent_thinking', 'run_alice_1', 1, { reasoning: 'fine' });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-|', { a: ev(start), w: wm(3), b: ev(late) });
      expectObservable(source.pipe(detect())).toBe('-----l-|', { l: lateEvent(late, 3, 'open') });
    });
  });

  it('still scans the content of a late event (isolation does not depend on order)', async () => {
    const aliceStart = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const bobStart = asUser(BOB, 'agent_started', 'run_bob_1', 1);
    const lateLeak = viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_1', 2, { reasoning: 'Copying thread_alice' });
    const verdicts = await replay([ev(aliceStart), ev(bobStart), wm(5), ev(lateLeak)], detectContamination(SMALL_CONTRACT));
    expect(verdicts).toEqual(expect.arrayContaining([lateEvent(lateLeak, 5, 'open'), violation({ rule: 'cross_user_contamination', subject: 'content', runId: 'run_bob_1', eventTimeMs: 2 })]));
  });

  it('still scans an event that comes after its run was judged (its deadline passed), in event-time order', async () => {
    const aliceStart = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const bobStart = asUser(BOB, 'agent_started', 'run_bob_1', 1);
    // Emitter path (user_id == thread_id): the owner is the one Bob's run was judged with.
    const afterDeadline = viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_1', 40, { reasoning: 'Copying thread_alice' });
    const verdicts = await replay([ev(aliceStart), ev(bobStart), ev(afterDeadline)], detectContamination(SMALL_CONTRACT));
    expect(verdicts.filter((v) => v.kind === 'violation' && v.violation.rule === 'cross_user_contamination')).toEqual([
      violation({ subject: 'content', runId: 'run_bob_1', userId: BOB.user, threadId: BOB.thread, eventTimeMs: 40 }),
    ]);
  });

  it('does not flag a user’s own id in a judged emitter-path run: the thread’s owner is the user, not the thread id', async () => {
    const bobFirstRun = asUser(BOB, 'agent_started', 'run_bob_1', 0); // teaches thread_bob -> user_bob
    const bobSecondRun = viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_2', 1, { reasoning: 'fine' }); // names no user
    const afterDeadline = viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_2', 40, { reasoning: 'Answering user_bob' });
    const verdicts = await replay([ev(bobFirstRun), ev(bobSecondRun), ev(afterDeadline)], detectContamination(SMALL_CONTRACT));
    expect(verdicts.filter((v) => v.kind === 'violation')).toEqual([]);
  });

  it('propagates errors and releases the source', () => {
    const start = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const misaddressed = agentEvent('tool_executing', 'run_alice_1', 1, { userId: 'user_bob', threadId: undefined });
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-w-#', { a: ev(start), b: ev(misaddressed), w: wm(1) });
      expectObservable(source.pipe(detect())).toBe('-----c-#', { c: violation({ rule: 'cross_user_contamination', subject: 'user_id' }) });
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
  });

  it('releases the source on unsubscribe', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a---w-|', { a: ev(asUser(ALICE, 'agent_started', 'run_alice_1', 0)), w: wm(1) });
      expectObservable(source.pipe(detect()), '^--!').toBe('---');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});
