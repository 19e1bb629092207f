import { Observable, type OperatorFunction } from 'rxjs';
import type { AgentEvent, LifecycleType, SourcePosition } from '../../contract/event.js';
import type { CompiledRunContract } from '../../contract/run-contract.js';
import { RULES, type EventPlacement, type RunOutcome, type RunSummary, type SourceOffsets, type Verdict, type Violation } from '../../contract/verdict.js';
import type { StateRegistry } from '../state-registry.js';
import type { PendingEvent, StreamItem } from '../stream-item.js';
import type { EngineProbe } from './engine-probe.js';
import { identityOf, isSameEvent, RunEventLog, type EventIdentity } from './event-log.js';
import { performanceGrade, securityGrade } from './grade-policy.js';
import { earlyViolation } from '../fireEarly.js';
import { type Arrival, type EventCheck, type FinalRun, type RuleFactory, type RuleOutput, type RunRule, type SummaryParts, type ViolationSpec } from './rule.js';
import { RunFacts } from './run-facts.js';
import { RunTable } from './run-table.js';
import { TimerHeap } from './timer-heap.js';
import { verdictId, violationKey } from './verdict-id.js';

export type { Arrival, EventRef, FinalRun, RuleContext, RuleFactory, RuleOutput, RunRule, SummaryParts, ViolationSpec } from './rule.js';
export { performanceGrade, securityGrade } from './grade-policy.js';

/**
 * The keyed (run_id) event-time engine every rule plugs into (rules: src/operators/rules/, the
 * hooks: rule.ts). One Map from run id to a slot of the run table, one timer per run, one pass.
 *
 * Input is in event-time order (withWatermark → orderByEventTime). Each item has a place τ on the
 * event-time line: its own time, or, for an event that arrived behind its partition's watermark,
 * that watermark (ordering holds it until then). τ depends only on the order within partitions,
 * so everything below is the same whatever the partitions' interleaving or the input's chunking.
 *
 * Allowed lateness, as in Flink: a run *ends* at its completion or at its deadline (first event +
 * critical run duration), whichever is first, and becomes *final* when event time passes its end
 * plus `allowedLatenessMs`. Every event placed before that joins the run like any other, whenever
 * it arrived: the run is then judged once, over its events sorted by event time. Only an event
 * after that is late: a `late_events` row (or `event_after_completion`), a revision of the run's
 * revisable verdicts, and the per-event checks.
 */
export interface RunEngineOptions {
  /** How long after its end a run still takes events (default 0). */
  readonly allowedLatenessMs?: number;
  /** Emit a run summary per final run (the production chain does; single-rule tests need not). */
  readonly summaries?: boolean;
  /** Where the engine's state is checkpointed and restored from (as 'engine'). */
  readonly state?: StateRegistry;
  /** Lets an observer read open runs and event time (metrics) when it wants to. */
  readonly probe?: EngineProbe;
  /** Emit where each event was placed (`event_placed`), for storing events (--store-events). */
  readonly placements?: boolean;
  /**
   * Early firing (live mode) is on: the checks fired early upstream (src/operators/fireEarly.ts),
   * whose findings on a redelivered copy, dropped here, are withdrawn; and the engine fires the
   * rules that judge purely when a run's completion takes its place, or, with
   * `completionNotices`, when it arrives.
   */
  readonly earlyChecks?: readonly EventCheck[];
  /**
   * The input carries `completion_arrived` notices (orderByEventTime's `announceArrivalsOf`): a
   * run's findings fire early on its notice only, not again when its completion takes its place
   * (a third judgement of every run; what arrives in between is judged when the run is final).
   */
  readonly completionNotices?: boolean;
}

/** Per-run findings fired early and not yet settled by the run's final judgement, by run id (a state root). */
interface EarlyFiredRuns {
  readonly fired: Map<string, Violation[]>;
}

/** The engine's state root (see state-registry.ts). */
interface EngineState {
  readonly table: RunTable;
  readonly openRuns: Map<string, number>;
  readonly finalRuns: Map<string, FinalRunMemory>;
  readonly timers: TimerHeap;
  nextVersion: number;
  /** Where the engine stands on the event-time line: the last item, finalization or watermark processed. */
  nowMs: number;
  /** finalAtMs of the oldest remembered run (+Infinity: none): most watermarks have nothing to forget. */
  oldestFinalAtMs: number;
  /** Each rule's state shared across runs (`RunRule.state`), by rule name. */
  readonly rules: Readonly<Record<string, object>>;
}

/** A verdict of a judged run that late events may retract (declared by its rule: `retractedBy`). */
interface RevisableVerdict {
  readonly id: string;
  /** Types still absent; the verdict is retracted once late events brought them all. */
  readonly stillMissing: Set<LifecycleType>;
}

interface FinalRunMemory {
  readonly finalAtMs: number;
  /** Events that arrived after the run was final: a further copy of one is a duplicate, not news. */
  lateArrivals: EventIdentity[] | undefined;
  readonly completedAtMs: number | undefined;
  readonly revisable: readonly RevisableVerdict[];
  readonly threadId: string | undefined;
  readonly ownerUserId: string | undefined;
  /** What the remembering rules keep of the run, in their order (see RunRule.remember); updated by its late events. */
  memos: readonly number[] | undefined;
}

const NO_REVISABLE: readonly RevisableVerdict[] = [];

/**
 * @param createRules makes the rules for each subscription: rules may keep state shared across
 *   runs (owners of threads, ...) that must not leak between two uses of the operator.
 */
export function runEngine(contract: CompiledRunContract, createRules: () => readonly RuleFactory[], options: RunEngineOptions = {}): OperatorFunction<StreamItem, Verdict> {
  const withSummaries = options.summaries ?? false;
  const deadlineMs = contract.runDeadlineMs;
  const latenessMs = options.allowedLatenessMs ?? 0;
  // A straggler of a judged run must find it, not open a phantom run: one placed more than
  // deadline + lateness after its own time is known to be late anyway (see onEvent), so memory
  // covers events stamped up to one more deadline after the run was final.
  const retainJudgedMs = 2 * deadlineMs + latenessMs;
  if (!(latenessMs >= 0) || !Number.isFinite(latenessMs)) throw new RangeError(`allowedLatenessMs must be a finite number >= 0, got ${latenessMs}`);
  return (source) =>
    new Observable<Verdict>((subscriber) => {
      const table = new RunTable();
      const facts = new RunFacts(table);
      const rules = createRules().map((create) => create({ table, facts }));
      const openers = rules.filter((rule) => rule.open !== undefined);
      const arrivalRules = rules.filter((rule) => rule.onArrival !== undefined);
      const judges = rules.filter((rule) => rule.judge !== undefined);
      const clockRules = rules.filter((rule) => rule.onTime !== undefined);
      const rememberingRules = rules.filter((rule) => rule.remember !== undefined && rule.recall !== undefined);
      /** The run's accepted events; the duplicate filter looks them up, judging sorts them. */
      const log = new RunEventLog(table, facts);
      /** Due time of the run's live heap entry; its finalization time only moves earlier. */
      const finalAt = table.float64();
      const timerVersion = table.int32();
      const revisable = table.sparse<RevisableVerdict[]>();

      // Everything the engine knows across items, in one object: what a checkpoint saves and
      // restores (state-registry.ts). The run table holds every rule's and the log's columns.
      const e: EngineState = {
        table,
        openRuns: new Map<string, number>(),
        finalRuns: new Map<string, FinalRunMemory>(), // insertion order == finalization order
        timers: new TimerHeap(),
        nextVersion: 0,
        nowMs: Number.NEGATIVE_INFINITY,
        oldestFinalAtMs: Number.POSITIVE_INFINITY,
        rules: Object.fromEntries(rules.flatMap((rule) => (rule.state === undefined ? [] : [[rule.name, rule.state]]))),
      };
      options.state?.attach('engine', e);
      options.probe?.attach(() => ({ openRuns: e.openRuns.size, eventTimeMs: e.nowMs }));
      const timers = e.timers; // a class instance: a restore fills it in place
      const emit = (verdict: Verdict): void => subscriber.next(verdict);
      const placed = options.placements === true ? (event: AgentEvent, placement: EventPlacement): void => emit({ kind: 'event_placed', event, placement }) : (): void => undefined;

      /** A rule's finding as a violation of the run in `slot`: ids, owner and offsets filled in. */
      const violationOf = (slot: number, spec: ViolationSpec): Violation => {
        const position = spec.event?.source;
        const runId = facts.runIdOf(slot);
        return {
          violationId: verdictId(spec.rule, runId, violationKey(position, spec.key)),
          rule: spec.rule,
          severity: spec.severity,
          runId,
          threadId: facts.threadIdOf(slot),
          userId: facts.ownerOf(slot),
          missing: spec.missing ?? [],
          ...(spec.namedUserIds === undefined ? {} : { namedUserIds: spec.namedUserIds }),
          subject: spec.subject ?? '',
          detail: spec.detail,
          eventTimeMs: spec.eventTimeMs,
          decidedAtWatermarkMs: Math.max(e.nowMs, spec.eventTimeMs),
          source: position === undefined ? facts.sourceOffsets(slot) : single(position),
        };
      };
      /** Ids the final judgement of a run gives, collected while it runs when the run was fired early. */
      let judgedIds: Set<string> | undefined;

      const out: RuleOutput = {
        violation: (slot, spec) => {
          facts.countViolation(slot, RULES[spec.rule], spec.severity === 'CRITICAL');
          const violation = violationOf(slot, spec);
          if (spec.retractedBy !== undefined) {
            const entry: RevisableVerdict = { id: violation.violationId, stillMissing: new Set(spec.retractedBy) };
            const list = revisable.get(slot);
            if (list === undefined) revisable.set(slot, [entry]);
            else list.push(entry);
          }
          judgedIds?.add(violation.violationId);
          emit({ kind: 'violation', violation });
        },
      };

      // Early firing of per-run findings (live mode): when a run's completion arrives (or, without
      // notices, takes its place), the rules whose judgement only reads the run judge it
      // provisionally; what they find is emitted as provisional and kept here (checkpointed) until
      // the run is final, when the final judgement replaces it (same ids) or it is withdrawn. A
      // checkpoint of an older build has no such root.
      const early: EarlyFiredRuns = { fired: new Map<string, Violation[]>() };
      options.state?.attachOptional('early-runs', early);
      const pureJudges = options.earlyChecks === undefined ? [] : judges.filter((rule) => rule.judgesPurely === true);
      const fireOnPlace = pureJudges.length > 0 && options.completionNotices !== true;
      let firing: Violation[] = [];
      const earlyOut: RuleOutput = {
        violation: (slot, spec) => void firing.push({ ...violationOf(slot, spec), status: 'provisional' }),
      };
      /** Fires what the pure judges find in the run in `slot`; a finding already fired for the run is not fired again (its final row settles it). */
      const fireRunEarly = (runId: string, slot: number): void => {
        firing = [];
        const run: FinalRun = { slot, events: log.sorted(slot), outcome: 'completed', endMs: endOf(slot) };
        const parts: SummaryParts = { maxGapMs: 0 };
        for (const rule of pureJudges) (rule.judge as NonNullable<RunRule['judge']>)(run, earlyOut, parts);
        if (firing.length === 0) return;
        const fired = early.fired.get(runId) ?? [];
        const firedIds = new Set(fired.map((v) => v.violationId));
        const fresh = firing.filter((v) => !firedIds.has(v.violationId));
        if (fresh.length === 0) return;
        for (const violation of fresh) emit({ kind: 'violation', violation });
        early.fired.set(runId, [...fired, ...fresh]);
      };
      /**
       * A run's completion has just arrived (live mode): the run as it stands with every event of
       * it that has arrived (placed here, or still waiting in `pending`) is judged provisionally in
       * a copy of its slot, so the run's own slot takes events only in event-time order. Nothing
       * fires for a run already judged: its final rows must stay the last ones written.
       */
      const fireOnArrival = (event: AgentEvent, pending: readonly PendingEvent[]): void => {
        const runId = event.runId;
        const open = e.openRuns.get(runId);
        if (open === undefined && (rememberedFinal(runId) !== undefined || event.emittedAtMs + deadlineMs + latenessMs < e.nowMs)) return;
        const first = pending[0];
        if (open === undefined && first === undefined) return;
        let slot: number;
        if (open === undefined) slot = openSlot((first as PendingEvent).event);
        else table.copySlot(open, (slot = table.allocate()));
        for (const item of pending) {
          if (log.holds(slot, item.event)) continue; // a redelivered copy counts once
          facts.learnIds(slot, item.event);
          facts.addEvent(slot, item.event, item.kind === 'late');
          log.add(slot, item.event, item.kind === 'late');
        }
        fireRunEarly(runId, slot);
        table.release(slot);
      };
      /** After the final judgement: what was fired early and not judged again is withdrawn. */
      const settleEarly = (runId: string): void => {
        const fired = early.fired.get(runId);
        if (fired === undefined) return;
        early.fired.delete(runId);
        for (const v of fired) if (judgedIds?.has(v.violationId) !== true) emit({ kind: 'violation', violation: { ...v, status: 'withdrawn', decidedAtWatermarkMs: e.nowMs } });
      };

      /** Where the run ends: its completion, else its deadline, whichever is first. */
      const endOf = (slot: number): number => {
        const byDeadline = facts.firstEventAt(slot) + deadlineMs;
        const completedAt = facts.completedAtMs(slot);
        return completedAt !== undefined && completedAt < byDeadline ? completedAt : byDeadline;
      };

      const schedule = (slot: number): void => {
        // Never before where event time stands: every item placed here joins the run before it is
        // judged, whatever their order (a late completion can move the end into the past).
        const due = Math.max(endOf(slot) + latenessMs, e.nowMs);
        if (due >= finalAt.get(slot)) return;
        finalAt.set(slot, due);
        e.nextVersion = (e.nextVersion + 1) | 0;
        timerVersion.set(slot, e.nextVersion);
        timers.push(due, slot, e.nextVersion);
      };

      /** A slot for a new run (or a stand-in), every rule's columns set from its first event. */
      const openSlot = (event: AgentEvent): number => {
        const slot = table.allocate();
        facts.open(slot, event);
        log.reset(slot);
        finalAt.set(slot, Number.POSITIVE_INFINITY);
        timerVersion.set(slot, 0);
        revisable.set(slot, undefined);
        for (const rule of openers) (rule.open as NonNullable<RunRule['open']>)(slot, event);
        return slot;
      };

      const runArrivalRules = (slot: number, event: AgentEvent, arrival: Arrival): void => {
        for (const rule of arrivalRules) (rule.onArrival as NonNullable<RunRule['onArrival']>)(slot, event, out, arrival);
      };

      /** Judges the run once, over all its events in event-time order, then remembers what late events may revise. */
      const finalize = (runId: string, slot: number, outcome: RunOutcome, endMs: number): void => {
        e.openRuns.delete(runId);
        timerVersion.set(slot, e.nextVersion = (e.nextVersion + 1) | 0); // any heap entry left is stale
        const run: FinalRun = { slot, events: log.sorted(slot), outcome, endMs };
        const parts: SummaryParts = { maxGapMs: 0 };
        judgedIds = early.fired.has(runId) ? new Set() : undefined;
        for (const rule of judges) (rule.judge as NonNullable<RunRule['judge']>)(run, out, parts);
        settleEarly(runId);
        judgedIds = undefined;
        if (withSummaries) emit({ kind: 'run_summary', summary: summaryOf(facts, slot, outcome, parts, e.nowMs, contract.grades) });
        e.finalRuns.delete(runId); // a reused id goes to the back: the map stays in finalization order
        if (e.finalRuns.size === 0) e.oldestFinalAtMs = e.nowMs;
        e.finalRuns.set(runId, {
          finalAtMs: e.nowMs,
          lateArrivals: log.lateArrivalsOf(slot),
          completedAtMs: facts.completedAtMs(slot),
          revisable: revisable.get(slot) ?? NO_REVISABLE,
          threadId: facts.threadIdOf(slot),
          ownerUserId: facts.ownerOf(slot),
          memos: rememberingRules.length === 0 ? undefined : rememberingRules.map((rule) => (rule.remember as NonNullable<RunRule['remember']>)(slot)),
        });
        revisable.set(slot, undefined);
        table.release(slot);
      };

      /** Moves event time to `t`: every run final strictly before `t` is judged first, then shared state expires. */
      const advanceTo = (t: number): void => {
        for (;;) {
          const due = timers.peekDue();
          if (!(due < t)) break;
          const slot = timers.peekSlot();
          const version = timers.peekVersion();
          timers.pop();
          if (timerVersion.get(slot) !== version) continue;
          if (due > e.nowMs) e.nowMs = due;
          finalize(facts.runIdOf(slot), slot, facts.isCompleted(slot) ? 'completed' : 'deadline', endOf(slot));
        }
        if (t <= e.nowMs) return;
        e.nowMs = t;
        for (const rule of clockRules) (rule.onTime as NonNullable<RunRule['onTime']>)(e.nowMs);
      };

      /** A judged run is remembered for `retainJudgedMs` of event time (checked on lookup: forgetting is swept on watermarks). */
      const rememberedFinal = (runId: string): FinalRunMemory | undefined => {
        const memory = e.finalRuns.get(runId);
        return memory !== undefined && memory.finalAtMs >= e.nowMs - retainJudgedMs ? memory : undefined;
      };
      const forgetFinalRuns = (): void => {
        const forgetBefore = e.nowMs - retainJudgedMs;
        if (e.oldestFinalAtMs >= forgetBefore) return;
        e.oldestFinalAtMs = Number.POSITIVE_INFINITY;
        for (const [runId, memory] of e.finalRuns) {
          if (memory.finalAtMs >= forgetBefore) {
            e.oldestFinalAtMs = memory.finalAtMs;
            break;
          }
          e.finalRuns.delete(runId);
        }
      };

      const onEvent = (event: AgentEvent, placedAtMs: number, arrivedLate: boolean): void => {
        advanceTo(placedAtMs);
        const runId = event.runId;
        let slot = e.openRuns.get(runId);
        if (slot === undefined) {
          const memory = rememberedFinal(runId);
          if (memory !== undefined) return afterFinal(memory, event);
          // Its run ended by emitted + deadline at the latest: if that plus the allowed lateness is
          // behind us, the run was judged (and forgotten); the event must not open a phantom run.
          if (event.emittedAtMs + deadlineMs + latenessMs < placedAtMs) return unknownRun(event);
          slot = openSlot(event);
          e.openRuns.set(runId, slot);
        }
        if (log.holds(slot, event)) return reportDuplicate(slot, event);
        placed(event, arrivedLate ? 'in_run_late' : 'in_run');
        facts.learnIds(slot, event);
        facts.addEvent(slot, event, arrivedLate);
        log.add(slot, event, arrivedLate);
        runArrivalRules(slot, event, 'in_run');
        schedule(slot);
        if (fireOnPlace && event.type === contract.terminalType) fireRunEarly(runId, slot);
      };

      /** The engine's duplicate filter: a copy is reported once and reaches no rule. */
      const reportDuplicate = (slot: number, event: AgentEvent): void => {
        placed(event, 'duplicate');
        withdrawEarly(event);
        facts.duplicateCount.add(slot);
        out.violation(slot, {
          rule: 'duplicate_delivery',
          severity: 'WARNING',
          subject: event.type,
          detail: `${event.type} delivered again${event.recovered ? ' (recovery replay)' : ''}; counted once`,
          eventTimeMs: event.emittedAtMs,
          event,
        });
      };

      /** What early firing found on a copy the engine drops: never confirmed, so withdrawn. */
      const earlyChecks = options.earlyChecks ?? [];
      const withdrawEarly = (event: AgentEvent): void => {
        for (const check of earlyChecks) for (const spec of check(event, true)) emit({ kind: 'violation', violation: earlyViolation(spec, event, e.nowMs, 'withdrawn') });
      };

      /** A stand-in slot for verdicts about a judged run (its counts feed no summary), released by the caller. */
      const standInFor = (memory: FinalRunMemory, event: AgentEvent): number => {
        const slot = openSlot(event);
        facts.restoreIds(slot, memory.threadId, memory.ownerUserId);
        memory.memos?.forEach((memo, i) => (rememberingRules[i]?.recall as NonNullable<RunRule['recall']>)(slot, memo));
        return slot;
      };

      /** A slot holding only this event, for an event whose run is unknown (released by the caller). */
      const detachedSlot = (event: AgentEvent): number => {
        const slot = openSlot(event);
        facts.learnIds(slot, event);
        facts.addEvent(slot, event);
        return slot;
      };

      /** An event of a run already final: late (or after its completion), revising what it can. */
      const afterFinal = (memory: FinalRunMemory, event: AgentEvent): void => {
        const slot = standInFor(memory, event);
        if (memory.lateArrivals?.some((earlier) => isSameEvent(earlier, event)) === true) {
          reportDuplicate(slot, event);
          table.release(slot);
          return;
        }
        (memory.lateArrivals ??= []).push(identityOf(event));
        placed(event, 'after_final');
        if (memory.completedAtMs !== undefined && event.emittedAtMs > memory.completedAtMs) {
          out.violation(slot, {
            rule: 'event_after_completion',
            severity: 'CRITICAL',
            subject: event.type,
            detail: `${event.type} ${Math.round(event.emittedAtMs - memory.completedAtMs)} ms after agent_completed`,
            eventTimeMs: event.emittedAtMs,
            event,
          });
        } else {
          reportLate(event, 'closed');
        }
        for (const verdict of memory.revisable) revise(verdict, event);
        runArrivalRules(slot, event, 'after_final');
        if (memory.memos !== undefined) memory.memos = rememberingRules.map((rule) => (rule.remember as NonNullable<RunRule['remember']>)(slot));
        table.release(slot);
      };

      const unknownRun = (event: AgentEvent): void => {
        placed(event, 'unknown_run');
        reportLate(event, 'unknown');
        const slot = detachedSlot(event);
        runArrivalRules(slot, event, 'unknown_run');
        table.release(slot);
      };

      const reportLate = (event: AgentEvent, runState: 'closed' | 'unknown'): void => {
        emit({ kind: 'late_event', runId: event.runId, type: event.type, eventTimeMs: event.emittedAtMs, watermarkMs: e.nowMs, runState, source: event.source });
      };

      const revise = (verdict: RevisableVerdict, event: AgentEvent): void => {
        const wasMissing = verdict.stillMissing.delete(event.type);
        const retracts = wasMissing && verdict.stillMissing.size === 0;
        const reason = retracts
          ? `late ${event.type} arrived after the run was judged`
          : wasMissing
            ? `late ${event.type} arrived after the run was judged; still missing ${[...verdict.stillMissing].join(', ')}`
            : `${event.type} arrived after the run was judged; the finding stands`;
        emit({ kind: 'revision', violationId: verdict.id, runId: event.runId, action: retracts ? 'retracted' : 'confirmed', reason, eventTimeMs: event.emittedAtMs, source: event.source });
      };

      // A suspicious event cannot be placed in its run (its time is not trusted): it is flagged and
      // gets the checks that need no time, at its partition's watermark (a fixed place in event time).
      const onSuspicious = (event: AgentEvent, placedAtMs: number): void => {
        advanceTo(placedAtMs);
        placed(event, 'suspicious');
        const open = e.openRuns.get(event.runId);
        const memory = open === undefined ? rememberedFinal(event.runId) : undefined;
        const slot = memory !== undefined ? standInFor(memory, event) : detachedSlot(event);
        if (open !== undefined) facts.restoreIds(slot, facts.threadIdOf(open), facts.ownerOf(open));
        out.violation(slot, {
          rule: 'suspicious_timestamp',
          severity: 'WARNING',
          subject: 'timestamp',
          detail: `emitted ${isoOrRaw(event.emittedAtMs)} but delivered ${isoOrRaw(event.deliveredAtMs)}: cannot be placed in time, not used`,
          eventTimeMs: event.emittedAtMs,
          event,
        });
        runArrivalRules(slot, event, 'suspicious');
        table.release(slot);
      };

      const subscription = source.subscribe({
        next: (item) => {
          switch (item.kind) {
            case 'event':
              return onEvent(item.event, item.event.emittedAtMs, false);
            case 'watermark':
              // Items placed exactly at the watermark may still follow it (late ones held until
              // then), so only runs final strictly before it are judged.
              advanceTo(item.watermarkMs);
              return forgetFinalRuns();
            case 'late':
              // Placed at the watermark of its partition when it arrived (ordering held it until
              // then): the same place whatever the other partitions were doing.
              return onEvent(item.event, Math.max(item.watermarkMs, e.nowMs), true);
            case 'suspicious':
              return onSuspicious(item.event, Math.max(placeOfSuspicious(item), e.nowMs));
            case 'completion_arrived':
              return pureJudges.length > 0 ? fireOnArrival(item.event, item.pending) : undefined;
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          // End of input (replay): runs whose finalization is due by the last event time were
          // judged as usual; the rest are judged now, in a stable order, with what they have.
          const first = (slot: number): number => facts.firstEventAt(slot);
          const remaining = [...e.openRuns.entries()].sort(([a, x], [b, y]) => first(x) - first(y) || (a < b ? -1 : a > b ? 1 : 0));
          for (const [runId, slot] of remaining) {
            const completedAt = facts.completedAtMs(slot);
            const deadline = first(slot) + deadlineMs;
            if (completedAt !== undefined) finalize(runId, slot, 'completed', Math.min(completedAt, deadline));
            else if (deadline <= e.nowMs) finalize(runId, slot, 'deadline', deadline);
            else finalize(runId, slot, 'end_of_input', Math.max(e.nowMs, facts.lastEventMs.get(slot)));
          }
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        e.openRuns.clear();
        e.finalRuns.clear();
        timers.clear();
      };
    });
}

/** Suspicious items carry their partition's watermark when the source knows it. */
function placeOfSuspicious(item: Extract<StreamItem, { kind: 'suspicious' }>): number {
  const placed = (item as { readonly watermarkMs?: number }).watermarkMs;
  return placed ?? Number.NEGATIVE_INFINITY;
}

function isoOrRaw(ms: number): string {
  const date = new Date(Math.floor(ms));
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

function single(position: SourcePosition): SourceOffsets {
  return { topic: position.topic, partitions: [position.partition], offsets: [position.offset] };
}

function summaryOf(facts: RunFacts, slot: number, outcome: RunOutcome, parts: SummaryParts, decidedAtMs: number, grades: CompiledRunContract['grades']): RunSummary {
  const counts = facts.counts(slot);
  return {
    runId: facts.runIdOf(slot),
    threadId: facts.threadIdOf(slot),
    userId: facts.ownerOf(slot),
    firstEventMs: facts.firstEventAt(slot),
    lastEventMs: facts.lastEventMs.get(slot),
    startedAtMs: facts.startedAtMs(slot),
    completedAtMs: facts.completedAtMs(slot),
    eventCount: facts.eventCount.get(slot),
    duplicateCount: facts.duplicateCount.get(slot),
    lateEventCount: facts.lateCount.get(slot),
    typesSeen: facts.seenTypes(slot),
    outcome,
    durationMs: parts.durationMs,
    maxGapMs: parts.maxGapMs,
    latencyP50Ms: parts.latencyP50Ms,
    latencyP95Ms: parts.latencyP95Ms,
    latencyP99Ms: parts.latencyP99Ms,
    warnings: counts.warnings,
    criticals: counts.criticals,
    performanceGrade: performanceGrade(counts.perfWarnings, counts.perfCriticals, grades.performance),
    securityGrade: securityGrade(counts.securityWarnings, counts.securityCriticals, grades.security),
    isolationWarnings: counts.securityWarnings,
    isolationCriticals: counts.securityCriticals,
    decidedAtWatermarkMs: decidedAtMs,
    source: facts.sourceOffsets(slot),
  };
}
