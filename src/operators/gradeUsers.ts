import { Observable, type OperatorFunction } from 'rxjs';
import { isCanaryRunId } from '../contract/canary.js';
import type { RunSummary, UserGrade, Verdict } from '../contract/verdict.js';
import type { GradeBands } from '../contract/run-contract.js';
import { securityGrade } from './engine/grade-policy.js';
import type { StateRegistry } from './state-registry.js';

export interface GradeUsersOptions {
  /** Tumbling event-time window per user, by run start. Default 1 hour. */
  readonly windowMs: number;
  /** Runs are final at most this long after they start (deadline + allowed lateness): a window is final once verdicts pass its end by this. */
  readonly runFinalWithinMs: number;
  /** Where the open windows are checkpointed and restored from (as 'user-grades'). */
  readonly state?: StateRegistry;
  /** The contract's security grade bands (default: the reference contract's). */
  readonly bands?: GradeBands;
}

interface UserWindow {
  readonly userId: string;
  readonly windowStartMs: number;
  runs: number;
  criticals: number;
  others: number;
}

/**
 * Passes verdicts through and adds a security grade per user and event-time window: F with any
 * CRITICAL isolation violation, else A with none, B up to 2, C up to 5, D more (fact sheet §2).
 * Its clock is the run summaries' decision time (non-decreasing in the engine's output): a window
 * is final once a summary is decided at or after its end + the run deadline (every run that started
 * in it has closed by then). So windows close deterministically; at end of input all are flushed.
 *
 * ```
 * window = 10, deadline = 5
 * input:   -R(user A, start 1, isolation 0)-R(user B, start 16, decided 16)-|
 * output:  -R-------------------------------(R,G_A)------------------------(G_B|)
 * ```
 */
export function gradeUsers(options: GradeUsersOptions): OperatorFunction<Verdict, Verdict> {
  if (!(options.windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${options.windowMs}`);
  return (source) =>
    new Observable<Verdict>((subscriber) => {
      const s = {
        windows: new Map<string, UserWindow>(),
        /** The earliest time any open window becomes final: checking windows only then keeps this O(1) per verdict. */
        nextFinalAtMs: Number.POSITIVE_INFINITY,
      };
      options.state?.attach('user-grades', s);
      const emitGrade = (w: UserWindow): void => {
        const grade: UserGrade = {
          userId: w.userId,
          windowStartMs: w.windowStartMs,
          windowEndMs: w.windowStartMs + options.windowMs,
          runs: w.runs,
          criticalIsolationViolations: w.criticals,
          otherIsolationViolations: w.others,
          securityGrade: securityGrade(w.others, w.criticals, options.bands),
        };
        subscriber.next({ kind: 'user_grade', grade });
      };
      const finalAt = (w: UserWindow): number => w.windowStartMs + options.windowMs + options.runFinalWithinMs;
      const closeUpTo = (decidedAtMs: number): void => {
        s.nextFinalAtMs = Number.POSITIVE_INFINITY;
        for (const [key, w] of s.windows) {
          const at = finalAt(w);
          if (at > decidedAtMs) {
            if (at < s.nextFinalAtMs) s.nextFinalAtMs = at;
            continue;
          }
          s.windows.delete(key);
          emitGrade(w);
        }
      };
      const add = (summary: RunSummary): void => {
        // Canary runs test the monitor, not a user: they never count toward a grade.
        if (summary.userId === undefined || isCanaryRunId(summary.runId)) return;
        const windowStartMs = Math.floor(summary.firstEventMs / options.windowMs) * options.windowMs;
        const key = `${summary.userId}\u0000${windowStartMs}`;
        let w = s.windows.get(key);
        if (w === undefined) {
          w = { userId: summary.userId, windowStartMs, runs: 0, criticals: 0, others: 0 };
          s.windows.set(key, w);
          if (finalAt(w) < s.nextFinalAtMs) s.nextFinalAtMs = finalAt(w);
        }
        w.runs += 1;
        w.criticals += summary.isolationCriticals;
        w.others += summary.isolationWarnings;
      };
      return source.subscribe({
        next: (verdict) => {
          subscriber.next(verdict);
          if (verdict.kind !== 'run_summary') return;
          add(verdict.summary);
          const decided = verdict.summary.decidedAtWatermarkMs;
          if (decided >= s.nextFinalAtMs) closeUpTo(decided);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          const remaining = [...s.windows.values()].sort((a, b) => a.windowStartMs - b.windowStartMs || (a.userId < b.userId ? -1 : 1));
          s.windows.clear();
          remaining.forEach(emitGrade);
          subscriber.complete();
        },
      });
    });
}
