import { LIFECYCLE_TYPES } from '../../contract/event.js';
import { TYPE_CODE, type CompiledRunContract } from '../../contract/run-contract.js';
import type { RuleFactory } from '../engine/rule.js';

/**
 * Rule `missing_events` (per run, at judgement): every required lifecycle type arrived before the
 * run became final. A missing start type is the sequence rule's `run_never_started`. The verdict
 * is revisable: late events that bring every missing type retract it, any other confirms it.
 */
export function missingEventsRule(contract: CompiledRunContract): RuleFactory {
  const checked = LIFECYCLE_TYPES.filter((t) => (contract.requiredMask & (1 << TYPE_CODE[t])) !== 0 && t !== contract.startType);
  return ({ facts }) => ({
    name: 'missing_events',
    judgesPurely: true,
    judge: ({ slot, outcome }, out) => {
      const missing = checked.filter((t) => !facts.hasSeen(slot, t));
      if (missing.length === 0) return;
      out.violation(slot, {
        rule: 'missing_events',
        severity: 'CRITICAL',
        subject: missing.join(','),
        detail: `run judged (${outcome}) without ${missing.join(', ')}`,
        eventTimeMs: facts.startedAtMs(slot) ?? facts.firstEventAt(slot),
        missing,
        retractedBy: missing,
      });
    },
  });
}
