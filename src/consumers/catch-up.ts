/**
 * Where a live consumer stands against the broker, per assigned partition: is it caught up?
 *
 * Caught up means: the consumed position has reached the partition's end offset, as a recent
 * successful broker answer gave it. Answers are KafkaJS fetch responses (a batch's high
 * watermark) and the source's periodic admin queries (end offsets, and the group's committed
 * offsets, which say where a partition that has delivered nothing starts). The latest information
 * wins, dated when it was obtained (an admin answer by when it was asked), so an answer that was
 * under way while a batch came cannot hide that batch's news. No fresh answer (the broker cannot
 * be reached), no position, or a position short of the end: not caught up. Wall-clock silence
 * alone never makes a partition caught up.
 *
 * Pure: no KafkaJS, no clock (times are passed in). Unit-tested in test/unit/catch-up.test.ts.
 */

export interface CatchUpOptions {
  /** Where a partition with no committed offset starts (the consumer's fromBeginning). */
  readonly fromBeginning: boolean;
  /** An answer older than this (wall-clock ms) no longer counts. */
  readonly freshForMs: number;
}

/** One partition in an admin answer: its offsets range and this group's committed offset (−1: none). */
export interface OffsetsAnswer {
  readonly partition: number;
  readonly low: bigint;
  readonly high: bigint;
  readonly committed: bigint;
}

interface EndOffset {
  readonly offset: bigint;
  /** When the information was obtained (wall-clock ms). */
  readonly atMs: number;
}

export class CatchUpTracker {
  private assigned: readonly number[] | undefined;
  /** Next offset after what the source has passed in this process (delivered or skipped batches). */
  private readonly passedTo = new Map<number, bigint>();
  /** Where the consumer starts a partition it has not passed anything of: from committed offsets. */
  private readonly startAt = new Map<number, bigint>();
  private readonly ends = new Map<number, EndOffset>();
  /** Information obtained at or before this time no longer counts (the consumer lost the broker). */
  private validAfterMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: CatchUpOptions) {}

  /** The group assignment (at start and after each rebalance). */
  assign(partitions: readonly number[]): void {
    // Where a newly assigned partition starts is asked again: another member may have moved it.
    for (const partition of partitions) if (this.assigned?.includes(partition) !== true) this.startAt.delete(partition);
    this.assigned = [...partitions].sort((a, b) => a - b);
  }

  /** The current assignment; undefined before the consumer first joined its group. */
  assignedPartitions(): readonly number[] | undefined {
    return this.assigned;
  }

  /**
   * A record the consumer hands over: false when this process has already passed its offset
   * (KafkaJS re-reads from the committed offset after every rejoin; the chain has those records).
   */
  isNew(partition: number, offset: bigint): boolean {
    const passed = this.passedTo.get(partition);
    return passed === undefined || offset >= passed;
  }

  /** The source has passed `partition` up to `lastOffset` (a delivered batch, or one KafkaJS only reports). */
  passed(partition: number, lastOffset: bigint): void {
    const next = lastOffset + 1n;
    if (next > (this.passedTo.get(partition) ?? -1n)) this.passedTo.set(partition, next);
  }

  /** A fetch response's end offset (high watermark) for `partition`, obtained at `atMs`. */
  fetched(partition: number, highWatermark: bigint, atMs: number): void {
    this.learnEnd(partition, highWatermark, atMs);
  }

  /** An admin answer for the topic, asked at `askedAtMs`. */
  answered(askedAtMs: number, partitions: readonly OffsetsAnswer[]): void {
    for (const p of partitions) {
      this.learnEnd(p.partition, p.high, askedAtMs);
      const start = p.committed >= p.low && p.committed >= 0n ? p.committed : this.options.fromBeginning ? p.low : (this.startAt.get(p.partition) ?? p.high);
      const known = this.startAt.get(p.partition);
      if (known === undefined || start > known) this.startAt.set(p.partition, start);
    }
  }

  /** The consumer lost the broker (a crash): what was learned until now no longer counts. */
  invalidate(atMs: number): void {
    if (atMs > this.validAfterMs) this.validAfterMs = atMs;
  }

  /** The next offset the consumer will hand over for `partition`, when known. */
  position(partition: number): bigint | undefined {
    const passed = this.passedTo.get(partition);
    const start = this.startAt.get(partition);
    if (passed === undefined) return start;
    return start === undefined || passed >= start ? passed : start;
  }

  /** The assigned partitions caught up at `nowMs`, ascending. */
  caughtUp(nowMs: number): number[] {
    return (this.assigned ?? []).filter((partition) => this.isCaughtUp(partition, nowMs));
  }

  isCaughtUp(partition: number, nowMs: number): boolean {
    const end = this.ends.get(partition);
    if (end === undefined || end.atMs <= this.validAfterMs || nowMs - end.atMs > this.options.freshForMs) return false;
    const position = this.position(partition);
    return position !== undefined && position >= end.offset;
  }

  /** Where each assigned partition stands (for logs). */
  describe(nowMs: number): Array<{ partition: number; position: string; end: string; answerAgeMs: number | null; caughtUp: boolean }> {
    return (this.assigned ?? []).map((partition) => {
      const end = this.ends.get(partition);
      return {
        partition,
        position: String(this.position(partition) ?? '?'),
        end: String(end?.offset ?? '?'),
        answerAgeMs: end === undefined || end.atMs <= this.validAfterMs ? null : nowMs - end.atMs,
        caughtUp: this.isCaughtUp(partition, nowMs),
      };
    });
  }

  private learnEnd(partition: number, offset: bigint, atMs: number): void {
    const known = this.ends.get(partition);
    if (known === undefined || atMs >= known.atMs) this.ends.set(partition, { offset, atMs });
  }
}
