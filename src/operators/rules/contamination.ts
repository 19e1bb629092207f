import type { AgentEvent } from '../../contract/event.js';
import { isWireObject } from '../../contract/wire.js';
import { ActiveIdIndex } from '../engine/id-index.js';
import type { RuleFactory, RuleOutput } from '../engine/rule.js';

export interface ContaminationOptions {
  /** How long (event time) a user's ids stay "active" after their last run started. Default 10 min. */
  readonly activeForMs?: number;
  /**
   * Ids known active before this subscription started (restored from the store after a restart):
   * those active in the window before the first place in event time are registered then.
   */
  readonly seed?: ActiveIdSeed;
}

/** Runs known to have been active, oldest first: their user, thread and run ids enter the index as the user's. */
export interface ActiveIdSeed {
  readonly runs: ReadonlyArray<{ readonly runId: string; readonly threadId?: string; readonly userId: string; readonly seenMs: number }>;
}

/**
 * The user an event claims to be for. Emitter paths send user_id == thread_id: that is the thread,
 * not a user, so it claims nothing (fact sheet §1.3).
 */
function claimedUser(event: AgentEvent, runThreadId: string | undefined): string | undefined {
  const user = event.userId;
  if (user === undefined || user === event.threadId || user === runThreadId) return undefined;
  return user;
}

/**
 * Rule `cross_user_contamination` (per event, every arrival; zero tolerance, CRITICAL):
 * (a) a thread seen with two different owners (thread ids belong to one user);
 * (b) an event whose recipient user differs from its run's owner;
 * (c) another active user's user, thread or run id anywhere inside an event's content.
 * The owner is the user the run's first event in event time names (agent_started normally): a
 * run's events placed before its agent_started wait for it (or for the run's judgement).
 * Ids are registered, and expire, at the engine's place in event time, never at an event's own
 * (possibly late) time: what is active when an event is checked does not depend on interleaving.
 */
export function contaminationRule(options: ContaminationOptions = {}): RuleFactory {
  const activeForMs = options.activeForMs ?? 600_000;
  return ({ table, facts }) => {
    const state = {
      threadOwners: new ActiveIdIndex(1),
      activeIds: new ActiveIdIndex(),
      nowMs: Number.NEGATIVE_INFINITY,
      // Seeded at the first place in event time, with what was active then: a resumed consumer gets
      // the ids of the window before it; a replay from the start of a topic gets none of the later ones.
      seed: options.seed?.runs,
    };
    const { threadOwners, activeIds } = state; // class instances: a restore fills them in place
    const owners = table.refs<string>();
    const threadChecked = table.int8();
    /** Events of an open run placed before its agent_started (checked once it has its place). */
    const beforeStart = table.sparse<AgentEvent[]>();
    const applySeed = (now: number): void => {
      const from = now - activeForMs;
      // Registered in time order, as the index expires from its oldest entry.
      for (const run of [...(state.seed ?? [])].filter((r) => r.seenMs >= from && r.seenMs <= now).sort((a, b) => a.seenMs - b.seenMs)) {
        activeIds.register(run.userId, run.userId, run.seenMs);
        activeIds.register(run.runId, run.userId, run.seenMs);
        if (run.threadId === undefined) continue;
        threadOwners.register(run.threadId, run.userId, run.seenMs);
        activeIds.register(run.threadId, run.userId, run.seenMs);
      }
      state.seed = undefined;
    };

    const report = (slot: number, out: RuleOutput, event: AgentEvent, subject: string, detail: string, key: string, namedUserIds: readonly string[]): void =>
      out.violation(slot, { rule: 'cross_user_contamination', severity: 'CRITICAL', subject, detail, eventTimeMs: event.emittedAtMs, event, key, namedUserIds });

    const learnThread = (slot: number, out: RuleOutput, event: AgentEvent, thread: string, owner: string): void => {
      const previous = threadOwners.ownerOf(thread);
      if (previous !== undefined && previous !== owner) {
        report(slot, out, event, 'thread_id', `thread ${thread} belongs to user ${previous} but run ${facts.runIdOf(slot)} is user ${owner}'s`, `thread:${thread}`, [owner, previous]);
        return;
      }
      threadOwners.register(thread, owner, state.nowMs);
      activeIds.register(thread, owner, state.nowMs);
    };

    /** (b) and (c), and (a) for an event carrying a thread other than its run's: checks once the owner is known. */
    const checkEvent = (event: AgentEvent, slot: number, owner: string, out: RuleOutput): void => {
      const runThread = facts.threadIdOf(slot);
      const claim = claimedUser(event, event.threadId ?? runThread);
      if (claim !== undefined && claim !== owner) report(slot, out, event, 'user_id', `${event.type} of user ${owner}'s run addressed to user ${claim}`, `user:${claim}`, [owner, claim]);
      const thread = event.threadId;
      if (thread !== undefined && thread !== runThread) {
        const threadOwner = threadOwners.ownerOf(thread);
        if (threadOwner !== undefined && threadOwner !== owner) report(slot, out, event, 'thread_id', `${event.type} of user ${owner}'s run carries thread ${thread} of user ${threadOwner}`, `thread:${thread}`, [owner, threadOwner]);
      }
      mention = { event, slot, owner, out, reported: undefined };
      scanContent(event.body, visitText);
      mention = undefined;
    };

    // (c) runs for every string of every event: one callback pair per rule, the event's context in
    // `mention`, so scanning allocates nothing unless it finds something.
    let mention: { readonly event: AgentEvent; readonly slot: number; readonly owner: string; readonly out: RuleOutput; reported: string[] | undefined } | undefined;
    const onMention = (id: string, idOwner: string): void => {
      const m = mention as NonNullable<typeof mention>;
      if (idOwner === m.owner || m.reported?.includes(id) === true) return;
      (m.reported ??= []).push(id);
      report(m.slot, m.out, m.event, 'content', `${m.event.type} of user ${m.owner}'s run mentions ${id}, an id of user ${idOwner}`, `mention:${id}`, [m.owner, idOwner]);
    };
    const visitText = (text: string): void => activeIds.scan(text, onMention);

    /** The checks of an event of an open run, once its owner can be known. */
    const checkInRun = (slot: number, event: AgentEvent, out: RuleOutput): void => {
      let owner = owners.get(slot);
      if (owner === undefined) {
        const claim = claimedUser(event, event.threadId ?? facts.threadIdOf(slot));
        if (claim === undefined) return;
        owner = claim;
        owners.set(slot, owner);
        activeIds.register(owner, owner, state.nowMs);
        activeIds.register(facts.runIdOf(slot), owner, state.nowMs);
      }
      const thread = facts.threadIdOf(slot);
      if (threadChecked.get(slot) === 0 && thread !== undefined) {
        threadChecked.set(slot, 1);
        learnThread(slot, out, event, thread, owner);
      }
      checkEvent(event, slot, owner, out);
    };

    return {
      name: 'cross_user_contamination',
      state,
      open: (slot) => {
        owners.set(slot, undefined);
        threadChecked.set(slot, 0);
        beforeStart.set(slot, undefined);
      },
      onArrival: (slot, event, out, arrival) => {
        if (arrival !== 'in_run') {
          // A stand-in or detached slot: its owner may be only a thread id (emitter paths); the
          // thread's learned owner is the user then.
          const thread = facts.threadIdOf(slot) ?? event.threadId;
          let owner = facts.ownerOf(slot);
          if (owner !== undefined && owner === thread) owner = threadOwners.ownerOf(thread);
          if (owner !== undefined) checkEvent(event, slot, owner, out);
          return;
        }
        // Until its agent_started has its place, a run's events wait (rarely more than none): the
        // owner is the user its start names, whichever of its events happened to arrive first.
        if (!facts.hasSeen(slot, START_TYPE)) {
          const waiting = beforeStart.get(slot);
          if (waiting === undefined) beforeStart.set(slot, [event]);
          else waiting.push(event);
          return;
        }
        const waiting = beforeStart.get(slot);
        if (waiting === undefined) return checkInRun(slot, event, out);
        beforeStart.set(slot, undefined);
        for (const held of [...waiting, event].sort(byEventTime)) checkInRun(slot, held, out);
      },
      // A run judged without agent_started: its events are checked now, in event-time order.
      judge: ({ slot }, out) => {
        const waiting = beforeStart.get(slot);
        if (waiting === undefined) return;
        beforeStart.set(slot, undefined);
        for (const held of [...waiting].sort(byEventTime)) checkInRun(slot, held, out);
      },
      onTime: (now) => {
        if (state.seed !== undefined) applySeed(now);
        state.nowMs = now;
        threadOwners.expireBefore(now - activeForMs);
        activeIds.expireBefore(now - activeForMs);
      },
    };
  };
}

/** The lifecycle type that names a run's owner first. */
const START_TYPE = 'agent_started';

const byEventTime = (a: AgentEvent, b: AgentEvent): number =>
  a.emittedAtMs - b.emittedAtMs || a.source.partition - b.source.partition || a.source.offset - b.source.offset;

const isIdentityKey = (key: string): boolean => key === 'user_id' || key === 'thread_id' || key === 'run_id';

/** Calls `visit` for every string in the record, except the envelope's own identity fields (root, payload, data). */
function scanContent(body: Readonly<Record<string, unknown>>, visit: (text: string) => void): void {
  for (const key in body) {
    if (isIdentityKey(key)) continue;
    const value = body[key];
    if ((key === 'payload' || key === 'data') && isWireObject(value)) {
      for (const inner in value) if (!isIdentityKey(inner)) scanValue(value[inner], visit);
    } else {
      scanValue(value, visit);
    }
  }
}

function scanValue(node: unknown, visit: (text: string) => void): void {
  if (typeof node === 'string') {
    visit(node);
  } else if (typeof node === 'object' && node !== null) {
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i += 1) scanValue(node[i], visit);
    } else {
      const object = node as Readonly<Record<string, unknown>>;
      for (const key in object) scanValue(object[key], visit);
    }
  }
}
