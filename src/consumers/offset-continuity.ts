/** Offsets a read jumped over in one partition: [from, to] inclusive. */
export interface SkippedOffsets {
  readonly partition: number;
  readonly from: bigint;
  readonly to: bigint;
}

/**
 * Notices when a read of a partition jumps over offsets. KafkaJS answers "offset out of range"
 * (records deleted by retention under a slow read) by resetting to the earliest offset and reading
 * on: without this check a replay would complete without those records and say nothing. A
 * compacted topic has gaps too; the caller's message names both causes.
 *
 * Batch offsets count transaction markers and aborted records (KafkaJS `firstOffset`/`lastOffset`),
 * so a transactional topic reads as contiguous.
 */
export class OffsetContinuity {
  private readonly nextOffset = new Map<number, bigint>();

  /** Where a read of `partition` is known to start (a bounded read knows; otherwise the first batch sets it). */
  startsAt(partition: number, offset: bigint): void {
    this.nextOffset.set(partition, offset);
  }

  /**
   * A fetched batch of `partition`: `first` is its first offset (null when it held only records
   * removed by compaction), `last` the offset the read has now passed. Returns what was skipped.
   */
  batch(partition: number, first: bigint | null, last: bigint): SkippedOffsets | undefined {
    const expected = this.nextOffset.get(partition);
    if (last + 1n > (expected ?? -1n)) this.nextOffset.set(partition, last + 1n);
    if (expected === undefined || first === null || first <= expected) return undefined;
    return { partition, from: expected, to: first - 1n };
  }
}
