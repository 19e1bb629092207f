/**
 * Which offsets may be committed. A record is "done" once everything it contributed to is durable:
 * a dead letter once written, a lifecycle event once its run's summary (or its late-event row) is
 * written, anything else at once. Per partition, the committable offset is the first record that is
 * not done yet: a run still open holds back the offsets of all its events, so a restart re-reads
 * them and rebuilds the run instead of judging half of it.
 */
interface PartitionLedger {
  /** Offsets in arrival order (Kafka hands them out ascending per partition). */
  readonly offsets: number[];
  head: number;
  readonly doneAhead: Set<number>;
  lastTracked: number;
}

const COMPACT_AFTER = 4_096;

export class OffsetLedger {
  private readonly partitions = new Map<number, PartitionLedger>();

  track(partition: number, offset: number): void {
    let ledger = this.partitions.get(partition);
    if (ledger === undefined) {
      ledger = { offsets: [], head: 0, doneAhead: new Set(), lastTracked: -1 };
      this.partitions.set(partition, ledger);
    }
    ledger.offsets.push(offset);
    ledger.lastTracked = offset;
  }

  done(partition: number, offset: number): void {
    this.partitions.get(partition)?.doneAhead.add(offset);
  }

  /** Per partition, the next offset to commit (Kafka's convention: the first one not processed). */
  committable(): Map<number, number> {
    const result = new Map<number, number>();
    for (const [partition, ledger] of this.partitions) {
      const { offsets, doneAhead } = ledger;
      while (ledger.head < offsets.length && doneAhead.delete(offsets[ledger.head] as number)) ledger.head += 1;
      if (ledger.head > COMPACT_AFTER && ledger.head * 2 > offsets.length) {
        offsets.splice(0, ledger.head);
        ledger.head = 0;
      }
      result.set(partition, ledger.head < offsets.length ? (offsets[ledger.head] as number) : ledger.lastTracked + 1);
    }
    return result;
  }
}
