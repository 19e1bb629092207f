import type { AgentEvent } from '../contract/event.js';

/**
 * A processing-time hint that event time has moved on while the input was idle (live mode only).
 * Replay never produces these: there, time comes from events alone.
 */
export interface EventTimeHeartbeat {
  readonly kind: 'heartbeat';
  readonly eventTimeMs: number;
}

/**
 * A processing-time hint that one partition has delivered nothing for a while although others
 * have (live mode only). Until it delivers again the watermark does not wait for it, so one quiet
 * partition cannot hold back every verdict; what it sends later may then be late.
 */
export interface PartitionIdle {
  readonly kind: 'partition_idle';
  readonly partition: number;
}

/** Live mode's processing-time hints; replay has none. */
export type ProcessingTimeHint = EventTimeHeartbeat | PartitionIdle;

/** What the event-time chain takes in: events, and in live mode processing-time hints. */
export type ChainInput = AgentEvent | ProcessingTimeHint;

/**
 * What event-time operators exchange:
 * - `event`: a lifecycle event (in arrival order after withWatermark, in event-time order after orderByEventTime);
 * - `watermark`: no event at or before this event time is expected any more (never decreases);
 * - `late`: an event that arrived when the watermark had already passed its time;
 * - `suspicious`: an event whose emitted and delivered times are too far apart to place it in time.
 */
export type StreamItem =
  | { readonly kind: 'event'; readonly event: AgentEvent }
  | { readonly kind: 'watermark'; readonly watermarkMs: number }
  | { readonly kind: 'late'; readonly event: AgentEvent; readonly watermarkMs: number }
  | { readonly kind: 'suspicious'; readonly event: AgentEvent };

export function isProcessingTimeHint(input: ChainInput): input is ProcessingTimeHint {
  const kind = (input as ProcessingTimeHint).kind;
  return kind === 'heartbeat' || kind === 'partition_idle';
}
