import { Observable, type OperatorFunction } from 'rxjs';
import type { AgentEvent } from '../contract/event.js';
import { isProcessingTimeHint, type ChainInput, type StreamItem } from './stream-item.js';

export interface WithWatermarkOptions {
  /** How far behind the highest event time seen the watermark trails (bounded out-of-orderness). */
  readonly maxOutOfOrdernessMs: number;
  /**
   * Source partitions known in advance (the assignment). The watermark stays at −∞ until each has
   * delivered an event, so a partition read later cannot find its runs already judged.
   */
  readonly partitions?: readonly number[];
  /**
   * An event whose emitted and delivered times differ by more than this cannot be placed in time:
   * it is passed on as `suspicious` and never moves the watermark (one bad clock must not close
   * every open run). Default: no check.
   */
  readonly suspiciousSkewMs?: number;
  /**
   * Emit a watermark only once it has advanced this much (default 0: every advance). Downstream
   * verdicts do not depend on when watermarks come (timers fire by event time), only on their
   * values' order; fewer watermarks mean less work per event.
   */
  readonly emitEveryMs?: number;
}

/**
 * Stamps an event stream with event-time watermarks (bounded out-of-orderness, per partition).
 *
 * Kafka keeps order only within a partition, and a consumer may read one partition far ahead of
 * another. So each partition p tracks its highest event time max(p), and the watermark is
 * W = min over partitions of max(p) − maxOutOfOrdernessMs: "no event older than W is expected".
 * It is emitted right after the event (or heartbeat) that advanced it and never decreases.
 * An event at or behind its own partition's watermark (max(p) − maxOutOfOrdernessMs) is passed on
 * as `late`: that depends only on the partition's own order, not on how far ahead of the others
 * it was read (orderByEventTime also calls late what is behind the overall watermark).
 * Live mode only (processing-time hints, not forwarded): a heartbeat (the whole input idle)
 * advances every partition; `partition_idle` leaves a quiet partition out of the minimum until it
 * delivers again (its later events may then be late), as Flink's `withIdleness` does.
 *
 * ```
 * maxOutOfOrdernessMs = 2, one partition
 * input:   --e(5)--e(3)--e(9)--h(12)--|
 * output:  --e5,W3--l3--e9,W7--W10----|     l3: late (3 <= 5 - 2)
 *
 * two partitions, bound 0; i1 = partition 1 idle
 * input:   --a(p0,5)--b(p1,2)--c(p0,9)--i1--d(p1,4)--|
 * output:  --(a,W5)---b---------c-------W9--d--------|     d is forwarded (ordering calls it late)
 * ```
 *
 * @example
 * events$.pipe(withWatermark({ maxOutOfOrdernessMs: 3000 }), detectMissingEvents({ runDeadlineMs: 30000 }))
 */
export function withWatermark(options: WithWatermarkOptions): OperatorFunction<ChainInput, StreamItem> {
  const bound = options.maxOutOfOrdernessMs;
  const skew = options.suspiciousSkewMs ?? Number.POSITIVE_INFINITY;
  const step = options.emitEveryMs ?? 0;
  if (!Number.isFinite(bound) || bound < 0) throw new RangeError(`maxOutOfOrdernessMs must be a finite number >= 0, got ${bound}`);
  return (source) =>
    new Observable<StreamItem>((subscriber) => {
      const maxByPartition = new Map<number, number>((options.partitions ?? []).map((p) => [p, Number.NEGATIVE_INFINITY]));
      /** Partitions left out of the minimum by a partition_idle hint, until they deliver again. */
      const idle = new Set<number>();
      let watermarkMs = Number.NEGATIVE_INFINITY;
      const emitIfAdvanced = (): void => {
        let lowest = Number.POSITIVE_INFINITY;
        if (idle.size === 0) {
          for (const max of maxByPartition.values()) if (max < lowest) lowest = max;
        } else {
          for (const [partition, max] of maxByPartition) if (max < lowest && !idle.has(partition)) lowest = max;
        }
        const candidate = lowest - bound;
        if (candidate > watermarkMs + step && candidate !== Number.POSITIVE_INFINITY) {
          watermarkMs = candidate;
          subscriber.next({ kind: 'watermark', watermarkMs });
        }
      };
      return source.subscribe({
        next: (input) => {
          if (isProcessingTimeHint(input)) {
            if (input.kind === 'heartbeat') {
              for (const [partition, max] of maxByPartition) if (input.eventTimeMs > max) maxByPartition.set(partition, input.eventTimeMs);
            } else {
              idle.add(input.partition);
            }
            emitIfAdvanced();
            return;
          }
          if (Math.abs(input.deliveredAtMs - input.emittedAtMs) > skew) {
            subscriber.next({ kind: 'suspicious', event: input });
            return;
          }
          const partition = input.source.partition;
          if (idle.size > 0) idle.delete(partition);
          const max = maxByPartition.get(partition);
          if (max !== undefined && input.emittedAtMs <= max - bound) {
            // Behind its own partition's watermark: late however far ahead of the other partitions
            // this one is read, so a replay calls the same records late whatever its fetch sizes.
            subscriber.next({ kind: 'late', event: input, watermarkMs: max - bound });
            return;
          }
          subscriber.next({ kind: 'event', event: input });
          if (max === undefined || input.emittedAtMs > max) {
            maxByPartition.set(partition, input.emittedAtMs);
            // Only a change to the slowest partition can move the watermark; checking is cheap anyway.
            emitIfAdvanced();
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
