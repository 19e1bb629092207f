import { Observable, type OperatorFunction } from 'rxjs';
import type { AgentEvent } from '../../contract/event.js';
import type { RunOutcome, Verdict } from '../../contract/verdict.js';
import { MinHeap } from './min-heap.js';
import type { StreamItem } from '../stream-item.js';

/**
 * What a per-run detector supplies to the shared event-time window machinery.
 * State is private to one operator instance, so hooks may mutate it in place (cheap).
 */
export interface RunWindowHooks<S> {
  /** A run is closed at the latest when the watermark passes (earliest event time + deadlineMs). */
  readonly deadlineMs: number;
  open(event: AgentEvent): S;
  add(state: S, event: AgentEvent): void;
  /** Event time at which the run may close early (its terminal event was seen), else undefined. */
  closesAt(state: S): number | undefined;
  /** Whether this operator reports events of already-closed runs as `late_event` (one operator per pipeline should). */
  readonly reportLateEvents: boolean;
  /** Called exactly once per run, when its verdict becomes final. */
  close(state: S, closing: RunClosing, emit: (verdict: Verdict) => void): void;
}

export interface RunClosing {
  readonly outcome: RunOutcome;
  readonly watermarkMs: number;
}

interface OpenRun<S> {
  readonly state: S;
  earliestEventMs: number;
  dueAtMs: number;
  timerVersion: number;
}

interface Timer {
  readonly runId: string;
  readonly version: number;
}

/**
 * Keyed (run_id) event-time windows shared by the per-run detectors: one Map of run state, one
 * timer heap, no groupBy (one subscription per run is what made groupBy slow).
 *
 * A run closes when the watermark reaches its due time: its terminal event's time, or its earliest
 * event time + deadline, whichever comes first. An event for an already-closed run is late: it
 * never re-opens the run, and yields a `late_event` verdict where the hooks ask for it. On completion of the input (replay),
 * every open run is closed with outcome `end_of_input` (or `completed` if its terminal event came).
 * Closed run ids are remembered for one more deadline of event time, then forgotten.
 */
export function runWindows<S>(hooks: RunWindowHooks<S>): OperatorFunction<StreamItem, Verdict> {
  if (!Number.isFinite(hooks.deadlineMs) || hooks.deadlineMs <= 0) throw new RangeError(`deadlineMs must be > 0, got ${hooks.deadlineMs}`);
  return (source) =>
    new Observable<Verdict>((subscriber) => {
      const openRuns = new Map<string, OpenRun<S>>();
      const closedAt = new Map<string, number>(); // insertion order == closing watermark order
      const timers = new MinHeap<Timer>();
      let watermarkMs = Number.NEGATIVE_INFINITY;
      const emit = (verdict: Verdict): void => subscriber.next(verdict);

      const close = (runId: string, run: OpenRun<S>, outcome: RunOutcome): void => {
        openRuns.delete(runId);
        closedAt.set(runId, watermarkMs);
        hooks.close(run.state, { outcome, watermarkMs }, emit);
      };

      const schedule = (runId: string, run: OpenRun<S>): void => {
        const dueAtMs = Math.min(run.earliestEventMs + hooks.deadlineMs, hooks.closesAt(run.state) ?? Number.POSITIVE_INFINITY);
        if (dueAtMs === run.dueAtMs) return;
        run.dueAtMs = dueAtMs;
        run.timerVersion += 1;
        timers.push(dueAtMs, { runId, version: run.timerVersion });
      };

      const outcomeOf = (run: OpenRun<S>): RunOutcome => (hooks.closesAt(run.state) === undefined ? 'deadline' : 'completed');

      const onEvent = (event: AgentEvent): void => {
        const runId = event.runId;
        if (closedAt.has(runId)) {
          if (hooks.reportLateEvents) emit({ kind: 'late_event', runId, eventTimeMs: event.emittedAtMs, watermarkMs, source: event.source });
          return;
        }
        let run = openRuns.get(runId);
        if (run === undefined) {
          run = { state: hooks.open(event), earliestEventMs: event.emittedAtMs, dueAtMs: Number.NaN, timerVersion: 0 };
          openRuns.set(runId, run);
        } else {
          hooks.add(run.state, event);
          if (event.emittedAtMs < run.earliestEventMs) run.earliestEventMs = event.emittedAtMs;
        }
        schedule(runId, run);
        // An event older than the watermark may make its run due at once (e.g. a late terminal event).
        if (run.dueAtMs <= watermarkMs) close(runId, run, outcomeOf(run));
      };

      const onWatermark = (next: number): void => {
        if (next <= watermarkMs) return;
        watermarkMs = next;
        while (timers.peekPriority() <= watermarkMs) {
          const timer = timers.pop() as Timer;
          const run = openRuns.get(timer.runId);
          if (run !== undefined && run.timerVersion === timer.version) close(timer.runId, run, outcomeOf(run));
        }
        const forgetBefore = watermarkMs - hooks.deadlineMs;
        for (const [runId, at] of closedAt) {
          if (at >= forgetBefore) break;
          closedAt.delete(runId);
        }
      };

      const subscription = source.subscribe({
        next: (item) => (item.kind === 'event' ? onEvent(item.event) : onWatermark(item.watermarkMs)),
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          // End of input: close what is still open, in a stable order so replays emit identically.
          const remaining = [...openRuns.entries()].sort(([a, ra], [b, rb]) => ra.earliestEventMs - rb.earliestEventMs || (a < b ? -1 : a > b ? 1 : 0));
          for (const [runId, run] of remaining) close(runId, run, hooks.closesAt(run.state) === undefined ? 'end_of_input' : 'completed');
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        openRuns.clear();
        closedAt.clear();
        timers.clear();
      };
    });
}
