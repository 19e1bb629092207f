import type { OperatorFunction } from 'rxjs';
import { severityOf, type CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { defineRule, runEngine, type AnyRunRule } from './internal/run-engine.js';
import type { StreamItem } from './stream-item.js';

interface GapState {
  lastEventMs: number;
  maxGapMs: number;
  /** A CRITICAL silence was already reported for the current gap. */
  silenceReported: boolean;
  completed: boolean;
}

/**
 * Rule: the gap between consecutive events of a run, in event time, against the contract's levels
 * (strict >: WARNING above 1 s, CRITICAL above 5 s by default). A run that goes silent is reported
 * CRITICAL as soon as event time passes last event + 5 s, even if it never sends another event;
 * the event that ends such a silence does not report it again. Adds the max gap to the summary.
 */
export function gapRule(contract: CompiledRunContract): AnyRunRule {
  const levels = contract.thresholds.gapMs;
  return defineRule<GapState>({
    name: 'event_gap',
    init: (event) => ({ lastEventMs: event.emittedAtMs, maxGapMs: 0, silenceReported: false, completed: false }),
    onEvent: (state, event, run, out) => {
      const gap = event.emittedAtMs - state.lastEventMs;
      if (gap > state.maxGapMs) state.maxGapMs = gap;
      const severity = severityOf(gap, levels);
      if (severity !== undefined && !(severity === 'CRITICAL' && state.silenceReported)) {
        out.violation(run, {
          rule: 'event_gap',
          severity,
          subject: event.type,
          detail: `${Math.round(gap)} ms without an event before ${event.type}`,
          eventTimeMs: event.emittedAtMs,
          event,
        });
      }
      state.lastEventMs = event.emittedAtMs;
      state.silenceReported = false;
      if (event.type === contract.terminalType) state.completed = true;
    },
    nextTimerMs: (state) => (state.completed || state.silenceReported ? Number.POSITIVE_INFINITY : state.lastEventMs + levels.critical),
    onTimer: (state, dueMs, run, out) => {
      state.silenceReported = true;
      out.violation(run, {
        rule: 'event_gap',
        severity: 'CRITICAL',
        subject: 'silence',
        detail: `no event for more than ${levels.critical} ms after the event at ${new Date(Math.floor(state.lastEventMs)).toISOString()}`,
        eventTimeMs: dueMs,
        key: `silence:${state.lastEventMs}`,
      });
    },
    summarize: (state, _run, summary) => {
      summary.maxGapMs = state.maxGapMs;
    },
  });
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
