import type { OperatorFunction } from 'rxjs';
import type { AgentEvent } from '../contract/event.js';
import type { CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { defineRule, runEngine, type AnyRunRule } from './internal/run-engine.js';
import { refOf, type EventRef } from './internal/run-facts.js';
import type { StreamItem } from './stream-item.js';

interface DuplicatesState {
  /** The events at the latest emission time seen: a redelivery has the same time, so it sorts right after. */
  readonly atLastTime: EventRef[];
}

/** Same type, same emission time, same call ids: the same event, delivered again. */
function sameEvent(a: EventRef, b: AgentEvent): boolean {
  return a.emittedAtMs === b.emittedAtMs && a.type === b.type && a.executionId === b.executionId && a.eventId === b.eventId && a.toolName === b.toolName;
}

/**
 * Rule: an event delivered twice (producer retry, recovery replay) counts once. The copy is
 * reported as `duplicate_delivery` (WARNING) and hidden from the rules after this one, so it is
 * never a second event. Must come first in the rule list.
 */
export function duplicatesRule(): AnyRunRule {
  return defineRule<DuplicatesState>({
    name: 'duplicate_delivery',
    init: () => ({ atLastTime: [] }),
    onEvent: (state, event, run, out) => {
      const seen = state.atLastTime;
      if (seen.length > 0 && (seen[0] as EventRef).emittedAtMs !== event.emittedAtMs) seen.length = 0;
      else if (seen.some((earlier) => sameEvent(earlier, event))) {
        out.violation(run, {
          rule: 'duplicate_delivery',
          severity: 'WARNING',
          subject: event.type,
          detail: `${event.type} delivered again${event.recovered ? ' (recovery replay)' : ''}; counted once`,
          eventTimeMs: event.emittedAtMs,
          event,
        });
        return false;
      }
      seen.push(refOf(event));
      return true;
    },
  });
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
