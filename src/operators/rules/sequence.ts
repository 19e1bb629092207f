import { LIFECYCLE_TYPES } from '../../contract/event.js';
import { TYPE_CODE, type CompiledRunContract } from '../../contract/run-contract.js';
import type { EventRef, RuleFactory, RuleOutput } from '../engine/rule.js';

type PairKey = CompiledRunContract['toolPairing']['matchBy'][number];

/** What two halves of a tool call must not contradict to pair by order: a differing execution id or tool name. Event ids are per event on some wire shapes, so they never block. */
function compatible(call: EventRef, completion: EventRef): boolean {
  return (call.executionId === undefined || completion.executionId === undefined || call.executionId === completion.executionId) && (call.toolName === undefined || completion.toolName === undefined || call.toolName === completion.toolName);
}

const NONE: readonly EventRef[] = [];

/** What pairing leaves to report: calls and completions without a partner, completions paired with a later call. */
interface Pairing {
  readonly openCalls: readonly EventRef[];
  readonly orphanCompletions: readonly EventRef[];
  readonly early: readonly EventRef[];
}

/**
 * Pairs a run's tool calls with their completions, over the whole run (both lists in event-time
 * order): first by a shared id (execution id, then event id) wherever the two sit in time; then each
 * completion with the latest open call before it that does not contradict it (tool name,
 * execution id: a completion answers the call most recently made); only then a completion still
 * alone with the earliest such call after it (a completion before its call). A keyed pair is never
 * taken apart by a guess from names or order. Plain loops over reused flags: this runs for every
 * run that has tools.
 */
class ToolPairing {
  private callTaken: boolean[] = [];
  private partnerOf: number[] = [];

  constructor(private readonly keys: readonly PairKey[]) {}

  pair(calls: readonly EventRef[], completions: readonly EventRef[]): Pairing {
    const callTaken = this.callTaken;
    const partnerOf = this.partnerOf;
    callTaken.length = calls.length;
    partnerOf.length = completions.length;
    callTaken.fill(false);
    partnerOf.fill(-1);
    const take = (d: number, c: number): void => {
      callTaken[c] = true;
      partnerOf[d] = c;
    };
    for (const key of this.keys) {
      if (key === 'toolName') continue; // names are shared by many calls: matched with order below
      for (let d = 0; d < completions.length; d += 1) {
        const value = (completions[d] as EventRef)[key];
        if (partnerOf[d] !== -1 || value === undefined) continue;
        for (let c = 0; c < calls.length; c += 1) {
          if (!callTaken[c] && (calls[c] as EventRef)[key] === value) {
            take(d, c);
            break;
          }
        }
      }
    }
    for (let d = 0; d < completions.length; d += 1) {
      if (partnerOf[d] !== -1) continue;
      const completion = completions[d] as EventRef;
      for (let c = calls.length - 1; c >= 0; c -= 1) {
        const call = calls[c] as EventRef;
        if (!callTaken[c] && call.emittedAtMs <= completion.emittedAtMs && compatible(call, completion)) {
          take(d, c);
          break;
        }
      }
    }
    let paired = 0;
    let early: EventRef[] | undefined;
    let orphanCompletions: EventRef[] | undefined;
    for (let d = 0; d < completions.length; d += 1) {
      const completion = completions[d] as EventRef;
      if (partnerOf[d] === -1) {
        for (let c = 0; c < calls.length; c += 1) {
          if (!callTaken[c] && compatible(calls[c] as EventRef, completion)) {
            take(d, c);
            break;
          }
        }
      }
      const partner = partnerOf[d] as number;
      if (partner === -1) (orphanCompletions ??= []).push(completion);
      else {
        paired += 1;
        if ((calls[partner] as EventRef).emittedAtMs > completion.emittedAtMs) (early ??= []).push(completion);
      }
    }
    const openCalls = paired === calls.length ? NONE : calls.filter((_, c) => !callTaken[c]);
    return { openCalls, orphanCompletions: orphanCompletions ?? NONE, early: early ?? NONE };
  }
}

/**
 * Rules `out_of_order`, `event_after_completion`, `unpaired_tool` and `run_never_started` (per
 * run, at judgement, over the run's events in event-time order):
 * - every event after agent_completed is `event_after_completion` (and nothing else: a
 *   tool_completed stamped after the completion still pairs with its call);
 * - agent_started comes first: the first event before it is `out_of_order`, a second one too;
 *   without any, `run_never_started`;
 * - each type is allowed after the previous one by the contract's transition table;
 * - a tool_completed before its tool_executing is `out_of_order` (pairing: `ToolPairing`);
 * - a call never completed, or a completion never called, is `unpaired_tool` — only when the
 *   run has both tool types: when a whole type is absent, `missing_events` names that one fault.
 */
export function sequenceRule(contract: CompiledRunContract): RuleFactory {
  const terminalCode = TYPE_CODE[contract.terminalType];
  const { opens, closes, matchBy } = contract.toolPairing;
  return ({ facts }) => {
    const pairing = new ToolPairing(matchBy);
    // Reused by every judgement (the engine judges one run at a time).
    const calls: EventRef[] = [];
    const completions: EventRef[] = [];
    const judgeOrder = (slot: number, events: readonly EventRef[], out: RuleOutput): void => {
      const outOfOrder = (event: EventRef, detail: string): void =>
        out.violation(slot, { rule: 'out_of_order', severity: 'CRITICAL', subject: event.type, detail, eventTimeMs: event.emittedAtMs, event });
      let started = false;
      let completed = false;
      let beforeStart: EventRef | undefined;
      let previousCode = -1;
      calls.length = 0;
      completions.length = 0;
      for (const event of events) {
        const code = TYPE_CODE[event.type];
        if (completed) {
          out.violation(slot, { rule: 'event_after_completion', severity: 'CRITICAL', subject: event.type, detail: `${event.type} after ${contract.terminalType}`, eventTimeMs: event.emittedAtMs, event });
        } else if (event.type === contract.startType) {
          if (started) outOfOrder(event, `${event.type} again after the run started`);
          else if (beforeStart !== undefined) outOfOrder(beforeStart, `${beforeStart.type} before ${contract.startType}`);
          started = true;
        } else if (!started) {
          beforeStart ??= event;
        } else if (((contract.allowedAfter[previousCode] ?? 0) & (1 << code)) === 0) {
          outOfOrder(event, `${event.type} may not follow ${LIFECYCLE_TYPES[previousCode] ?? 'nothing'}`);
        }
        if (event.type === opens) calls.push(event);
        else if (event.type === closes) completions.push(event);
        if (code === terminalCode) completed = true;
        if (!completed) previousCode = code;
      }
      if (!started) {
        out.violation(slot, {
          rule: 'run_never_started',
          severity: 'CRITICAL',
          subject: contract.startType,
          detail: `no ${contract.startType}; first event was ${events[0]?.type ?? 'none'}`,
          eventTimeMs: facts.firstEventAt(slot),
        });
      }
      const { openCalls, orphanCompletions, early } = pairing.pair(calls, completions);
      for (const completion of early) outOfOrder(completion, `${closes} of ${completion.toolName ?? 'a tool'} before its ${opens}`);
      // Only when both halves occur: a whole type absent is missing_events' one verdict.
      if (completions.length > 0) {
        for (const call of openCalls) {
          out.violation(slot, { rule: 'unpaired_tool', severity: 'CRITICAL', subject: opens, detail: `${opens} of ${call.toolName ?? 'a tool'} never got its ${closes}`, eventTimeMs: call.emittedAtMs, event: call });
        }
      }
      if (calls.length > 0) {
        for (const completion of orphanCompletions) {
          out.violation(slot, { rule: 'unpaired_tool', severity: 'CRITICAL', subject: closes, detail: `${closes} of ${completion.toolName ?? 'a tool'} without a ${opens}`, eventTimeMs: completion.emittedAtMs, event: completion });
        }
      }
    };
    return { name: 'sequence', judgesPurely: true, judge: ({ slot, events }, out) => judgeOrder(slot, events, out) };
  };
}
