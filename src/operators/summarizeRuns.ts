import type { OperatorFunction } from 'rxjs';
import type { CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { runEngine, type RuleFactory } from './internal/run-engine.js';
import type { StreamItem } from './stream-item.js';

/**
 * Runs the given rules and emits, besides their verdicts, one `run_summary` per run when it closes:
 * ids, owner, counts, types seen, outcome, duration, max gap, latency percentiles, warnings and
 * criticals, performance grade and security grade. Also `late_event` / `revision` for events of
 * runs already judged.
 *
 * ```
 * input:   -S(0)-T(1)-C(2)-W(2)-|
 * output:  ---------------R-----|     R = summary { outcome: completed, eventCount: 3 }
 * ```
 */
export function summarizeRuns(contract: CompiledRunContract, createRules: () => readonly RuleFactory[] = () => []): OperatorFunction<StreamItem, Verdict> {
  return runEngine(contract, createRules, { summaries: true });
}
