import type { OperatorFunction } from 'rxjs';
import { severityOf, type CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { runEngine, type RuleFactory } from './internal/run-engine.js';
import type { StreamItem } from './stream-item.js';

/**
 * Rule: a run from its start (agent_started, else its first event) to agent_completed, against the
 * contract's levels (strict >: WARNING above 10 s, CRITICAL above 30 s by default). A run still
 * unfinished when event time passes start + 30 s is CRITICAL then, without waiting for it.
 */
export function runDurationRule(contract: CompiledRunContract): RuleFactory {
  const levels = contract.thresholds.runDurationMs;
  /** durationMs: NaN while running; JUDGED once the deadline fired (no second verdict if it completes). */
  const RUNNING = Number.NaN;
  const JUDGED = Number.NEGATIVE_INFINITY;
  return ({ table, facts }) => {
    const startMs = table.float64();
    const durationMs = table.float64();
    return {
      name: 'run_duration',
      open: (slot, event) => {
        startMs.values[slot] = event.emittedAtMs;
        durationMs.values[slot] = RUNNING;
      },
      onEvent: (slot, event, out) => {
        if (event.type !== contract.terminalType || !Number.isNaN(durationMs.values[slot] as number)) return;
        const started = facts.startedAtMs(slot) ?? (startMs.values[slot] as number);
        const duration = event.emittedAtMs - started;
        durationMs.values[slot] = duration;
        const severity = severityOf(duration, levels);
        if (severity === undefined) return;
        out.violation(slot, {
          rule: 'run_duration',
          severity,
          subject: 'duration',
          detail: `run took ${Math.round(duration)} ms (limit ${severity === 'CRITICAL' ? levels.critical : levels.warning} ms)`,
          eventTimeMs: event.emittedAtMs,
          event,
        });
      },
      nextTimerMs: (slot) => (Number.isNaN(durationMs.values[slot] as number) ? (startMs.values[slot] as number) + levels.critical : Number.POSITIVE_INFINITY),
      onTimer: (slot, dueMs, out) => {
        durationMs.values[slot] = JUDGED;
        out.violation(slot, {
          rule: 'run_duration',
          severity: 'CRITICAL',
          subject: 'deadline',
          detail: `not completed ${levels.critical} ms after it started`,
          eventTimeMs: dueMs,
          key: 'deadline',
        });
      },
      summarize: (slot, summary) => {
        const duration = durationMs.values[slot] as number;
        if (!Number.isNaN(duration) && duration !== JUDGED) summary.durationMs = duration;
      },
    };
  };
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
