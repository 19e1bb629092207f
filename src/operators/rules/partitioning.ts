import type { RuleFactory } from '../engine/rule.js';

/**
 * Rule `partitioning_broken` (per event, security WARNING): Kafka orders a run's events only if
 * they share a partition, so a run whose events come from two partitions breaks that guarantee;
 * reported once per run. Producers may key by thread id or by run id: a thread whose runs sit on
 * different partitions is normal, and thread ownership is checked across partitions anyway.
 */
export function partitioningRule(): RuleFactory {
  return ({ table, facts }) => {
    const firstPartition = table.int32();
    const reported = table.int8();
    return {
      name: 'partitioning_broken',
      open: (slot, first) => {
        firstPartition.set(slot, first.source.partition);
        reported.set(slot, 0);
      },
      onArrival: (slot, event, out, arrival) => {
        if (arrival !== 'in_run' || reported.get(slot) === 1) return;
        const partition = event.source.partition;
        const runPartition = firstPartition.get(slot);
        if (partition === runPartition) return;
        reported.set(slot, 1);
        out.violation(slot, {
          rule: 'partitioning_broken',
          severity: 'WARNING',
          subject: 'partition',
          detail: `run ${facts.runIdOf(slot)} has events in partitions ${runPartition} and ${partition}`,
          eventTimeMs: event.emittedAtMs,
          event,
        });
      },
    };
  };
}
