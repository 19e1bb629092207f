import { createRequire } from 'node:module';

/**
 * KafkaJS 2.2.4 (unmaintained) spins while idle: every connection's request queue re-arms a timer
 * with a negative delay after each check, even when nothing is pending and nothing is throttled,
 * so each connection wakes the event loop about once a millisecond (KafkaJS issues #1556 and
 * #1704; the fix proposed upstream, PR #1667, was never released). Measured here: an idle monitor,
 * active or standing by, took 4–5 % of a core doing nothing.
 *
 * The fix skips that check when there is nothing to check: an empty queue that is not throttled.
 * Nothing is lost: a request that cannot be sent at once is queued by `push`, which schedules the
 * check itself, and a request completing checks the queue directly. While throttled, or with
 * requests pending, the library's own scheduling runs unchanged (its fix for marginal throttle
 * delays, PR #1532, included).
 */
interface RequestQueueInternals {
  pending: readonly unknown[];
  throttledUntil: number;
  scheduleCheckPendingRequests(this: RequestQueueInternals): void;
}

const FIXED = Symbol.for('runwatch.kafkajs-idle-fix');

/** The library's request queue class (an internal module: its path is pinned with the version, 2.2.4). */
export function kafkaJsRequestQueue(): { new (options: object): RequestQueueInternals; prototype: RequestQueueInternals & { [FIXED]?: true } } {
  return createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as ReturnType<typeof kafkaJsRequestQueue>;
}

/** Applies the fix once per process (every KafkaJS client shares the class). */
export function fixKafkaJsIdleLoop(): void {
  const prototype = kafkaJsRequestQueue().prototype;
  if (prototype[FIXED] === true) return;
  const scheduleCheck = prototype.scheduleCheckPendingRequests;
  prototype.scheduleCheckPendingRequests = function (this: RequestQueueInternals): void {
    if (this.pending.length === 0 && !(this.throttledUntil > Date.now())) return;
    scheduleCheck.call(this);
  };
  prototype[FIXED] = true;
}
