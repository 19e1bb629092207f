import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AgentEvent, LifecycleType } from '../../../../src/contract/event.js';
import { runEngine } from '../../../../src/operators/engine/run-engine.js';
import { verdictId } from '../../../../src/operators/engine/verdict-id.js';
import { contaminationRule, type ContaminationOptions } from '../../../../src/operators/rules/contamination.js';
import { arrivalOrder, inEventTimeOrder, lateEvent, redelivered, replay, replayEvents, ruleEngine, scheduler, SMALL_CONTRACT, violation, violationsOf } from '../../../support/detectors.js';
import { agentEvent, ev, wm } from '../../../support/events.js';

const detect = (options: ContaminationOptions = {}, allowedLatenessMs = 0) => ruleEngine(contaminationRule(options), { allowedLatenessMs });
const engine = (options: ContaminationOptions = {}) => runEngine(SMALL_CONTRACT, () => [contaminationRule(options)]);

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

describe('rule cross_user_contamination', () => {
  it('reports another active user’s thread id inside an event’s content as CRITICAL cross_user_contamination, as the event takes its place', () => {
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
          decidedAtWatermarkMs: 2,
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
      const source = hot('-(abcd)-w------|', { a: ev(aliceStart), b: ev(bobStart), c: ev(nestedUser), d: ev(nestedRun), w: wm(4) });
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
      const values = { a: ev(events[0]!), b: ev(events[1]!), c: ev(events[2]!), d: ev(events[3]!), e: ev(events[4]!), f: ev(events[5]!), w: wm(2), x: wm(10) };
      const source = hot('-(fedcba)-w-x-|', values);
      expectObservable(source.pipe(detect())).toBe('--------------|');
    });
  });

  it('reports an event of one user’s run addressed to another user', () => {
    const start = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const misaddressed = agentEvent('tool_executing', 'run_alice_1', 1, { userId: 'user_bob', threadId: undefined, body: { tool_name: 'search', user_id: 'user_bob' } });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-|', { a: ev(start), b: ev(misaddressed), w: wm(2) });
      expectObservable(source.pipe(detect())).toBe('-----c-|', {
        c: violation({
          violationId: verdictId('cross_user_contamination', 'run_alice_1', `0:${misaddressed.source.offset}:user:user_bob`),
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
      const source = hot('-a-b-w-|', { a: ev(aliceStart), b: ev(bobOnAliceThread), w: wm(2) });
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
      const source = hot('-a-b-c-w-|', { a: ev(aliceStart), b: ev(bobStart), c: ev(crossed), w: wm(3) });
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
    const verdicts = await replay([...events.map(ev), wm(2)], engine());
    expect(verdicts).toEqual([
      violation({ rule: 'cross_user_contamination', subject: 'content', runId: 'run_bob_1', eventTimeMs: 2, detail: "agent_thinking of user user_bob's run mentions thread_alice, an id of user user_alice" }),
      violation({ rule: 'cross_user_contamination', subject: 'content', runId: 'run_bob_1', eventTimeMs: 2, detail: "agent_thinking of user user_bob's run mentions thread_carol, an id of user user_carol" }),
    ]);
    const ids = verdicts.map((v) => (v.kind === 'violation' ? v.violation.violationId : ''));
    expect(new Set(ids).size).toBe(2);
  });

  it('forgets a user’s ids activeForMs of event time after they were registered, whenever the watermarks come', () => {
    const aliceStart = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const bobStart = asUser(BOB, 'agent_started', 'run_bob_1', 5);
    const [stillActive, expired] = [
      viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_1', 9, { reasoning: 'thread_alice' }),
      viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_1', 11, { reasoning: 'thread_alice again' }),
    ];
    for (const early of [0, 4]) {
      scheduler().run(({ hot, expectObservable }) => {
        const source = hot('-a-w-b-c-d-y-|', { a: ev(aliceStart), w: wm(early), b: ev(bobStart), c: ev(stillActive), d: ev(expired), y: wm(11) });
        expectObservable(source.pipe(detect({ activeForMs: 10 }))).toBe('-----------c-|', {
          c: violation({ rule: 'cross_user_contamination', subject: 'content', runId: 'run_bob_1', eventTimeMs: 9 }),
        });
      });
    }
  });

  it('scans a contaminated event once: a redelivered copy is the engine’s duplicate', () => {
    const aliceStart = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const bobStart = asUser(BOB, 'agent_started', 'run_bob_1', 1);
    const leak = viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_1', 2, { reasoning: 'thread_alice' });
    const copy = redelivered(leak, 100_555);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-w-----|', { a: ev(aliceStart), b: ev(bobStart), c: ev(leak), d: ev(copy), w: wm(3) });
      const expected = '  ---------(xD)--|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        x: violation({ rule: 'cross_user_contamination', runId: 'run_bob_1', source: { topic: 'agent-events', partitions: [0], offsets: [leak.source.offset] } }),
        D: violation({ rule: 'duplicate_delivery', runId: 'run_bob_1', source: { topic: 'agent-events', partitions: [0], offsets: [100_555] } }),
      });
    });
  });

  it('scans an event that arrives behind the watermark at once, at its place, without a late_event row while its run is open', () => {
    const aliceStart = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const bobStart = asUser(BOB, 'agent_started', 'run_bob_1', 1);
    const lateLeak = viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_1', 2, { reasoning: 'Copying thread_alice' });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-c-|', { a: ev(aliceStart), b: ev(bobStart), w: wm(5), c: ev(lateLeak) });
      expectObservable(source.pipe(detect())).toBe('-------c-|', { c: violation({ rule: 'cross_user_contamination', subject: 'content', runId: 'run_bob_1', eventTimeMs: 2, decidedAtWatermarkMs: 5 }) });
    });
  });

  it('still scans an event that comes after its run was judged (its deadline passed), in event-time order', async () => {
    const aliceStart = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const bobStart = asUser(BOB, 'agent_started', 'run_bob_1', 1);
    // Emitter path (user_id == thread_id): the owner is the one Bob's run was judged with.
    const afterDeadline = viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_1', 25, { reasoning: 'Copying thread_alice' });
    const verdicts = await replay([ev(aliceStart), ev(bobStart), ev(afterDeadline)], runEngine(SMALL_CONTRACT, () => [contaminationRule()], { allowedLatenessMs: 0 }));
    expect(verdicts).toEqual([violation({ subject: 'content', runId: 'run_bob_1', userId: BOB.user, threadId: BOB.thread, eventTimeMs: 25 })]);
    // Past Bob's deadline (31): a late_event row of the judged run, and still scanned.
    const afterFinal = viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_1', 40, { reasoning: 'Copying thread_alice' });
    const later = await replay([ev(aliceStart), ev(bobStart), ev(afterFinal)], engine());
    expect(later).toEqual([lateEvent(afterFinal, 40, 'closed'), violation({ subject: 'content', runId: 'run_bob_1', userId: BOB.user, threadId: BOB.thread, eventTimeMs: 40 })]);
  });

  it('does not flag a user’s own id in a judged emitter-path run: the thread’s owner is the user, not the thread id', async () => {
    const bobFirstRun = asUser(BOB, 'agent_started', 'run_bob_1', 0); // teaches thread_bob -> user_bob
    const bobSecondRun = viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_2', 1, { reasoning: 'fine' }); // names no user
    const afterDeadline = viaEmitter(BOB.thread, 'agent_thinking', 'run_bob_2', 40, { reasoning: 'Answering user_bob' });
    const verdicts = await replay([ev(bobFirstRun), ev(bobSecondRun), ev(afterDeadline)], engine());
    expect(verdicts.filter((v) => v.kind === 'violation')).toEqual([]);
  });

  it('propagates errors and releases the source', () => {
    const start = asUser(ALICE, 'agent_started', 'run_alice_1', 0);
    const misaddressed = agentEvent('tool_executing', 'run_alice_1', 1, { userId: 'user_bob', threadId: undefined });
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-w-#', { a: ev(start), b: ev(misaddressed), w: wm(2) });
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

describe('rule cross_user_contamination (properties)', () => {
  const USERS = ['alice', 'bob', 'carol'] as const;
  const runArb = fc.record({
    user: fc.nat({ max: USERS.length - 1 }),
    start: fc.nat({ max: 40 }),
    /** Later events: step, emitter path or not, and which generated ids their reasoning mentions (indexes into the id pool). */
    events: fc.array(fc.record({ step: fc.integer({ min: 1, max: 4 }), emitter: fc.boolean(), mentions: fc.array(fc.nat(), { maxLength: 3 }) }), { maxLength: 4 }),
  });

  /** Runs of three users (threads keyed by user, on the user's partition), events mentioning ids of any of them. */
  function build(runs: readonly { user: number; start: number; events: readonly { step: number; emitter: boolean; mentions: readonly number[] }[] }[]): AgentEvent[] {
    const runIds = runs.map((r, i) => `run_${USERS[r.user] as string}_${i}`);
    const pool = [...USERS.map((u) => `user_${u}`), ...USERS.map((u) => `thread_${u}`), ...runIds];
    const offsets = [0, 0];
    const events: AgentEvent[] = [];
    runs.forEach((r, i) => {
      const name = USERS[r.user] as string;
      const [user, thread, runId] = [`user_${name}`, `thread_${name}`, runIds[i] as string];
      const partition = r.user % 2;
      const at = (type: LifecycleType, t: number, emitter: boolean, reasoning: string): AgentEvent => {
        const userId = emitter ? thread : user;
        return agentEvent(type, runId, t, { userId, threadId: thread, body: { type, run_id: runId, user_id: userId, thread_id: thread, reasoning }, source: { topic: 'agent-events', partition, offset: (offsets[partition] = (offsets[partition] as number) + 1) - 1 } });
      };
      events.push(at('agent_started', r.start, false, 'starting'));
      let t = r.start;
      for (const e of r.events) {
        t += e.step;
        events.push(at('agent_thinking', t, e.emitter, `Looking at ${e.mentions.map((m) => pool[m % pool.length]).join(' and ')}.`));
      }
    });
    return inEventTimeOrder(events);
  }

  /**
   * A reference for (c) from the input in event-time order: an id is active once the first event
   * of a run it belongs to (as owner, thread or run) has taken its place; an event mentioning an
   * active id of another user is flagged once per id.
   */
  function referenceMentions(events: readonly AgentEvent[]): string[] {
    const ownerOf = new Map<string, string>();
    const opened = new Set<string>();
    const out: string[] = [];
    for (const e of inEventTimeOrder(events)) {
      const owner = `user_${e.runId.split('_')[1] as string}`;
      if (!opened.has(e.runId)) {
        opened.add(e.runId);
        for (const id of [owner, e.threadId as string, e.runId]) ownerOf.set(id, owner);
      }
      const text = String(e.body['reasoning']);
      const seen = new Set<string>();
      for (const token of text.split(/[^A-Za-z0-9_-]+/)) {
        const idOwner = ownerOf.get(token);
        if (idOwner === undefined || idOwner === owner || seen.has(token)) continue;
        seen.add(token);
        out.push(`${e.runId} ${e.emittedAtMs} ${token} ${verdictId('cross_user_contamination', e.runId, `${e.source.partition}:${e.source.offset}:mention:${token}`)}`);
      }
    }
    return out.sort();
  }

  it('flags exactly the mentions of other users’ active ids, the same verdict for verdict under any arrival order within the bound', async () => {
    const bound = 5;
    await fc.assert(
      fc.asyncProperty(fc.array(runArb, { minLength: 1, maxLength: 8 }), fc.array(fc.nat({ max: bound - 1 }), { minLength: 1, maxLength: 40 }), async (runs, delays) => {
        const events = build(runs);
        const inOrder = await replayEvents(events, engine(), { maxOutOfOrdernessMs: bound });
        const found = violationsOf(inOrder).map((v) => `${v.runId} ${v.eventTimeMs} ${v.subject === 'content' ? (/mentions (\S+),/.exec(v.detail)?.[1] ?? '?') : v.subject} ${v.violationId}`);
        expect(found.sort()).toEqual(referenceMentions(events));
        expect(await replayEvents(arrivalOrder(events, delays), engine(), { maxOutOfOrdernessMs: bound })).toEqual(inOrder);
      }),
      { numRuns: 300 },
    );
  });
});
