import type { OperatorFunction } from 'rxjs';
import type { Verdict } from '../contract/verdict.js';
import { addRunFact, missingTypes, openRunFacts, ownerOf, sourceOffsetsOf, type RunFacts } from './internal/run-facts.js';
import { runWindows } from './internal/run-windows.js';
import { verdictId } from './internal/verdict-id.js';
import type { StreamItem } from './stream-item.js';

export interface DetectMissingEventsOptions {
  /** Event time after a run's first event at which it is judged even without agent_completed. */
  readonly runDeadlineMs: number;
}

/**
 * Emits a CRITICAL `missing_events` violation for every run that closes (agent_completed reached
 * by the watermark, its deadline passed, or end of input) without all five lifecycle event types.
 * Events of runs already judged are ignored here (summarizeRuns reports them as late).
 *
 * ```
 * deadline = 10
 * input:   -S(0)-T(1)-W(2)--------W(11)-|         S = agent_started, T = agent_thinking, W = watermark
 * output:  ---------------------- V-----|         V = missing [tool_executing, tool_completed, agent_completed]
 * ```
 *
 * @example
 * events$.pipe(withWatermark({ maxOutOfOrdernessMs: 3000 }), detectMissingEvents({ runDeadlineMs: 30000 }))
 */
export function detectMissingEvents(options: DetectMissingEventsOptions): OperatorFunction<StreamItem, Verdict> {
  return runWindows<RunFacts>({
    deadlineMs: options.runDeadlineMs,
    reportLateEvents: false,
    open: openRunFacts,
    add: addRunFact,
    closesAt: (facts) => facts.completedAtMs,
    close: (facts, closing, emit) => {
      const missing = missingTypes(facts);
      if (missing.length === 0) return;
      emit({
        kind: 'violation',
        violation: {
          violationId: verdictId('missing_events', facts.runId),
          rule: 'missing_events',
          severity: 'CRITICAL',
          runId: facts.runId,
          threadId: facts.threadId,
          userId: ownerOf(facts),
          missing,
          detail: `run closed (${closing.outcome}) without ${missing.join(', ')}`,
          eventTimeMs: facts.startedAtMs ?? facts.firstEventMs,
          decidedAtWatermarkMs: closing.watermarkMs,
          source: sourceOffsetsOf(facts),
        },
      });
    },
  });
}
