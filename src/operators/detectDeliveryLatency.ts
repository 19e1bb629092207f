import type { OperatorFunction } from 'rxjs';
import { severityOf, type CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import type { AgentEvent } from '../contract/event.js';
import { runEngine, type RuleFactory, type RuleOutput } from './internal/run-engine.js';
import { percentile } from './internal/percentile.js';
import type { StreamItem } from './stream-item.js';

/**
 * Rule: each event's delivery latency (delivered-at − emitted-at) against the contract's levels
 * (strict >: WARNING above 500 ms, CRITICAL above 2 s by default). Adds p50/p95/p99 to the run
 * summary. Late events are checked too: the slowest deliveries are the ones most likely to be late.
 */
export function deliveryLatencyRule(contract: CompiledRunContract): RuleFactory {
  const levels = contract.thresholds.deliveryLatencyMs;
  const check = (event: AgentEvent, latency: number, slot: number, out: RuleOutput): void => {
    const severity = severityOf(latency, levels);
    if (severity === undefined) return;
    out.violation(slot, {
      rule: 'delivery_latency',
      severity,
      subject: event.type,
      detail: `${event.type} delivered ${Math.round(latency)} ms after it was emitted (limit ${severity === 'CRITICAL' ? levels.critical : levels.warning} ms)`,
      eventTimeMs: event.emittedAtMs,
      event,
    });
  };
  return ({ table }) => {
    const latencies = table.lists();
    return {
      name: 'delivery_latency',
      open: (slot) => latencies.reset(slot),
      onEvent: (slot, event, out) => {
        const latency = event.deliveredAtMs - event.emittedAtMs;
        latencies.push(slot, latency);
        check(event, latency, slot, out);
      },
      onLateEvent: (event, slot, out) => check(event, event.deliveredAtMs - event.emittedAtMs, slot, out),
      summarize: (slot, summary) => {
        if (latencies.length(slot) === 0) return;
        const sorted = latencies.values(slot).sort((a, b) => a - b);
        summary.latencyP50Ms = percentile(sorted, 50);
        summary.latencyP95Ms = percentile(sorted, 95);
        summary.latencyP99Ms = percentile(sorted, 99);
      },
    };
  };
}

/**
 * Emits `delivery_latency` WARNING/CRITICAL per slow event.
 *
 * ```
 * input:   -a(emitted 0, delivered 600)-b(emitted 1, delivered 2500)-|
 * output:  -w---------------------------c--------------------------|
 * ```
 */
export function detectDeliveryLatency(contract: CompiledRunContract): OperatorFunction<StreamItem, Verdict> {
  return runEngine(contract, () => [deliveryLatencyRule(contract)]);
}
