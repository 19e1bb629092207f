/**
 * The internal event model every operator works on. Wire records (six shapes, see
 * docs/event-contract.md) are normalized into these types once, at the boundary
 * (src/contract/normalize.ts); nothing downstream reads raw JSON.
 */

/** The five lifecycle events of an agent run, in contract order. */
export const LIFECYCLE_TYPES = [
  'agent_started',
  'agent_thinking',
  'tool_executing',
  'tool_completed',
  'agent_completed',
] as const;

export type LifecycleType = (typeof LIFECYCLE_TYPES)[number];

export function isLifecycleType(type: string): type is LifecycleType {
  return (LIFECYCLE_TYPES as readonly string[]).includes(type);
}

/** Where a record came from: enough to find it again and to commit past it. */
export interface SourcePosition {
  readonly topic: string;
  readonly partition: number;
  /** Kafka offsets are int64; kept as bigint-safe decimal strings would cost more, and JS numbers are exact to 2^53. */
  readonly offset: number;
}

/** A raw record as the source adapter hands it over, before any parsing. */
/** Kafka record headers as the client hands them over (a header may repeat). */
export type RecordHeaders = Readonly<Record<string, Buffer | string | ReadonlyArray<Buffer | string> | undefined>>;

export interface SourceRecord extends SourcePosition {
  readonly key: string | null;
  readonly value: Buffer | null;
  /** The record's headers, kept for dead letters (re-published as they came). */
  readonly headers?: RecordHeaders;
  /** Kafka record timestamp (ms since epoch). */
  readonly timestampMs: number;
  /** A publisher-provided delivery timestamp header (ms), when present. */
  readonly deliveredAtHeaderMs?: number;
}

/** One lifecycle event of a run, normalized. All times are ms since the epoch. */
export interface AgentEvent {
  readonly type: LifecycleType;
  readonly runId: string;
  readonly threadId?: string;
  /** As sent; emitter-path events may carry user_id == thread_id (see fact sheet §1.3). */
  readonly userId?: string;
  readonly agentName?: string;
  readonly toolName?: string;
  readonly executionId?: string;
  readonly eventId?: string;
  /** Event time: when the agent emitted the event. */
  readonly emittedAtMs: number;
  /** When it was delivered: the publisher's delivery timestamp, else the Kafka record timestamp. */
  readonly deliveredAtMs: number;
  /**
   * The Kafka record timestamp (CreateTime set by the producer, or LogAppendTime set by the
   * broker). An emitted time far from it cannot be placed in time (withWatermark).
   */
  readonly recordTimestampMs: number;
  /** True for a recovery replay (wire shape F). */
  readonly recovered: boolean;
  /** Which wire shape the record had (for metrics and audits). */
  readonly shape: WireShape;
  readonly source: SourcePosition;
  /** The parsed record, kept for content checks (issue 3); never mutated. */
  readonly body: Readonly<Record<string, unknown>>;
}

/**
 * Wire shapes of the fact sheet §1.1:
 * flat = A (critical envelope, flat), wrapped = A' (critical envelope with payload),
 * bridge = B, fixture = C, data_nested = D, server = E.
 */
export type WireShape = 'flat' | 'wrapped' | 'bridge' | 'fixture' | 'data_nested' | 'server';

/** A record that is valid JSON of a known non-lifecycle type (heartbeat, agent_error, ...): tolerated and counted. */
export interface OtherEvent {
  readonly type: string;
  readonly runId?: string;
  readonly source: SourcePosition;
}

/** A record that could not be normalized: goes to the dead-letter table with its reason. */
export interface DeadLetter {
  readonly reason: string;
  readonly source: SourcePosition;
  readonly key: string | null;
  /** The raw value as text (truncated by the sink if huge). */
  readonly raw: string;
  readonly recordTimestampMs: number;
  /** The record as it came (value bytes, headers), for a dead-letter topic; absent for rows ClickHouse rejected. */
  readonly original?: { readonly value: Buffer | null; readonly headers?: RecordHeaders };
}

export type NormalizeResult =
  | { readonly kind: 'lifecycle'; readonly event: AgentEvent }
  | { readonly kind: 'other'; readonly event: OtherEvent }
  | { readonly kind: 'dead_letter'; readonly deadLetter: DeadLetter };
