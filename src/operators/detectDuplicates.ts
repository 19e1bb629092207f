import type { OperatorFunction } from 'rxjs';
import type { AgentEvent } from '../contract/event.js';
import type { CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { defineRule, runEngine, type AnyRunRule } from './internal/run-engine.js';
import { refOf, type EventRef } from './internal/run-facts.js';
import type { StreamItem } from './stream-item.js';

/**
 * The identity of the event at the latest emission time seen, kept inline (this runs for every
 * event of every open run): a redelivery has the same time, so it sorts right after the original.
 */
interface DuplicatesState {
  lastTimeMs: number;
  lastType: string | undefined;
  lastExecutionId: string | undefined;
  lastEventId: string | undefined;
  lastToolName: string | undefined;
  /** Other events at that same time (rare; allocated only then). */
  alsoAtLastTime: EventRef[] | undefined;
}

/** Same type, same emission time, same call ids: the same event, delivered again. */
function sameEvent(a: Pick<AgentEvent, 'emittedAtMs' | 'type' | 'executionId' | 'eventId' | 'toolName'>, b: AgentEvent): boolean {
  return a.emittedAtMs === b.emittedAtMs && a.type === b.type && a.executionId === b.executionId && a.eventId === b.eventId && a.toolName === b.toolName;
}

function isLast(state: DuplicatesState, event: AgentEvent): boolean {
  return state.lastType === event.type && state.lastExecutionId === event.executionId && state.lastEventId === event.eventId && state.lastToolName === event.toolName;
}

/**
 * Rule: an event delivered twice (producer retry, recovery replay) counts once. The copy is
 * reported as `duplicate_delivery` (WARNING) and hidden from the rules after this one, so it is
 * never a second event. Must come first in the rule list.
 */
export function duplicatesRule(): AnyRunRule {
  return defineRule<DuplicatesState>({
    name: 'duplicate_delivery',
    init: () => ({ lastTimeMs: Number.NaN, lastType: undefined, lastExecutionId: undefined, lastEventId: undefined, lastToolName: undefined, alsoAtLastTime: undefined }),
    onEvent: (state, event, run, out) => {
      if (state.lastTimeMs !== event.emittedAtMs) {
        state.lastTimeMs = event.emittedAtMs;
        state.lastType = event.type;
        state.lastExecutionId = event.executionId;
        state.lastEventId = event.eventId;
        state.lastToolName = event.toolName;
        state.alsoAtLastTime = undefined;
        return true;
      }
      if (isLast(state, event) || state.alsoAtLastTime?.some((earlier) => sameEvent(earlier, event)) === true) {
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
      (state.alsoAtLastTime ??= []).push(refOf(event));
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
