import type { OperatorFunction } from 'rxjs';
import { severityOf, type CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { defineRule, runEngine, type AnyRunRule } from './internal/run-engine.js';
import type { StreamItem } from './stream-item.js';

interface DurationState {
  readonly startMs: number;
  durationMs: number | undefined;
}

/**
 * Rule: a run from its start (agent_started, else its first event) to agent_completed, against the
 * contract's levels (strict >: WARNING above 10 s, CRITICAL above 30 s by default). A run still
 * unfinished when event time passes start + 30 s is CRITICAL then, without waiting for it.
 */
export function runDurationRule(contract: CompiledRunContract): AnyRunRule {
  const levels = contract.thresholds.runDurationMs;
  return defineRule<DurationState>({
    name: 'run_duration',
    init: (event) => ({ startMs: event.emittedAtMs, durationMs: undefined }),
    onEvent: (state, event, run, out) => {
      if (event.type !== contract.terminalType || state.durationMs !== undefined) return;
      const started = run.facts.startedAtMs ?? state.startMs;
      state.durationMs = event.emittedAtMs - started;
      const severity = severityOf(state.durationMs, levels);
      if (severity === undefined) return;
      out.violation(run, {
        rule: 'run_duration',
        severity,
        subject: 'duration',
        detail: `run took ${Math.round(state.durationMs)} ms (limit ${severity === 'CRITICAL' ? levels.critical : levels.warning} ms)`,
        eventTimeMs: event.emittedAtMs,
        event,
      });
    },
    nextTimerMs: (state) => (state.durationMs === undefined ? state.startMs + levels.critical : Number.POSITIVE_INFINITY),
    onTimer: (state, dueMs, run, out) => {
      state.durationMs = Number.NaN; // judged: no second verdict when (if) it completes
      out.violation(run, {
        rule: 'run_duration',
        severity: 'CRITICAL',
        subject: 'deadline',
        detail: `not completed ${levels.critical} ms after it started`,
        eventTimeMs: dueMs,
        key: 'deadline',
      });
    },
    summarize: (state, _run, summary) => {
      if (state.durationMs !== undefined && !Number.isNaN(state.durationMs)) summary.durationMs = state.durationMs;
    },
  });
}

/**
 * Emits `run_duration` for long runs and for runs past their deadline.
 *
 * ```
 * critical = 30
 * input:   -S(0)-W(10)-W(31)-|
 * output:  -----------D------|     D: not completed 30 after start
 * ```
 */
export function detectRunDuration(contract: CompiledRunContract): OperatorFunction<StreamItem, Verdict> {
  return runEngine(contract, () => [runDurationRule(contract)]);
}
