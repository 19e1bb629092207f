/**
 * Shared helpers for the rule and engine tests (test/unit/operators/**): a TestScheduler that
 * compares with vitest, a contract with small thresholds, the ordering stage the run engine
 * expects in front of it, a rule alone in the engine (`ruleEngine`), matchers for the verdicts it
 * emits, and helpers for property tests over arrival orders.
 */
import fc from 'fast-check';
import { from, lastValueFrom, toArray, type Observable, type OperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { expect } from 'vitest';
import { LIFECYCLE_TYPES, type AgentEvent, type LifecycleType } from '../../src/contract/event.js';
import { compileRunContract, REFERENCE_RUN_CONTRACT, type CompiledRunContract } from '../../src/contract/run-contract.js';
import type { LateEventRunState, Verdict, Violation } from '../../src/contract/verdict.js';
import { runEngine, type RuleFactory, type RunEngineOptions } from '../../src/operators/engine/run-engine.js';
import { orderByEventTime } from '../../src/operators/orderByEventTime.js';
import type { StreamItem } from '../../src/operators/stream-item.js';
import { withWatermark, type WithWatermarkOptions } from '../../src/operators/withWatermark.js';

export const scheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

/**
 * The reference contract with thresholds small enough for marble timelines:
 * latency > 5 WARNING / > 20 CRITICAL, gap > 2 / > 5, duration > 10 / > 30 (so runs close 30 after
 * their first event, and closed runs are forgotten 2 × 30 + the allowed lateness later).
 */
export const SMALL_CONTRACT: CompiledRunContract = compileRunContract({
  ...REFERENCE_RUN_CONTRACT,
  thresholds: { deliveryLatencyMs: { warning: 5, critical: 20 }, gapMs: { warning: 2, critical: 5 }, runDurationMs: { warning: 10, critical: 30 } },
});

/** What the production chain puts in front of the rules: items in event-time order (withWatermark → orderByEventTime). */
export function ordered(detector: OperatorFunction<StreamItem, Verdict>): OperatorFunction<StreamItem, Verdict> {
  return (source: Observable<StreamItem>) => source.pipe(orderByEventTime(), detector);
}

/** A violation verdict whose violation has (at least) these fields. */
export function violation(fields: Partial<Violation>): { kind: 'violation'; violation: Violation } {
  return { kind: 'violation', violation: expect.objectContaining(fields) as Violation };
}

/** The `late_event` verdict for `event`, reported while the engine's event time was `watermarkMs`. */
export function lateEvent(event: AgentEvent, watermarkMs: number, runState: LateEventRunState): Verdict {
  return { kind: 'late_event', runId: event.runId, type: event.type, eventTimeMs: event.emittedAtMs, watermarkMs, runState, source: event.source };
}

/** The `revision` verdict a late `event` makes of the verdict `violationId`. */
export function revision(event: AgentEvent, violationId: string, action: 'confirmed' | 'retracted'): Verdict {
  return { kind: 'revision', violationId, runId: event.runId, action, reason: expect.any(String) as string, eventTimeMs: event.emittedAtMs, source: event.source };
}

/** A redelivery of `event`: same content, its own source offset (Kafka gives every copy a new one). */
export function redelivered(event: AgentEvent, offset: number, overrides: Partial<AgentEvent> = {}): AgentEvent {
  return { ...event, source: { ...event.source, offset }, ...overrides };
}

/** All verdicts of a replay (items in, completion at the end), for assertions that do not depend on order. */
export function replay(items: readonly StreamItem[], detector: OperatorFunction<StreamItem, Verdict>): Promise<Verdict[]> {
  return lastValueFrom(from(items).pipe(ordered(detector), toArray()));
}

/**
 * How a rule test builds its operator: the rule(s) alone in the run engine, behind the ordering
 * stage. `allowedLatenessMs` defaults to 0 (a run is final as soon as event time passes its end).
 */
export function ruleEngine(
  rules: RuleFactory | readonly RuleFactory[],
  options: RunEngineOptions & { readonly contract?: CompiledRunContract } = {},
): OperatorFunction<StreamItem, Verdict> {
  const { contract = SMALL_CONTRACT, ...engineOptions } = options;
  const list: readonly RuleFactory[] = typeof rules === 'function' ? [rules] : rules;
  return ordered(runEngine(contract, () => list, engineOptions));
}

/**
 * Raw events through the production front of the chain (withWatermark → orderByEventTime) into
 * `detector` (an engine without `ordered`), completed at the end: all verdicts of the replay.
 */
export function replayEvents(events: readonly AgentEvent[], detector: OperatorFunction<StreamItem, Verdict>, watermark: WithWatermarkOptions): Promise<Verdict[]> {
  return lastValueFrom(from(events).pipe(withWatermark(watermark), orderByEventTime(), detector, toArray()));
}

/**
 * The order in which `events` arrive when each is delayed by its own `delaysMs[i]` (delivered at
 * emitted + delay; ties keep the given order). Source offsets stay those of the records, so the
 * same records arrive, only in another order.
 */
export function arrivalOrder(events: readonly AgentEvent[], delaysMs: readonly number[]): AgentEvent[] {
  // A short list of delays is used round-robin.
  return events
    .map((event, i) => ({ event, i, at: event.emittedAtMs + (delaysMs.length === 0 ? 0 : (delaysMs[i % delaysMs.length] as number)) }))
    .sort((a, b) => a.at - b.at || a.i - b.i)
    .map(({ event }) => event);
}

/** Events sorted by (event time, partition, offset): the order the engine judges a run's events in. */
export function inEventTimeOrder(events: readonly AgentEvent[]): AgentEvent[] {
  return [...events].sort((a, b) => a.emittedAtMs - b.emittedAtMs || a.source.partition - b.source.partition || a.source.offset - b.source.offset);
}

/** The violations among verdicts. */
export function violationsOf(verdicts: readonly Verdict[]): Violation[] {
  return verdicts.flatMap((v) => (v.kind === 'violation' ? [v.violation] : []));
}

/**
 * Verdicts without what depends on where event time stood when they were made (decision time of
 * a violation, engine time of a late event), as sorted JSON lines: for comparing two replays whose
 * arrival differs beyond the out-of-orderness bound.
 */
export function placeFree(verdicts: readonly Verdict[]): string[] {
  return verdicts
    .map((v) => {
      if (v.kind === 'violation') return JSON.stringify({ ...v, violation: { ...v.violation, decidedAtWatermarkMs: undefined } });
      if (v.kind === 'late_event') return JSON.stringify({ ...v, watermarkMs: undefined });
      if (v.kind === 'run_summary') return JSON.stringify({ ...v, summary: { ...v.summary, decidedAtWatermarkMs: undefined, lateEventCount: undefined } });
      return JSON.stringify(v);
    })
    .sort();
}

const CANONICAL: readonly LifecycleType[] = LIFECYCLE_TYPES;

export interface GeneratedRunsOptions {
  /** At most this many runs (default 6). */
  readonly maxRuns?: number;
  /** Runs start within [0, this] (default 60). */
  readonly maxStartMs?: number;
  /** Time from one event of a run to its next, 1..this (default 7: gaps on both sides of SMALL_CONTRACT's levels). */
  readonly maxStepMs?: number;
  /** Events later than this after the run's first are dropped (default: none). */
  readonly maxSpanMs?: number;
  /** Runs are spread round-robin over this many partitions (default 1). */
  readonly partitions?: number;
  /** Users the runs belong to, round-robin (default 3). */
  readonly users?: number;
  /** Drop what a run has after its first agent_completed (default false). */
  readonly endAtCompletion?: boolean;
}

/**
 * Runs of lifecycle events for property tests: mostly the contract's sequence with one fault
 * (a type dropped, two swapped, one added or repeated), sometimes any sequence of types. Within a
 * run event times are distinct and increase with the sequence; tool events carry a tool name.
 * Every event has its own source position (partition of its run, offsets in emission order per
 * partition). Returned sorted by event time.
 */
export function generatedRuns(options: GeneratedRunsOptions = {}): fc.Arbitrary<AgentEvent[]> {
  const { maxRuns = 6, maxStartMs = 60, maxStepMs = 7, maxSpanMs = Number.POSITIVE_INFINITY, partitions = 1, users = 3, endAtCompletion = false } = options;
  const type = fc.constantFrom<LifecycleType>(...LIFECYCLE_TYPES);
  const mutated = fc
    .record({
      fault: fc.constantFrom('none', 'drop', 'swap', 'add'),
      at: fc.nat({ max: 5 }),
      other: fc.nat({ max: 5 }),
      extra: type,
    })
    .map(({ fault, at, other, extra }) => {
      const types = [...CANONICAL];
      if (fault === 'drop') types.splice(at % types.length, 1);
      else if (fault === 'swap') {
        const [i, j] = [at % types.length, other % types.length];
        [types[i], types[j]] = [types[j] as LifecycleType, types[i] as LifecycleType];
      } else if (fault === 'add') types.splice(at % (types.length + 1), 0, extra);
      return types;
    });
  const sequence = fc.oneof({ arbitrary: mutated, weight: 3 }, { arbitrary: fc.array(type, { minLength: 1, maxLength: 8 }), weight: 1 });
  const run = fc.record({
    start: fc.nat({ max: maxStartMs }),
    types: sequence,
    steps: fc.array(fc.integer({ min: 1, max: maxStepMs }), { minLength: 9, maxLength: 9 }),
    tools: fc.array(fc.constantFrom('search', 'sql_query'), { minLength: 9, maxLength: 9 }),
  });
  return fc.array(run, { minLength: 1, maxLength: maxRuns }).map((runs) => {
    const nextOffset = new Array<number>(partitions).fill(0);
    const events: AgentEvent[] = [];
    runs.forEach((r, i) => {
      const runId = `run_${i}`;
      const partition = i % partitions;
      let t = r.start;
      let completed = false;
      r.types.forEach((type, k) => {
        if (k > 0) t += r.steps[k] as number;
        if (t - r.start > maxSpanMs || (endAtCompletion && completed)) return;
        if (type === 'agent_completed') completed = true;
        const isTool = type === 'tool_executing' || type === 'tool_completed';
        // A call and its completion share a tool name unless the generated names differ.
        const toolName = isTool ? (r.tools[type === 'tool_executing' ? k : Math.max(0, k - 1)] as string) : undefined;
        events.push({
          type,
          runId,
          threadId: `thread_${i}`,
          userId: `user_${i % users}`,
          ...(toolName === undefined ? {} : { toolName }),
          emittedAtMs: t,
          deliveredAtMs: t + 1,
          recordTimestampMs: t + 1,
          recovered: false,
          shape: 'flat',
          source: { topic: 'agent-events', partition, offset: (nextOffset[partition] = (nextOffset[partition] as number) + 1) - 1 },
          body: {},
        });
      });
    });
    return inEventTimeOrder(events);
  });
}
