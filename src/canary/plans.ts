/**
 * The records of one canary run, as the product's emitters send them (flat wire shape), with
 * event times from the wall clock: a canary is live traffic. Deterministic for a given start time.
 */
import { canaryRunId, type CanaryPlan } from '../contract/canary.js';

export interface CanaryRecord {
  readonly key: string;
  readonly value: string;
  /** Kafka record timestamp (delivery time): emission time, later for a late-delivery fault. */
  readonly timestampMs: number;
  /** When to send it (wall clock, ms): events go out as they happen. */
  readonly sendAtMs: number;
}

/** Time between the events of a canary run: well under every gap threshold. */
export const CANARY_STEP_MS = 250;
const LATE_DELIVERY_MS = 2_500;

export function canaryRun(plan: CanaryPlan, startMs: number, stamp: string, n: number): { readonly runId: string; readonly records: CanaryRecord[] } {
  const runId = canaryRunId(plan, stamp, n);
  const threadId = `runwatch-canary-thread-${stamp}-${n}`;
  const common = { run_id: runId, thread_id: threadId, user_id: 'runwatch-canary-user', agent_name: 'runwatch-canary' };
  const executionId = `runwatch-canary-exec-${stamp}-${n}`;
  const bodies: Record<string, unknown>[] = [
    { type: 'agent_started', ...common },
    { type: 'agent_thinking', ...common, reasoning: plan === 'bad_content' ? ' ' : 'checking that the monitor sees this run' },
    { type: 'tool_executing', ...common, tool_name: 'canary_probe', execution_id: executionId, args: { probe: n } },
    { type: 'tool_completed', ...common, tool_name: 'canary_probe', execution_id: executionId, result: { ok: true }, success: true },
    { type: 'agent_completed', ...common },
  ];
  const records = bodies.map((body, i): CanaryRecord => {
    const emittedMs = startMs + i * CANARY_STEP_MS;
    const late = plan === 'late_delivery' && body['type'] === 'tool_completed' ? LATE_DELIVERY_MS : 0;
    return { key: threadId, value: JSON.stringify({ ...body, timestamp: new Date(emittedMs).toISOString() }), timestampMs: emittedMs + late, sendAtMs: emittedMs + late };
  });
  return { runId, records: records.sort((a, b) => a.sendAtMs - b.sendAtMs) };
}
