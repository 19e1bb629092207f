/**
 * Traffic shaped as real producers send it, for tests of the whole chain: planned lifecycle events
 * with bodies that pass the content rule, read as a consumer would (each partition in delivery
 * order, partitions interleaved by delivery time), plus healthy background runs that move each
 * partition's event time on.
 */
import type { AgentEvent, LifecycleType } from '../../src/contract/event.js';

export const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

export interface Planned {
  readonly type: LifecycleType;
  readonly runId: string;
  readonly atMs: number;
  /** Delivery delay (delivered − emitted); 40 ms unless given. */
  readonly delayMs?: number;
  readonly partition?: number;
  readonly userId?: string;
  readonly threadId?: string;
  readonly toolName?: string;
  /** The thinking text (agent_thinking only). */
  readonly reasoning?: string;
}

const body = (p: Planned, userId: string, threadId: string): Record<string, unknown> => ({
  type: p.type,
  run_id: p.runId,
  thread_id: threadId,
  user_id: userId,
  agent_name: 'planner',
  ...(p.type === 'agent_thinking' ? { reasoning: p.reasoning ?? 'weighing the options' } : {}),
  ...(p.type === 'tool_executing' || p.type === 'tool_completed' ? { tool_name: p.toolName ?? 'search' } : {}),
  ...(p.type === 'tool_completed' ? { result: { ok: true } } : {}),
});

/** Events as a consumer reads them: each partition in delivery order, partitions interleaved by delivery time. */
export function consume(planned: readonly Planned[]): AgentEvent[] {
  const offsets = new Map<number, number>();
  return planned
    .map((p) => ({ p, deliveredAtMs: T0 + p.atMs + (p.delayMs ?? 40) }))
    .sort((a, b) => a.deliveredAtMs - b.deliveredAtMs)
    .map(({ p, deliveredAtMs }) => {
      const partition = p.partition ?? 0;
      const offset = offsets.get(partition) ?? 0;
      offsets.set(partition, offset + 1);
      const userId = p.userId ?? `user_${p.runId}`;
      const threadId = p.threadId ?? `thread_${p.runId}`;
      return {
        type: p.type,
        runId: p.runId,
        threadId,
        userId,
        agentName: 'planner',
        ...(p.toolName === undefined && (p.type === 'tool_executing' || p.type === 'tool_completed') ? { toolName: 'search' } : p.toolName === undefined ? {} : { toolName: p.toolName }),
        emittedAtMs: T0 + p.atMs,
        deliveredAtMs,
        recordTimestampMs: deliveredAtMs,
        recovered: false,
        shape: 'flat',
        source: { topic: 'agent-events', partition, offset },
        body: body(p, userId, threadId),
      } satisfies AgentEvent;
    });
}

/** Healthy runs on every given partition for `untilMs`: they move each partition's event time on, as real traffic does. */
export function background(partitions: readonly number[], untilMs: number): Planned[] {
  const out: Planned[] = [];
  const types: LifecycleType[] = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'];
  for (const partition of partitions) {
    for (let start = 0, n = 0; start < untilMs; start += 700, n += 1) {
      const runId = `bg_${partition}_${n}`;
      types.forEach((type, i) => out.push({ type, runId, atMs: start + partition * 37 + i * 150, partition }));
    }
  }
  return out;
}

/** A healthy run of the run under test: S, T, X, C, F at these offsets from `startMs`. */
export function run(runId: string, startMs: number, steps: readonly number[] = [0, 400, 800, 1_200, 1_600], extra: Partial<Planned> = {}): Planned[] {
  const types: LifecycleType[] = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'];
  return types.map((type, i) => ({ type, runId, atMs: startMs + (steps[i] as number), ...extra }));
}

export function delay(planned: Planned[], type: LifecycleType, delayMs: number): Planned[] {
  return planned.map((p) => (p.type === type ? { ...p, delayMs } : p));
}
