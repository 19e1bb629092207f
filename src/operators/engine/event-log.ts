import { LIFECYCLE_TYPES, type AgentEvent, type SourcePosition } from '../../contract/event.js';
import { TYPE_CODE } from '../../contract/run-contract.js';
import type { EventRef } from './rule.js';
import type { RunFacts } from './run-facts.js';
import type { NumberLists, RefColumn, RunTable, SparseColumn } from './run-table.js';

/** What makes two deliveries the same event: type, emission time, call ids. */
export type EventIdentity = Pick<AgentEvent, 'type' | 'emittedAtMs' | 'toolName' | 'executionId' | 'eventId'>;

export const identityOf = (event: AgentEvent): EventIdentity => ({ type: event.type, emittedAtMs: event.emittedAtMs, toolName: event.toolName, executionId: event.executionId, eventId: event.eventId });

/** Same type, same emission time, same call ids: the same event, delivered again. */
export const isSameEvent = (a: EventIdentity, b: AgentEvent): boolean =>
  a.emittedAtMs === b.emittedAtMs && a.type === b.type && a.executionId === b.executionId && a.eventId === b.eventId && a.toolName === b.toolName;

const IDS_PER_EVENT = 3;

/**
 * The events an open run holds, compactly: time and type in a shared pool of number pairs, source
 * positions in the run facts (same order), and the call ids (tool name, execution id, event id)
 * only for runs whose events carry any. Judging a run turns them into sorted `EventRef`s once;
 * keeping an object (or the body) per event of every open run is what would make memory grow.
 */
export class RunEventLog {
  /** (event time, type code) per event, in arrival order. */
  private readonly times: NumberLists;
  /** [toolName, executionId, eventId] per event (3 entries each), or undefined while no event of the run carried one. */
  private readonly callIds: RefColumn<(string | undefined)[]>;
  /** Identities of the events that arrived late (behind their partition's watermark): a copy of one after the run is final is a duplicate. */
  private readonly lateArrivals: SparseColumn<EventIdentity[]>;

  constructor(
    table: RunTable,
    private readonly facts: RunFacts,
  ) {
    this.times = table.lists();
    this.callIds = table.refs();
    this.lateArrivals = table.sparse();
  }

  reset(slot: number): void {
    this.times.reset(slot);
    this.callIds.set(slot, undefined);
    this.lateArrivals.set(slot, undefined);
  }

  /** Appends an event; the run facts record its position (call facts.addEvent with it). */
  add(slot: number, event: AgentEvent, arrivedLate: boolean): void {
    if (arrivedLate) {
      const late = this.lateArrivals.get(slot);
      if (late === undefined) this.lateArrivals.set(slot, [identityOf(event)]);
      else late.push(identityOf(event));
    }
    const ordinal = this.times.length(slot);
    this.times.push(slot, event.emittedAtMs, TYPE_CODE[event.type]);
    let ids = this.callIds.get(slot);
    if (ids === undefined && event.toolName === undefined && event.executionId === undefined && event.eventId === undefined) return;
    const base = ordinal * IDS_PER_EVENT;
    if (ids === undefined || ids.length < base + IDS_PER_EVENT) {
      // Sized here, not by push: V8 grows a pushed array to 1.5 × its length + 16 slots, which for
      // the few events of a typical run is more than twice what it holds, in every open run.
      const grown = new Array<string | undefined>(base + IDS_PER_EVENT * (1 + (ordinal >> 2))).fill(undefined);
      if (ids !== undefined) for (let i = 0; i < ids.length; i += 1) grown[i] = ids[i];
      this.callIds.set(slot, (ids = grown));
    }
    ids[base] = event.toolName;
    ids[base + 1] = event.executionId;
    ids[base + 2] = event.eventId;
  }

  /** Whether the run already holds this event (same type, time and call ids): a redelivered copy. */
  holds(slot: number, event: AgentEvent): boolean {
    // Most events arrive in order, later than all the run holds: nothing to compare then.
    if (event.emittedAtMs > this.facts.lastEventMs.get(slot) && this.times.length(slot) > 0) return false;
    const code = TYPE_CODE[event.type];
    const ids = this.callIds.get(slot);
    for (let i = this.times.indexOfPair(slot, event.emittedAtMs, code); i >= 0; i = this.times.indexOfPair(slot, event.emittedAtMs, code, i + 1)) {
      const base = i * IDS_PER_EVENT;
      if (ids?.[base] === event.toolName && ids?.[base + 1] === event.executionId && ids?.[base + 2] === event.eventId) return true;
    }
    return false;
  }

  /** What arrived late into the run (kept after it is final, to tell a further copy from news). */
  lateArrivalsOf(slot: number): EventIdentity[] | undefined {
    return this.lateArrivals.get(slot);
  }

  /**
   * The run's events sorted by (event time, partition, offset). The array and its events are
   * reused by the next call: a judgement reads them and keeps none (rules keep ids, not events).
   */
  sorted(slot: number): readonly EventRef[] {
    const n = this.times.readInto(slot, this.scratchTimes, this.scratchCodes);
    this.facts.readPositions(slot, this.scratchOffsets, this.scratchPartitions);
    const topic = this.facts.topicOf(slot);
    const ids = this.callIds.get(slot);
    const events = this.judged;
    events.length = n;
    let inOrder = true;
    for (let i = 0; i < n; i += 1) {
      const base = i * IDS_PER_EVENT;
      const event = (this.pool[i] ??= new LoggedEvent());
      event.type = LIFECYCLE_TYPES[this.scratchCodes[i] as number] as EventRef['type'];
      event.emittedAtMs = this.scratchTimes[i] as number;
      event.toolName = ids?.[base];
      event.executionId = ids?.[base + 1];
      event.eventId = ids?.[base + 2];
      event.topic = topic;
      event.partition = this.scratchPartitions[i] as number;
      event.offset = this.scratchOffsets[i] as number;
      if (i > 0 && compareEvents(events[i - 1] as EventRef, event) > 0) inOrder = false;
      events[i] = event;
    }
    return inOrder ? events : events.sort(compareEvents);
  }

  // Reused by every judgement: reading and judging a run allocates nothing per event.
  private readonly scratchTimes: number[] = [];
  private readonly scratchCodes: number[] = [];
  private readonly scratchOffsets: number[] = [];
  private readonly scratchPartitions: number[] = [];
  private readonly judged: EventRef[] = [];
  private readonly pool: LoggedEvent[] = [];
}

/** An event of a run being judged (pooled); its source position is made only when a verdict asks for it. */
class LoggedEvent implements EventRef {
  type: EventRef['type'] = 'agent_started';
  emittedAtMs = 0;
  toolName: string | undefined = undefined;
  executionId: string | undefined = undefined;
  eventId: string | undefined = undefined;
  topic = '';
  partition = 0;
  offset = 0;

  get source(): SourcePosition {
    return { topic: this.topic, partition: this.partition, offset: this.offset };
  }
}

function compareEvents(a: EventRef, b: EventRef): number {
  if (a.emittedAtMs !== b.emittedAtMs) return a.emittedAtMs - b.emittedAtMs;
  const pa = a.source;
  const pb = b.source;
  return pa.partition - pb.partition || pa.offset - pb.offset;
}
