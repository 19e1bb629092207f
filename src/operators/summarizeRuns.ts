import type { OperatorFunction } from 'rxjs';
import type { Verdict } from '../contract/verdict.js';
import { addRunFact, openRunFacts, ownerOf, seenTypes, sourceOffsetsOf, type RunFacts } from './internal/run-facts.js';
import { runWindows } from './internal/run-windows.js';
import type { StreamItem } from './stream-item.js';

export interface SummarizeRunsOptions {
  readonly runDeadlineMs: number;
}

/**
 * Emits one `run_summary` per run when it closes: ids, owner, event count, types seen, start,
 * completion and how it ended. Also emits `late_event` for an event whose run was already closed.
 *
 * ```
 * input:   -S(0)-T(1)-C(2)-W(2)-|
 * output:  ---------------R-----|     R = summary { outcome: completed, eventCount: 3 }
 * ```
 */
export function summarizeRuns(options: SummarizeRunsOptions): OperatorFunction<StreamItem, Verdict> {
  return runWindows<RunFacts>({
    deadlineMs: options.runDeadlineMs,
    reportLateEvents: true,
    open: openRunFacts,
    add: addRunFact,
    closesAt: (facts) => facts.completedAtMs,
    close: (facts, closing, emit) =>
      emit({
        kind: 'run_summary',
        summary: {
          runId: facts.runId,
          threadId: facts.threadId,
          userId: ownerOf(facts),
          firstEventMs: facts.firstEventMs,
          lastEventMs: facts.lastEventMs,
          startedAtMs: facts.startedAtMs,
          completedAtMs: facts.completedAtMs,
          eventCount: facts.eventCount,
          typesSeen: seenTypes(facts),
          outcome: closing.outcome,
          decidedAtWatermarkMs: closing.watermarkMs,
          source: sourceOffsetsOf(facts),
        },
      }),
  });
}
