import type { OperatorFunction } from 'rxjs';
import type { AgentEvent } from '../contract/event.js';
import type { CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { isWireObject } from '../contract/wire.js';
import { ActiveIdIndex } from './internal/id-index.js';
import { defineRule, runEngine, type AnyRunRule, type RunState, type RuleOutput } from './internal/run-engine.js';
import { ownerOf } from './internal/run-facts.js';
import type { StreamItem } from './stream-item.js';

export interface ContaminationOptions {
  /** How long (event time) a user's ids stay "active" after their last run started. Default 10 min. */
  readonly activeForMs?: number;
}

/** Envelope keys that carry the event's own identity: checked by ownership, not by content scan. */
const IDENTITY_KEYS = new Set(['user_id', 'thread_id', 'run_id']);
const ENVELOPES = new Set(['payload', 'data']);

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
export function contaminationRule(options: ContaminationOptions = {}): AnyRunRule {
  const activeForMs = options.activeForMs ?? 600_000;
  const threadOwners = new ActiveIdIndex(activeForMs, 1);
  const activeIds = new ActiveIdIndex(activeForMs);

  const report = (run: RunState, out: RuleOutput, event: AgentEvent, subject: string, detail: string, key: string): void =>
    out.violation(run, { rule: 'cross_user_contamination', severity: 'CRITICAL', subject, detail, eventTimeMs: event.emittedAtMs, event, key });

  const learnThread = (run: RunState, out: RuleOutput, event: AgentEvent, thread: string, owner: string): void => {
    const previous = threadOwners.ownerOf(thread);
    if (previous !== undefined && previous !== owner) {
      report(run, out, event, 'thread_id', `thread ${thread} belongs to user ${previous} but run ${run.facts.runId} is user ${owner}'s`, `thread:${thread}`);
      return;
    }
    threadOwners.register(thread, owner, event.emittedAtMs);
    activeIds.register(thread, owner, event.emittedAtMs);
  };

  /** (b) and (c), and (a) for an event carrying a thread other than its run's: checks once the owner is known. */
  const checkEvent = (event: AgentEvent, run: RunState, owner: string, out: RuleOutput): void => {
    const claim = claimedUser(event, event.threadId ?? run.facts.threadId);
    if (claim !== undefined && claim !== owner) report(run, out, event, 'user_id', `${event.type} of user ${owner}'s run addressed to user ${claim}`, `user:${claim}`);
    const thread = event.threadId;
    if (thread !== undefined && thread !== run.facts.threadId) {
      const threadOwner = threadOwners.ownerOf(thread);
      if (threadOwner !== undefined && threadOwner !== owner) report(run, out, event, 'thread_id', `${event.type} of user ${owner}'s run carries thread ${thread} of user ${threadOwner}`, `thread:${thread}`);
    }
    let reported: string[] | undefined;
    scanContent(event.body, 0, (text) => {
      if (text.length < activeIds.minIdLength) return;
      activeIds.scan(text, (id, idOwner) => {
        if (idOwner === owner || reported?.includes(id)) return;
        (reported ??= []).push(id);
        report(run, out, event, 'content', `${event.type} of user ${owner}'s run mentions ${id}, an id of user ${idOwner}`, `mention:${id}`);
      });
    });
  };

  return defineRule<{ owner: string | undefined; threadChecked: boolean }>({
    name: 'cross_user_contamination',
    init: () => ({ owner: undefined, threadChecked: false }),
    onEvent: (state, event, run, out) => {
      if (state.owner === undefined) {
        const claim = claimedUser(event, event.threadId ?? run.facts.threadId);
        if (claim === undefined) return;
        state.owner = claim;
        activeIds.register(claim, claim, event.emittedAtMs);
        activeIds.register(run.facts.runId, claim, event.emittedAtMs);
      }
      const owner = state.owner;
      const thread = run.facts.threadId;
      if (!state.threadChecked && thread !== undefined) {
        state.threadChecked = true;
        learnThread(run, out, event, thread, owner);
      }
      checkEvent(event, run, owner, out);
    },
    onLateEvent: (event, run, out) => {
      const owner = ownerOf(run.facts);
      if (owner !== undefined) checkEvent(event, run, owner, out);
    },
    onWatermark: (watermarkMs) => {
      threadOwners.expire(watermarkMs);
      activeIds.expire(watermarkMs);
    },
  });
}

/** Calls `visit` for every string in the record, except the envelope's own identity fields. */
function scanContent(node: unknown, depth: number, visit: (text: string) => void): void {
  if (typeof node === 'string') return visit(node);
  if (Array.isArray(node)) {
    for (const item of node) scanContent(item, depth + 1, visit);
    return;
  }
  if (!isWireObject(node)) return;
  for (const key in node) {
    const value = node[key];
    if (depth === 0 && IDENTITY_KEYS.has(key)) continue;
    if (depth === 0 && ENVELOPES.has(key) && isWireObject(value)) {
      for (const inner in value) if (!IDENTITY_KEYS.has(inner)) scanContent(value[inner], 2, visit);
      continue;
    }
    scanContent(value, depth + 1, visit);
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
