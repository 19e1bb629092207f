import type { OperatorFunction } from 'rxjs';
import type { AgentEvent } from '../contract/event.js';
import type { CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { isWireObject } from '../contract/wire.js';
import { ActiveIdIndex } from './internal/id-index.js';
import { runEngine, type RuleFactory, type RuleOutput } from './internal/run-engine.js';
import type { StreamItem } from './stream-item.js';

export interface ContaminationOptions {
  /** How long (event time) a user's ids stay "active" after their last run started. Default 10 min. */
  readonly activeForMs?: number;
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
 * Rule, zero tolerance (CRITICAL `cross_user_contamination`):
 * (a) a thread seen with two different owners (thread ids belong to one user);
 * (b) an event whose recipient user differs from its run's owner;
 * (c) another active user's user, thread or run id anywhere inside an event's content.
 * The owner is learned from the run's first event that names a real user.
 */
export function contaminationRule(options: ContaminationOptions = {}): RuleFactory {
  const activeForMs = options.activeForMs ?? 600_000;
  return ({ table, facts }) => {
    const threadOwners = new ActiveIdIndex(activeForMs, 1);
    const activeIds = new ActiveIdIndex(activeForMs);
    const owners = table.refs<string>();
    const threadChecked = table.int8();

    const report = (slot: number, out: RuleOutput, event: AgentEvent, subject: string, detail: string, key: string): void =>
      out.violation(slot, { rule: 'cross_user_contamination', severity: 'CRITICAL', subject, detail, eventTimeMs: event.emittedAtMs, event, key });

    const learnThread = (slot: number, out: RuleOutput, event: AgentEvent, thread: string, owner: string): void => {
      const previous = threadOwners.ownerOf(thread);
      if (previous !== undefined && previous !== owner) {
        report(slot, out, event, 'thread_id', `thread ${thread} belongs to user ${previous} but run ${facts.runIdOf(slot)} is user ${owner}'s`, `thread:${thread}`);
        return;
      }
      threadOwners.register(thread, owner, event.emittedAtMs);
      activeIds.register(thread, owner, event.emittedAtMs);
    };

    /** (b) and (c), and (a) for an event carrying a thread other than its run's: checks once the owner is known. */
    const checkEvent = (event: AgentEvent, slot: number, owner: string, out: RuleOutput): void => {
      const runThread = facts.threadIdOf(slot);
      const claim = claimedUser(event, event.threadId ?? runThread);
      if (claim !== undefined && claim !== owner) report(slot, out, event, 'user_id', `${event.type} of user ${owner}'s run addressed to user ${claim}`, `user:${claim}`);
      const thread = event.threadId;
      if (thread !== undefined && thread !== runThread) {
        const threadOwner = threadOwners.ownerOf(thread);
        if (threadOwner !== undefined && threadOwner !== owner) report(slot, out, event, 'thread_id', `${event.type} of user ${owner}'s run carries thread ${thread} of user ${threadOwner}`, `thread:${thread}`);
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
      report(m.slot, m.out, m.event, 'content', `${m.event.type} of user ${m.owner}'s run mentions ${id}, an id of user ${idOwner}`, `mention:${id}`);
    };
    const visitText = (text: string): void => activeIds.scan(text, onMention);

    return {
      name: 'cross_user_contamination',
      open: (slot) => {
        threadChecked.values[slot] = 0;
      },
      onEvent: (slot, event, out) => {
        let owner = owners.get(slot);
        if (owner === undefined) {
          const claim = claimedUser(event, event.threadId ?? facts.threadIdOf(slot));
          if (claim === undefined) return;
          owner = claim;
          owners.set(slot, owner);
          activeIds.register(owner, owner, event.emittedAtMs);
          activeIds.register(facts.runIdOf(slot), owner, event.emittedAtMs);
        }
        const thread = facts.threadIdOf(slot);
        if (threadChecked.values[slot] === 0 && thread !== undefined) {
          threadChecked.values[slot] = 1;
          learnThread(slot, out, event, thread, owner);
        }
        checkEvent(event, slot, owner, out);
      },
      // Late, suspicious or after-judgement events: the slot is the open run or a stand-in whose
      // owner may be only a thread id (emitter paths); the thread's learned owner is the user then.
      onLateEvent: (event, slot, out) => {
        const thread = facts.threadIdOf(slot) ?? event.threadId;
        let owner = facts.ownerOf(slot);
        if (owner !== undefined && owner === thread) owner = threadOwners.ownerOf(thread);
        if (owner !== undefined) checkEvent(event, slot, owner, out);
      },
      onWatermark: (watermarkMs) => {
        threadOwners.expire(watermarkMs);
        activeIds.expire(watermarkMs);
      },
    };
  };
}

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

/**
 * Emits `cross_user_contamination` for events of one user's run that reach or name another user.
 *
 * ```
 * input:   -S(run r1, user A)-T(run r1, user B)-|
 * output:  -------------------c-----------------|     c: addressed to user B
 * ```
 */
export function detectContamination(contract: CompiledRunContract, options: ContaminationOptions = {}): OperatorFunction<StreamItem, Verdict> {
  return runEngine(contract, () => [contaminationRule(options)]);
}
