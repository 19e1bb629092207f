import { Observable, type OperatorFunction } from 'rxjs';
import type { AgentEvent, LifecycleType, SourcePosition } from '../../contract/event.js';
import type { CompiledRunContract } from '../../contract/run-contract.js';
import { RULES, type Grade, type RuleId, type RunOutcome, type RunSummary, type Severity, type SourceOffsets, type Verdict } from '../../contract/verdict.js';
import type { StreamItem } from '../stream-item.js';
import { RunFacts } from './run-facts.js';
import { RunTable } from './run-table.js';
import { TimerHeap } from './timer-heap.js';
import { verdictId } from './verdict-id.js';

/**
 * The keyed (run_id) event-time engine every per-run detector plugs into: one Map from run id to
 * a slot of the run table, one timer heap, rules as plain objects over columns of that table. A
 * detector is a `RuleFactory`; the operator of one detector is `runEngine(contract, () => [rule])`,
 * and the production chain runs all rules in one pass (no groupBy: one subscription per run is
 * what made groupBy slow, and an object per run per rule is what made memory grow).
 *
 * Input must be in event-time order (orderByEventTime). Time only moves through events and
 * watermarks (a late item carries the watermark it was found behind). A timer due at d fires once every event with time <= d has been processed: before
 * the first event later than d, or when the watermark reaches d. So verdicts do not depend on how
 * the input was chunked or when watermarks happened to be emitted.
 *
 * A run closes when its terminal event's time is reached, or at its deadline (earliest event +
 * contract.runDeadlineMs), or at end of input. Closed runs are remembered for one more deadline of
 * event time: a later event of theirs is reported (late event, revision, event after completion)
 * and never opens a phantom run.
 */
export interface RunRule {
  readonly name: string;
  /** Sets this rule's columns for a new run in `slot`. Slots are reused: set every column read later. */
  open?(slot: number, event: AgentEvent): void;
  /** Sees the run's events in event-time order. Returning false drops the event for later rules (duplicates). */
  onEvent?(slot: number, event: AgentEvent, out: RuleOutput): boolean | void;
  /** The next event time this rule needs `onTimer` at, or +Infinity. */
  nextTimerMs?(slot: number): number;
  onTimer?(slot: number, dueMs: number, out: RuleOutput): void;
  onClose?(slot: number, closing: RunClosing, out: RuleOutput): void;
  /** Adds this rule's measurements to the run summary. */
  summarize?(slot: number, summary: SummaryParts): void;
  /** Event time moved on (after due timers fired): the place to expire state shared across runs. */
  onWatermark?(watermarkMs: number): void;
  /**
   * Per-event checks that still make sense for an event too late to be ordered (content, latency,
   * isolation). `slot` is the open run, or a stand-in for a judged or unknown one.
   */
  onLateEvent?(event: AgentEvent, slot: number, out: RuleOutput): void;
}

/** What a rule is built from, once per subscription: the table to declare its columns in, and the shared run facts. */
export interface RuleContext {
  readonly table: RunTable;
  readonly facts: RunFacts;
}

/** Makes a rule for one subscription of the engine (rules may keep state shared across runs). */
export type RuleFactory = (context: RuleContext) => RunRule;

export interface RunClosing {
  readonly outcome: RunOutcome;
  /** Event time at which the run closed (its terminal event, its deadline, or the last watermark). */
  readonly atMs: number;
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
  /** Distinguishes several violations of one rule in one run when there is no event (e.g. a timer). */
  readonly key?: string;
  readonly missing?: readonly LifecycleType[];
}

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

/** The missing_events verdict of a run, kept so a late event can confirm or retract it. */
interface MissingVerdict {
  readonly id: string;
  readonly missing: readonly LifecycleType[];
}

interface ClosedRun {
  readonly closedAtMs: number;
  readonly completedAtMs: number | undefined;
  readonly missingVerdict: MissingVerdict | undefined;
  readonly threadId: string | undefined;
  readonly ownerUserId: string | undefined;
}

export interface RunEngineOptions {
  /** Emit a run summary per closed run (the production chain does; single-detector operators need not). */
  readonly summaries?: boolean;
}

/**
 * @param createRules makes the rule factories for each subscription: rules may keep state shared
 *   across runs (owners of threads, ...) that must not leak between two uses of the operator.
 */
export function runEngine(contract: CompiledRunContract, createRules: () => readonly RuleFactory[], options: RunEngineOptions = {}): OperatorFunction<StreamItem, Verdict> {
  const withSummaries = options.summaries ?? false;
  const deadlineMs = contract.runDeadlineMs;
  return (source) =>
    new Observable<Verdict>((subscriber) => {
      const table = new RunTable();
      const facts = new RunFacts(table);
      const ruleList = createRules().map((create) => create({ table, facts }));
      const openers = ruleList.filter((rule) => rule.open !== undefined);
      const eventRules = ruleList.filter((rule) => rule.onEvent !== undefined);
      const timerRules = ruleList.filter((rule) => rule.nextTimerMs !== undefined);
      const closeRules = ruleList.filter((rule) => rule.onClose !== undefined);
      const summaryRules = ruleList.filter((rule) => rule.summarize !== undefined);
      const lateRules = ruleList.filter((rule) => rule.onLateEvent !== undefined);
      const watermarkRules = ruleList.filter((rule) => rule.onWatermark !== undefined);
      /** When each run next needs attention (a rule timer or its close), as of its last change. */
      const dueAt = table.float64();
      /** Due time of the run's live heap entry (+Infinity: none). Only an earlier due needs a new entry. */
      const scheduledAt = table.float64();
      const timerVersion = table.int32();
      const missingVerdicts = table.refs<MissingVerdict>();

      const openRuns = new Map<string, number>();
      const closedRuns = new Map<string, ClosedRun>(); // insertion order == closing time order
      const timers = new TimerHeap();
      let nextVersion = 0;
      let watermarkMs = Number.NEGATIVE_INFINITY;
      /** Position of the event-time timeline: the last event, timer or watermark processed. */
      let nowMs = Number.NEGATIVE_INFINITY;
      const advanceTo = (t: number): void => {
        if (t > nowMs) nowMs = t;
      };
      const emit = (verdict: Verdict): void => subscriber.next(verdict);

      const out: RuleOutput = {
        violation: (slot, spec) => {
          facts.countViolation(slot, RULES[spec.rule], spec.severity === 'CRITICAL');
          const position = spec.event?.source;
          const key = position === undefined ? (spec.key ?? '') : spec.key === undefined ? `${position.partition}:${position.offset}` : `${position.partition}:${position.offset}:${spec.key}`;
          const runId = facts.runIdOf(slot);
          const violationId = verdictId(spec.rule, runId, key);
          if (spec.rule === 'missing_events') missingVerdicts.set(slot, { id: violationId, missing: spec.missing ?? [] });
          emit({
            kind: 'violation',
            violation: {
              violationId,
              rule: spec.rule,
              severity: spec.severity,
              runId,
              threadId: facts.threadIdOf(slot),
              userId: facts.ownerOf(slot),
              missing: spec.missing ?? [],
              subject: spec.subject ?? '',
              detail: spec.detail,
              eventTimeMs: spec.eventTimeMs,
              decidedAtWatermarkMs: Math.max(nowMs, spec.eventTimeMs),
              source: position === undefined ? facts.sourceOffsets(slot) : single(position),
            },
          });
        },
      };

      const closeDueOf = (slot: number): number => {
        const byDeadline = (facts.firstEventMs.values[slot] as number) + deadlineMs;
        const completedAt = facts.completedAtMs(slot);
        return completedAt !== undefined && completedAt < byDeadline ? completedAt : byDeadline;
      };

      // A heap entry is pushed only when a run's due moves earlier; when it moves later (a gap
      // timer after each event) the old entry is re-pushed lazily when it pops. Heap traffic
      // stays at about one entry per run instead of one per event.
      const schedule = (slot: number): void => {
        let due = closeDueOf(slot);
        for (const rule of timerRules) {
          const next = (rule.nextTimerMs as (slot: number) => number)(slot);
          if (next < due) due = next;
        }
        dueAt.values[slot] = due;
        if (due >= (scheduledAt.values[slot] as number) || due === Number.POSITIVE_INFINITY) return;
        scheduledAt.values[slot] = due;
        nextVersion = (nextVersion + 1) | 0;
        timerVersion.values[slot] = nextVersion;
        timers.push(due, slot, nextVersion);
      };

      /** A slot for a new run, its facts and every rule's columns set from its first event. */
      const openSlot = (event: AgentEvent): number => {
        const slot = table.allocate();
        facts.open(slot, event);
        dueAt.values[slot] = Number.POSITIVE_INFINITY;
        scheduledAt.values[slot] = Number.POSITIVE_INFINITY;
        timerVersion.values[slot] = 0;
        for (const rule of openers) (rule.open as (slot: number, event: AgentEvent) => void)(slot, event);
        return slot;
      };

      const close = (runId: string, slot: number, outcome: RunOutcome, atMs: number): void => {
        openRuns.delete(runId);
        timerVersion.values[slot] = (nextVersion = (nextVersion + 1) | 0); // any heap entry left is stale
        const closing: RunClosing = { outcome, atMs };
        for (const rule of closeRules) rule.onClose?.(slot, closing, out);
        if (withSummaries) {
          const parts: SummaryParts = { maxGapMs: 0 };
          for (const rule of summaryRules) rule.summarize?.(slot, parts);
          emit({ kind: 'run_summary', summary: summaryOf(facts, slot, closing, parts, Math.max(nowMs, atMs)) });
        }
        closedRuns.set(runId, {
          closedAtMs: atMs,
          completedAtMs: facts.completedAtMs(slot),
          missingVerdict: missingVerdicts.get(slot),
          threadId: facts.threadIdOf(slot),
          ownerUserId: facts.ownerOf(slot),
        });
        table.release(slot);
      };

      /** Fires every timer due at or before `limit` (inclusive) or strictly before it (exclusive). */
      const fireTimers = (limit: number, inclusive: boolean): void => {
        for (;;) {
          const at = timers.peekDue();
          if (inclusive ? at > limit : at >= limit) return;
          const slot = timers.peekSlot();
          const version = timers.peekVersion();
          timers.pop();
          if (timerVersion.values[slot] !== version) continue;
          scheduledAt.values[slot] = Number.POSITIVE_INFINITY;
          const due = dueAt.values[slot] as number;
          if (due > at) {
            schedule(slot); // its due moved later since this entry was pushed
            continue;
          }
          advanceTo(due);
          for (const rule of timerRules) {
            if ((rule.nextTimerMs as (slot: number) => number)(slot) <= due) rule.onTimer?.(slot, due, out);
          }
          const closeDue = closeDueOf(slot);
          if (closeDue <= due) close(facts.runIdOf(slot), slot, facts.isCompleted(slot) ? 'completed' : 'deadline', closeDue);
          else schedule(slot);
        }
      };

      const onEvent = (event: AgentEvent): void => {
        fireTimers(event.emittedAtMs, false);
        advanceTo(event.emittedAtMs);
        const runId = event.runId;
        let slot = openRuns.get(runId);
        if (slot === undefined) {
          const closed = closedRuns.get(runId);
          if (closed !== undefined) return afterClose(closed, event);
          slot = openSlot(event);
          openRuns.set(runId, slot);
        }
        facts.learnIds(slot, event);
        let accepted = true;
        for (let i = 0; i < eventRules.length && accepted; i += 1) accepted = (eventRules[i] as RunRule).onEvent?.(slot, event, out) !== false;
        if (accepted) facts.addEvent(slot, event);
        else facts.duplicateCount.values[slot] = (facts.duplicateCount.values[slot] as number) + 1;
        schedule(slot);
      };

      /** A stand-in slot for verdicts about a judged run (its counts feed no summary), released by the caller. */
      const standInFor = (closed: ClosedRun, event: AgentEvent): number => {
        const slot = openSlot(event);
        facts.restoreIds(slot, closed.threadId, closed.ownerUserId);
        missingVerdicts.set(slot, closed.missingVerdict);
        return slot;
      };

      /**
       * An in-order event of a run already judged: after its completion, or after its deadline.
       * Order rules are done with the run; the per-event checks (content, latency, isolation) are not.
       */
      const afterClose = (closed: ClosedRun, event: AgentEvent): void => {
        const slot = standInFor(closed, event);
        if (closed.completedAtMs !== undefined && event.emittedAtMs > closed.completedAtMs) {
          out.violation(slot, {
            rule: 'event_after_completion',
            severity: 'CRITICAL',
            subject: event.type,
            detail: `${event.type} ${Math.round(event.emittedAtMs - closed.completedAtMs)} ms after agent_completed`,
            eventTimeMs: event.emittedAtMs,
            event,
          });
        } else {
          reportLate(event, 'closed', closed, false);
        }
        for (const rule of lateRules) rule.onLateEvent?.(event, slot, out);
        table.release(slot);
      };

      const reportLate = (event: AgentEvent, runState: 'open' | 'closed' | 'unknown', closed: ClosedRun | undefined, couldRetract: boolean): void => {
        emit({ kind: 'late_event', runId: event.runId, type: event.type, eventTimeMs: event.emittedAtMs, watermarkMs: Math.max(nowMs, event.emittedAtMs), runState, source: event.source });
        const verdict = closed?.missingVerdict;
        if (verdict === undefined) return;
        const retracts = couldRetract && verdict.missing.includes(event.type);
        emit({
          kind: 'revision',
          violationId: verdict.id,
          runId: event.runId,
          action: retracts ? 'retracted' : 'confirmed',
          reason: retracts ? `late ${event.type} arrived after the run was judged` : `${event.type} arrived after the run was judged; the finding stands`,
          eventTimeMs: event.emittedAtMs,
          source: event.source,
        });
      };

      /** A slot holding only this event, for an event whose run is unknown (released by the caller). */
      const detachedSlot = (event: AgentEvent): number => {
        const slot = openSlot(event);
        facts.learnIds(slot, event);
        facts.addEvent(slot, event);
        return slot;
      };

      const onLate = (event: AgentEvent): void => {
        const open = openRuns.get(event.runId);
        if (open !== undefined) {
          // Too late to be ordered, not too late to count: it is no longer missing, but order rules never see it.
          facts.learnIds(open, event);
          facts.addLate(open, event);
          reportLate(event, 'open', undefined, false);
          for (const rule of lateRules) rule.onLateEvent?.(event, open, out);
          return;
        }
        const closed = closedRuns.get(event.runId);
        reportLate(event, closed === undefined ? 'unknown' : 'closed', closed, true);
        const slot = closed === undefined ? detachedSlot(event) : standInFor(closed, event);
        for (const rule of lateRules) rule.onLateEvent?.(event, slot, out);
        table.release(slot);
      };

      // A suspicious event arrives outside event-time order, so it is judged on its own: attaching it
      // to whatever state its run happens to be in would make the verdict depend on arrival order.
      // Nor do the per-event checks run on it: isolation needs the run's state at a place in time,
      // and checking at arrival would make the verdict depend on how partitions interleaved.
      const onSuspicious = (event: AgentEvent): void => {
        const slot = detachedSlot(event);
        out.violation(slot, {
          rule: 'suspicious_timestamp',
          severity: 'WARNING',
          subject: 'timestamp',
          detail: `emitted ${new Date(Math.floor(event.emittedAtMs)).toISOString()} but delivered ${new Date(Math.floor(event.deliveredAtMs)).toISOString()}: cannot be placed in time, not used`,
          eventTimeMs: event.emittedAtMs,
          event,
        });
        table.release(slot);
      };

      const onWatermark = (next: number): void => {
        if (next <= watermarkMs) return;
        watermarkMs = next;
        fireTimers(watermarkMs, true);
        advanceTo(watermarkMs);
        for (const rule of watermarkRules) rule.onWatermark?.(watermarkMs);
        const forgetBefore = watermarkMs - deadlineMs;
        for (const [runId, closed] of closedRuns) {
          if (closed.closedAtMs >= forgetBefore) break;
          closedRuns.delete(runId);
        }
      };

      const subscription = source.subscribe({
        next: (item) => {
          switch (item.kind) {
            case 'event':
              return onEvent(item.event);
            case 'watermark':
              return onWatermark(item.watermarkMs);
            case 'late':
              // Every event up to the watermark it was found behind has been processed (ordering
              // holds it until then), so event time is there: the run is open or judged, and shared
              // state expired, the same way whatever the interleaving of the partitions.
              onWatermark(item.watermarkMs);
              return onLate(item.event);
            case 'suspicious':
              return onSuspicious(item.event);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          // End of input (replay): what is due by the last event time fires as usual; the rest
          // closes now, in a stable order, so replays emit identically.
          const first = (slot: number): number => facts.firstEventMs.values[slot] as number;
          const remaining = [...openRuns.entries()].sort(([a, x], [b, y]) => first(x) - first(y) || (a < b ? -1 : a > b ? 1 : 0));
          for (const [runId, slot] of remaining) {
            const completedAt = facts.completedAtMs(slot);
            close(runId, slot, completedAt === undefined ? 'end_of_input' : 'completed', completedAt ?? Math.max(facts.lastEventMs.values[slot] as number, watermarkMs));
          }
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        openRuns.clear();
        closedRuns.clear();
        timers.clear();
      };
    });
}

function single(position: SourcePosition): SourceOffsets {
  return { topic: position.topic, partitions: [position.partition], offsets: [position.offset] };
}

/** Fact sheet §2: F if any CRITICAL; else A with no warning, B one, C two or three, D four or more. */
export function performanceGrade(warnings: number, criticals: number): Grade {
  if (criticals > 0) return 'F';
  if (warnings === 0) return 'A';
  if (warnings === 1) return 'B';
  if (warnings <= 3) return 'C';
  return 'D';
}

/** Fact sheet §2: F if any CRITICAL isolation violation; else A none, B <= 2, C <= 5, D more. */
export function securityGrade(warnings: number, criticals: number): Grade {
  if (criticals > 0) return 'F';
  if (warnings === 0) return 'A';
  if (warnings <= 2) return 'B';
  if (warnings <= 5) return 'C';
  return 'D';
}

function summaryOf(facts: RunFacts, slot: number, closing: RunClosing, parts: SummaryParts, decidedAtMs: number): RunSummary {
  const counts = facts.counts(slot);
  return {
    runId: facts.runIdOf(slot),
    threadId: facts.threadIdOf(slot),
    userId: facts.ownerOf(slot),
    firstEventMs: facts.firstEventMs.values[slot] as number,
    lastEventMs: facts.lastEventMs.values[slot] as number,
    startedAtMs: facts.startedAtMs(slot),
    completedAtMs: facts.completedAtMs(slot),
    eventCount: facts.eventCount.values[slot] as number,
    duplicateCount: facts.duplicateCount.values[slot] as number,
    lateEventCount: facts.lateCount.values[slot] as number,
    typesSeen: facts.seenTypes(slot),
    outcome: closing.outcome,
    durationMs: parts.durationMs,
    maxGapMs: parts.maxGapMs,
    latencyP50Ms: parts.latencyP50Ms,
    latencyP95Ms: parts.latencyP95Ms,
    latencyP99Ms: parts.latencyP99Ms,
    warnings: counts.warnings,
    criticals: counts.criticals,
    performanceGrade: performanceGrade(counts.perfWarnings, counts.perfCriticals),
    securityGrade: securityGrade(counts.securityWarnings, counts.securityCriticals),
    isolationWarnings: counts.securityWarnings,
    isolationCriticals: counts.securityCriticals,
    decidedAtWatermarkMs: decidedAtMs,
    source: facts.sourceOffsets(slot),
  };
}
