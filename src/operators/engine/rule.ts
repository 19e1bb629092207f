/**
 * What a rule is to the run engine (run-engine.ts). A rule is a small object with up to three
 * hooks, each a different moment of a run's life:
 *
 * - `onArrival`: a per-event check (content, delivery latency, isolation, partitioning), run once
 *   for every event as it takes its place in event time, whether its run is open, already final,
 *   unknown, or the event's timestamp cannot be trusted (`arrival` says which).
 * - `judge`: a per-run check (order, pairing, missing types, gaps, duration), run once when the run
 *   is final, over all of its events sorted by event time — whenever each of them arrived.
 * - `onTime`: event time moved on; the place to expire state shared across runs.
 *
 * Rules never see a redelivered copy: the engine's duplicate filter reports and drops it first.
 */
import type { AgentEvent, LifecycleType, SourcePosition } from '../../contract/event.js';
import type { RuleId, RunOutcome, Severity } from '../../contract/verdict.js';
import type { RunFacts } from './run-facts.js';
import type { RunTable } from './run-table.js';

/** Where an event stands when it arrives (in event-time order: see docs/detection.md, "Time model"). */
export type Arrival =
  /** It joins an open run (in order, or behind the watermark within the allowed lateness). */
  | 'in_run'
  /** Its run is already final: the event is late. The slot is a stand-in with the run's ids. */
  | 'after_final'
  /** No open or remembered run, and it is too old to open one: late for a run long judged. */
  | 'unknown_run'
  /** Its timestamp cannot be trusted: it is not placed in its run. */
  | 'suspicious';

/** The few fields of an event that judging a run needs: keeping the event would keep its body. */
export interface EventRef {
  readonly type: LifecycleType;
  readonly emittedAtMs: number;
  readonly toolName?: string | undefined;
  readonly executionId?: string | undefined;
  readonly eventId?: string | undefined;
  readonly source: SourcePosition;
}

export function refOf(event: AgentEvent): EventRef {
  return { type: event.type, emittedAtMs: event.emittedAtMs, toolName: event.toolName, executionId: event.executionId, eventId: event.eventId, source: event.source };
}

/** A run at the moment it is judged. */
export interface FinalRun {
  readonly slot: number;
  /** Every accepted event of the run, sorted by (event time, partition, offset). Valid during the judgement only (reused after). */
  readonly events: readonly EventRef[];
  readonly outcome: RunOutcome;
  /**
   * Where the run ends for judging: its completion, or its deadline (first event + critical run
   * duration), or where event time stood at the end of input.
   */
  readonly endMs: number;
}

/** What a violation needs beyond what the engine fills in (ids, owner, offsets, decision time). */
export interface ViolationSpec {
  readonly rule: RuleId;
  readonly severity: Severity;
  readonly subject?: string;
  readonly detail: string;
  readonly eventTimeMs: number;
  /** The event it is about (its offset becomes the verdict's source and id); else the whole run. */
  readonly event?: { readonly source: SourcePosition };
  /** Distinguishes several violations of one rule in one run when there is no event. */
  readonly key?: string;
  readonly missing?: readonly LifecycleType[];
  /**
   * A verdict that a late event can take back: it is retracted once late events have brought
   * every type listed, and confirmed by any other late event of its run.
   */
  readonly retractedBy?: readonly LifecycleType[];
  /** User ids the detail names besides the run's owner (pseudonymized with it where the store hashes user ids). */
  readonly namedUserIds?: readonly string[];
}

/**
 * A per-event check that reads nothing but the event (content, delivery latency): its findings are
 * known the moment the event arrives, before it takes its place in event time. Its rule's
 * `onArrival` reports them, final, when the event takes its place; live mode also fires them early,
 * as provisional verdicts (src/operators/fireEarly.ts). `trusted` is false for an event whose
 * timestamp cannot be trusted (a `suspicious` arrival).
 */
export type EventCheck = (event: AgentEvent, trusted: boolean) => readonly ViolationSpec[];

/** What an event check returns when it finds nothing: shared, so the common case allocates nothing. */
export const NO_FINDINGS: readonly ViolationSpec[] = Object.freeze([]);

export interface RuleOutput {
  violation(slot: number, spec: ViolationSpec): void;
}

export interface SummaryParts {
  maxGapMs: number;
  latencyP50Ms?: number;
  latencyP95Ms?: number;
  latencyP99Ms?: number;
  durationMs?: number;
}

export interface RunRule {
  readonly name: string;
  /**
   * What the rule keeps across runs outside the run table (owners of threads, ids seen, its clock),
   * as one data object it reads through: checkpoints save it and a restore fills it in place
   * (src/operators/state-registry.ts). Per-run state belongs in table columns.
   */
  readonly state?: object;
  /** Sets this rule's columns for a new slot (a run, or a stand-in). Slots are reused: set every column read later. */
  open?(slot: number, first: AgentEvent): void;
  onArrival?(slot: number, event: AgentEvent, out: RuleOutput, arrival: Arrival): void;
  judge?(run: FinalRun, out: RuleOutput, summary: SummaryParts): void;
  /**
   * Its `judge` only reads the run (the run facts and its events, no column of its own) and reports
   * findings (no state of its own changes): live mode also runs it early, as a provisional
   * judgement, when the run's completion arrives (on a copy of the run's slot with the events still
   * waiting for their place) and when it takes its place (run-engine.ts). The final judgement runs
   * it again.
   */
  readonly judgesPurely?: true;
  onTime?(nowMs: number): void;
  /**
   * What this rule needs to remember of a judged run for its late events (one number), read when
   * the run is final; `recall` hands it to the stand-in slot a late event of the run is checked in.
   */
  remember?(slot: number): number;
  recall?(slot: number, memo: number): void;
}

/** What a rule is built from, once per subscription: the table to declare its columns in, and the shared run facts. */
export interface RuleContext {
  readonly table: RunTable;
  readonly facts: RunFacts;
}

/** Makes a rule for one subscription of the engine (rules may keep state shared across runs). */
export type RuleFactory = (context: RuleContext) => RunRule;
