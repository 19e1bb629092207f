import type { OperatorFunction } from 'rxjs';
import { LIFECYCLE_TYPES, type AgentEvent } from '../contract/event.js';
import { TYPE_CODE, type CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { runEngine, type RuleFactory, type RuleOutput } from './internal/run-engine.js';
import { refOf, type EventRef } from './internal/run-facts.js';
import type { StreamItem } from './stream-item.js';

const listOf = (refs: EventRef | EventRef[] | undefined): readonly EventRef[] => (refs === undefined ? [] : Array.isArray(refs) ? refs : [refs]);

type PairKey = CompiledRunContract['toolPairing']['matchBy'][number];

/**
 * Index of the partner of `event` among `candidates`: by the most specific pairing key both carry
 * (execution id, event id, tool name), else — when `event` carries no key at all — the oldest.
 */
function findPartner(event: AgentEvent, candidates: readonly EventRef[] | undefined, keys: readonly PairKey[]): number {
  if (candidates === undefined || candidates.length === 0) return -1;
  let keyed = false;
  for (const key of keys) {
    const value = event[key];
    if (value === undefined) continue;
    keyed = true;
    const index = candidates.findIndex((c) => c[key] === value);
    if (index >= 0) return index;
  }
  if (!keyed) return 0;
  // The event's keys match nothing; a partner that carries none of them still pairs by order.
  // Event ids are per event on some wire shapes (a call and its completion each get their own):
  // equal ones link, different ones never block pairing.
  return candidates.findIndex((c) => keys.every((key) => key === 'eventId' || c[key] === undefined || event[key] === undefined));
}

/**
 * Rule: the run follows the contract's order, in event time. agent_started first (else
 * `out_of_order`, or `run_never_started` if it never comes); each type allowed after the previous
 * one by the contract's transition table (else `out_of_order`); every tool_completed after its
 * tool_executing (a completion that precedes its call is `out_of_order`); at close, every tool
 * call completed and every completion called (else `unpaired_tool`). Events after agent_completed
 * are reported by the engine as `event_after_completion`.
 */
export function sequenceRule(contract: CompiledRunContract): RuleFactory {
  const startCode = TYPE_CODE[contract.startType];
  const terminalCode = TYPE_CODE[contract.terminalType];
  const { opens, closes, matchBy } = contract.toolPairing;
  return ({ table, facts }) => {
    /** Type code of the previous event (in event time), -1 before the first. */
    const lastCode = table.int8();
    const started = table.int8();
    /** The first event seen before agent_started, if any. */
    const beforeStart = table.sparse<EventRef>();
    /** tool_executing events still waiting for their tool_completed: usually one, kept without an array. */
    const openTools = table.refs<EventRef | EventRef[]>();
    /** tool_completed events that came before any matching tool_executing. */
    const earlyCompletions = table.sparse<EventRef[]>();
    const outOfOrder = (slot: number, out: RuleOutput, event: EventRef, detail: string): void =>
      out.violation(slot, { rule: 'out_of_order', severity: 'CRITICAL', subject: event.type, detail, eventTimeMs: event.emittedAtMs, event });
    const append = (column: { get(slot: number): EventRef[] | undefined; set(slot: number, value: EventRef[]): void }, slot: number, ref: EventRef): void => {
      const list = column.get(slot);
      if (list === undefined) column.set(slot, [ref]);
      else list.push(ref);
    };

    return {
      name: 'sequence',
      open: (slot) => {
        lastCode.values[slot] = -1;
        started.values[slot] = 0;
      },
      onEvent: (slot, event, out) => {
        const code = TYPE_CODE[event.type];
        const previous = lastCode.values[slot] as number;
        if (code === startCode) {
          const early = beforeStart.get(slot);
          if (started.values[slot] === 1) outOfOrder(slot, out, event, `${event.type} again after the run started`);
          else if (early !== undefined) outOfOrder(slot, out, early, `${early.type} before ${contract.startType}`);
          started.values[slot] = 1;
        } else if (started.values[slot] === 0) {
          if (beforeStart.get(slot) === undefined) beforeStart.set(slot, refOf(event));
        } else if (previous === terminalCode) {
          out.violation(slot, { rule: 'event_after_completion', severity: 'CRITICAL', subject: event.type, detail: `${event.type} after ${contract.terminalType}`, eventTimeMs: event.emittedAtMs, event });
        } else if (((contract.allowedAfter[previous] ?? 0) & (1 << code)) === 0) {
          outOfOrder(slot, out, event, `${event.type} may not follow ${LIFECYCLE_TYPES[previous] ?? 'nothing'}`);
        }
        if (event.type === opens) {
          const completions = earlyCompletions.get(slot);
          const early = findPartner(event, completions, matchBy);
          if (early >= 0) {
            const completion = completions?.splice(early, 1)[0] as EventRef;
            outOfOrder(slot, out, completion, `${closes} of ${completion.toolName ?? 'a tool'} before its ${opens}`);
          } else {
            const calls = openTools.get(slot);
            const call = refOf(event);
            if (calls === undefined) openTools.set(slot, call);
            else if (Array.isArray(calls)) calls.push(call);
            else openTools.set(slot, [calls, call]);
          }
        } else if (event.type === closes) {
          const calls = openTools.get(slot);
          const partner = findPartner(event, listOf(calls), matchBy);
          if (partner < 0) append(earlyCompletions, slot, refOf(event));
          else if (Array.isArray(calls)) calls.splice(partner, 1);
          else openTools.set(slot, undefined);
        }
        lastCode.values[slot] = code;
      },
      onClose: (slot, _closing, out) => {
        if (started.values[slot] === 0) {
          const first = beforeStart.get(slot);
          out.violation(slot, {
            rule: 'run_never_started',
            severity: 'CRITICAL',
            subject: contract.startType,
            detail: `no ${contract.startType}; first event was ${first?.type ?? 'none'}`,
            eventTimeMs: facts.firstEventMs.values[slot] as number,
          });
        }
        for (const call of listOf(openTools.get(slot))) {
          out.violation(slot, { rule: 'unpaired_tool', severity: 'CRITICAL', subject: opens, detail: `${opens} of ${call.toolName ?? 'a tool'} never got its ${closes}`, eventTimeMs: call.emittedAtMs, event: call });
        }
        for (const completion of earlyCompletions.get(slot) ?? []) {
          out.violation(slot, { rule: 'unpaired_tool', severity: 'CRITICAL', subject: closes, detail: `${closes} of ${completion.toolName ?? 'a tool'} without a ${opens}`, eventTimeMs: completion.emittedAtMs, event: completion });
        }
      },
    };
  };
}

/**
 * Emits `out_of_order`, `unpaired_tool`, `event_after_completion` and `run_never_started`.
 *
 * ```
 * input:   -S(0)-C(1)-X(2)-W(3)-F(4)-W(5)-|      C = tool_completed before X = tool_executing
 * output:  ----------o--------------------|      o = out_of_order (one report); F = agent_completed, nothing left unpaired
 * ```
 */
export function detectSequence(contract: CompiledRunContract): OperatorFunction<StreamItem, Verdict> {
  return runEngine(contract, () => [sequenceRule(contract)]);
}
