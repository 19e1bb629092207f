import { Observable, type OperatorFunction } from 'rxjs';
import type { RunSummary, UserGrade, Verdict } from '../contract/verdict.js';
import { securityGrade } from './internal/run-engine.js';

export interface GradeUsersOptions {
  /** Tumbling event-time window per user, by run start. Default 1 hour. */
  readonly windowMs: number;
  /** Runs close at most this long after they start: a window is final once verdicts pass its end by this. */
  readonly runDeadlineMs: number;
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
 * Its clock is the verdicts' own decision time (non-decreasing in the engine's output), so windows
 * close deterministically; at end of input every open window is flushed.
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
      const windows = new Map<string, UserWindow>();
      const emitGrade = (w: UserWindow): void => {
        const grade: UserGrade = {
          userId: w.userId,
          windowStartMs: w.windowStartMs,
          windowEndMs: w.windowStartMs + options.windowMs,
          runs: w.runs,
          criticalIsolationViolations: w.criticals,
          otherIsolationViolations: w.others,
          securityGrade: securityGrade(w.others, w.criticals),
        };
        subscriber.next({ kind: 'user_grade', grade });
      };
      const closeUpTo = (decidedAtMs: number): void => {
        for (const [key, w] of windows) {
          if (w.windowStartMs + options.windowMs + options.runDeadlineMs > decidedAtMs) continue;
          windows.delete(key);
          emitGrade(w);
        }
      };
      const add = (summary: RunSummary): void => {
        if (summary.userId === undefined) return;
        const windowStartMs = Math.floor(summary.firstEventMs / options.windowMs) * options.windowMs;
        const key = `${summary.userId}\u0000${windowStartMs}`;
        let w = windows.get(key);
        if (w === undefined) {
          w = { userId: summary.userId, windowStartMs, runs: 0, criticals: 0, others: 0 };
          windows.set(key, w);
        }
        w.runs += 1;
        w.criticals += summary.isolationCriticals;
        w.others += summary.isolationWarnings;
      };
      let lastCloseCheckMs = Number.NEGATIVE_INFINITY;
      return source.subscribe({
        next: (verdict) => {
          subscriber.next(verdict);
          if (verdict.kind !== 'run_summary') return;
          add(verdict.summary);
          // Windows end on window boundaries: checking once per boundary crossed is enough.
          const decided = verdict.summary.decidedAtWatermarkMs;
          if (Math.floor(decided / options.windowMs) !== Math.floor(lastCloseCheckMs / options.windowMs)) {
            lastCloseCheckMs = decided;
            closeUpTo(decided);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          const remaining = [...windows.values()].sort((a, b) => a.windowStartMs - b.windowStartMs || (a.userId < b.userId ? -1 : 1));
          windows.clear();
          remaining.forEach(emitGrade);
          subscriber.complete();
        },
      });
    });
}
