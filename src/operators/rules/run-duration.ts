import { severityOf, type CompiledRunContract } from '../../contract/run-contract.js';
import type { RuleFactory } from '../engine/rule.js';

/**
 * Rule `run_duration` (per run, at judgement): agent_started (else the first event) to
 * agent_completed against the contract's levels (strict >: WARNING above 10 s, CRITICAL above
 * 30 s). A run that was not completed by its deadline is CRITICAL (`deadline`); if its completion
 * comes later still, that verdict stands (the run was too slow either way).
 */
export function runDurationRule(contract: CompiledRunContract): RuleFactory {
  const levels = contract.thresholds.runDurationMs;
  return ({ facts }) => ({
    name: 'run_duration',
    judgesPurely: true,
    judge: ({ slot, events, outcome }, out, summary) => {
      const start = facts.startedAtMs(slot) ?? facts.firstEventAt(slot);
      const completion = events.find((e) => e.type === contract.terminalType);
      if (completion !== undefined) {
        const duration = completion.emittedAtMs - start;
        summary.durationMs = duration;
        const severity = severityOf(duration, levels);
        if (severity === undefined) return;
        out.violation(slot, {
          rule: 'run_duration',
          severity,
          subject: 'duration',
          detail: `run took ${Math.round(duration)} ms (limit ${severity === 'CRITICAL' ? levels.critical : levels.warning} ms)`,
          eventTimeMs: completion.emittedAtMs,
          event: completion,
        });
      } else if (outcome === 'deadline') {
        out.violation(slot, {
          rule: 'run_duration',
          severity: 'CRITICAL',
          subject: 'deadline',
          detail: `not completed ${levels.critical} ms after it started`,
          eventTimeMs: facts.firstEventAt(slot) + levels.critical,
          key: 'deadline',
        });
      }
    },
  });
}
