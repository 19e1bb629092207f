import { Observable, type OperatorFunction } from 'rxjs';
import type { AgentEvent, LifecycleType, SourcePosition } from '../../contract/event.js';
import type { CompiledRunContract } from '../../contract/run-contract.js';
import { RULES, type Grade, type RuleId, type RunOutcome, type RunSummary, type Severity, type SourceOffsets, type Verdict } from '../../contract/verdict.js';
import type { StreamItem } from '../stream-item.js';
import { MinHeap } from './min-heap.js';
import { addLateFact, addRunFact, learnRunIds, openRunFacts, ownerOf, seenTypes, sourceOffsetsOf, type RunFacts } from './run-facts.js';
import { verdictId } from './verdict-id.js';

/**
 * The keyed (run_id) event-time engine every per-run detector plugs into: one Map of run state, one
 * timer heap, rules as plain objects. A detector is a `RunRule`; the operator of one detector is
 * `runEngine([rule])`, and the production chain is `runEngine(allRules)`: one pass, one Map, no
 * groupBy (one subscription per run is what made groupBy slow).
 *
 * Input must be in event-time order (orderByEventTime). Time only moves through events and
 * watermarks. A timer due at d fires once every event with time <= d has been processed: before
 * the first event later than d, or when the watermark reaches d. So verdicts do not depend on how
 * the input was chunked or when watermarks happened to be emitted.
 *
 * A run closes when its terminal event's time is reached, or at its deadline (earliest event +
 * contract.runDeadlineMs), or at end of input. Closed runs are remembered for one more deadline of
 * event time: a later event of theirs is reported (late event, revision, event after completion)
 * and never opens a phantom run.
 */
export interface RunRule<S> {
  readonly name: string;
  init(event: AgentEvent, run: RunState): S;
  /** Sees the run's events in event-time order. Returning false drops the event for later rules (duplicates). */
  onEvent?(state: S, event: AgentEvent, run: RunState, out: RuleOutput): boolean | void;
  /** The next event time this rule needs `onTimer` at, or +Infinity. */
  nextTimerMs?(state: S, run: RunState): number;
  onTimer?(state: S, dueMs: number, run: RunState, out: RuleOutput): void;
  onClose?(state: S, run: RunState, closing: RunClosing, out: RuleOutput): void;
  /** Adds this rule's measurements to the run summary. */
  summarize?(state: S, run: RunState, summary: SummaryParts): void;
  /** Event time moved on (after due timers fired): the place to expire state shared across runs. */
  onWatermark?(watermarkMs: number): void;
  /**
   * Per-event checks that still make sense for an event too late to be ordered (content, latency,
   * isolation). `run` is the open run, a stand-in for a judged one, or one made from this event.
   */
  onLateEvent?(event: AgentEvent, run: RunState, out: RuleOutput): void;
}

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
  violation(run: RunState, spec: ViolationSpec): void;
}

export interface SummaryParts {
  maxGapMs: number;
  latencyP50Ms?: number;
  latencyP95Ms?: number;
  latencyP99Ms?: number;
  durationMs?: number;
}

export interface RunState {
  readonly facts: RunFacts;
  readonly contract: CompiledRunContract;
  /** Counters by category and severity, for grades. */
  readonly counts: { perfWarnings: number; perfCriticals: number; securityWarnings: number; securityCriticals: number; warnings: number; criticals: number };
  duplicateCount: number;
  /** The missing_events verdict, kept so a late event can confirm or retract it. */
  missingVerdict: { readonly id: string; readonly missing: readonly LifecycleType[] } | undefined;
}

interface OpenRun {
  readonly run: RunState;
  readonly ruleStates: unknown[];
  /** When the run next needs attention (a rule timer or its close), as of its last change. */
  dueAtMs: number;
  /** Priority of its live heap entry (+Infinity: none). Only an earlier due needs a new entry. */
  scheduledAtMs: number;
  timerVersion: number;
}

interface ClosedRun {
  readonly closedAtMs: number;
  readonly outcome: RunOutcome;
  readonly completedAtMs: number | undefined;
  readonly missingVerdict: RunState['missingVerdict'];
  readonly facts: RunFacts;
}

interface Timer {
  readonly runId: string;
  readonly version: number;
}


export interface RunEngineOptions {
  /** Emit a run summary per closed run (the production chain does; single-detector operators need not). */
  readonly summaries?: boolean;
}

/** A rule with its state type hidden, so rules of different state types share one list. */
export type AnyRunRule = RunRule<unknown>;

/** Type-checks a rule against its own state type, then erases it for the engine's rule list. */
export function defineRule<S>(rule: RunRule<S>): AnyRunRule {
  return rule as unknown as AnyRunRule;
}

/**
 * @param createRules makes the rules afresh for each subscription: rules may keep state shared
 *   across runs (owners of threads, ...) that must not leak between two uses of the operator.
 */
export function runEngine(contract: CompiledRunContract, createRules: () => readonly AnyRunRule[], options: RunEngineOptions = {}): OperatorFunction<StreamItem, Verdict> {
  const withSummaries = options.summaries ?? false;
  const deadlineMs = contract.runDeadlineMs;
  return (source) =>
    new Observable<Verdict>((subscriber) => {
      const ruleList = createRules();
      const openRuns = new Map<string, OpenRun>();
      const closedRuns = new Map<string, ClosedRun>(); // insertion order == closing time order
      const timers = new MinHeap<Timer>();
      let watermarkMs = Number.NEGATIVE_INFINITY;
      /** Position of the event-time timeline: the last event, timer or watermark processed. */
      let nowMs = Number.NEGATIVE_INFINITY;
      const advanceTo = (t: number): void => {
        if (t > nowMs) nowMs = t;
      };
      const emit = (verdict: Verdict): void => subscriber.next(verdict);

      const out: RuleOutput = {
        violation: (run, spec) => {
          const facts = run.facts;
          const category = RULES[spec.rule];
          const critical = spec.severity === 'CRITICAL';
          if (critical) run.counts.criticals += 1;
          else run.counts.warnings += 1;
          if (category === 'performance') critical ? (run.counts.perfCriticals += 1) : (run.counts.perfWarnings += 1);
          else if (category === 'security') critical ? (run.counts.securityCriticals += 1) : (run.counts.securityWarnings += 1);
          const position = spec.event?.source;
          const key = position === undefined ? (spec.key ?? '') : spec.key === undefined ? `${position.partition}:${position.offset}` : `${position.partition}:${position.offset}:${spec.key}`;
          const violationId = verdictId(spec.rule, facts.runId, key);
          if (spec.rule === 'missing_events') run.missingVerdict = { id: violationId, missing: spec.missing ?? [] };
          emit({
            kind: 'violation',
            violation: {
              violationId,
              rule: spec.rule,
              severity: spec.severity,
              runId: facts.runId,
              threadId: facts.threadId,
              userId: ownerOf(facts),
              missing: spec.missing ?? [],
              subject: spec.subject ?? '',
              detail: spec.detail,
              eventTimeMs: spec.eventTimeMs,
              decidedAtWatermarkMs: Math.max(nowMs, spec.eventTimeMs),
              source: position === undefined ? sourceOffsetsOf(facts) : single(position),
            },
          });
        },
      };

      const timerRules = ruleList.map((rule, i) => [rule, i] as const).filter(([rule]) => rule.nextTimerMs !== undefined);
      const closeDueOf = (facts: RunFacts): number => Math.min(facts.firstEventMs + deadlineMs, facts.completedAtMs ?? Number.POSITIVE_INFINITY);

      // A heap entry is pushed only when a run's due moves earlier; when it moves later (a gap
      // timer after each event) the old entry is re-pushed lazily when it pops. Heap traffic
      // stays at about one entry per run instead of one per event.
      const schedule = (runId: string, open: OpenRun): void => {
        let due = closeDueOf(open.run.facts);
        for (const [rule, i] of timerRules) {
          const next = rule.nextTimerMs?.(open.ruleStates[i], open.run) ?? Number.POSITIVE_INFINITY;
          if (next < due) due = next;
        }
        open.dueAtMs = due;
        if (due >= open.scheduledAtMs || due === Number.POSITIVE_INFINITY) return;
        open.scheduledAtMs = due;
        open.timerVersion += 1;
        timers.push(due, { runId, version: open.timerVersion });
      };

      const close = (runId: string, open: OpenRun, outcome: RunOutcome, atMs: number): void => {
        openRuns.delete(runId);
        const { run, ruleStates } = open;
        const closing: RunClosing = { outcome, atMs };
        for (let i = 0; i < ruleList.length; i += 1) (ruleList[i] as AnyRunRule).onClose?.(ruleStates[i], run, closing, out);
        if (withSummaries) {
          const parts: SummaryParts = { maxGapMs: 0 };
          for (let i = 0; i < ruleList.length; i += 1) (ruleList[i] as AnyRunRule).summarize?.(ruleStates[i], run, parts);
          emit({ kind: 'run_summary', summary: summaryOf(run, closing, parts, Math.max(nowMs, atMs)) });
        }
        closedRuns.set(runId, { closedAtMs: atMs, outcome, completedAtMs: run.facts.completedAtMs, missingVerdict: run.missingVerdict, facts: run.facts });
      };

      /** Fires every timer due at or before `limit` (inclusive) or strictly before it (exclusive). */
      const fireTimers = (limit: number, inclusive: boolean): void => {
        for (;;) {
          const at = timers.peekPriority();
          if (inclusive ? at > limit : at >= limit) return;
          const timer = timers.pop() as Timer;
          const open = openRuns.get(timer.runId);
          if (open === undefined || open.timerVersion !== timer.version) continue;
          open.scheduledAtMs = Number.POSITIVE_INFINITY;
          const due = open.dueAtMs;
          if (due > at) {
            schedule(timer.runId, open); // its due moved later since this entry was pushed
            continue;
          }
          advanceTo(due);
          for (const [rule, i] of timerRules) {
            const next = rule.nextTimerMs?.(open.ruleStates[i], open.run) ?? Number.POSITIVE_INFINITY;
            if (next <= due) rule.onTimer?.(open.ruleStates[i], due, open.run, out);
          }
          const facts = open.run.facts;
          const closeDue = closeDueOf(facts);
          if (closeDue <= due) close(timer.runId, open, facts.completedAtMs === undefined ? 'deadline' : 'completed', closeDue);
          else schedule(timer.runId, open);
        }
      };

      const onEvent = (event: AgentEvent): void => {
        fireTimers(event.emittedAtMs, false);
        advanceTo(event.emittedAtMs);
        const runId = event.runId;
        let open = openRuns.get(runId);
        if (open === undefined) {
          const closed = closedRuns.get(runId);
          if (closed !== undefined) return afterClose(closed, event);
          const facts = openRunFacts(event);
          const run: RunState = {
            facts,
            contract,
            counts: { perfWarnings: 0, perfCriticals: 0, securityWarnings: 0, securityCriticals: 0, warnings: 0, criticals: 0 },
            duplicateCount: 0,
            missingVerdict: undefined,
          };
          open = { run, ruleStates: ruleList.map((rule) => rule.init(event, run)), dueAtMs: Number.POSITIVE_INFINITY, scheduledAtMs: Number.POSITIVE_INFINITY, timerVersion: 0 };
          openRuns.set(runId, open);
        }
        const { run, ruleStates } = open;
        learnRunIds(run.facts, event);
        let accepted = true;
        for (let i = 0; i < ruleList.length && accepted; i += 1) accepted = (ruleList[i] as AnyRunRule).onEvent?.(ruleStates[i], event, run, out) !== false;
        if (accepted) addRunFact(run.facts, event);
        else run.duplicateCount += 1;
        schedule(runId, open);
      };

      /** An in-order event of a run already judged: after its completion, or after its deadline. */
      const afterClose = (closed: ClosedRun, event: AgentEvent): void => {
        if (closed.completedAtMs !== undefined && event.emittedAtMs > closed.completedAtMs) {
          const run = closedRunState(closed, contract);
          out.violation(run, {
            rule: 'event_after_completion',
            severity: 'CRITICAL',
            subject: event.type,
            detail: `${event.type} ${Math.round(event.emittedAtMs - closed.completedAtMs)} ms after agent_completed`,
            eventTimeMs: event.emittedAtMs,
            event,
          });
          return;
        }
        reportLate(event, 'closed', closed, false);
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

      const onLate = (event: AgentEvent): void => {
        const open = openRuns.get(event.runId);
        const closed = open === undefined ? closedRuns.get(event.runId) : undefined;
        const run = open?.run ?? (closed === undefined ? detachedRunState(event, contract) : closedRunState(closed, contract));
        if (open !== undefined) {
          // Too late to be ordered, not too late to count: it is no longer missing, but order rules never see it.
          learnRunIds(open.run.facts, event);
          addLateFact(open.run.facts, event);
          reportLate(event, 'open', undefined, false);
        } else {
          reportLate(event, closed === undefined ? 'unknown' : 'closed', closed, true);
        }
        for (const rule of ruleList) rule.onLateEvent?.(event, run, out);
      };

      // A suspicious event arrives outside event-time order, so it is judged on its own: attaching it
      // to whatever state its run happens to be in would make the verdict depend on arrival order.
      const onSuspicious = (event: AgentEvent): void => {
        out.violation(detachedRunState(event, contract), {
          rule: 'suspicious_timestamp',
          severity: 'WARNING',
          subject: 'timestamp',
          detail: `emitted ${new Date(Math.floor(event.emittedAtMs)).toISOString()} but delivered ${new Date(Math.floor(event.deliveredAtMs)).toISOString()}: cannot be placed in time, not used`,
          eventTimeMs: event.emittedAtMs,
          event,
        });
      };

      const onWatermark = (next: number): void => {
        if (next <= watermarkMs) return;
        watermarkMs = next;
        fireTimers(watermarkMs, true);
        advanceTo(watermarkMs);
        for (const rule of ruleList) rule.onWatermark?.(watermarkMs);
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
              return onLate(item.event);
            case 'suspicious':
              return onSuspicious(item.event);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          // End of input (replay): what is due by the last event time fires as usual; the rest
          // closes now, in a stable order, so replays emit identically.
          const remaining = [...openRuns.entries()].sort(([a, x], [b, y]) => x.run.facts.firstEventMs - y.run.facts.firstEventMs || (a < b ? -1 : a > b ? 1 : 0));
          for (const [runId, open] of remaining) {
            if (!openRuns.has(runId)) continue;
            const facts = open.run.facts;
            close(runId, open, facts.completedAtMs === undefined ? 'end_of_input' : 'completed', facts.completedAtMs ?? Math.max(facts.lastEventMs, watermarkMs));
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

const emptyCounts = () => ({ perfWarnings: 0, perfCriticals: 0, securityWarnings: 0, securityCriticals: 0, warnings: 0, criticals: 0 });

/** A stand-in run state for verdicts about a closed run (counts no longer feed its summary). */
function closedRunState(closed: ClosedRun, contract: CompiledRunContract): RunState {
  return { facts: closed.facts, contract, counts: emptyCounts(), duplicateCount: 0, missingVerdict: closed.missingVerdict };
}

/** A stand-in run state for an event whose run is unknown (e.g. a suspicious first event). */
function detachedRunState(event: AgentEvent, contract: CompiledRunContract): RunState {
  const facts = openRunFacts(event);
  learnRunIds(facts, event);
  addRunFact(facts, event);
  return { facts, contract, counts: emptyCounts(), duplicateCount: 0, missingVerdict: undefined };
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

function summaryOf(run: RunState, closing: RunClosing, parts: SummaryParts, decidedAtMs: number): RunSummary {
  const facts = run.facts;
  const { counts } = run;
  return {
    runId: facts.runId,
    threadId: facts.threadId,
    userId: ownerOf(facts),
    firstEventMs: facts.firstEventMs,
    lastEventMs: facts.lastEventMs,
    startedAtMs: facts.startedAtMs,
    completedAtMs: facts.completedAtMs,
    eventCount: facts.eventCount,
    duplicateCount: run.duplicateCount,
    lateEventCount: facts.lateCount,
    typesSeen: seenTypes(facts),
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
    source: sourceOffsetsOf(facts),
  };
}
