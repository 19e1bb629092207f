import { LIFECYCLE_TYPES, type AgentEvent, type LifecycleType } from '../../contract/event.js';
import type { RuleCategory, SourceOffsets } from '../../contract/verdict.js';
import type { Float64Column, Int32Column, Int8Column, NumberLists, RefColumn, RunTable } from './run-table.js';

const TYPE_BIT: Readonly<Record<LifecycleType, number>> = {
  agent_started: 1,
  agent_thinking: 2,
  tool_executing: 4,
  tool_completed: 8,
  agent_completed: 16,
};

/** Violation counters kept per run, for its grades. */
export interface RunCounts {
  readonly perfWarnings: number;
  readonly perfCriticals: number;
  readonly securityWarnings: number;
  readonly securityCriticals: number;
  readonly warnings: number;
  readonly criticals: number;
}

const orUndefined = (value: number): number | undefined => (Number.isNaN(value) ? undefined : value);

/**
 * The facts about each open run that several rules need, as columns of the run table (see
 * run-table.ts): ids, owner, which lifecycle types were seen, first/last event time, violation
 * counts and the source offsets the run was built from. Operator-private; rules read, the engine
 * writes.
 */
export class RunFacts {
  readonly runId: RefColumn<string>;
  readonly threadIds: RefColumn<string>;
  /** The run's owner: a user_id that is not the thread id (emitter paths send user_id == thread_id). */
  private readonly ownerUserIds: RefColumn<string>;
  /** 1 once the owner came from the run's agent_started. */
  private readonly ownerFromStart: Int8Column;
  /** Fallback when every event carried user_id == thread_id. */
  private readonly anyUserIds: RefColumn<string>;
  private readonly topics: RefColumn<string>;
  readonly seenMask: Int8Column;
  readonly eventCount: Int32Column;
  /** Events that arrived behind their partition's watermark and still joined the run (allowed lateness). */
  readonly lateCount: Int32Column;
  readonly duplicateCount: Int32Column;
  readonly firstEventMs: Float64Column;
  readonly lastEventMs: Float64Column;
  /** NaN until seen. */
  private readonly startedAt: Float64Column;
  private readonly completedAt: Float64Column;
  private readonly perfWarnings: Int32Column;
  private readonly perfCriticals: Int32Column;
  private readonly securityWarnings: Int32Column;
  private readonly securityCriticals: Int32Column;
  private readonly warnings: Int32Column;
  private readonly criticals: Int32Column;
  /** (offset, partition) of every event the run holds. */
  private readonly positions: NumberLists;

  constructor(table: RunTable) {
    this.runId = table.refs();
    this.threadIds = table.refs();
    this.ownerUserIds = table.refs();
    this.ownerFromStart = table.int8();
    this.anyUserIds = table.refs();
    this.topics = table.refs();
    this.seenMask = table.int8();
    this.eventCount = table.int32();
    this.lateCount = table.int32();
    this.duplicateCount = table.int32();
    this.firstEventMs = table.float64();
    this.lastEventMs = table.float64();
    this.startedAt = table.float64();
    this.completedAt = table.float64();
    this.perfWarnings = table.int32();
    this.perfCriticals = table.int32();
    this.securityWarnings = table.int32();
    this.securityCriticals = table.int32();
    this.warnings = table.int32();
    this.criticals = table.int32();
    this.positions = table.lists();
  }

  /** Facts of a new run in `slot`, keyed by this event's run id; the event itself is added with addEvent. */
  open(slot: number, event: AgentEvent): void {
    this.runId.set(slot, event.runId);
    this.threadIds.set(slot, undefined);
    this.ownerUserIds.set(slot, undefined);
    this.ownerFromStart.set(slot, 0);
    this.anyUserIds.set(slot, undefined);
    this.topics.set(slot, event.source.topic);
    this.seenMask.set(slot, 0);
    this.eventCount.set(slot, 0);
    this.lateCount.set(slot, 0);
    this.duplicateCount.set(slot, 0);
    this.firstEventMs.set(slot, event.emittedAtMs);
    this.lastEventMs.set(slot, event.emittedAtMs);
    this.startedAt.set(slot, Number.NaN);
    this.completedAt.set(slot, Number.NaN);
    this.perfWarnings.set(slot, 0);
    this.perfCriticals.set(slot, 0);
    this.securityWarnings.set(slot, 0);
    this.securityCriticals.set(slot, 0);
    this.warnings.set(slot, 0);
    this.criticals.set(slot, 0);
    this.positions.reset(slot);
  }

  runIdOf(slot: number): string {
    return this.runId.get(slot) as string;
  }

  threadIdOf(slot: number): string | undefined {
    return this.threadIds.get(slot);
  }

  ownerOf(slot: number): string | undefined {
    return this.ownerUserIds.get(slot) ?? this.anyUserIds.get(slot);
  }

  startedAtMs(slot: number): number | undefined {
    return orUndefined(this.startedAt.get(slot));
  }

  completedAtMs(slot: number): number | undefined {
    return orUndefined(this.completedAt.get(slot));
  }

  isCompleted(slot: number): boolean {
    return !Number.isNaN(this.completedAt.get(slot));
  }

  /**
   * Learns the run's thread and owner from an event. Runs before the rules see the event, so a
   * verdict about a run's first event already names its thread and owner.
   */
  learnIds(slot: number, event: AgentEvent): void {
    let thread = this.threadIds.get(slot);
    if (thread === undefined && event.threadId !== undefined) {
      thread = event.threadId;
      this.threadIds.set(slot, thread);
    }
    const user = event.userId;
    if (user === undefined) return;
    if (this.anyUserIds.get(slot) === undefined) this.anyUserIds.set(slot, user);
    if (user === event.threadId || user === thread) return;
    // The user agent_started names is the owner, whichever event arrived first; else the first one named.
    if (this.ownerUserIds.get(slot) === undefined || (event.type === 'agent_started' && !this.ownerFromStart.get(slot))) {
      this.ownerUserIds.set(slot, user);
      if (event.type === 'agent_started') this.ownerFromStart.set(slot, 1);
    }
  }

  /** Sets the ids of a run judged earlier, in a stand-in slot for verdicts about its later events. */
  restoreIds(slot: number, threadId: string | undefined, ownerUserId: string | undefined): void {
    this.threadIds.set(slot, threadId);
    this.ownerUserIds.set(slot, ownerUserId);
  }

  /** Counts an event of the run (a duplicate delivery is not counted). */
  addEvent(slot: number, event: AgentEvent, arrivedLate = false): void {
    const time = event.emittedAtMs;
    this.eventCount.add(slot);
    if (arrivedLate) this.lateCount.add(slot);
    this.seenMask.set(slot, this.seenMask.get(slot) | TYPE_BIT[event.type]);
    if (time < this.firstEventMs.get(slot)) this.firstEventMs.set(slot, time);
    if (time > this.lastEventMs.get(slot)) this.lastEventMs.set(slot, time);
    if (event.type === 'agent_started' && !(time >= this.startedAt.get(slot))) this.startedAt.set(slot, time);
    if (event.type === 'agent_completed' && !(time <= this.completedAt.get(slot))) this.completedAt.set(slot, time);
    this.positions.push(slot, event.source.offset, event.source.partition);
  }

  countViolation(slot: number, category: RuleCategory, critical: boolean): void {
    const bump = (column: Int32Column): void => {
      column.add(slot);
    };
    bump(critical ? this.criticals : this.warnings);
    if (category === 'performance') bump(critical ? this.perfCriticals : this.perfWarnings);
    else if (category === 'security') bump(critical ? this.securityCriticals : this.securityWarnings);
  }

  counts(slot: number): RunCounts {
    return {
      perfWarnings: this.perfWarnings.get(slot),
      perfCriticals: this.perfCriticals.get(slot),
      securityWarnings: this.securityWarnings.get(slot),
      securityCriticals: this.securityCriticals.get(slot),
      warnings: this.warnings.get(slot),
      criticals: this.criticals.get(slot),
    };
  }

  hasSeen(slot: number, type: LifecycleType): boolean {
    return (this.seenMask.get(slot) & TYPE_BIT[type]) !== 0;
  }

  firstEventAt(slot: number): number {
    return this.firstEventMs.get(slot);
  }

  seenTypes(slot: number): LifecycleType[] {
    const mask = this.seenMask.get(slot);
    return LIFECYCLE_TYPES.filter((type) => (mask & TYPE_BIT[type]) !== 0);
  }

  /** Copies offsets and partitions of the run's events, in the order they were added, into scratch arrays; returns the count. */
  readPositions(slot: number, offsets: number[], partitions: number[]): number {
    return this.positions.readInto(slot, offsets, partitions);
  }

  topicOf(slot: number): string {
    return this.topics.get(slot) as string;
  }

  /** Offsets sorted by (partition, offset): the same set always serializes the same way. */
  sourceOffsets(slot: number): SourceOffsets {
    const topic = this.topics.get(slot) as string;
    const offsets = this.positions.values(slot);
    const partitions = this.positions.tagsOf(slot);
    let sorted = true;
    for (let i = 1; i < offsets.length && sorted; i += 1) {
      const dp = (partitions[i] as number) - (partitions[i - 1] as number);
      sorted = dp > 0 || (dp === 0 && (offsets[i] as number) > (offsets[i - 1] as number));
    }
    if (sorted) return { topic, partitions, offsets };
    const order = offsets.map((_, i) => i).sort((a, b) => (partitions[a] as number) - (partitions[b] as number) || (offsets[a] as number) - (offsets[b] as number));
    return { topic, partitions: order.map((i) => partitions[i] as number), offsets: order.map((i) => offsets[i] as number) };
  }
}
