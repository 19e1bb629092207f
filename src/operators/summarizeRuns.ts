import type { OperatorFunction } from 'rxjs';
import type { CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { runEngine, type RuleFactory, type RunEngineOptions } from './engine/run-engine.js';
import type { StreamItem } from './stream-item.js';

/**
 * The run engine with every given rule, emitting besides their verdicts one `run_summary` per run
 * when it becomes final: ids, owner, counts, types seen, outcome, duration, max gap, latency
 * percentiles, warnings and criticals, performance and security grade. Also `late_event` and
 * `revision` for events of runs already final.
 *
 * ```
 * allowedLatenessMs = 2
 * input:   -S(0)-T(1)-C(2)-W(4)-W(5)-|
 * output:  ---------------------R----|     R = summary { outcome: completed, eventCount: 3 }, final after 2 + 2
 * ```
 */
export function summarizeRuns(contract: CompiledRunContract, createRules: () => readonly RuleFactory[] = () => [], options: Omit<RunEngineOptions, 'summaries'> = {}): OperatorFunction<StreamItem, Verdict> {
  return runEngine(contract, createRules, { summaries: true, ...options });
}
