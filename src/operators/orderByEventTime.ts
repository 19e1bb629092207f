import { Observable, type OperatorFunction } from 'rxjs';
import type { AgentEvent } from '../contract/event.js';
import type { StreamItem } from './stream-item.js';

/**
 * Releases events in event-time order: buffers them until the watermark passes their time, then
 * emits them sorted by (event time, partition, offset), followed by the watermark. Ties break on
 * the source position, so the order — and every verdict computed from it — does not depend on how
 * partitions were interleaved or records chunked. An event at or below the watermark on arrival
 * cannot be ordered any more and is emitted as `late`. At completion the buffer is flushed in order.
 *
 * ```
 * input:   -e(3)-e(1)-W(2)-e(2)-W(5)-|
 * output:  -----------(e1,W2)-L(2)-(e3,W5)-|     L = late (2 ≤ watermark 2)
 * ```
 */
export function orderByEventTime(): OperatorFunction<StreamItem, StreamItem> {
  return (source) =>
    new Observable<StreamItem>((subscriber) => {
      const buffer = new EventHeap();
      let watermarkMs = Number.NEGATIVE_INFINITY;
      const releaseUpTo = (limit: number): void => {
        while (buffer.size > 0 && buffer.peekTime() <= limit) subscriber.next(buffer.pop());
      };
      return source.subscribe({
        next: (item) => {
          if (item.kind === 'event') {
            if (item.event.emittedAtMs <= watermarkMs) subscriber.next({ kind: 'late', event: item.event, watermarkMs });
            else buffer.push(item); // the item itself is re-emitted: no allocation per event
          } else if (item.kind === 'watermark') {
            watermarkMs = item.watermarkMs;
            releaseUpTo(watermarkMs);
            subscriber.next(item);
          } else {
            subscriber.next(item);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          releaseUpTo(Number.POSITIVE_INFINITY);
          subscriber.complete();
        },
      });
    });
}

type EventItem = Extract<StreamItem, { kind: 'event' }>;

/**
 * Min-heap of event items on (emittedAtMs, partition, offset). Times sit in their own number
 * array: most comparisons are decided by time alone, without touching the event objects.
 */
class EventHeap {
  private readonly items: EventItem[] = [];
  private readonly times: number[] = [];

  get size(): number {
    return this.items.length;
  }

  peekTime(): number {
    return this.times[0] as number;
  }

  push(item: EventItem): void {
    const { items, times } = this;
    const time = item.event.emittedAtMs;
    let i = items.length;
    items.push(item);
    times.push(time);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(time, item, times[parent] as number, items[parent] as EventItem)) break;
      items[i] = items[parent] as EventItem;
      times[i] = times[parent] as number;
      i = parent;
    }
    items[i] = item;
    times[i] = time;
  }

  pop(): EventItem {
    const { items, times } = this;
    const top = items[0] as EventItem;
    const last = items.pop() as EventItem;
    const lastTime = times.pop() as number;
    const n = items.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && before(times[right] as number, items[right] as EventItem, times[left] as number, items[left] as EventItem) ? right : left;
        if (!before(times[child] as number, items[child] as EventItem, lastTime, last)) break;
        items[i] = items[child] as EventItem;
        times[i] = times[child] as number;
        i = child;
      }
      items[i] = last;
      times[i] = lastTime;
    }
    return top;
  }
}

function before(timeA: number, a: EventItem, timeB: number, b: EventItem): boolean {
  if (timeA !== timeB) return timeA < timeB;
  const pa = a.event.source;
  const pb = b.event.source;
  if (pa.partition !== pb.partition) return pa.partition < pb.partition;
  return pa.offset < pb.offset;
}
