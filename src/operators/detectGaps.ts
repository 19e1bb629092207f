import type { OperatorFunction } from 'rxjs';
import { severityOf, type CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { runEngine, type RuleFactory } from './internal/run-engine.js';
import type { StreamItem } from './stream-item.js';

/**
 * Rule: the gap between consecutive events of a run, in event time, against the contract's levels
 * (strict >: WARNING above 1 s, CRITICAL above 5 s by default). A run that goes silent is reported
 * CRITICAL as soon as event time passes last event + 5 s, even if it never sends another event;
 * the event that ends such a silence does not report it again. Adds the max gap to the summary.
 */
export function gapRule(contract: CompiledRunContract): RuleFactory {
  const levels = contract.thresholds.gapMs;
  return ({ table }) => {
    const lastEventMs = table.float64();
    const maxGapMs = table.float64();
    /** A CRITICAL silence was already reported for the current gap. */
    const silenceReported = table.int8();
    const completed = table.int8();
    return {
      name: 'event_gap',
      open: (slot, event) => {
        lastEventMs.values[slot] = event.emittedAtMs;
        maxGapMs.values[slot] = 0;
        silenceReported.values[slot] = 0;
        completed.values[slot] = 0;
      },
      onEvent: (slot, event, out) => {
        const gap = event.emittedAtMs - (lastEventMs.values[slot] as number);
        if (gap > (maxGapMs.values[slot] as number)) maxGapMs.values[slot] = gap;
        const severity = severityOf(gap, levels);
        if (severity !== undefined && !(severity === 'CRITICAL' && silenceReported.values[slot] === 1)) {
          out.violation(slot, {
            rule: 'event_gap',
            severity,
            subject: event.type,
            detail: `${Math.round(gap)} ms without an event before ${event.type}`,
            eventTimeMs: event.emittedAtMs,
            event,
          });
        }
        lastEventMs.values[slot] = event.emittedAtMs;
        silenceReported.values[slot] = 0;
        if (event.type === contract.terminalType) completed.values[slot] = 1;
      },
      nextTimerMs: (slot) => (completed.values[slot] === 1 || silenceReported.values[slot] === 1 ? Number.POSITIVE_INFINITY : (lastEventMs.values[slot] as number) + levels.critical),
      onTimer: (slot, dueMs, out) => {
        silenceReported.values[slot] = 1;
        const last = lastEventMs.values[slot] as number;
        out.violation(slot, {
          rule: 'event_gap',
          severity: 'CRITICAL',
          subject: 'silence',
          detail: `no event for more than ${levels.critical} ms after the event at ${new Date(Math.floor(last)).toISOString()}`,
          eventTimeMs: dueMs,
          key: `silence:${last}`,
        });
      },
      summarize: (slot, summary) => {
        summary.maxGapMs = maxGapMs.values[slot] as number;
      },
    };
  };
}

/**
 * Emits `event_gap` for slow gaps and for silence.
 *
 * ```
 * critical = 5
 * input:   -a(0)-b(2)-W(4)-W(8)-|       (warning = 1)
 * output:  ------w---------s----|       w: 2 ms gap before b; s: silence past 2 + 5
 * ```
 */
export function detectGaps(contract: CompiledRunContract): OperatorFunction<StreamItem, Verdict> {
  return runEngine(contract, () => [gapRule(contract)]);
}
