import { Observable, type OperatorFunction } from 'rxjs';
import type { AgentEvent } from '../contract/event.js';
import type { Verdict, Violation } from '../contract/verdict.js';
import type { EventCheck, ViolationSpec } from './engine/rule.js';
import { verdictId, violationKey } from './engine/verdict-id.js';
import type { StreamItem } from './stream-item.js';

/**
 * Early firing (live mode), as Flink's early-firing triggers: the per-event checks that read
 * nothing but the event (content, delivery latency: `EventCheck`s) run the moment an event
 * arrives, before it waits for the watermark to take its place in event time, and what they find
 * leaves at once as `provisional` violations. The engine reports the same findings, final and with
 * the same ids, when the event takes its place (seconds later: the out-of-orderness bound); a
 * redelivered copy, which the engine drops, has its provisional findings `withdrawn` there
 * (run-engine.ts). Stateless: a restart re-fires exactly what the records read again reveal.
 *
 * Input: withWatermark's output (events in arrival order, classified). Output: provisional
 * violations only; the items themselves go on to orderByEventTime untouched (detect.ts).
 */
export function fireEarly(checks: readonly EventCheck[]): OperatorFunction<StreamItem, Verdict> {
  return (source) =>
    new Observable<Verdict>((subscriber) => {
      return source.subscribe({
        next: (item) => {
          if (item.kind === 'watermark') return;
          const trusted = item.kind !== 'suspicious';
          // Nothing is decided in event time yet: the row carries the event's own time (no
          // watermark is kept here, so a restored chain fires exactly the same rows).
          for (const check of checks) {
            for (const spec of check(item.event, trusted)) subscriber.next({ kind: 'violation', violation: earlyViolation(spec, item.event, Number.NEGATIVE_INFINITY, 'provisional') });
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}

/**
 * A violation fired early, or its withdrawal, from the event alone: the id is the one the engine
 * gives the final verdict (same rule, run and event offset); owner and thread are the event's own
 * (the final row names its run's).
 */
export function earlyViolation(spec: ViolationSpec, event: AgentEvent, atWatermarkMs: number, status: 'provisional' | 'withdrawn'): Violation {
  const { partition, offset } = event.source;
  return {
    status,
    violationId: verdictId(spec.rule, event.runId, violationKey(event.source, spec.key)),
    rule: spec.rule,
    severity: spec.severity,
    runId: event.runId,
    ...(event.threadId === undefined ? {} : { threadId: event.threadId }),
    ...(event.userId === undefined ? {} : { userId: event.userId }),
    missing: spec.missing ?? [],
    subject: spec.subject ?? '',
    detail: spec.detail,
    eventTimeMs: spec.eventTimeMs,
    decidedAtWatermarkMs: Math.max(atWatermarkMs, spec.eventTimeMs),
    source: { topic: event.source.topic, partitions: [partition], offsets: [offset] },
  };
}
