import type { OperatorFunction } from 'rxjs';
import type { AgentEvent } from '../contract/event.js';
import { TYPE_CODE, type CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { runEngine, type RuleFactory } from './internal/run-engine.js';
import { refOf, type EventRef } from './internal/run-facts.js';
import type { StreamItem } from './stream-item.js';

/** Same type, same emission time, same call ids: the same event, delivered again. */
function sameEvent(a: EventRef, b: AgentEvent): boolean {
  return a.emittedAtMs === b.emittedAtMs && a.type === b.type && a.executionId === b.executionId && a.eventId === b.eventId && a.toolName === b.toolName;
}

/**
 * Rule: an event delivered twice (producer retry, recovery replay) counts once. The copy is
 * reported as `duplicate_delivery` (WARNING) and hidden from the rules after this one, so it is
 * never a second event. Must come first in the rule list.
 *
 * Per run it keeps the identity of the event at the latest emission time seen, inline (this runs
 * for every event of every open run): a redelivery has the same time, so it sorts right after the
 * original.
 */
export function duplicatesRule(): RuleFactory {
  return ({ table }) => {
    const lastTimeMs = table.float64();
    const lastType = table.int8();
    const lastExecutionId = table.refs<string>();
    const lastEventId = table.refs<string>();
    const lastToolName = table.refs<string>();
    /** Other events at that same time (rare; allocated only then). */
    const alsoAtLastTime = table.sparse<EventRef[]>();
    const isLast = (slot: number, event: AgentEvent): boolean =>
      lastType.values[slot] === TYPE_CODE[event.type] && lastExecutionId.get(slot) === event.executionId && lastEventId.get(slot) === event.eventId && lastToolName.get(slot) === event.toolName;
    return {
      name: 'duplicate_delivery',
      open: (slot) => {
        lastTimeMs.values[slot] = Number.NaN;
      },
      onEvent: (slot, event, out) => {
        if (lastTimeMs.values[slot] !== event.emittedAtMs) {
          lastTimeMs.values[slot] = event.emittedAtMs;
          lastType.values[slot] = TYPE_CODE[event.type];
          lastExecutionId.set(slot, event.executionId);
          lastEventId.set(slot, event.eventId);
          lastToolName.set(slot, event.toolName);
          alsoAtLastTime.set(slot, undefined);
          return true;
        }
        if (isLast(slot, event) || alsoAtLastTime.get(slot)?.some((earlier) => sameEvent(earlier, event)) === true) {
          out.violation(slot, {
            rule: 'duplicate_delivery',
            severity: 'WARNING',
            subject: event.type,
            detail: `${event.type} delivered again${event.recovered ? ' (recovery replay)' : ''}; counted once`,
            eventTimeMs: event.emittedAtMs,
            event,
          });
          return false;
        }
        const others = alsoAtLastTime.get(slot);
        if (others === undefined) alsoAtLastTime.set(slot, [refOf(event)]);
        else others.push(refOf(event));
        return true;
      },
    };
  };
}

/**
 * Emits `duplicate_delivery` for every repeated delivery of an event.
 *
 * ```
 * input:   -a(5)-a'(5)-b(6)-|        a' = a delivered again
 * output:  ------D----------|
 * ```
 */
export function detectDuplicates(contract: CompiledRunContract): OperatorFunction<StreamItem, Verdict> {
  return runEngine(contract, () => [duplicatesRule()]);
}
