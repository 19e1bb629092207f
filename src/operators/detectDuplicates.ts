import type { OperatorFunction } from 'rxjs';
import type { AgentEvent } from '../contract/event.js';
import type { CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { defineRule, runEngine, type AnyRunRule } from './internal/run-engine.js';
import type { StreamItem } from './stream-item.js';

interface DuplicatesState {
  lastTimeMs: number;
  /** Fingerprints of the events at lastTimeMs: a redelivery has the same time, so it sorts right after. */
  fingerprints: string[];
}

/** Same type, same emission time, same call ids: the same event, delivered again. */
function fingerprint(event: AgentEvent): string {
  return `${event.type}\u0000${event.executionId ?? ''}\u0000${event.eventId ?? ''}\u0000${event.toolName ?? ''}`;
}

/**
 * Rule: an event delivered twice (producer retry, recovery replay) counts once. The copy is
 * reported as `duplicate_delivery` (WARNING) and hidden from the rules after this one, so it is
 * never a second event. Must come first in the rule list.
 */
export function duplicatesRule(): AnyRunRule {
  return defineRule<DuplicatesState>({
    name: 'duplicate_delivery',
    init: () => ({ lastTimeMs: Number.NaN, fingerprints: [] }),
    onEvent: (state, event, run, out) => {
      const print = fingerprint(event);
      if (event.emittedAtMs !== state.lastTimeMs) {
        state.lastTimeMs = event.emittedAtMs;
        state.fingerprints.length = 0;
      } else if (state.fingerprints.includes(print)) {
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
      state.fingerprints.push(print);
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
