/**
 * Fault injection for the traffic generator: the fault classes, the record edits and injected
 * values the injectors (injectors.ts) use, and the timing ground truth every run gets. Every label
 * here and in injectors.ts is derived from the rule definitions (src/operators/rules/*.ts, the run
 * engine) and the reference contract, never from running them: the accuracy test compares the two.
 *
 * Pure: randomness comes from the caller's Rng, nothing reads a clock.
 */
import { z } from 'zod';
import type { LifecycleType } from '../contract/event.js';
import { REFERENCE_RUN_CONTRACT, severityOf } from '../contract/run-contract.js';
import type { RuleId, Severity } from '../contract/verdict.js';
import { timestampToMs } from '../contract/wire.js';
import { epochSeconds, isoMicros, type JsonObject, type JsonValue, type LifecycleShape } from './wire-encoders.js';

/**
 * Fault classes a run can get through `faultFraction` (exactly one per faulted run); their order
 * is part of the generator's draws. The "missing event type" class is driven by
 * `missingEventFraction` and labelled `missing_event`.
 * Records are keyed by thread, so every run of a thread lands on one partition; partitioning_broken
 * sends one event of a run as a second producer keyed by run id would. Whether that lands on
 * another partition is the partitioner's call, so its label is conditional (`onlyIfApart`).
 */
export const FAULT_CLASSES = [
  'out_of_order',
  'unpaired_tool',
  'event_after_completion',
  'duplicate_delivery',
  'content_invalid',
  'delivery_latency_warning',
  'delivery_latency_critical',
  'event_gap_warning',
  'event_gap_critical',
  'run_duration_warning',
  'contamination_thread',
  'contamination_user',
  'contamination_content',
  'suspicious_timestamp',
  'late_replay',
  'partitioning_broken',
] as const;

export type FaultClass = (typeof FAULT_CLASSES)[number];

/** Every injected fault, including the missing-event-type class of `missingEventFraction`. */
export type InjectedFault = FaultClass | 'missing_event';

const weight = z.number().nonnegative().default(0);

/** Every class, weight 1 (the default mix). */
export const EVERY_FAULT_CLASS = Object.fromEntries(FAULT_CLASSES.map((c) => [c, 1])) as Record<FaultClass, number>;

/** Relative weights of the fault classes; omitted keys in a given mix weigh 0. */
export const faultMixSchema = z
  .object({
    out_of_order: weight,
    unpaired_tool: weight,
    event_after_completion: weight,
    duplicate_delivery: weight,
    content_invalid: weight,
    delivery_latency_warning: weight,
    delivery_latency_critical: weight,
    event_gap_warning: weight,
    event_gap_critical: weight,
    run_duration_warning: weight,
    contamination_thread: weight,
    contamination_user: weight,
    contamination_content: weight,
    suspicious_timestamp: weight,
    late_replay: weight,
    partitioning_broken: weight,
  })
  .default(EVERY_FAULT_CLASS);

export type FaultMix = z.output<typeof faultMixSchema>;

/** A record the chain must count as late (behind the watermark on arrival). */
export interface ExpectedLateEvent {
  readonly runId: string;
  readonly type: LifecycleType;
}

/** What a late event must do to the missing_events verdict of its judged run. */
export interface ExpectedRevision {
  readonly runId: string;
  readonly action: 'confirmed' | 'retracted';
}

/** One violation the detector chain must report. `subject` is the verdict's subject, always given. */
export interface ExpectedViolation {
  readonly runId: string;
  readonly rule: RuleId;
  readonly severity: Severity;
  readonly subject: string;
  /**
   * Expected only if records with these two keys land on different partitions: the topic's
   * partitioner decides, so whoever reads the traffic resolves it (score.ts `resolveExpected`).
   */
  readonly onlyIfApart?: readonly [string, string];
}

/** A label before it is attached to its run. */
export type Label = Omit<ExpectedViolation, 'runId'>;

// ---- Injected values (ranges keep clear of every threshold and of the 3 s out-of-orderness bound) ----

const { deliveryLatencyMs, gapMs, runDurationMs } = REFERENCE_RUN_CONTRACT.thresholds;

export const INJECTED = {
  /** Delivery latency of one event: WARNING band, CRITICAL band (kept < 3 s: never late). */
  latencyWarningMs: { min: deliveryLatencyMs.warning + 20, max: deliveryLatencyMs.critical - 50 },
  latencyCriticalMs: { min: deliveryLatencyMs.critical + 100, max: 2_800 },
  /** One slow gap: WARNING band; CRITICAL band (silence reported, then the run resumes). */
  gapWarningMs: { min: gapMs.warning + 100, max: gapMs.critical - 100 },
  gapCriticalMs: { min: gapMs.critical + 200, max: 8_000 },
  /** A long run: this many tool pairs, every gap in this band (none > 1 s), > 10 s in total. */
  longRunPairs: { min: 5, max: 6 },
  longRunGapMs: { min: 750, max: 950 },
  /** Redeliveries and trailing events come this long after the original. */
  redeliveryDelayMs: { min: 100, max: 800 },
  /**
   * A late recovery replay is delivered this long after its run closed (event time). At least the
   * 3 s out-of-orderness bound plus 12 s, so it is late in every legal interleaving that keeps
   * partitions within a few seconds of each other; at most 30 s - 7 s, because a judged run is
   * remembered for one run deadline (30 s) of event time and only then can a late event revise
   * its verdict.
   */
  lateReplayAfterCloseMs: { min: 15_000, max: 23_000 },
  /** How far the clock of a suspicious replay is off (more than the 1 h skew). */
  clockSkewMs: { min: 3_600_000 + 60_000, max: 3_600_000 + 1_800_000 },
} as const;

/** The original_failure reasons of recovery replays (fact sheet §1.1 F). */
export const RECOVERY_FAILURES = ['websocket send failed: connection reset by peer', 'client disconnected before ack', 'send timed out after 5000 ms'] as const;

// ---- Edits on encoded records: fields may sit at the root, under payload or under data ----

function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The root, then `payload`, then `data`: where the normalizer and the content rule look. */
function levelsOf(body: JsonObject): JsonObject[] {
  const levels = [body];
  for (const key of ['payload', 'data']) {
    const inner = body[key];
    if (isJsonObject(inner)) levels.push(inner);
  }
  return levels;
}

/** Removes `keys` at every level. */
export function deleteFields(body: JsonObject, keys: readonly string[]): void {
  for (const level of levelsOf(body)) for (const key of keys) delete level[key];
}

/** Replaces `key` wherever it is present; returns how many places held it. */
export function replaceField(body: JsonObject, key: string, value: (old: JsonValue) => JsonValue): number {
  let count = 0;
  for (const level of levelsOf(body)) {
    const old = level[key];
    if (old === undefined) continue;
    level[key] = value(old);
    count += 1;
  }
  return count;
}

/** Rewrites every `timestamp` to `ms`, in the form each one has (epoch seconds or ISO). */
export function rewriteTimestamps(body: JsonObject, ms: number): void {
  replaceField(body, 'timestamp', (old) => (typeof old === 'number' ? epochSeconds(ms) : isoMicros(ms)));
}

/** A record body with recovery-replay markers added (fact sheet §1.1 F). */
export function asRecoveryReplay(body: JsonObject, failure: string): JsonObject {
  const copy: JsonObject = JSON.parse(JSON.stringify(body)) as JsonObject;
  copy['recovered'] = true;
  copy['original_failure'] = failure;
  return copy;
}

/**
 * Content faults: one required field removed or blanked (fact sheet §2; the content rule's schemas, src/operators/rules/content.ts).
 * `subject` is the field path the content rule reports.
 */
export interface ContentFault {
  readonly variant: string;
  readonly type: LifecycleType;
  readonly subject: string;
  apply(body: JsonObject): void;
}

export const CONTENT_FAULTS: readonly ContentFault[] = [
  { variant: 'agent_started.agent_name', type: 'agent_started', subject: 'agent_name', apply: (b) => deleteFields(b, ['agent_name']) },
  { variant: 'agent_thinking.reasoning', type: 'agent_thinking', subject: 'reasoning', apply: (b) => void replaceField(b, 'reasoning', () => '  ') },
  { variant: 'tool_executing.tool_name', type: 'tool_executing', subject: 'tool_name', apply: (b) => deleteFields(b, ['tool_name']) },
  { variant: 'tool_executing.agent_name', type: 'tool_executing', subject: 'agent_name', apply: (b) => deleteFields(b, ['agent_name']) },
  { variant: 'tool_completed.tool_name', type: 'tool_completed', subject: 'tool_name', apply: (b) => deleteFields(b, ['tool_name']) },
  { variant: 'tool_completed.result', type: 'tool_completed', subject: 'result|results|success|error', apply: (b) => deleteFields(b, ['result', 'results', 'success', 'error']) },
  { variant: 'agent_completed.agent_name', type: 'agent_completed', subject: 'agent_name', apply: (b) => deleteFields(b, ['agent_name']) },
];

// ---- Timing ground truth ----

/**
 * The event time the normalizer reads from a record of this shape emitted at `ms`: the wire
 * carries microseconds (ISO, or epoch seconds in the fixture shape), so thresholds compare against
 * exactly this value, not the whole millisecond.
 */
export function wireEmittedMs(ms: number, shape: LifecycleShape): number {
  const value = timestampToMs(shape === 'fixture' ? epochSeconds(ms) : isoMicros(ms));
  if (value === undefined) throw new RangeError(`emitted time ${ms} does not encode`);
  return value;
}

export interface TimedEvent {
  readonly type: LifecycleType;
  /** As normalized (wireEmittedMs). */
  readonly emittedAtMs: number;
  readonly deliveredAtMs: number;
}

/** A timer-driven label: reported only if event time passes `dueMs` before the input ends. */
export interface PendingLabel {
  readonly dueMs: number;
  readonly label: Label;
}

/**
 * The timing verdicts of one run, from the rule definitions with the reference thresholds:
 * - delivery_latency per event (delivered − emitted, strict >), subject = its type;
 * - event_gap per consecutive pair (strict >): WARNING subject = the later event's type; a gap
 *   above the critical level is reported once, as `silence`, by the timer at previous + 5 s,
 *   which fires before the later event is processed (that event does not report it again);
 * - run_duration at agent_completed (from agent_started, else the first event), subject `duration`;
 * - a run without agent_completed: silence at last + 5 s (if not after the deadline) and the
 *   deadline at first + 30 s. Both are timers: they fire only if event time passes them before
 *   the input ends, so they are returned as pending.
 *
 * `events` are the events every rule sees (no redelivered copies, nothing after completion, no
 * suspicious timestamps), in event-time order; the run must complete within the deadline.
 */
export function timingLabels(events: readonly TimedEvent[]): { labels: Label[]; pending: PendingLabel[] } {
  const labels: Label[] = [];
  const pending: PendingLabel[] = [];
  const first = events[0];
  if (first === undefined) return { labels, pending };
  let startedAtMs: number | undefined;
  let completed = false;
  let previous: TimedEvent | undefined;
  for (const event of events) {
    const latency = deliveryLatencyLabel(event);
    if (latency !== undefined) labels.push(latency);
    if (previous !== undefined) {
      const gap = severityOf(event.emittedAtMs - previous.emittedAtMs, gapMs);
      if (gap === 'CRITICAL') labels.push({ rule: 'event_gap', severity: 'CRITICAL', subject: 'silence' });
      else if (gap !== undefined) labels.push({ rule: 'event_gap', severity: gap, subject: event.type });
    }
    if (event.type === 'agent_started' && startedAtMs === undefined) startedAtMs = event.emittedAtMs;
    if (event.type === 'agent_completed' && !completed) {
      completed = true;
      const duration = severityOf(event.emittedAtMs - (startedAtMs ?? first.emittedAtMs), runDurationMs);
      if (duration !== undefined) labels.push({ rule: 'run_duration', severity: duration, subject: 'duration' });
    }
    previous = event;
  }
  if (!completed && previous !== undefined) {
    const deadlineMs = first.emittedAtMs + runDurationMs.critical;
    const silenceMs = previous.emittedAtMs + gapMs.critical;
    if (silenceMs <= deadlineMs) pending.push({ dueMs: silenceMs, label: { rule: 'event_gap', severity: 'CRITICAL', subject: 'silence' } });
    pending.push({ dueMs: deadlineMs, label: { rule: 'run_duration', severity: 'CRITICAL', subject: 'deadline' } });
  }
  return { labels, pending };
}

/** The delivery_latency verdict of one event (strict >), in order or late alike; undefined if within both levels. */
export function deliveryLatencyLabel(event: TimedEvent): Label | undefined {
  const severity = severityOf(event.deliveredAtMs - event.emittedAtMs, deliveryLatencyMs);
  return severity === undefined ? undefined : { rule: 'delivery_latency', severity, subject: event.type };
}

/** Whether a run's timing stays inside what timingLabels models (see SimulatedTraffic.expected.labelsExact). */
export function timingModelled(events: readonly TimedEvent[], extraLatenciesMs: readonly number[]): boolean {
  const first = events[0];
  const last = events.at(-1);
  if (first === undefined || last === undefined) return true;
  // Completion well before the deadline; every latency well under the 3 s out-of-orderness bound.
  if (last.emittedAtMs - first.emittedAtMs > runDurationMs.critical - 1_000) return false;
  const maxLatency = Math.max(...events.map((e) => e.deliveredAtMs - e.emittedAtMs), ...extraLatenciesMs);
  return maxLatency < 2_900;
}
