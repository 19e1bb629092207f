import type { AgentEvent } from '../../contract/event.js';
import { severityOf, type CompiledRunContract } from '../../contract/run-contract.js';
import { percentile } from '../engine/percentile.js';
import { NO_FINDINGS, type EventCheck, type RuleFactory } from '../engine/rule.js';

/**
 * The latency check of one event, from the event alone (an EventCheck: live mode fires it early):
 * delivered-at − emitted-at against the contract's levels (strict >: WARNING above 500 ms,
 * CRITICAL above 2 s by default). An event whose time is not trusted is not checked.
 */
export function deliveryLatencyFindings(contract: CompiledRunContract): EventCheck {
  const levels = contract.thresholds.deliveryLatencyMs;
  return (event, trusted) => {
    if (!trusted) return NO_FINDINGS;
    const latency = event.deliveredAtMs - event.emittedAtMs;
    const severity = severityOf(latency, levels);
    if (severity === undefined) return NO_FINDINGS;
    return [
      {
        rule: 'delivery_latency',
        severity,
        subject: event.type,
        detail: `${event.type} delivered ${Math.round(latency)} ms after it was emitted (limit ${severity === 'CRITICAL' ? levels.critical : levels.warning} ms)`,
        eventTimeMs: event.emittedAtMs,
        event,
      },
    ];
  };
}

/**
 * Rule `delivery_latency` (per event): deliveryLatencyFindings. Late events are checked too (the
 * slowest deliveries are the likeliest to be late); a suspicious event is not (its time is not
 * trusted). Adds p50/p95/p99 of the run's events to its summary.
 */
export function deliveryLatencyRule(contract: CompiledRunContract): RuleFactory {
  const findings = deliveryLatencyFindings(contract);
  return ({ table }) => {
    const latencies = table.lists();
    return {
      name: 'delivery_latency',
      open: (slot) => latencies.reset(slot),
      onArrival: (slot, event: AgentEvent, out, arrival) => {
        if (arrival === 'in_run') latencies.push(slot, event.deliveredAtMs - event.emittedAtMs);
        for (const spec of findings(event, arrival !== 'suspicious')) out.violation(slot, spec);
      },
      judge: ({ slot }, _out, summary) => {
        if (latencies.length(slot) === 0) return;
        const sorted = latencies.values(slot).sort((a, b) => a - b);
        summary.latencyP50Ms = percentile(sorted, 50);
        summary.latencyP95Ms = percentile(sorted, 95);
        summary.latencyP99Ms = percentile(sorted, 99);
      },
    };
  };
}
