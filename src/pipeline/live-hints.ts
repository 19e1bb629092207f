import { Observable, type OperatorFunction } from 'rxjs';
import type { AgentEvent } from '../contract/event.js';
import type { ChainInput, SourceHint } from '../operators/stream-item.js';

export interface LiveHintsOptions {
  /**
   * A partition caught up, with no event arriving, for this long (wall-clock ms, as the source's
   * `caught_up` items date it) is idle; when every assigned partition is, event time advances
   * with the clock.
   * Undefined: no idle hints and no heartbeats (the source's position is ignored).
   */
  readonly idleMs?: number;
}

/**
 * Live mode: turns what the source says about its position into the event-time chain's hints.
 *
 * - `assignment` is passed on (the watermark waits for every assigned partition).
 * - A partition is *settled* from the first `caught_up` item that lists it until an item omits it
 *   (it lags, or the broker gave no fresh answer) or one of its events arrives. Settled for idleMs,
 *   it is idle: an `idle` hint names the idle partitions with the source's wall-clock time, at every
 *   `caught_up` item while any is idle (withWatermark advances them with that clock) and once when
 *   none is any more. When every assigned partition is idle, event time advances with the clock;
 *   time the broker was unreachable, or a partition lagged, never counts.
 *
 * Pure: the clock is the `atMs` of the source's items, so marble tests drive it.
 *
 * ```
 * idleMs = 2, assignment [0]
 * input:   -a(0)-e(p0)-c(@10:[0])-c(@11:[0])-c(@12:[0])-c(@13:[])-|
 * output:  -a----e---------------------------i(@12:[0])-i(@13:[])-|
 * ```
 */
export function liveHints(options: LiveHintsOptions): OperatorFunction<AgentEvent | SourceHint, ChainInput> {
  const idleMs = options.idleMs;
  return (source) =>
    new Observable<ChainInput>((subscriber) => {
      let assigned: readonly number[] | undefined;
      /** Since when (source's wall clock) each partition has been caught up with no event arriving. */
      const settledSince = new Map<number, number>();
      let anyIdle = false;
      return source.subscribe({
        next: (item) => {
          if (!('kind' in item)) {
            settledSince.delete(item.source.partition);
            subscriber.next(item);
            return;
          }
          if (item.kind === 'assignment') {
            assigned = item.partitions;
            for (const partition of [...settledSince.keys()]) if (!item.partitions.includes(partition)) settledSince.delete(partition);
            subscriber.next(item);
            return;
          }
          if (idleMs === undefined || assigned === undefined) return;
          const caughtUp = new Set(item.partitions);
          for (const partition of assigned) {
            if (!caughtUp.has(partition)) settledSince.delete(partition);
            else if (!settledSince.has(partition)) settledSince.set(partition, item.atMs);
          }
          const idle = assigned.filter((partition) => item.atMs - (settledSince.get(partition) ?? Number.POSITIVE_INFINITY) >= idleMs);
          if (idle.length === 0 && !anyIdle) return;
          anyIdle = idle.length > 0;
          subscriber.next({ kind: 'idle', atMs: item.atMs, partitions: idle });
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
