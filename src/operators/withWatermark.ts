import { Observable, type OperatorFunction } from 'rxjs';
import type { AgentEvent } from '../contract/event.js';
import type { StateRegistry } from './state-registry.js';
import { isProcessingTimeHint, type ChainInput, type ProcessingTimeHint, type StreamItem } from './stream-item.js';

export interface WithWatermarkOptions {
  /** How far behind the highest event time seen the watermark trails (bounded out-of-orderness). */
  readonly maxOutOfOrdernessMs: number;
  /**
   * Source partitions known in advance (bounded mode: those with records to read). The watermark
   * stays at −∞ until each has delivered an event, so a partition read later cannot find its runs
   * already judged. Live mode sends the group assignment instead (an `assignment` hint).
   */
  readonly partitions?: readonly number[];
  /**
   * An event whose emitted time differs from its delivered time or from its Kafka record timestamp
   * by more than this cannot be placed in time: it is passed on as `suspicious` and never moves the
   * watermark (one bad clock must not close every open run). Default: no check.
   */
  readonly suspiciousSkewMs?: number;
  /**
   * An event more than this ahead of its partition's highest accepted event time, or the first
   * event of a partition, is held outside the watermark until its partition's next event confirms
   * it (next ≥ it − maxAheadMs: released as a normal event) or exposes it (passed on as
   * `suspicious`). So one record cannot move the watermark, even when every time field it carries
   * agrees on an absurd time. Default: no check (every event is placed at once).
   */
  readonly maxAheadMs?: number;
  /**
   * Emit a watermark only once it has advanced this much (default 0: every advance). Downstream
   * verdicts do not depend on when watermarks come (timers fire by event time), only on their
   * values' order; fewer watermarks mean less work per event.
   */
  readonly emitEveryMs?: number;
  /** Where the operator's state is checkpointed and restored from (as 'watermark'). */
  readonly state?: StateRegistry;
}

/** An event held outside the watermark until its partition confirms or exposes it. */
interface Candidate {
  readonly event: AgentEvent;
  /** Its partition's watermark when it arrived (what a `suspicious` item carries). */
  readonly watermarkMs: number;
}

/** All the operator knows: its checkpointed state (one object, see state-registry.ts). */
interface WatermarkState {
  readonly states: Map<number, PartitionState>;
  /** Live mode: the partitions assigned to this consumer; undefined: every partition seen counts. */
  assigned: ReadonlySet<number> | undefined;
  /**
   * Partitions named by the last `idle` hint that have not delivered since: the wall-clock time
   * they went idle and the event time they count with from then (advancing with the clock).
   */
  readonly idle: Map<number, { readonly sinceMs: number; readonly fromMs: number }>;
  /** Wall-clock time of the last `idle` hint. */
  idleAtMs: number;
  candidates: number;
  /** Highest accepted event time over all partitions (heartbeats not included). */
  maxAcceptedMs: number;
  /** Highest event time a heartbeat set. */
  heartbeatMs: number;
  watermarkMs: number;
}

interface PartitionState {
  /** Highest accepted event time (or heartbeat time); −∞ before the first. */
  max: number;
  candidate: Candidate | undefined;
}

/**
 * Stamps an event stream with event-time watermarks (bounded out-of-orderness, per partition).
 *
 * Kafka keeps order only within a partition, and a consumer may read one partition far ahead of
 * another. So each partition p tracks its highest accepted event time max(p), and the watermark is
 * W = min over partitions of max(p) − maxOutOfOrdernessMs: "no event older than W is expected".
 * It is emitted right after the event (or hint) that advanced it and never decreases.
 * An event at or behind its own partition's watermark (max(p) − maxOutOfOrdernessMs) is passed on
 * as `late`: that depends only on the partition's own order, not on how far ahead of the others
 * it was read (orderByEventTime also calls late what is behind the overall watermark).
 *
 * Untrusted times never move the watermark:
 * - emitted vs delivered time, or emitted time vs Kafka record timestamp, more than
 *   `suspiciousSkewMs` apart: `suspicious` at once;
 * - the first event of a partition, or one more than `maxAheadMs` ahead of max(p): held as the
 *   partition's candidate. The partition's next event decides: next ≥ candidate − maxAheadMs
 *   releases it as a normal event (then the next one is handled), otherwise it is `suspicious`.
 *   At end of input, and on live hints, a candidate is compared with the stream's progress instead
 *   (the highest accepted event time, or heartbeat time; if there is none, the earliest candidate of
 *   another partition): within maxAheadMs of it, released; otherwise (end of input, revoked
 *   partition) `suspicious`. A lone record with nothing to compare it with is not trusted.
 *   Without hints every item of a partition depends only on that partition's own order (and, at the
 *   end, on the whole input), never on how partitions were interleaved.
 *
 * Live mode only (processing-time hints, not forwarded): `assignment` puts every assigned
 * partition in the minimum at −∞ (revoked ones leave it). `idle` names the caught-up partitions:
 * until it delivers again, an idle partition counts in the minimum not with its own highest event
 * time but with the others' (the lowest of them when it went idle), advanced by the wall-clock time
 * since: it no longer holds the watermark back, yet the watermark cannot outrun the clock on the
 * strength of one partition's burst of old records. When every partition is idle, event time
 * advances with the clock (silent runs reach their deadlines). `heartbeat` moves it to a given time.
 *
 * ```
 * maxOutOfOrdernessMs = 2, one partition, no maxAheadMs
 * input:   --e(5)--e(3)--e(9)--h(12)--|
 * output:  --e5,W3--l3--e9,W7--W10----|     l3: late (3 <= 5 - 2)
 *
 * maxOutOfOrdernessMs = 0, maxAheadMs = 10, one partition
 * input:   --a(5)--b(6)--x(9999)--c(7)--|
 * output:  --------(a,W5,b,W6)--------(s9999,c,W7)--|     a held until b confirms; x exposed by c
 * ```
 *
 * @example
 * events$.pipe(withWatermark({ maxOutOfOrdernessMs: 3000, maxAheadMs: 60000 }), orderByEventTime(), summarizeRuns(contract, rules))
 */
export function withWatermark(options: WithWatermarkOptions): OperatorFunction<ChainInput, StreamItem> {
  const bound = options.maxOutOfOrdernessMs;
  const skew = options.suspiciousSkewMs ?? Number.POSITIVE_INFINITY;
  const maxAhead = options.maxAheadMs;
  const step = options.emitEveryMs ?? 0;
  if (!Number.isFinite(bound) || bound < 0) throw new RangeError(`maxOutOfOrdernessMs must be a finite number >= 0, got ${bound}`);
  if (maxAhead !== undefined && !(maxAhead >= 0)) throw new RangeError(`maxAheadMs must be a number >= 0, got ${maxAhead}`);
  return (source) =>
    new Observable<StreamItem>((subscriber) => {
      const s: WatermarkState = {
        states: new Map<number, PartitionState>(),
        assigned: undefined,
        idle: new Map(),
        idleAtMs: Number.NEGATIVE_INFINITY,
        candidates: 0,
        maxAcceptedMs: Number.NEGATIVE_INFINITY,
        heartbeatMs: Number.NEGATIVE_INFINITY,
        watermarkMs: Number.NEGATIVE_INFINITY,
      };
      // Restored from a checkpoint (when there is one) before the first item, so every read below goes through `s`.
      options.state?.attach('watermark', s);
      const stateOf = (partition: number): PartitionState => {
        let state = s.states.get(partition);
        if (state === undefined) {
          state = { max: Number.NEGATIVE_INFINITY, candidate: undefined };
          s.states.set(partition, state);
        }
        return state;
      };
      for (const partition of options.partitions ?? []) stateOf(partition);

      const counts = (partition: number): boolean => s.assigned === undefined || s.assigned.has(partition);
      /** The event time a partition counts with in the minimum. */
      const progressOf = (partition: number, state: PartitionState): number => {
        const idleSince = s.idle.size === 0 ? undefined : s.idle.get(partition);
        return idleSince === undefined ? state.max : Math.max(state.max, idleSince.fromMs + (s.idleAtMs - idleSince.sinceMs));
      };
      /** Idle since before the stream had any event time: it has nothing to count from yet. */
      const idleWithoutBase = (partition: number): boolean => s.idle.get(partition)?.fromMs === Number.NEGATIVE_INFINITY;
      /** The lowest progress over the partitions that count, but `except` (and, for a base, those idle without one); +∞ if none. */
      const lowestProgress = (except?: number, forBase = false): number => {
        let lowest = Number.POSITIVE_INFINITY;
        if (except === undefined && s.assigned === undefined && s.idle.size === 0) {
          for (const state of s.states.values()) if (state.max < lowest) lowest = state.max;
          return lowest;
        }
        for (const [partition, state] of s.states) {
          if (partition === except || !counts(partition) || (forBase && idleWithoutBase(partition))) continue;
          const progress = progressOf(partition, state);
          if (progress < lowest) lowest = progress;
        }
        return lowest;
      };
      const emitIfAdvanced = (): void => {
        const next = lowestProgress() - bound;
        if (next > s.watermarkMs + step && next !== Number.POSITIVE_INFINITY) {
          s.watermarkMs = next;
          subscriber.next({ kind: 'watermark', watermarkMs: s.watermarkMs });
        }
      };

      /** Places a trusted event: late behind its partition's watermark, else an event that may move it. */
      const place = (state: PartitionState, event: AgentEvent): void => {
        const time = event.emittedAtMs;
        if (time <= state.max - bound) {
          // Behind its own partition's watermark: late however far ahead of the other partitions
          // this one is read, so a replay calls the same records late whatever its fetch sizes.
          subscriber.next({ kind: 'late', event, watermarkMs: state.max - bound });
          return;
        }
        subscriber.next({ kind: 'event', event });
        if (time > s.maxAcceptedMs) s.maxAcceptedMs = time;
        if (time > state.max) {
          const previous = state.max;
          state.max = time;
          // Only a change to the slowest partition can move the watermark: one already above the
          // watermark by more than the step was not the slowest (most events of a busy stream).
          if (s.idle.size > 0 || previous - bound <= s.watermarkMs + step) emitIfAdvanced();
        }
      };

      const hold = (state: PartitionState, event: AgentEvent): void => {
        state.candidate = { event, watermarkMs: state.max - bound };
        s.candidates += 1;
      };

      const take = (state: PartitionState): Candidate | undefined => {
        const candidate = state.candidate;
        if (candidate !== undefined) {
          state.candidate = undefined;
          s.candidates -= 1;
        }
        return candidate;
      };

      const expose = (candidate: Candidate): void => {
        subscriber.next({ kind: 'suspicious', event: candidate.event, watermarkMs: candidate.watermarkMs });
      };

      const onEvent = (event: AgentEvent): void => {
        const partition = event.source.partition;
        const time = event.emittedAtMs;
        if (Math.abs(event.deliveredAtMs - time) > skew || Math.abs(event.recordTimestampMs - time) > skew) {
          subscriber.next({ kind: 'suspicious', event, watermarkMs: (s.states.get(partition)?.max ?? Number.NEGATIVE_INFINITY) - bound });
          return;
        }
        if (s.idle.size > 0) s.idle.delete(partition); // it delivers: it counts with its own event time again
        const state = stateOf(partition);
        if (maxAhead === undefined) return place(state, event);
        const candidate = take(state);
        if (candidate !== undefined) {
          // The partition's next event decides on the one held before it.
          if (time >= candidate.event.emittedAtMs - maxAhead) place(state, candidate.event);
          else expose(candidate);
        }
        if (state.max === Number.NEGATIVE_INFINITY || time > state.max + maxAhead) hold(state, event);
        else place(state, event);
      };

      /**
       * Decides on held candidates by the stream's progress instead of their partition's next
       * event (end of input, live hints): a candidate within maxAheadMs of the highest accepted (or
       * heartbeat) event time is released; with nothing accepted anywhere, the evidence is the
       * earliest candidate of another partition (a lone record cannot vouch for itself). Without
       * evidence it is kept, or exposed when `final`. Evidence is fixed before any candidate is
       * released and partitions are taken in order, so the outcome does not depend on arrival order.
       */
      const decideByProgress = (partitions: Iterable<number>, final: boolean, atLeastMs = Number.NEGATIVE_INFINITY): void => {
        if (maxAhead === undefined || s.candidates === 0) return;
        const progress = Math.max(s.maxAcceptedMs, s.heartbeatMs, s.watermarkMs + bound, atLeastMs);
        // The two earliest candidates: the earliest one of another partition, for each.
        let first = { time: Number.POSITIVE_INFINITY, partition: -1 };
        let second = Number.POSITIVE_INFINITY;
        if (progress === Number.NEGATIVE_INFINITY) {
          for (const [partition, state] of s.states) {
            const time = state.candidate?.event.emittedAtMs;
            if (time === undefined) continue;
            if (time < first.time) {
              second = first.time;
              first = { time, partition };
            } else if (time < second) second = time;
          }
        }
        for (const partition of [...partitions].sort((a, b) => a - b)) {
          const state = s.states.get(partition);
          if (state?.candidate === undefined) continue;
          const evidence = progress !== Number.NEGATIVE_INFINITY ? progress : partition === first.partition ? second : first.time;
          if (evidence !== Number.POSITIVE_INFINITY && state.candidate.event.emittedAtMs <= evidence + maxAhead) place(state, (take(state) as Candidate).event);
          else if (final) expose(take(state) as Candidate);
        }
      };

      const advanceTo = (eventTimeMs: number): void => {
        decideByProgress(s.states.keys(), false, eventTimeMs);
        if (eventTimeMs > s.heartbeatMs) s.heartbeatMs = eventTimeMs;
        for (const state of s.states.values()) if (eventTimeMs > state.max) state.max = eventTimeMs;
        emitIfAdvanced();
      };

      const onHint = (hint: ProcessingTimeHint): void => {
        switch (hint.kind) {
          case 'heartbeat':
            return advanceTo(hint.eventTimeMs);
          case 'idle': {
            const named = new Set(hint.partitions);
            for (const partition of [...s.idle.keys()]) if (!named.has(partition)) s.idle.delete(partition);
            if (hint.atMs > s.idleAtMs) s.idleAtMs = hint.atMs;
            // A partition that went idle before the stream had any event time (a monitor started on
            // an empty topic) is based again at each hint until the others have some: else one that
            // never delivers would hold event time at −∞ for good.
            const entering = [...named].filter((partition) => (!s.idle.has(partition) || idleWithoutBase(partition)) && counts(partition)).sort((a, b) => a - b);
            // An idle partition's next event may come much later: decide on its candidate now.
            decideByProgress(entering, false);
            for (const partition of entering) {
              const own = stateOf(partition).max;
              const others = lowestProgress(partition, true);
              s.idle.set(partition, { sinceMs: s.idleAtMs, fromMs: others === Number.POSITIVE_INFINITY ? own : Math.max(own, others) });
            }
            return emitIfAdvanced();
          }
          case 'assignment': {
            const next = new Set(hint.partitions);
            const revoked = [...(s.assigned ?? s.states.keys())].filter((partition) => !next.has(partition));
            // A revoked partition's next event will not come here: decide on its candidate now.
            decideByProgress(revoked, true);
            for (const partition of revoked) s.idle.delete(partition);
            for (const partition of next) stateOf(partition);
            s.assigned = next;
            return emitIfAdvanced();
          }
        }
      };

      return source.subscribe({
        next: (input) => (isProcessingTimeHint(input) ? onHint(input) : onEvent(input)),
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          decideByProgress(s.states.keys(), true);
          subscriber.complete();
        },
      });
    });
}
