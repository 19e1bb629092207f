import { LIFECYCLE_TYPES, type AgentEvent, type LifecycleType } from '../../contract/event.js';
import type { SourceOffsets } from '../../contract/verdict.js';
import { compactNumbers, numbersOf, pushNumber, type CompactNumbers } from './compact-numbers.js';

const TYPE_BIT: Readonly<Record<LifecycleType, number>> = {
  agent_started: 1,
  agent_thinking: 2,
  tool_executing: 4,
  tool_completed: 8,
  agent_completed: 16,
};

/**
 * The facts about one run that several detectors need: ids, owner, which lifecycle types were
 * seen, first/last event time and the source offsets it was built from. Mutable, operator-private.
 */
export interface RunFacts {
  readonly runId: string;
  threadId: string | undefined;
  /** The run's owner: a user_id that is not the thread id (emitter paths send user_id == thread_id). */
  ownerUserId: string | undefined;
  /** Fallback when every event carried user_id == thread_id. */
  anyUserId: string | undefined;
  seenMask: number;
  eventCount: number;
  firstEventMs: number;
  lastEventMs: number;
  startedAtMs: number | undefined;
  completedAtMs: number | undefined;
  /** Events that arrived too late to be ordered (counted for presence, not for order). */
  lateCount: number;
  readonly topic: string;
  /** The partition of the run's first event; `partitions` exists only once another one shows up. */
  readonly partition: number;
  partitions: CompactNumbers | undefined;
  readonly offsets: CompactNumbers;
}

/** Facts of a new run, keyed by this event's run id; the event itself is added with addRunFact. */
export function openRunFacts(event: AgentEvent): RunFacts {
  return {
    runId: event.runId,
    threadId: undefined,
    ownerUserId: undefined,
    anyUserId: undefined,
    seenMask: 0,
    eventCount: 0,
    firstEventMs: event.emittedAtMs,
    lastEventMs: event.emittedAtMs,
    startedAtMs: undefined,
    completedAtMs: undefined,
    lateCount: 0,
    topic: event.source.topic,
    partition: event.source.partition,
    partitions: undefined,
    offsets: { values: [], length: 0 },
  };
}

function addPosition(facts: RunFacts, partition: number, offset: number): void {
  if (facts.partitions === undefined && partition !== facts.partition) {
    facts.partitions = compactNumbers(facts.partition);
    for (let i = 1; i < facts.offsets.length; i += 1) pushNumber(facts.partitions, facts.partition);
  }
  if (facts.partitions !== undefined) pushNumber(facts.partitions, partition);
  pushNumber(facts.offsets, offset);
}

/**
 * Learns the run's thread and owner from an event. Runs before the rules see the event, so a
 * verdict about a run's first event already names its thread and owner.
 */
export function learnRunIds(facts: RunFacts, event: AgentEvent): void {
  if (facts.threadId === undefined && event.threadId !== undefined) facts.threadId = event.threadId;
  if (event.userId !== undefined) {
    if (facts.anyUserId === undefined) facts.anyUserId = event.userId;
    if (facts.ownerUserId === undefined && event.userId !== event.threadId && event.userId !== facts.threadId) facts.ownerUserId = event.userId;
  }
}

/** Counts an event the rules accepted (a duplicate delivery is not counted). */
export function addRunFact(facts: RunFacts, event: AgentEvent): void {
  facts.eventCount += 1;
  facts.seenMask |= TYPE_BIT[event.type];
  if (event.emittedAtMs < facts.firstEventMs) facts.firstEventMs = event.emittedAtMs;
  if (event.emittedAtMs > facts.lastEventMs) facts.lastEventMs = event.emittedAtMs;
  if (event.type === 'agent_started' && (facts.startedAtMs === undefined || event.emittedAtMs < facts.startedAtMs)) facts.startedAtMs = event.emittedAtMs;
  if (event.type === 'agent_completed' && (facts.completedAtMs === undefined || event.emittedAtMs > facts.completedAtMs)) facts.completedAtMs = event.emittedAtMs;
  addPosition(facts, event.source.partition, event.source.offset);
}

/** A late event still proves its type arrived, and its offset belongs to the run. */
export function addLateFact(facts: RunFacts, event: AgentEvent): void {
  facts.lateCount += 1;
  facts.seenMask |= TYPE_BIT[event.type];
  addPosition(facts, event.source.partition, event.source.offset);
}

export function seenTypes(facts: RunFacts): LifecycleType[] {
  return LIFECYCLE_TYPES.filter((type) => (facts.seenMask & TYPE_BIT[type]) !== 0);
}

export function missingTypes(facts: RunFacts): LifecycleType[] {
  return LIFECYCLE_TYPES.filter((type) => (facts.seenMask & TYPE_BIT[type]) === 0);
}

export function ownerOf(facts: RunFacts): string | undefined {
  return facts.ownerUserId ?? facts.anyUserId;
}

/** Offsets sorted by (partition, offset): the same set always serializes the same way. */
export function sourceOffsetsOf(facts: RunFacts): SourceOffsets {
  const offsets = numbersOf(facts.offsets);
  const partitions = facts.partitions === undefined ? offsets.map(() => facts.partition) : numbersOf(facts.partitions);
  let sorted = true;
  for (let i = 1; i < offsets.length && sorted; i += 1) {
    const dp = (partitions[i] as number) - (partitions[i - 1] as number);
    sorted = dp > 0 || (dp === 0 && (offsets[i] as number) > (offsets[i - 1] as number));
  }
  if (sorted) return { topic: facts.topic, partitions, offsets };
  const order = offsets.map((_, i) => i).sort((a, b) => (partitions[a] as number) - (partitions[b] as number) || (offsets[a] as number) - (offsets[b] as number));
  return { topic: facts.topic, partitions: order.map((i) => partitions[i] as number), offsets: order.map((i) => offsets[i] as number) };
}

/** The few fields of an event that rules keep across events: keeping the event would keep its body. */
export interface EventRef {
  readonly type: AgentEvent['type'];
  readonly emittedAtMs: number;
  readonly toolName?: string | undefined;
  readonly executionId?: string | undefined;
  readonly eventId?: string | undefined;
  readonly source: AgentEvent['source'];
}

export function refOf(event: AgentEvent): EventRef {
  return { type: event.type, emittedAtMs: event.emittedAtMs, toolName: event.toolName, executionId: event.executionId, eventId: event.eventId, source: event.source };
}
