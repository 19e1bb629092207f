import type { AgentEvent, LifecycleType } from '../../src/contract/event.js';
import { compileRunContract, REFERENCE_RUN_CONTRACT, type CompiledRunContract } from '../../src/contract/run-contract.js';
import type { StreamItem } from '../../src/operators/stream-item.js';

let nextOffset = 0;

/** A normalized lifecycle event for operator tests; time is event time in ms. */
export function agentEvent(type: LifecycleType, runId: string, emittedAtMs: number, overrides: Partial<AgentEvent> = {}): AgentEvent {
  return {
    type,
    runId,
    threadId: `thread_of_${runId}`,
    userId: `user_of_${runId}`,
    emittedAtMs,
    deliveredAtMs: emittedAtMs + 10,
    recordTimestampMs: emittedAtMs + 10,
    recovered: false,
    shape: 'flat',
    source: { topic: 'agent-events', partition: 0, offset: nextOffset++ },
    body: {},
    ...overrides,
  };
}

/** All five lifecycle events of a complete run, one every `stepMs` from `startMs`. */
export function completeRun(runId: string, startMs: number, stepMs = 1): AgentEvent[] {
  const types: LifecycleType[] = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'];
  return types.map((type, i) => agentEvent(type, runId, startMs + i * stepMs));
}

export const ev = (event: AgentEvent): StreamItem => ({ kind: 'event', event });
export const wm = (watermarkMs: number): StreamItem => ({ kind: 'watermark', watermarkMs });

/** The reference contract with small thresholds, so marble timelines stay short. */
export function testContract(levels: { latency?: [number, number]; gap?: [number, number]; duration?: [number, number] } = {}): CompiledRunContract {
  const [lw, lc] = levels.latency ?? [500, 2_000];
  const [gw, gc] = levels.gap ?? [1_000, 5_000];
  const [dw, dc] = levels.duration ?? [10_000, 30_000];
  return compileRunContract({
    ...REFERENCE_RUN_CONTRACT,
    thresholds: { deliveryLatencyMs: { warning: lw, critical: lc }, gapMs: { warning: gw, critical: gc }, runDurationMs: { warning: dw, critical: dc } },
  });
}
