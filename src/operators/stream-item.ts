import type { AgentEvent } from '../contract/event.js';

/**
 * Processing-time hint: event time is at least `eventTimeMs` on every partition. Nothing in
 * production sends it (in live mode event time moves through `idle` hints); benches and tests use
 * it to release what the chain holds.
 */
export interface EventTimeHeartbeat {
  readonly kind: 'heartbeat';
  readonly eventTimeMs: number;
}

/**
 * Processing-time hint (live mode): the partitions of the topic assigned to this consumer, sent
 * at start and after each rebalance (from the group assignment, not from what has been delivered).
 * The watermark waits for every one of them (−∞ until it delivers or is idle); a partition no
 * longer listed (revoked) leaves the minimum.
 */
export interface PartitionAssignment {
  readonly kind: 'assignment';
  readonly partitions: readonly number[];
}

/**
 * Processing-time hint (live mode): the assigned partitions that are idle as of wall-clock time
 * `atMs`, replacing the previous set (sent while any is idle, and once when none is any more).
 * Idle means caught up: the consumed position has reached the broker's end offset as a recent
 * successful answer gave it, continuously and with no event arriving, for the idle time. A lagging
 * partition, or one whose end offset could not be learned lately (broker unreachable), is never
 * idle.
 *
 * An idle partition stops holding the watermark back, but is not simply left out of it: from the
 * stream's event time when it went idle, it advances with wall-clock time only. So the watermark
 * follows the partitions that deliver as long as they move at the pace of the clock, and cannot
 * jump ahead on a burst of old records from one of them (a backlog after an outage) before the
 * others, idle a moment ago, have delivered theirs. When every partition is idle, event time
 * advances with the clock: silent runs reach their deadlines. Time during which the broker could
 * not be reached, or a partition lagged, is never counted.
 */
export interface IdlePartitions {
  readonly kind: 'idle';
  readonly atMs: number;
  readonly partitions: readonly number[];
}

/** Processing-time hints the event-time chain takes (live mode and tests; a replay has none). */
export type ProcessingTimeHint = EventTimeHeartbeat | PartitionAssignment | IdlePartitions;

/** What the event-time chain takes in: events, and in live mode processing-time hints. */
export type ChainInput = AgentEvent | ProcessingTimeHint;

/**
 * What the source says about its position (live mode), between records: the assigned partitions
 * whose consumed position has reached the end offset of a fresh broker answer, as of wall-clock
 * time `atMs`. Sent every few hundred ms; an empty list while the broker cannot be reached.
 * The monitor turns these into `idle` hints (src/pipeline/live-hints.ts).
 */
export interface CaughtUpPartitions {
  readonly kind: 'caught_up';
  readonly atMs: number;
  readonly partitions: readonly number[];
}

/** What a live source tells the monitor besides records. */
export type SourceHint = PartitionAssignment | CaughtUpPartitions;

/**
 * What event-time operators exchange:
 * - `event`: a lifecycle event (in arrival order after withWatermark, in event-time order after orderByEventTime);
 * - `watermark`: no event at or before this event time is expected any more (never decreases);
 * - `late`: an event that arrived when the watermark (`watermarkMs`, its partition's) had already passed its time;
 * - `suspicious`: an event whose time cannot be trusted: emitted time too far from its delivery or
 *   Kafka record timestamp, or too far ahead of its partition's progress and not confirmed by it.
 *   It never moves the watermark; `watermarkMs` is its partition's watermark when it arrived
 *   (highest accepted event time − bound, −∞ if none), the place in event time where it is judged.
 */
export type StreamItem =
  | { readonly kind: 'event'; readonly event: AgentEvent }
  | { readonly kind: 'watermark'; readonly watermarkMs: number }
  | { readonly kind: 'late'; readonly event: AgentEvent; readonly watermarkMs: number }
  | { readonly kind: 'suspicious'; readonly event: AgentEvent; readonly watermarkMs: number }
  | CompletionArrived;

/**
 * Processing-time notice (live mode, early firing), from orderByEventTime: a run's completion (the
 * contract's terminal type) has just arrived, before it takes its place in event time. `pending` is
 * every event of that run still waiting for its place (in no promised order: the engine sorts), the
 * completion included unless it was passed on at once as late: with what the engine already placed, that is all of the
 * run that has arrived. The engine judges that provisionally (run-engine.ts); it is not an event
 * and moves no time.
 */
export interface CompletionArrived {
  readonly kind: 'completion_arrived';
  readonly event: AgentEvent;
  readonly pending: readonly PendingEvent[];
}

/** An event waiting in orderByEventTime for its place: in order, or late (behind its partition's watermark). */
export type PendingEvent = Extract<StreamItem, { kind: 'event' } | { kind: 'late' }>;

export function isProcessingTimeHint(input: ChainInput): input is ProcessingTimeHint {
  const kind = (input as { readonly kind?: unknown }).kind;
  return kind === 'heartbeat' || kind === 'assignment' || kind === 'idle';
}
