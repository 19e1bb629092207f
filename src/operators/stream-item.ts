import type { AgentEvent } from '../contract/event.js';

/**
 * A processing-time hint that event time has moved on while the input was idle (live mode only).
 * Replay never produces these: there, time comes from events alone.
 */
export interface EventTimeHeartbeat {
  readonly kind: 'heartbeat';
  readonly eventTimeMs: number;
}

/** What event-time operators consume: events, interleaved with watermarks that never decrease. */
export type StreamItem =
  | { readonly kind: 'event'; readonly event: AgentEvent }
  | { readonly kind: 'watermark'; readonly watermarkMs: number };

export function isHeartbeat(input: AgentEvent | EventTimeHeartbeat): input is EventTimeHeartbeat {
  return (input as EventTimeHeartbeat).kind === 'heartbeat';
}
