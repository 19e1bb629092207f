/**
 * Shared helpers for the detector marble tests (test/unit/operators/*.test.ts): a TestScheduler
 * that compares with vitest, a contract with small thresholds, the ordering stage every
 * engine-based detector expects in front of it, and matchers for the verdicts they emit.
 */
import { from, lastValueFrom, toArray, type Observable, type OperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { expect } from 'vitest';
import type { AgentEvent } from '../../src/contract/event.js';
import { compileRunContract, REFERENCE_RUN_CONTRACT, type CompiledRunContract } from '../../src/contract/run-contract.js';
import type { LateEventRunState, Verdict, Violation } from '../../src/contract/verdict.js';
import { orderByEventTime } from '../../src/operators/orderByEventTime.js';
import type { StreamItem } from '../../src/operators/stream-item.js';

export const scheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

/**
 * The reference contract with thresholds small enough for marble timelines:
 * latency > 5 WARNING / > 20 CRITICAL, gap > 2 / > 5, duration > 10 / > 30 (so runs close 30 after
 * their first event, and closed runs are forgotten 30 later).
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
