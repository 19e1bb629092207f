import { connect, merge, type OperatorFunction } from 'rxjs';
import type { DetectionConfig } from '../config/config.js';
import type { AgentEvent } from '../contract/event.js';
import { compileRunContract, REFERENCE_RUN_CONTRACT, type CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { gradeUsers } from '../operators/gradeUsers.js';
import type { EngineProbe } from '../operators/engine/engine-probe.js';
import type { RuleFactory } from '../operators/engine/run-engine.js';
import { contaminationRule, type ActiveIdSeed } from '../operators/rules/contamination.js';
import { contentChecksFrom, contentFindings, contentRule } from '../operators/rules/content.js';
import { deliveryLatencyFindings, deliveryLatencyRule } from '../operators/rules/delivery-latency.js';
import type { EventCheck } from '../operators/engine/rule.js';
import { fireEarly } from '../operators/fireEarly.js';
import { gapRule } from '../operators/rules/event-gaps.js';
import { missingEventsRule } from '../operators/rules/missing-events.js';
import { partitioningRule } from '../operators/rules/partitioning.js';
import { runDurationRule } from '../operators/rules/run-duration.js';
import { sequenceRule } from '../operators/rules/sequence.js';
import type { StateRegistry } from '../operators/state-registry.js';
import { orderByEventTime } from '../operators/orderByEventTime.js';
import type { ChainInput, StreamItem } from '../operators/stream-item.js';
import { summarizeRuns } from '../operators/summarizeRuns.js';
import { withWatermark } from '../operators/withWatermark.js';

/** Watermarks advance in steps of this much event time: verdicts are the same, the work per event is less. */
const WATERMARK_STEP_MS = 50;

/** The reference contract with the configured thresholds. Throws CONTRACT_INVALID at start-up. */
export function contractFor(config: DetectionConfig): CompiledRunContract {
  return compileRunContract(config.contract ?? { ...REFERENCE_RUN_CONTRACT, thresholds: config.thresholds, suspiciousSkewMs: config.suspiciousSkewMs });
}

/**
 * Every rule the engine runs (src/operators/rules/). Order only decides the order of verdicts:
 * each rule reads the engine's run facts, never another rule's state. The engine's duplicate
 * filter runs before all of them.
 */
export function allRules(contract: CompiledRunContract, config: DetectionConfig, activeIds?: ActiveIdSeed): () => readonly RuleFactory[] {
  return () => [
    contentRule(contentChecksFrom(contract.content)),
    sequenceRule(contract),
    missingEventsRule(contract),
    deliveryLatencyRule(contract),
    gapRule(contract),
    runDurationRule(contract),
    contaminationRule({ activeForMs: config.activeUserWindowMs, ...(activeIds === undefined ? {} : { seed: activeIds }) }),
    partitioningRule(),
  ];
}

/**
 * The detector chain, as one pure operator: events (+ heartbeats in live mode) in, verdicts out.
 * No I/O and no clock: the same events give the same verdicts whatever their chunking or their
 * interleaving across partitions (within the out-of-orderness bound).
 *
 * events → withWatermark → orderByEventTime → run engine (duplicate filter, rules, run summaries) → user grades
 *                       ↘ fireEarly (live mode: provisional per-event verdicts at arrival)
 * In live mode orderByEventTime also tells the engine when a run's completion arrives, with the
 * run's events still waiting for their place: the engine then judges the run provisionally.
 */
export interface DetectOptions {
  /** Ids active before this start (restored from the store), so isolation checks are not blind at first. */
  readonly activeIds?: ActiveIdSeed;
  /** Where every operator's state is checkpointed and restored from (src/operators/state-registry.ts). */
  readonly state?: StateRegistry;
  /** Lets metrics read the engine's open runs and event time at scrape time. */
  readonly probe?: EngineProbe;
  /** Emit where each event was placed (`event_placed` verdicts), for storing events. */
  readonly placements?: boolean;
  /**
   * Early firing (live mode): the checks that need nothing but the event also fire the moment it
   * arrives (src/operators/fireEarly.ts), and the per-run rules that judge purely fire when a run's
   * completion arrives (the engine, told by orderByEventTime), as provisional violations ahead of
   * the final ones.
   */
  readonly earlyFiring?: boolean;
}

/** The per-event checks that read nothing but the event: what early firing runs (the same functions their rules use). */
export function earlyChecks(contract: CompiledRunContract): readonly EventCheck[] {
  return [contentFindings(contentChecksFrom(contract.content)), deliveryLatencyFindings(contract)];
}

export function detectVerdicts(config: DetectionConfig, partitions?: readonly number[], options: DetectOptions = {}): OperatorFunction<ChainInput, Verdict> {
  const contract = contractFor(config);
  const withState = options.state === undefined ? {} : { state: options.state };
  const early = options.earlyFiring === true ? earlyChecks(contract) : undefined;
  const judged: OperatorFunction<StreamItem, Verdict> = (items) =>
    items.pipe(
      orderByEventTime({ ...withState, ...(early === undefined ? {} : { announceArrivalsOf: contract.terminalType }) }),
      summarizeRuns(contract, allRules(contract, config, options.activeIds), {
        allowedLatenessMs: config.allowedLatenessMs,
        ...withState,
        ...(options.probe === undefined ? {} : { probe: options.probe }),
        ...(options.placements === true ? { placements: true } : {}),
        ...(early === undefined ? {} : { earlyChecks: early, completionNotices: true }),
      }),
      gradeUsers({ windowMs: config.userGradeWindowMs, runFinalWithinMs: contract.runDeadlineMs + config.allowedLatenessMs, bands: contract.grades.security, ...withState }),
    );
  return (input) =>
    input.pipe(
      withWatermark({
        maxOutOfOrdernessMs: config.maxOutOfOrdernessMs,
        suspiciousSkewMs: contract.suspiciousSkewMs,
        maxAheadMs: config.maxAheadMs,
        emitEveryMs: WATERMARK_STEP_MS,
        ...(partitions === undefined ? {} : { partitions }),
        ...withState,
      }),
      // Early firing subscribes first: an event's provisional verdicts leave before it goes on.
      early === undefined ? judged : connect((items) => merge(items.pipe(fireEarly(early)), items.pipe(judged))),
    );
}
