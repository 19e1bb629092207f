/**
 * One injector per fault class: what the fault changes in a run's planned records, and the ground
 * truth it implies (expected verdicts, records beyond the run's own, an incomplete run, a late
 * replay and the revision it causes). The generator (generate.ts) plans every run the same way
 * and calls the injector of the run's class at fixed points.
 *
 * Every injector draws from the generator's Rng, so the order of its draws is part of the output:
 * reordering them changes the traffic of every seed.
 *
 * Timing verdicts (delivery_latency, event_gap, run_duration) are not listed here: the generator
 * derives them from the times of every run (faults.ts timingLabels), so a timing fault only has to
 * change those times.
 */
import type { LifecycleType } from '../contract/event.js';
import {
  CONTENT_FAULTS,
  INJECTED,
  RECOVERY_FAILURES,
  asRecoveryReplay,
  replaceField,
  rewriteTimestamps,
  wireEmittedMs,
  type ExpectedRevision,
  type FaultClass,
  type Label,
} from './faults.js';
import type { SimRecord } from './generate.js';
import type { Rng } from './random.js';
import { encodeLifecycle, type JsonObject, type LifecycleShape, type SimLifecycleEvent } from './wire-encoders.js';

export interface IntRange {
  readonly min: number;
  readonly max: number;
}

/** One event of the run being built, encoded into `body`. */
export interface PlannedEvent {
  sim: SimLifecycleEvent;
  readonly shape: LifecycleShape;
  latencyMs: number;
  body: JsonObject;
  /** The record key when it is not the run's thread (partitioning_broken). */
  key?: string;
}

export const deliveredAt = (p: PlannedEvent): number => p.sim.emittedAtMs + p.latencyMs;

/** A record beyond the run's own events: a redelivery, a trailing event, a replay with a bad clock. */
export interface ExtraRecord {
  readonly body: JsonObject;
  readonly deliveredAtMs: number;
  /** As normalized; undefined for a suspicious replay (the chain never places it in time). */
  readonly emittedAtMs: number | undefined;
}

/** A recovery replay meant to arrive long after its run was judged (the generator decides whether it is sent). */
export interface LateReplay {
  readonly record: SimRecord;
  /** Normalized event time of the replayed event, and of the run's close (its agent_completed). */
  readonly emittedAtMs: number;
  readonly closedAtMs: number;
  readonly type: LifecycleType;
  readonly revision: ExpectedRevision['action'];
}

/** Ids of users other than the run's owner, from the runs generated so far. Every call draws. */
export interface OtherUsers {
  /** A thread another user started a run on recently enough to be registered; undefined if none found. */
  recentThread(): string | undefined;
  /** A user, run or thread id of another user who is active; undefined if none found. */
  activeId(): string | undefined;
  /** Some other user's id. */
  anyUserId(): string;
}

/** What a fault takes from other users for its run. */
export interface Borrowed {
  /** The run goes on this thread of another user instead of one of its owner's. */
  readonly threadId?: string;
  /** An id of another user that the run will name. */
  readonly foreignId?: string;
}

/** The run an injector edits: every event drawn and encoded, nothing emitted yet. */
export interface FaultTarget {
  readonly rng: Rng;
  readonly runId: string;
  readonly threadId: string;
  /**
   * The run's events in plan order. Unless a type was dropped, planned[i] is the i-th planned
   * event: agent_started at 0, thinking / tool_executing / tool_completed of pair k at 1+3k, 2+3k,
   * 3+3k, agent_completed last.
   */
  readonly planned: PlannedEvent[];
  /** Tool pairs in the plan. */
  readonly pairs: number;
  readonly borrowed: Borrowed;
  /** A new event of this run emitted at `emittedAtMs`, in a drawn shape, delivered after a drawn latency. */
  newEvent(type: LifecycleType, emittedAtMs: number): ExtraRecord;
}

/** What an injector did and the ground truth it implies. */
export interface Injection {
  /** What exactly was done (FaultRun.variant). */
  readonly variant: string;
  /** Expected verdicts besides the timing ones. */
  readonly labels: readonly Label[];
  readonly extras?: readonly ExtraRecord[];
  /** Types the run lacks on the wire: the chain must judge it incomplete. */
  readonly missing?: readonly LifecycleType[];
  readonly lateReplay?: LateReplay;
}

export interface FaultInjector {
  /** Fewer users than this: the class cannot be injected (and is never a fallback). */
  readonly minUsers?: number;
  /** Needs another user's recent runs, which a given run may lack: never a fallback. */
  readonly needsPastRuns?: boolean;
  /** Takes what the fault needs from other users; undefined if this run cannot get it. */
  borrow?(others: OtherUsers): Borrowed | undefined;
  /** Tool pairs of the run; default: drawn from the pairRepeats option, at least 1. */
  toolPairs?(rng: Rng, pairRepeats: IntRange): number;
  /** Range of the gaps between the run's events; default: the gapMs option. */
  readonly gapRangeMs?: IntRange;
  /** Edits the drawn gaps (gaps[i] precedes event i). */
  reshapeGaps?(gaps: number[], rng: Rng): void;
  /** This type is never drawn for the run: it goes missing. */
  readonly omits?: LifecycleType;
  /** Applies the fault to the run's encoded events. */
  inject(run: FaultTarget): Injection;
}

export function drawToolPairs(rng: Rng, pairRepeats: IntRange, atLeast: number): number {
  return Math.max(rng.int(pairRepeats.min, pairRepeats.max), atLeast);
}

const redeliveryDelay = (rng: Rng): number => rng.int(INJECTED.redeliveryDelayMs.min, INJECTED.redeliveryDelayMs.max);

/** Swaps the emission times of two events; they were encoded before injection, so encodes them again. */
function swapEmittedTimes(a: PlannedEvent, b: PlannedEvent): void {
  const t = a.sim.emittedAtMs;
  a.sim = { ...a.sim, emittedAtMs: b.sim.emittedAtMs };
  b.sim = { ...b.sim, emittedAtMs: t };
  a.body = encodeLifecycle(a.sim, a.shape);
  b.body = encodeLifecycle(b.sim, b.shape);
}

/** planned[i], which the caller knows exists. */
function eventAt(planned: readonly PlannedEvent[], i: number): PlannedEvent {
  const event = planned[i];
  if (event === undefined) throw new RangeError(`no planned event ${i} of ${planned.length}`);
  return event;
}

// ---- The missing-event class (missingEventFraction) ----

/**
 * Every event of one type is never sent. One fault, one verdict: the label is the type the run
 * lacks (run_never_started for agent_started). A lost tool type also leaves the other half of
 * every pair open, but no unpaired_tool is expected for those: the missing type names the fault.
 */
export function missingEvent(type: LifecycleType): FaultInjector {
  const label: Label = type === 'agent_started' ? { rule: 'run_never_started', severity: 'CRITICAL', subject: 'agent_started' } : { rule: 'missing_events', severity: 'CRITICAL', subject: type };
  return { omits: type, inject: () => ({ variant: `drop:${type}`, labels: [label], missing: [type] }) };
}

// ---- The classes of faultFraction ----

/** Either a completion emitted before its call (the sequence rule reports the completion), or the first thought before agent_started. */
const outOfOrder: FaultInjector = {
  inject({ rng, planned, pairs }) {
    if (rng.chance(0.5)) {
      const k = rng.int(0, pairs - 1);
      swapEmittedTimes(eventAt(planned, 2 + 3 * k), eventAt(planned, 3 + 3 * k));
      return { variant: 'tool_completed_first', labels: [{ rule: 'out_of_order', severity: 'CRITICAL', subject: 'tool_completed' }] };
    }
    // Reported when agent_started arrives.
    swapEmittedTimes(eventAt(planned, 0), eventAt(planned, 1));
    return { variant: 'thinking_before_start', labels: [{ rule: 'out_of_order', severity: 'CRITICAL', subject: 'agent_thinking' }] };
  },
};

/** One call of several never completes: no type goes missing (hence at least 2 pairs), one call stays open. */
const unpairedTool: FaultInjector = {
  toolPairs: (rng, pairRepeats) => drawToolPairs(rng, pairRepeats, 2),
  inject({ rng, planned, pairs }) {
    planned.splice(3 + 3 * rng.int(0, pairs - 1), 1);
    return { variant: 'drop_one_tool_completed', labels: [{ rule: 'unpaired_tool', severity: 'CRITICAL', subject: 'tool_executing' }] };
  },
};

/** A thought emitted shortly after agent_completed. */
const eventAfterCompletion: FaultInjector = {
  inject({ rng, planned, newEvent }) {
    const completed = eventAt(planned, planned.length - 1);
    const trailing = newEvent('agent_thinking', completed.sim.emittedAtMs + redeliveryDelay(rng));
    return { variant: 'agent_thinking', labels: [{ rule: 'event_after_completion', severity: 'CRITICAL', subject: 'agent_thinking' }], extras: [trailing] };
  },
};

/** One event delivered twice: an identical producer retry, or a recovery replay of it. */
const duplicateDelivery: FaultInjector = {
  inject({ rng, planned }) {
    const original = rng.pick(planned);
    const replay = rng.chance(0.5);
    const body = replay ? asRecoveryReplay(original.body, rng.pick(RECOVERY_FAILURES)) : original.body;
    const copy: ExtraRecord = { body, deliveredAtMs: deliveredAt(original) + redeliveryDelay(rng), emittedAtMs: wireEmittedMs(original.sim.emittedAtMs, original.shape) };
    return {
      variant: `${replay ? 'recovery_replay' : 'producer_retry'}:${original.sim.type}`,
      labels: [{ rule: 'duplicate_delivery', severity: 'WARNING', subject: original.sim.type }],
      extras: [copy],
    };
  },
};

/** One required field of one event removed or blanked (faults.ts CONTENT_FAULTS). */
const contentInvalid: FaultInjector = {
  inject({ rng, planned }) {
    const spec = rng.pick(CONTENT_FAULTS);
    spec.apply(rng.pick(planned.filter((p) => p.sim.type === spec.type)).body);
    return { variant: spec.variant, labels: [{ rule: 'content_invalid', severity: 'CRITICAL', subject: spec.subject }] };
  },
};

/** One event delivered late, by a latency in `band` (the delivery_latency label follows from the times). */
function slowDelivery(band: IntRange): FaultInjector {
  return {
    inject({ rng, planned }) {
      const slow = rng.pick(planned);
      slow.latencyMs = rng.int(band.min, band.max);
      return { variant: slow.sim.type, labels: [] };
    },
  };
}

/** One gap between events in `band` (the event_gap label follows from the times). */
function slowGap(band: IntRange): FaultInjector {
  return {
    reshapeGaps(gaps, rng) {
      gaps[rng.int(1, gaps.length - 1)] = rng.int(band.min, band.max);
    },
    inject: () => ({ variant: 'one_slow_gap', labels: [] }),
  };
}

/** Many pairs, every gap short: a run over the WARNING duration without any slow gap. */
const longRun: FaultInjector = {
  toolPairs: (rng) => rng.int(INJECTED.longRunPairs.min, INJECTED.longRunPairs.max),
  gapRangeMs: INJECTED.longRunGapMs,
  inject: ({ pairs }) => ({ variant: `${pairs}_pairs`, labels: [] }),
};

/** The run goes on a thread another user holds: the thread now has two owners. */
const contaminationThread: FaultInjector = {
  needsPastRuns: true,
  minUsers: 2, // with one user, every thread is the run's own: no other user to contaminate

  borrow(others) {
    const threadId = others.recentThread();
    return threadId === undefined ? undefined : { threadId };
  },
  inject: () => ({ variant: 'foreign_thread', labels: [{ rule: 'cross_user_contamination', severity: 'CRITICAL', subject: 'thread_id' }] }),
};

/** One event after agent_started (which names the real owner first) addressed to another user. */
const contaminationUser: FaultInjector = {
  minUsers: 2,
  borrow: (others) => ({ foreignId: others.anyUserId() }),
  inject({ rng, planned, borrowed }) {
    const otherUserId = borrowed.foreignId;
    if (otherUserId === undefined) throw new Error('contamination_user without another user');
    const target = eventAt(planned, rng.int(1, planned.length - 1));
    if (replaceField(target.body, 'user_id', () => otherUserId) === 0) throw new Error(`${target.shape} ${target.sim.type} carries no user_id`);
    return { variant: target.sim.type, labels: [{ rule: 'cross_user_contamination', severity: 'CRITICAL', subject: 'user_id' }] };
  },
};

const MENTIONS: readonly ((id: string) => string)[] = [
  (id) => `Reusing the cost breakdown prepared for ${id}, it matches this workload.`,
  (id) => `The same latency pattern showed up in ${id} last week.`,
  (id) => `(see the notes attached to ${id})`,
];

/** One thought mentions an id of another active user. */
const contaminationContent: FaultInjector = {
  needsPastRuns: true,
  minUsers: 2,
  borrow(others) {
    const foreignId = others.activeId();
    return foreignId === undefined ? undefined : { foreignId };
  },
  inject({ rng, planned, borrowed }) {
    const id = borrowed.foreignId;
    if (id === undefined) throw new Error('contamination_content without a foreign id');
    const mention = rng.pick(MENTIONS);
    replaceField(rng.pick(planned.filter((p) => p.sim.type === 'agent_thinking')).body, 'reasoning', (old) => `${String(old)} ${mention(id)}`);
    return {
      variant: id.startsWith('user_') ? 'user_id' : id.startsWith('thread_') ? 'thread_id' : 'run_id',
      labels: [{ rule: 'cross_user_contamination', severity: 'CRITICAL', subject: 'content' }],
    };
  },
};

/** A replay from a host whose clock is over an hour off: reported, never placed in time. */
const suspiciousTimestamp: FaultInjector = {
  inject({ rng, planned }) {
    const original = rng.pick(planned);
    const body = asRecoveryReplay(original.body, rng.pick(RECOVERY_FAILURES));
    rewriteTimestamps(body, original.sim.emittedAtMs - rng.int(INJECTED.clockSkewMs.min, INJECTED.clockSkewMs.max));
    const replay: ExtraRecord = { body, deliveredAtMs: deliveredAt(original) + redeliveryDelay(rng), emittedAtMs: undefined };
    return { variant: original.sim.type, labels: [{ rule: 'suspicious_timestamp', severity: 'WARNING', subject: 'timestamp' }], extras: [replay] };
  },
};

/**
 * The run's one thought never reached the user (the send failed), so the run is judged without
 * it. Long after its close, a recovery replay arrives: of that thought (the missing_events verdict
 * is retracted) or of an event that was delivered (the verdict is confirmed).
 */
const lateReplay: FaultInjector = {
  toolPairs: () => 1,
  inject({ rng, planned, threadId }) {
    const [lost] = planned.splice(1, 1);
    if (lost === undefined) throw new RangeError('late_replay needs a thought to lose');
    const replayed = rng.chance(0.5) ? { event: lost, revision: 'retracted' as const } : { event: rng.pick(planned), revision: 'confirmed' as const };
    const closedAtMs = Math.max(...planned.map((p) => wireEmittedMs(p.sim.emittedAtMs, p.shape)));
    const deliveredAtMs = Math.ceil(closedAtMs) + rng.int(INJECTED.lateReplayAfterCloseMs.min, INJECTED.lateReplayAfterCloseMs.max);
    const value = JSON.stringify(asRecoveryReplay(replayed.event.body, rng.pick(RECOVERY_FAILURES)));
    return {
      variant: replayed.revision === 'retracted' ? 'retracts' : `confirms:${replayed.event.sim.type}`,
      labels: [{ rule: 'missing_events', severity: 'CRITICAL', subject: 'agent_thinking' }],
      missing: ['agent_thinking'],
      lateReplay: {
        record: { key: threadId, value, timestampMs: deliveredAtMs },
        emittedAtMs: wireEmittedMs(replayed.event.sim.emittedAtMs, replayed.event.shape),
        closedAtMs,
        type: replayed.event.sim.type,
        revision: replayed.revision,
      },
    };
  },
};

/**
 * One event, never the first (that one places the run), sent by a producer that keys by run id.
 * Whether that moves it to another partition is the partitioner's call, hence `onlyIfApart`.
 */
const partitioningBroken: FaultInjector = {
  inject({ rng, planned, runId, threadId }) {
    const stray = eventAt(planned, rng.int(1, planned.length - 1));
    stray.key = runId;
    return { variant: stray.sim.type, labels: [{ rule: 'partitioning_broken', severity: 'WARNING', subject: 'partition', onlyIfApart: [threadId, runId] }] };
  },
};

export const FAULT_INJECTORS: { readonly [C in FaultClass]: FaultInjector } = {
  out_of_order: outOfOrder,
  unpaired_tool: unpairedTool,
  event_after_completion: eventAfterCompletion,
  duplicate_delivery: duplicateDelivery,
  content_invalid: contentInvalid,
  delivery_latency_warning: slowDelivery(INJECTED.latencyWarningMs),
  delivery_latency_critical: slowDelivery(INJECTED.latencyCriticalMs),
  event_gap_warning: slowGap(INJECTED.gapWarningMs),
  event_gap_critical: slowGap(INJECTED.gapCriticalMs),
  run_duration_warning: longRun,
  contamination_thread: contaminationThread,
  contamination_user: contaminationUser,
  contamination_content: contaminationContent,
  suspicious_timestamp: suspiciousTimestamp,
  late_replay: lateReplay,
  partitioning_broken: partitioningBroken,
};
