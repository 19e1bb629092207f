import { LIFECYCLE_TYPES } from '../../contract/event.js';
import { TYPE_CODE, type CompiledRunContract } from '../../contract/run-contract.js';
import type { EventRef, RuleFactory, RuleOutput } from '../engine/rule.js';

type PairKey = CompiledRunContract['toolPairing']['matchBy'][number];

/**
 * Index of the partner of `event` among `candidates`: by the most specific pairing key both carry
 * (execution id, event id, tool name), else — when `event` carries no key at all — the oldest.
 */
function findPartner(event: EventRef, candidates: readonly EventRef[], keys: readonly PairKey[]): number {
  if (candidates.length === 0) return -1;
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
 * Rules `out_of_order`, `event_after_completion`, `unpaired_tool` and `run_never_started` (per
 * run, at judgement, over the run's events in event-time order):
 * - every event after agent_completed is `event_after_completion` (and nothing else: a
 *   tool_completed stamped after the completion still pairs with its call);
 * - agent_started comes first: the first event before it is `out_of_order`, a second one too;
 *   without any, `run_never_started`;
 * - each type is allowed after the previous one by the contract's transition table;
 * - a tool_completed before its tool_executing is `out_of_order`;
 * - a call never completed, or a completion never called, is `unpaired_tool` — only when the
 *   run has both tool types: when a whole type is absent, `missing_events` names that one fault.
 */
export function sequenceRule(contract: CompiledRunContract): RuleFactory {
  const terminalCode = TYPE_CODE[contract.terminalType];
  const { opens, closes, matchBy } = contract.toolPairing;
  return ({ facts }) => {
    const judgeOrder = (slot: number, events: readonly EventRef[], out: RuleOutput): void => {
      const outOfOrder = (event: EventRef, detail: string): void =>
        out.violation(slot, { rule: 'out_of_order', severity: 'CRITICAL', subject: event.type, detail, eventTimeMs: event.emittedAtMs, event });
      let started = false;
      let completed = false;
      let beforeStart: EventRef | undefined;
      let previousCode = -1;
      const openCalls: EventRef[] = [];
      const earlyCompletions: EventRef[] = [];
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
        if (event.type === opens) {
          const early = findPartner(event, earlyCompletions, matchBy);
          if (early >= 0) {
            const completion = earlyCompletions.splice(early, 1)[0] as EventRef;
            outOfOrder(completion, `${closes} of ${completion.toolName ?? 'a tool'} before its ${opens}`);
          } else {
            openCalls.push(event);
          }
        } else if (event.type === closes) {
          const partner = findPartner(event, openCalls, matchBy);
          if (partner < 0) earlyCompletions.push(event);
          else openCalls.splice(partner, 1);
        }
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
      if (facts.hasSeen(slot, closes)) {
        for (const call of openCalls) {
          out.violation(slot, { rule: 'unpaired_tool', severity: 'CRITICAL', subject: opens, detail: `${opens} of ${call.toolName ?? 'a tool'} never got its ${closes}`, eventTimeMs: call.emittedAtMs, event: call });
        }
      }
      if (facts.hasSeen(slot, opens)) {
        for (const completion of earlyCompletions) {
          out.violation(slot, { rule: 'unpaired_tool', severity: 'CRITICAL', subject: closes, detail: `${closes} of ${completion.toolName ?? 'a tool'} without a ${opens}`, eventTimeMs: completion.emittedAtMs, event: completion });
        }
      }
    };
    return { name: 'sequence', judge: ({ slot, events }, out) => judgeOrder(slot, events, out) };
  };
}
