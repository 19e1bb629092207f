import type { OperatorFunction } from 'rxjs';
import { LIFECYCLE_TYPES, type AgentEvent } from '../contract/event.js';
import { TYPE_CODE, type CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { defineRule, runEngine, type AnyRunRule, type RunState, type RuleOutput } from './internal/run-engine.js';
import { refOf, type EventRef } from './internal/run-facts.js';
import type { StreamItem } from './stream-item.js';

interface SequenceState {
  /** Type code of the previous event (in event time), -1 before the first. */
  lastCode: number;
  started: boolean;
  /** The first event seen before agent_started, if any. */
  beforeStart: EventRef | undefined;
  /** tool_executing events still waiting for their tool_completed (allocated on first use). */
  openTools: EventRef[] | undefined;
  /** tool_completed events that came before any matching tool_executing. */
  earlyCompletions: EventRef[] | undefined;
}

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
export function sequenceRule(contract: CompiledRunContract): AnyRunRule {
  const startCode = TYPE_CODE[contract.startType];
  const terminalCode = TYPE_CODE[contract.terminalType];
  const { opens, closes, matchBy } = contract.toolPairing;
  const outOfOrder = (run: RunState, out: RuleOutput, event: EventRef, detail: string): void =>
    out.violation(run, { rule: 'out_of_order', severity: 'CRITICAL', subject: event.type, detail, eventTimeMs: event.emittedAtMs, event });

  return defineRule<SequenceState>({
    name: 'sequence',
    init: () => ({ lastCode: -1, started: false, beforeStart: undefined, openTools: undefined, earlyCompletions: undefined }),
    onEvent: (state, event, run, out) => {
      const code = TYPE_CODE[event.type];
      if (code === startCode) {
        if (state.started) outOfOrder(run, out, event, `${event.type} again after the run started`);
        else if (state.beforeStart !== undefined) outOfOrder(run, out, state.beforeStart, `${state.beforeStart.type} before ${contract.startType}`);
        state.started = true;
      } else if (!state.started) {
        state.beforeStart ??= refOf(event);
      } else if (state.lastCode === terminalCode) {
        out.violation(run, { rule: 'event_after_completion', severity: 'CRITICAL', subject: event.type, detail: `${event.type} after ${contract.terminalType}`, eventTimeMs: event.emittedAtMs, event });
      } else if (((contract.allowedAfter[state.lastCode] ?? 0) & (1 << code)) === 0) {
        outOfOrder(run, out, event, `${event.type} may not follow ${LIFECYCLE_TYPES[state.lastCode] ?? 'nothing'}`);
      }
      if (event.type === opens) {
        const early = findPartner(event, state.earlyCompletions, matchBy);
        if (early >= 0) {
          const completion = state.earlyCompletions?.splice(early, 1)[0] as EventRef;
          outOfOrder(run, out, completion, `${closes} of ${completion.toolName ?? 'a tool'} before its ${opens}`);
        } else {
          if (state.openTools === undefined) state.openTools = [refOf(event)];
          else state.openTools.push(refOf(event));
        }
      } else if (event.type === closes) {
        const partner = findPartner(event, state.openTools, matchBy);
        if (partner >= 0) state.openTools?.splice(partner, 1);
        else if (state.earlyCompletions === undefined) state.earlyCompletions = [refOf(event)];
        else state.earlyCompletions.push(refOf(event));
      }
      state.lastCode = code;
    },
    onClose: (state, run, _closing, out) => {
      if (!state.started) {
        const first = state.beforeStart;
        out.violation(run, {
          rule: 'run_never_started',
          severity: 'CRITICAL',
          subject: contract.startType,
          detail: `no ${contract.startType}; first event was ${first?.type ?? 'none'}`,
          eventTimeMs: run.facts.firstEventMs,
        });
      }
      for (const call of state.openTools ?? []) {
        out.violation(run, { rule: 'unpaired_tool', severity: 'CRITICAL', subject: opens, detail: `${opens} of ${call.toolName ?? 'a tool'} never got its ${closes}`, eventTimeMs: call.emittedAtMs, event: call });
      }
      for (const completion of state.earlyCompletions ?? []) {
        out.violation(run, { rule: 'unpaired_tool', severity: 'CRITICAL', subject: closes, detail: `${closes} of ${completion.toolName ?? 'a tool'} without a ${opens}`, eventTimeMs: completion.emittedAtMs, event: completion });
      }
    },
  });
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
