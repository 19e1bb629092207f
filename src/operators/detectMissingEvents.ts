import type { OperatorFunction } from 'rxjs';
import { LIFECYCLE_TYPES } from '../contract/event.js';
import { TYPE_CODE, type CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { runEngine, type RuleFactory } from './internal/run-engine.js';
import type { StreamItem } from './stream-item.js';

/**
 * Rule: when a run closes (its agent_completed reached, its deadline passed, or end of input),
 * every required lifecycle type must have arrived. A missing start type is reported by the
 * sequence rule as `run_never_started`, not here. Late events count as arrived.
 */
export function missingEventsRule(contract: CompiledRunContract): RuleFactory {
  const checked = LIFECYCLE_TYPES.filter((t) => (contract.requiredMask & (1 << TYPE_CODE[t])) !== 0 && t !== contract.startType);
  return ({ facts }) => ({
    name: 'missing_events',
    onClose: (slot, closing, out) => {
      const seen = facts.seenMask.values[slot] as number;
      const missing = checked.filter((t) => (seen & (1 << TYPE_CODE[t])) === 0);
      if (missing.length === 0) return;
      out.violation(slot, {
        rule: 'missing_events',
        severity: 'CRITICAL',
        subject: missing.join(','),
        detail: `run closed (${closing.outcome}) without ${missing.join(', ')}`,
        eventTimeMs: facts.startedAtMs(slot) ?? (facts.firstEventMs.values[slot] as number),
        missing,
      });
    },
  });
}

/**
 * Emits a CRITICAL `missing_events` violation for every run that closes without all required
 * lifecycle types. Input: event-time ordered items (withWatermark → orderByEventTime).
 *
 * ```
 * deadline = 10
 * input:   -S(0)-T(1)-W(2)--------W(11)-|         S = agent_started, T = agent_thinking, W = watermark
 * output:  ----------------------V------|         V = missing [tool_executing, tool_completed, agent_completed]
 * ```
 */
export function detectMissingEvents(contract: CompiledRunContract): OperatorFunction<StreamItem, Verdict> {
  return runEngine(contract, () => [missingEventsRule(contract)]);
}
