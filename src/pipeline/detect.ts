import type { OperatorFunction } from 'rxjs';
import type { DetectionConfig } from '../config/config.js';
import type { AgentEvent } from '../contract/event.js';
import { compileRunContract, REFERENCE_RUN_CONTRACT, type CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { contaminationRule } from '../operators/detectContamination.js';
import { contentRule } from '../operators/detectContent.js';
import { deliveryLatencyRule } from '../operators/detectDeliveryLatency.js';
import { duplicatesRule } from '../operators/detectDuplicates.js';
import { gapRule } from '../operators/detectGaps.js';
import { missingEventsRule } from '../operators/detectMissingEvents.js';
import { partitioningRule } from '../operators/detectPartitioning.js';
import { runDurationRule } from '../operators/detectRunDuration.js';
import { sequenceRule } from '../operators/detectSequence.js';
import { gradeUsers } from '../operators/gradeUsers.js';
import type { RuleFactory } from '../operators/internal/run-engine.js';
import { orderByEventTime } from '../operators/orderByEventTime.js';
import type { ChainInput } from '../operators/stream-item.js';
import { summarizeRuns } from '../operators/summarizeRuns.js';
import { withWatermark } from '../operators/withWatermark.js';

/** Watermarks advance in steps of this much event time: verdicts are the same, the work per event is less. */
const WATERMARK_STEP_MS = 50;

/** The reference contract with the configured thresholds. Throws CONTRACT_INVALID at start-up. */
export function contractFor(config: DetectionConfig): CompiledRunContract {
  return compileRunContract({ ...REFERENCE_RUN_CONTRACT, thresholds: config.thresholds, suspiciousSkewMs: config.suspiciousSkewMs });
}

/** Every per-run rule, in the order they see an event (duplicates first: a copy reaches no other rule). */
export function allRules(contract: CompiledRunContract, config: DetectionConfig): () => readonly RuleFactory[] {
  return () => [
    duplicatesRule(),
    contentRule(),
    sequenceRule(contract),
    missingEventsRule(contract),
    deliveryLatencyRule(contract),
    gapRule(contract),
    runDurationRule(contract),
    contaminationRule({ activeForMs: config.activeUserWindowMs }),
    partitioningRule({ activeForMs: config.activeUserWindowMs }),
  ];
}

/**
 * The detector chain, as one pure operator: events (+ heartbeats in live mode) in, verdicts out.
 * No I/O and no clock: the same events give the same verdicts whatever their chunking or their
 * interleaving across partitions (within the out-of-orderness bound).
 *
 * events → withWatermark → orderByEventTime → rules (one keyed engine) → run summaries → user grades
 */
export function detectVerdicts(config: DetectionConfig, partitions?: readonly number[]): OperatorFunction<ChainInput, Verdict> {
  const contract = contractFor(config);
  return (input) =>
    input.pipe(
      withWatermark({
        maxOutOfOrdernessMs: config.maxOutOfOrdernessMs,
        suspiciousSkewMs: contract.suspiciousSkewMs,
        emitEveryMs: WATERMARK_STEP_MS,
        ...(partitions === undefined ? {} : { partitions }),
      }),
      orderByEventTime(),
      summarizeRuns(contract, allRules(contract, config)),
      gradeUsers({ windowMs: config.userGradeWindowMs, runDeadlineMs: contract.runDeadlineMs }),
    );
}
