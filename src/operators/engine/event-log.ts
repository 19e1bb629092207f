import { LIFECYCLE_TYPES, type AgentEvent } from '../../contract/event.js';
import { TYPE_CODE } from '../../contract/run-contract.js';
import type { EventRef } from './rule.js';
import type { RunFacts } from './run-facts.js';
import type { NumberLists, RefColumn, RunTable } from './run-table.js';

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

  constructor(
    table: RunTable,
    private readonly facts: RunFacts,
  ) {
    this.times = table.lists();
    this.callIds = table.refs();
  }

  reset(slot: number): void {
    this.times.reset(slot);
    this.callIds.set(slot, undefined);
  }

  /** Appends an event; the run facts record its position (call facts.addEvent with it). */
  add(slot: number, event: AgentEvent): void {
    const ordinal = this.times.length(slot);
    this.times.push(slot, event.emittedAtMs, TYPE_CODE[event.type]);
    let ids = this.callIds.get(slot);
    if (ids === undefined) {
      if (event.toolName === undefined && event.executionId === undefined && event.eventId === undefined) return;
      ids = new Array<string | undefined>(ordinal * IDS_PER_EVENT).fill(undefined);
      this.callIds.set(slot, ids);
    }
    ids.push(event.toolName, event.executionId, event.eventId);
  }

  /** Whether the run already holds this event (same type, time and call ids): a redelivered copy. */
  holds(slot: number, event: AgentEvent): boolean {
    const code = TYPE_CODE[event.type];
    const ids = this.callIds.get(slot);
    for (let i = this.times.indexOfPair(slot, event.emittedAtMs, code); i >= 0; i = this.times.indexOfPair(slot, event.emittedAtMs, code, i + 1)) {
      const base = i * IDS_PER_EVENT;
      if (ids?.[base] === event.toolName && ids?.[base + 1] === event.executionId && ids?.[base + 2] === event.eventId) return true;
    }
    return false;
  }

  /** The run's events sorted by (event time, partition, offset). */
  sorted(slot: number): EventRef[] {
    const times = this.times.values(slot);
    const codes = this.times.tagsOf(slot);
    const { offsets, partitions } = this.facts.positionsOf(slot);
    const topic = this.facts.topicOf(slot);
    const ids = this.callIds.get(slot);
    const events: EventRef[] = new Array<EventRef>(times.length);
    for (let i = 0; i < times.length; i += 1) {
      const base = i * IDS_PER_EVENT;
      events[i] = {
        type: LIFECYCLE_TYPES[codes[i] as number] as EventRef['type'],
        emittedAtMs: times[i] as number,
        toolName: ids?.[base],
        executionId: ids?.[base + 1],
        eventId: ids?.[base + 2],
        source: { topic, partition: partitions[i] as number, offset: offsets[i] as number },
      };
    }
    return events.sort(compareEvents);
  }
}

function compareEvents(a: EventRef, b: EventRef): number {
  return a.emittedAtMs - b.emittedAtMs || a.source.partition - b.source.partition || a.source.offset - b.source.offset;
}
