import { Observable, type OperatorFunction } from 'rxjs';
import type { AgentEvent, LifecycleType } from '../contract/event.js';
import type { StateRegistry } from './state-registry.js';
import type { PendingEvent, StreamItem } from './stream-item.js';

export interface OrderByEventTimeOptions {
  readonly state?: StateRegistry;
  /**
   * Early firing (live mode): when an event of this type (the contract's terminal type) arrives,
   * announce it at once with the events of its run still waiting here (`completion_arrived`,
   * stream-item.ts), so the engine can judge the run provisionally before it takes its place.
   */
  readonly announceArrivalsOf?: LifecycleType;
}

/**
 * Releases events in event-time order: buffers them until the watermark passes their time, then
 * emits them sorted by (event time, delivery time, partition, offset), followed by the watermark. Ties break on
 * the source position, so the order — and every verdict computed from it — does not depend on how
 * partitions were interleaved or records chunked. At completion the buffer is flushed in order.
 *
 * Late events keep a place in that order too (and so do suspicious ones, which cannot be placed by
 * their own time). One that withWatermark found behind its own partition's watermark w is held
 * until the watermark passes w and released after every event at or before w and before any later
 * one: downstream sees it at event time w, whatever the other partitions were doing when it arrived.
 * Items are released only once the watermark is strictly past their place, because an item placed
 * exactly at the watermark can still arrive (a late one from a partition whose watermark is the
 * slowest): so all items of one place leave together, in one order. An event below the overall
 * watermark on arrival is passed on at once as `late`, placed at the watermark (behind
 * withWatermark that happens only in live mode, after an idle hint: then it may precede in-order
 * events placed at that same watermark).
 *
 * ```
 * input:   -e(3)-e(1)-W(2)-e(2)-W(5)-|
 * output:  -----------(e1,W2)------(e2,e3,W5)-|     e2 at the watermark waits for the next one
 * ```
 */
export function orderByEventTime(options: OrderByEventTimeOptions = {}): OperatorFunction<StreamItem, StreamItem> {
  return (source) =>
    new Observable<StreamItem>((subscriber) => {
      const s = {
        buffer: new EventHeap<EventItem>(),
        /** Late and suspicious items, keyed by the watermark of their partition when they arrived. */
        heldLate: new EventHeap<PlacedItem>(),
        watermarkMs: Number.NEGATIVE_INFINITY,
      };
      options.state?.attach('order', s);
      const { buffer, heldLate } = s; // class instances: a restore fills them in place
      const announced = options.announceArrivalsOf;
      // Derived from the buffers, so never checkpointed: rebuilt here after a restore.
      const pending = announced === undefined ? undefined : new PendingByRun(() => s.watermarkMs);
      if (pending !== undefined) {
        for (const item of buffer.values()) pending.add(item);
        for (const item of heldLate.values()) if (item.kind === 'late') pending.add(item);
      }
      const announce = (event: AgentEvent): void => {
        if (pending !== undefined && event.type === announced) subscriber.next({ kind: 'completion_arrived', event, pending: pending.of(event.runId) });
      };
      /** Releases every item placed strictly before `limit`, in order (+Infinity: everything). */
      const releaseBefore = (limit: number): void => {
        for (;;) {
          const eventTime = buffer.size > 0 ? buffer.peekTime() : Number.POSITIVE_INFINITY;
          const lateTime = heldLate.size > 0 ? heldLate.peekTime() : Number.POSITIVE_INFINITY;
          if (lateTime < eventTime) {
            if (!(lateTime < limit)) return;
            subscriber.next(heldLate.pop());
          } else {
            if (eventTime === Number.POSITIVE_INFINITY || !(eventTime < limit || limit === Number.POSITIVE_INFINITY)) return;
            subscriber.next(buffer.pop());
          }
        }
      };
      return source.subscribe({
        next: (item) => {
          if (item.kind === 'event') {
            // Below the watermark (live mode only, after an idle hint): late, placed at the watermark, at once.
            if (item.event.emittedAtMs < s.watermarkMs) subscriber.next({ kind: 'late', event: item.event, watermarkMs: s.watermarkMs });
            else {
              buffer.push(item, item.event.emittedAtMs); // the item itself is re-emitted: no allocation per event
              pending?.add(item);
            }
            announce(item.event);
          } else if (item.kind === 'watermark') {
            s.watermarkMs = item.watermarkMs;
            releaseBefore(s.watermarkMs);
            subscriber.next(item);
          } else if ((item.kind === 'late' || item.kind === 'suspicious') && placeOf(item) >= s.watermarkMs) {
            heldLate.push(item, placeOf(item));
            if (item.kind === 'late') {
              pending?.add(item);
              announce(item.event);
            }
          } else {
            subscriber.next(item);
            if (item.kind === 'late') announce(item.event);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          releaseBefore(Number.POSITIVE_INFINITY);
          subscriber.complete();
        },
      });
    });
}

type EventItem = Extract<StreamItem, { kind: 'event' }>;

/**
 * The events each run has waiting in the buffers (a suspicious one never joins its run): what a
 * `completion_arrived` notice carries. Nothing is done when an item leaves: an item still waits
 * exactly while its place is at or after the watermark (everything placed before it was
 * released), so lists are filtered when read and swept of runs with nothing waiting once the map
 * has doubled. Per event that is one map lookup.
 */
class PendingByRun {
  private readonly byRun = new Map<string, PendingEvent[]>();
  private sweepAt = 1_024;

  constructor(private readonly watermarkMs: () => number) {}

  add(item: PendingEvent): void {
    const list = this.byRun.get(item.event.runId);
    if (list !== undefined) {
      list.push(item);
      return;
    }
    this.byRun.set(item.event.runId, [item]);
    if (this.byRun.size >= this.sweepAt) this.sweep();
  }

  /** What of the run still waits (a new array: the notice may be kept by whoever reads it). */
  of(runId: string): readonly PendingEvent[] {
    const watermark = this.watermarkMs();
    return this.byRun.get(runId)?.filter((item) => placeOfPending(item) >= watermark) ?? [];
  }

  private sweep(): void {
    const watermark = this.watermarkMs();
    for (const [runId, list] of this.byRun) {
      const waiting = list.filter((item) => placeOfPending(item) >= watermark);
      if (waiting.length === 0) this.byRun.delete(runId);
      else if (waiting.length < list.length) this.byRun.set(runId, waiting);
    }
    this.sweepAt = Math.max(1_024, 2 * this.byRun.size);
  }
}

/** Where a waiting item is placed: an event at its own time, a late one at its partition's watermark when it arrived. */
function placeOfPending(item: PendingEvent): number {
  return item.kind === 'late' ? item.watermarkMs : item.event.emittedAtMs;
}
type PlacedItem = Extract<StreamItem, { kind: 'late' } | { kind: 'suspicious' }>;

/** Where a late or suspicious item belongs on the event-time line: its partition's watermark when it arrived. */
function placeOf(item: PlacedItem): number {
  return (item as { readonly watermarkMs?: number }).watermarkMs ?? Number.NEGATIVE_INFINITY;
}
type Positioned = { readonly event: AgentEvent };

/**
 * Min-heap of items on (time, partition, offset). Times sit in their own number array: most
 * comparisons are decided by time alone, without touching the event objects.
 */
class EventHeap<T extends Positioned> {
  private readonly items: T[] = [];
  private readonly times: number[] = [];

  get size(): number {
    return this.items.length;
  }

  /** Every item held, in heap order (not sorted). */
  values(): readonly T[] {
    return this.items;
  }

  peekTime(): number {
    return this.times[0] as number;
  }

  push(item: T, time: number): void {
    const { items, times } = this;
    let i = items.length;
    items.push(item);
    times.push(time);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(time, item, times[parent] as number, items[parent] as T)) break;
      items[i] = items[parent] as T;
      times[i] = times[parent] as number;
      i = parent;
    }
    items[i] = item;
    times[i] = time;
  }

  pop(): T {
    const { items, times } = this;
    const top = items[0] as T;
    const last = items.pop() as T;
    const lastTime = times.pop() as number;
    const n = items.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && before(times[right] as number, items[right] as T, times[left] as number, items[left] as T) ? right : left;
        if (!before(times[child] as number, items[child] as T, lastTime, last)) break;
        items[i] = items[child] as T;
        times[i] = times[child] as number;
        i = child;
      }
      items[i] = last;
      times[i] = lastTime;
    }
    return top;
  }
}

function before(timeA: number, a: Positioned, timeB: number, b: Positioned): boolean {
  if (timeA !== timeB) return timeA < timeB;
  // Copies of one event share its time: the one delivered first is the original, wherever it sits.
  const da = a.event.deliveredAtMs;
  const db = b.event.deliveredAtMs;
  if (da !== db) return da < db;
  const pa = a.event.source;
  const pb = b.event.source;
  if (pa.partition !== pb.partition) return pa.partition < pb.partition;
  return pa.offset < pb.offset;
}
