import { Observable, type OperatorFunction } from 'rxjs';
import type { RunSummary, UserGrade, Verdict } from '../contract/verdict.js';

export interface KeepRunsOptions {
  /** Whether the verdicts of this run are kept, decided on its summary. */
  readonly keepRun: (summary: RunSummary) => boolean;
  /** Whether a user grade window is kept. */
  readonly keepGrade: (grade: UserGrade) => boolean;
}

/**
 * Keeps the verdicts of the runs `keepRun` accepts, and the user grades `keepGrade` accepts
 * (a replay of a time range: the runs that start in it, the grade windows inside it). A run's
 * violations and late events come before its summary: they wait for it, then go on or are dropped
 * together, in their order. What comes after the summary (late events, revisions) follows the
 * decision. Verdicts of a run never summarized are dropped at the end: no run is kept half.
 *
 * ```
 * keepRun = run starts in range; r1 in, r2 out
 * input:   -V(r1)-V(r2)-S(r1)-S(r2)-L(r1)-L(r2)-|
 * output:  -------------(V(r1),S(r1))--L(r1)----|
 * ```
 */
export function keepRuns(options: KeepRunsOptions): OperatorFunction<Verdict, Verdict> {
  return (source) =>
    new Observable<Verdict>((subscriber) => {
      const waiting = new Map<string, Verdict[]>();
      const decided = new Map<string, boolean>();
      const hold = (runId: string, verdict: Verdict): void => {
        const decision = decided.get(runId);
        if (decision === true) subscriber.next(verdict);
        if (decision !== undefined) return;
        const held = waiting.get(runId);
        if (held === undefined) waiting.set(runId, [verdict]);
        else held.push(verdict);
      };
      return source.subscribe({
        next: (verdict) => {
          switch (verdict.kind) {
            case 'violation':
              return hold(verdict.violation.runId, verdict);
            case 'late_event':
            case 'revision':
              return hold(verdict.runId, verdict);
            case 'event_placed':
              return hold(verdict.event.runId, verdict);
            case 'user_grade':
              if (options.keepGrade(verdict.grade)) subscriber.next(verdict);
              return;
            case 'run_summary': {
              const { runId } = verdict.summary;
              const keep = options.keepRun(verdict.summary);
              decided.set(runId, keep);
              const held = waiting.get(runId) ?? [];
              waiting.delete(runId);
              if (!keep) return;
              for (const earlier of held) subscriber.next(earlier);
              subscriber.next(verdict);
              return;
            }
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          waiting.clear();
          subscriber.complete();
        },
      });
    });
}
