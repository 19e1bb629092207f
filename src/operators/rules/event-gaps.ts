import { severityOf, type CompiledRunContract } from '../../contract/run-contract.js';
import type { EventRef, RuleFactory } from '../engine/rule.js';

/**
 * Rule `event_gap` (per run, at judgement): the time between consecutive events, up to the run's
 * completion, against the contract's levels (strict >: WARNING above 1 s, CRITICAL above 5 s).
 * A CRITICAL gap is reported as `silence` (the run went quiet), keyed by the event before it; a run
 * never completed is also silent from its last event to where it ended (its deadline). Adds the
 * largest gap between events to the summary.
 */
export function gapRule(contract: CompiledRunContract): RuleFactory {
  const levels = contract.thresholds.gapMs;
  return () => ({
    name: 'event_gap',
    judgesPurely: true,
    judge: ({ slot, events, outcome, endMs }, out, summary) => {
      let previous: EventRef | undefined;
      let completed = false;
      const silence = (from: EventRef): void =>
        out.violation(slot, {
          rule: 'event_gap',
          severity: 'CRITICAL',
          subject: 'silence',
          detail: `no event for more than ${levels.critical} ms after the event at ${new Date(Math.floor(from.emittedAtMs)).toISOString()}`,
          eventTimeMs: from.emittedAtMs + levels.critical,
          key: `silence:${from.emittedAtMs}`,
        });
      for (const event of events) {
        if (previous !== undefined) {
          const gap = event.emittedAtMs - previous.emittedAtMs;
          if (gap > summary.maxGapMs) summary.maxGapMs = gap;
          const severity = severityOf(gap, levels);
          if (severity === 'CRITICAL') silence(previous);
          else if (severity === 'WARNING') {
            out.violation(slot, { rule: 'event_gap', severity, subject: event.type, detail: `${Math.round(gap)} ms without an event before ${event.type}`, eventTimeMs: event.emittedAtMs, event });
          }
        }
        previous = event;
        if (event.type === contract.terminalType) {
          completed = true;
          break; // what follows the completion is event_after_completion's, not a gap
        }
      }
      if (!completed && outcome !== 'completed' && previous !== undefined && severityOf(endMs - previous.emittedAtMs, levels) === 'CRITICAL') silence(previous);
    },
  });
}
