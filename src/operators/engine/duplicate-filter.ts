import type { AgentEvent } from '../../contract/event.js';
import type { EventRef } from './rule.js';

/** Same type, same emission time, same call ids: the same event, delivered again. */
export function isSameEvent(a: EventRef, b: AgentEvent): boolean {
  return a.emittedAtMs === b.emittedAtMs && a.type === b.type && a.executionId === b.executionId && a.eventId === b.eventId && a.toolName === b.toolName;
}

/**
 * The engine's first stage for an event of an open run: is it a copy of one the run already holds
 * (producer retry, recovery replay)? The run's events are sorted by time, so only those at the same
 * time are compared, found from the back (a copy usually arrives soon after its original).
 */
export function findOriginal(events: readonly EventRef[], event: AgentEvent): EventRef | undefined {
  const time = event.emittedAtMs;
  for (let i = events.length - 1; i >= 0; i -= 1) {
    const candidate = events[i] as EventRef;
    if (candidate.emittedAtMs < time) return undefined;
    if (candidate.emittedAtMs === time && isSameEvent(candidate, event)) return candidate;
  }
  return undefined;
}
