import type { OperatorFunction } from 'rxjs';
import type { CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { runEngine, type RuleFactory } from './internal/run-engine.js';
import type { StreamItem } from './stream-item.js';

/**
 * Rule: the isolation checks assume every run of a thread is in one partition (the topic keyed by
 * thread or run id). A run, or a thread, whose events come from two partitions breaks that: one
 * `partitioning_broken` WARNING per run, since ownership checks may then see events out of order.
 */
export function partitioningRule(options: { readonly activeForMs?: number } = {}): RuleFactory {
  const activeForMs = options.activeForMs ?? 600_000;
  return ({ table, facts }) => {
    const threadPartitions = new Map<string, { readonly partition: number; readonly seenMs: number }>();
    const firstPartition = table.int32();
    const reported = table.int8();
    const threadChecked = table.int8();
    return {
      name: 'partitioning_broken',
      open: (slot, event) => {
        firstPartition.values[slot] = event.source.partition;
        reported.values[slot] = 0;
        threadChecked.values[slot] = 0;
      },
      onEvent: (slot, event, out) => {
        if (reported.values[slot] === 1) return;
        const partition = event.source.partition;
        const runPartition = firstPartition.values[slot] as number;
        const thread = event.threadId ?? facts.threadIdOf(slot);
        let other: string | undefined;
        if (partition !== runPartition) other = `run ${facts.runIdOf(slot)} has events in partitions ${runPartition} and ${partition}`;
        else if (thread !== undefined && threadChecked.values[slot] === 0) {
          // Once per run: the run's own partition is checked on every event above.
          threadChecked.values[slot] = 1;
          const known = threadPartitions.get(thread);
          if (known !== undefined && known.partition !== partition) other = `thread ${thread} has runs in partitions ${known.partition} and ${partition}`;
          else {
            threadPartitions.delete(thread);
            threadPartitions.set(thread, { partition, seenMs: event.emittedAtMs });
          }
        }
        if (other === undefined) return;
        reported.values[slot] = 1;
        out.violation(slot, { rule: 'partitioning_broken', severity: 'WARNING', subject: 'partition', detail: other, eventTimeMs: event.emittedAtMs, event });
      },
      onWatermark: (watermarkMs) => {
        for (const [thread, entry] of threadPartitions) {
          if (entry.seenMs >= watermarkMs - activeForMs) break;
          threadPartitions.delete(thread);
        }
      },
    };
  };
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
