/**
 * What detectors emit: findings are rows of data, never exceptions.
 * Verdict ids are deterministic (rule + run + detail), so a replay of the same input yields the
 * same ids and writes stay idempotent (ReplacingMergeTree keyed by violation_id).
 */
import type { LifecycleType, SourcePosition } from './event.js';

export type Severity = 'WARNING' | 'CRITICAL';

export type RuleId = 'missing_events';

/** Offsets of the source records a verdict is based on, grouped per partition. */
export interface SourceOffsets {
  readonly topic: string;
  readonly partitions: readonly number[];
  readonly offsets: readonly number[];
}

export interface Violation {
  readonly violationId: string;
  readonly rule: RuleId;
  readonly severity: Severity;
  readonly runId: string;
  readonly threadId?: string;
  readonly userId?: string;
  /** The lifecycle events the run lacked (missing_events). */
  readonly missing: readonly LifecycleType[];
  /** Human-readable explanation, stable for a given input. */
  readonly detail: string;
  /** Event time the violation refers to (run start, or first event seen). */
  readonly eventTimeMs: number;
  /** Watermark (event time) at which the verdict became final. */
  readonly decidedAtWatermarkMs: number;
  readonly source: SourceOffsets;
}

/** How a run ended from the detector's point of view. */
export type RunOutcome = 'completed' | 'deadline' | 'end_of_input';

export interface RunSummary {
  readonly runId: string;
  readonly threadId?: string;
  readonly userId?: string;
  readonly firstEventMs: number;
  readonly lastEventMs: number;
  readonly startedAtMs?: number;
  readonly completedAtMs?: number;
  readonly eventCount: number;
  readonly typesSeen: readonly LifecycleType[];
  readonly outcome: RunOutcome;
  /** Watermark (event time) at which the run was closed; +Infinity never appears (end of input uses the last watermark). */
  readonly decidedAtWatermarkMs: number;
  readonly source: SourceOffsets;
}

export type Verdict =
  | { readonly kind: 'violation'; readonly violation: Violation }
  | { readonly kind: 'run_summary'; readonly summary: RunSummary }
  /** An event for a run whose verdict is already final: counted, surfaced, never re-opens the run. */
  | { readonly kind: 'late_event'; readonly runId: string; readonly eventTimeMs: number; readonly watermarkMs: number; readonly source: SourcePosition };
