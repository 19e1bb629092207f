/**
 * What detectors emit: findings are rows of data, never exceptions.
 * Verdict ids are deterministic (rule, run, input offsets or event time), so a replay of the same
 * input yields the same ids and writes stay idempotent (ReplacingMergeTree keyed by the id).
 */
import type { AgentEvent, LifecycleType, SourcePosition } from './event.js';

export type Severity = 'WARNING' | 'CRITICAL';

/** Every rule runwatch checks, by what it protects. */
export const RULES = {
  // correctness of the lifecycle
  missing_events: 'correctness',
  run_never_started: 'correctness',
  out_of_order: 'correctness',
  unpaired_tool: 'correctness',
  event_after_completion: 'correctness',
  duplicate_delivery: 'correctness',
  content_invalid: 'correctness',
  suspicious_timestamp: 'correctness',
  // timing (performance grade)
  delivery_latency: 'performance',
  event_gap: 'performance',
  run_duration: 'performance',
  // isolation (security grade)
  cross_user_contamination: 'security',
  partitioning_broken: 'security',
} as const;

export type RuleId = keyof typeof RULES;
export type RuleCategory = (typeof RULES)[RuleId];

/** Offsets of the source records a verdict is based on, grouped per partition. */
export interface SourceOffsets {
  readonly topic: string;
  readonly partitions: readonly number[];
  readonly offsets: readonly number[];
}

/**
 * Where a stored violation stands. Final: decided where its event took its place in event time
 * (or its run was judged). Provisional: fired early (live mode) the moment its event arrived, from
 * the event alone; the final verdict, with the same id, replaces it when the event takes its place.
 * Withdrawn: a provisional verdict the engine did not confirm (the event was a redelivered copy).
 */
export type VerdictStatus = 'provisional' | 'final' | 'withdrawn';

export interface Violation {
  /** Absent: final. */
  readonly status?: Exclude<VerdictStatus, 'final'>;
  readonly violationId: string;
  readonly rule: RuleId;
  readonly severity: Severity;
  readonly runId: string;
  readonly threadId?: string;
  readonly userId?: string;
  /** The lifecycle events the run lacked (missing_events only). */
  readonly missing: readonly LifecycleType[];
  /** User ids the detail names besides the owner (`userId`): pseudonymized with it where the store hashes user ids. */
  readonly namedUserIds?: readonly string[];
  /** The field path a content rule failed on, the measured value of a timing rule, ... */
  readonly subject: string;
  /** Human-readable explanation, stable for a given input. */
  readonly detail: string;
  /** Event time the violation refers to. */
  readonly eventTimeMs: number;
  /** Watermark (event time) at which the verdict became final. */
  readonly decidedAtWatermarkMs: number;
  readonly source: SourceOffsets;
}

/** How a run ended from the detector's point of view. */
export type RunOutcome = 'completed' | 'deadline' | 'end_of_input';

export type Grade = 'A' | 'B' | 'C' | 'D' | 'F';

export interface RunSummary {
  readonly runId: string;
  readonly threadId?: string;
  readonly userId?: string;
  readonly firstEventMs: number;
  readonly lastEventMs: number;
  readonly startedAtMs?: number;
  readonly completedAtMs?: number;
  readonly eventCount: number;
  readonly duplicateCount: number;
  readonly lateEventCount: number;
  readonly typesSeen: readonly LifecycleType[];
  readonly outcome: RunOutcome;
  /** started → completed, when both came. */
  readonly durationMs?: number;
  readonly maxGapMs: number;
  readonly latencyP50Ms?: number;
  readonly latencyP95Ms?: number;
  readonly latencyP99Ms?: number;
  readonly warnings: number;
  readonly criticals: number;
  readonly performanceGrade: Grade;
  readonly securityGrade: Grade;
  readonly isolationWarnings: number;
  readonly isolationCriticals: number;
  /** Watermark (event time) at which the run was closed. */
  readonly decidedAtWatermarkMs: number;
  readonly source: SourceOffsets;
}

/** A user's isolation record over one event-time window. */
export interface UserGrade {
  readonly userId: string;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly runs: number;
  readonly criticalIsolationViolations: number;
  readonly otherIsolationViolations: number;
  readonly securityGrade: Grade;
}

export type LateEventRunState = 'open' | 'closed' | 'unknown';

/**
 * Where the engine placed an event (emitted only when events are stored, `--store-events`):
 * in its open run (in time, or behind the watermark within the allowed lateness), a copy of one
 * it had (reaches no rule), after its run was final, for a run already forgotten, or nowhere
 * (its timestamp cannot be placed). SQL re-verification (docs/audit.md) starts from these.
 */
export type EventPlacement = 'in_run' | 'in_run_late' | 'duplicate' | 'after_final' | 'unknown_run' | 'suspicious';

export type Verdict =
  | { readonly kind: 'violation'; readonly violation: Violation }
  | { readonly kind: 'run_summary'; readonly summary: RunSummary }
  /** An event older than the watermark when it arrived, or one for a run already judged. Counted, never re-opens a run. */
  | {
      readonly kind: 'late_event';
      readonly runId: string;
      readonly type: LifecycleType;
      readonly eventTimeMs: number;
      readonly watermarkMs: number;
      readonly runState: LateEventRunState;
      readonly source: SourcePosition;
    }
  /** A late event's effect on a verdict already written: it confirms it or retracts it. */
  | {
      readonly kind: 'revision';
      readonly violationId: string;
      readonly runId: string;
      readonly action: 'confirmed' | 'retracted';
      readonly reason: string;
      readonly eventTimeMs: number;
      readonly source: SourcePosition;
    }
  | { readonly kind: 'user_grade'; readonly grade: UserGrade }
  | { readonly kind: 'event_placed'; readonly event: AgentEvent; readonly placement: EventPlacement };
