import type { OperatorFunction } from 'rxjs';
import type { CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { defineRule, runEngine, type AnyRunRule } from './internal/run-engine.js';
import type { StreamItem } from './stream-item.js';

/**
 * Rule: the isolation checks assume every run of a thread is in one partition (the topic keyed by
 * thread or run id). A run, or a thread, whose events come from two partitions breaks that: one
 * `partitioning_broken` WARNING per run, since ownership checks may then see events out of order.
 */
export function partitioningRule(options: { readonly activeForMs?: number } = {}): AnyRunRule {
  const activeForMs = options.activeForMs ?? 600_000;
  const threadPartitions = new Map<string, { readonly partition: number; readonly seenMs: number }>();
  return defineRule<{ partition: number; reported: boolean; threadChecked: boolean }>({
    name: 'partitioning_broken',
    init: (event) => ({ partition: event.source.partition, reported: false, threadChecked: false }),
    onEvent: (state, event, run, out) => {
      if (state.reported) return;
      const partition = event.source.partition;
      const thread = event.threadId ?? run.facts.threadId;
      let other: string | undefined;
      if (partition !== state.partition) other = `run ${run.facts.runId} has events in partitions ${state.partition} and ${partition}`;
      else if (thread !== undefined && !state.threadChecked) {
        // Once per run: the run's own partition is checked on every event above.
        state.threadChecked = true;
        const known = threadPartitions.get(thread);
        if (known !== undefined && known.partition !== partition) other = `thread ${thread} has runs in partitions ${known.partition} and ${partition}`;
        else {
          threadPartitions.delete(thread);
          threadPartitions.set(thread, { partition, seenMs: event.emittedAtMs });
        }
      }
      if (other === undefined) return;
      state.reported = true;
      out.violation(run, { rule: 'partitioning_broken', severity: 'WARNING', subject: 'partition', detail: other, eventTimeMs: event.emittedAtMs, event });
    },
    onWatermark: (watermarkMs) => {
      for (const [thread, entry] of threadPartitions) {
        if (entry.seenMs >= watermarkMs - activeForMs) break;
        threadPartitions.delete(thread);
      }
    },
  });
}

/**
 * Emits `partitioning_broken` when a run or thread spans partitions.
 *
 * ```
 * input:   -a(p0)-b(p1)-|     a, b: events of one run
 * output:  -------w-----|
 * ```
 */
export function detectPartitioning(contract: CompiledRunContract): OperatorFunction<StreamItem, Verdict> {
  return runEngine(contract, () => [partitioningRule()]);
}
