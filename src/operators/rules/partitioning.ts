import type { RuleFactory } from '../engine/rule.js';

/**
 * Rule `partitioning_broken` (per event, security WARNING): Kafka orders a run's events only if
 * they share a partition, so a run whose events come from two partitions breaks that guarantee;
 * reported once per run, also when the event on the other partition arrives after the run is final.
 * Producers may key by thread id or by run id: a thread whose runs sit on
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
        // A run's own events, also one arriving after the run is final (its stand-in recalls the run's partition).
        if ((arrival !== 'in_run' && arrival !== 'after_final') || reported.get(slot) === 1) return;
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
      // A judged run remembers its partition (-1 once reported): a late event of it on another partition splits it too.
      remember: (slot) => (reported.get(slot) === 1 ? -1 : firstPartition.get(slot)),
      recall: (slot, memo) => {
        if (memo === -1) reported.set(slot, 1);
        else firstPartition.set(slot, memo);
      },
    };
  };
}
