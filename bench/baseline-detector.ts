/**
 * The hand-written baseline of the detector benchmark: the same rules as the RxJS detector chain
 * (src/pipeline/detect.ts), written the way a competent engineer would without RxJS or a rule
 * framework — one class, one `Map<runId, RunState>`, one reorder heap, one timer heap, if/else per
 * rule. It consumes the same normalized `AgentEvent`s and produces the same kinds of output
 * (violations with deterministic ids, one run summary per run, late events / revisions, user
 * grades), so both sides do comparable work. It is not meant to be bit-identical to the chain; the
 * benchmark prints both verdict counts side by side.
 *
 * Semantics mirrored from the chain:
 * - event time: per-partition max, watermark = min over partitions − maxOutOfOrdernessMs; events
 *   are buffered and released in (event time, partition, offset) order once the watermark passes;
 *   an event at or below the watermark on arrival is late;
 * - per-run deadline timers (silence = last event + gap critical, unfinished = start + duration
 *   critical, close = agent_completed time or first event + deadline), fired before the first
 *   later event or when the watermark reaches them;
 * - rules: duplicates (a copy reaches no other rule), content, sequence / tool pairing, missing
 *   events, delivery latency, gaps + silence, run duration + deadline, contamination a/b/c with an
 *   active-id index, partitioning;
 * - closed runs are remembered for one deadline to report late events and revisions.
 */
import { createHash } from 'node:crypto';
import type { DetectionConfig } from '../src/config/config.js';
import type { AgentEvent, LifecycleType } from '../src/contract/event.js';

// ---- Output ----------------------------------------------------------------------------------

export interface BaselineViolation {
  readonly kind: 'violation';
  readonly id: string;
  readonly rule: string;
  readonly severity: 'WARNING' | 'CRITICAL';
  readonly runId: string;
  readonly userId: string | undefined;
  readonly subject: string;
  readonly detail: string;
  readonly eventTimeMs: number;
  readonly decidedAtMs: number;
  /** [partition, offset] pairs the verdict is based on. */
  readonly positions: readonly number[];
  readonly missing?: readonly LifecycleType[];
}

export interface BaselineSummary {
  readonly kind: 'run_summary';
  readonly runId: string;
  readonly threadId: string | undefined;
  readonly userId: string | undefined;
  readonly firstEventMs: number;
  readonly lastEventMs: number;
  readonly eventCount: number;
  readonly duplicateCount: number;
  readonly lateEventCount: number;
  readonly seenMask: number;
  readonly outcome: 'completed' | 'deadline' | 'end_of_input';
  readonly durationMs: number | undefined;
  readonly maxGapMs: number;
  readonly latencyP50Ms: number | undefined;
  readonly latencyP95Ms: number | undefined;
  readonly latencyP99Ms: number | undefined;
  readonly warnings: number;
  readonly criticals: number;
  readonly performanceGrade: string;
  readonly securityGrade: string;
  readonly isolationWarnings: number;
  readonly isolationCriticals: number;
  readonly decidedAtMs: number;
  readonly positions: readonly number[];
}

export type BaselineOutput =
  | BaselineViolation
  | BaselineSummary
  | { readonly kind: 'late_event'; readonly runId: string; readonly type: LifecycleType; readonly eventTimeMs: number; readonly runState: 'open' | 'closed' | 'unknown' }
  | { readonly kind: 'revision'; readonly violationId: string; readonly runId: string; readonly action: 'confirmed' | 'retracted' }
  | { readonly kind: 'user_grade'; readonly userId: string; readonly windowStartMs: number; readonly runs: number; readonly grade: string };

// ---- Contract, hard-coded as a hand-written detector would --------------------------------------

const TYPES: readonly LifecycleType[] = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'];
const CODE: Record<LifecycleType, number> = { agent_started: 0, agent_thinking: 1, tool_executing: 2, tool_completed: 3, agent_completed: 4 };
const STARTED = 0;
const EXECUTING = 2;
const TOOL_COMPLETED = 3;
const COMPLETED = 4;
/** ALLOWED_AFTER[previous code] = bit mask of the codes that may follow it. */
const ALLOWED_AFTER = [0b10110, 0b11110, 0b11110, 0b11110, 0];
const ALL_TYPES_MASK = 0b11111;
const IDENTITY_KEYS = new Set(['user_id', 'thread_id', 'run_id']);
const ID_TOKEN = /[A-Za-z0-9_-]{8,}/g;

// ---- Small helpers ------------------------------------------------------------------------------

/** A plain binary heap with a comparator. */
class Heap<T> {
  private readonly items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => boolean) {}
  get size(): number {
    return this.items.length;
  }
  peek(): T | undefined {
    return this.items[0];
  }
  push(item: T): void {
    const items = this.items;
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(item, items[parent] as T)) break;
      items[i] = items[parent] as T;
      i = parent;
    }
    items[i] = item;
  }
  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      let i = 0;
      const n = items.length;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && this.less(items[right] as T, items[left] as T) ? right : left;
        if (!this.less(items[child] as T, last)) break;
        items[i] = items[child] as T;
        i = child;
      }
      items[i] = last;
    }
    return top;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Root, then payload, then data (as the product's front end reads fields). Null and blank strings
 * do not hide a usable value deeper; when there is none, the first value sent is returned.
 */
function field(body: Readonly<Record<string, unknown>>, key: string): unknown {
  let sent: unknown;
  let found = false;
  for (const holder of [body, body['payload'], body['data']]) {
    if (!isObject(holder)) continue;
    const value = holder[key];
    if (value === undefined) continue;
    if (value !== null && !(typeof value === 'string' && value.trim() === '')) return value;
    if (!found) {
      found = true;
      sent = value;
    }
  }
  return sent;
}

const isText = (v: unknown): boolean => typeof v === 'string' && v.trim().length > 0;
const isPresent = (v: unknown): boolean => v !== undefined && v !== null && !(typeof v === 'string' && v.trim() === '');

function severity(value: number, levels: { warning: number; critical: number }): 'WARNING' | 'CRITICAL' | undefined {
  return value > levels.critical ? 'CRITICAL' : value > levels.warning ? 'WARNING' : undefined;
}

function percentile(sorted: readonly number[], p: number): number {
  const index = (p / 100) * (sorted.length - 1);
  const low = sorted[Math.floor(index)] as number;
  return low + ((sorted[Math.ceil(index)] as number) - low) * (index - Math.floor(index));
}

function grade(warnings: number, criticals: number, b: number, c: number): string {
  return criticals > 0 ? 'F' : warnings === 0 ? 'A' : warnings <= b ? 'B' : warnings <= c ? 'C' : 'D';
}

function sortedPositions(positions: readonly number[]): number[] {
  const pairs: [number, number][] = [];
  for (let i = 0; i < positions.length; i += 2) pairs.push([positions[i] as number, positions[i + 1] as number]);
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return pairs.flat();
}

// ---- State ----------------------------------------------------------------------------------------

interface ToolRef {
  readonly executionId: string | undefined;
  readonly eventId: string | undefined;
  readonly toolName: string | undefined;
  readonly emittedAtMs: number;
  readonly partition: number;
  readonly offset: number;
}

interface Run {
  readonly runId: string;
  threadId: string | undefined;
  ownerUserId: string | undefined;
  anyUserId: string | undefined;
  /** Owner as learned by the contamination rule (first event that claims a real user). */
  claimedOwner: string | undefined;
  threadChecked: boolean;
  readonly partition: number;
  partitionReported: boolean;
  firstMs: number;
  lastMs: number;
  startedAtMs: number | undefined;
  completedAtMs: number | undefined;
  seenMask: number;
  eventCount: number;
  duplicateCount: number;
  lateCount: number;
  /** Fingerprints of events seen (duplicate detection). */
  readonly prints: Set<string>;
  started: boolean;
  lastCode: number;
  beforeStart: ToolRef & { readonly type: LifecycleType } | undefined;
  readonly openTools: ToolRef[];
  readonly earlyCompletions: ToolRef[];
  readonly latencies: number[];
  lastEventMs: number;
  maxGapMs: number;
  silenceReported: boolean;
  durationMs: number | undefined;
  durationJudged: boolean;
  warnings: number;
  criticals: number;
  perfWarnings: number;
  perfCriticals: number;
  secWarnings: number;
  secCriticals: number;
  missingVerdict: { readonly id: string; readonly missing: readonly LifecycleType[] } | undefined;
  readonly positions: number[];
  dueMs: number;
  version: number;
}

interface ClosedRun {
  readonly closedAtMs: number;
  readonly completedAtMs: number | undefined;
  readonly missingVerdict: Run['missingVerdict'];
  readonly threadId: string | undefined;
  readonly owner: string | undefined;
}

interface Timer {
  readonly dueMs: number;
  readonly runId: string;
  readonly version: number;
}

const PERFORMANCE_RULES = new Set(['delivery_latency', 'event_gap', 'run_duration']);
const SECURITY_RULES = new Set(['cross_user_contamination', 'partitioning_broken']);

// ---- The detector -------------------------------------------------------------------------------

export class BaselineDetector {
  private readonly runs = new Map<string, Run>();
  private readonly closed = new Map<string, ClosedRun>();
  private readonly buffer = new Heap<AgentEvent>((a, b) =>
    a.emittedAtMs !== b.emittedAtMs ? a.emittedAtMs < b.emittedAtMs : a.source.partition !== b.source.partition ? a.source.partition < b.source.partition : a.source.offset < b.source.offset,
  );
  private readonly timers = new Heap<Timer>((a, b) => a.dueMs < b.dueMs);
  private readonly partitionMax = new Map<number, number>();
  private readonly threadOwners = new Map<string, { owner: string; seenMs: number }>();
  private readonly activeIds = new Map<string, { owner: string; seenMs: number }>();
  private readonly threadPartitions = new Map<string, { partition: number; seenMs: number }>();
  private readonly userWindows = new Map<string, { userId: string; windowStartMs: number; runs: number; criticals: number; others: number }>();
  /** The earliest time an open user window becomes final (its end + the run deadline). */
  private nextFinalAtMs = Number.POSITIVE_INFINITY;
  private watermarkMs = Number.NEGATIVE_INFINITY;
  private nowMs = Number.NEGATIVE_INFINITY;

  private readonly bound: number;
  private readonly deadlineMs: number;
  private readonly skewMs: number;
  private readonly activeForMs: number;
  private readonly gradeWindowMs: number;
  private readonly latency: { warning: number; critical: number };
  private readonly gap: { warning: number; critical: number };
  private readonly duration: { warning: number; critical: number };

  constructor(
    config: DetectionConfig,
    private readonly emit: (output: BaselineOutput) => void,
  ) {
    this.bound = config.maxOutOfOrdernessMs;
    this.deadlineMs = config.thresholds.runDurationMs.critical;
    this.skewMs = config.suspiciousSkewMs;
    this.activeForMs = config.activeUserWindowMs;
    this.gradeWindowMs = config.userGradeWindowMs;
    this.latency = config.thresholds.deliveryLatencyMs;
    this.gap = config.thresholds.gapMs;
    this.duration = config.thresholds.runDurationMs;
  }

  get openRunCount(): number {
    return this.runs.size;
  }

  /** One event, in arrival order. */
  push(event: AgentEvent): void {
    if (Math.abs(event.deliveredAtMs - event.emittedAtMs) > this.skewMs) {
      // Judged on its own (a stand-in run, not kept): it cannot be placed in its run's timeline.
      const run = this.openRun(event);
      this.learnIds(run, event);
      this.violation(run, event.runId, 'suspicious_timestamp', 'WARNING', 'timestamp', `emitted ${event.emittedAtMs} but delivered ${event.deliveredAtMs}: not used`, event.emittedAtMs, event);
      return;
    }
    if (event.emittedAtMs <= this.watermarkMs) this.onLate(event);
    else this.buffer.push(event);
    const partition = event.source.partition;
    const max = this.partitionMax.get(partition);
    if (max !== undefined && event.emittedAtMs <= max) return;
    this.partitionMax.set(partition, event.emittedAtMs);
    let lowest = Number.POSITIVE_INFINITY;
    for (const m of this.partitionMax.values()) if (m < lowest) lowest = m;
    if (lowest - this.bound > this.watermarkMs) this.advanceWatermark(lowest - this.bound);
  }

  /** Live mode: event time moved on while the input was idle (every partition reaches `eventTimeMs`). */
  heartbeat(eventTimeMs: number): void {
    for (const [partition, max] of this.partitionMax) if (eventTimeMs > max) this.partitionMax.set(partition, eventTimeMs);
    let lowest = Number.POSITIVE_INFINITY;
    for (const m of this.partitionMax.values()) if (m < lowest) lowest = m;
    if (lowest !== Number.POSITIVE_INFINITY && lowest - this.bound > this.watermarkMs) this.advanceWatermark(lowest - this.bound);
  }

  /** End of input: release everything, close every open run, flush user grades. */
  end(): void {
    while (this.buffer.size > 0) this.onEvent(this.buffer.pop() as AgentEvent);
    const remaining = [...this.runs.values()].sort((a, b) => a.firstMs - b.firstMs || (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
    for (const run of remaining) {
      this.close(run, run.completedAtMs === undefined ? 'end_of_input' : 'completed', run.completedAtMs ?? Math.max(run.lastMs, this.watermarkMs));
    }
    const windows = [...this.userWindows.values()].sort((a, b) => a.windowStartMs - b.windowStartMs || (a.userId < b.userId ? -1 : 1));
    this.userWindows.clear();
    for (const w of windows) this.emitGrade(w);
  }

  private advanceWatermark(watermarkMs: number): void {
    this.watermarkMs = watermarkMs;
    while (this.buffer.size > 0 && (this.buffer.peek() as AgentEvent).emittedAtMs <= watermarkMs) this.onEvent(this.buffer.pop() as AgentEvent);
    this.fireTimers(watermarkMs, true);
    if (watermarkMs > this.nowMs) this.nowMs = watermarkMs;
    const idsBefore = watermarkMs - this.activeForMs;
    for (const index of [this.threadOwners, this.activeIds, this.threadPartitions]) {
      for (const [key, entry] of index) {
        if (entry.seenMs >= idsBefore) break;
        index.delete(key);
      }
    }
    const closedBefore = watermarkMs - this.deadlineMs;
    for (const [runId, closed] of this.closed) {
      if (closed.closedAtMs >= closedBefore) break;
      this.closed.delete(runId);
    }
  }

  private fireTimers(limit: number, inclusive: boolean): void {
    for (;;) {
      const timer = this.timers.peek();
      if (timer === undefined || (inclusive ? timer.dueMs > limit : timer.dueMs >= limit)) return;
      this.timers.pop();
      const run = this.runs.get(timer.runId);
      if (run === undefined || run.version !== timer.version) continue;
      const due = timer.dueMs;
      if (due > this.nowMs) this.nowMs = due;
      run.dueMs = Number.NaN;
      if (run.completedAtMs === undefined && !run.silenceReported && run.lastEventMs + this.gap.critical <= due) {
        run.silenceReported = true;
        this.violation(run, run.runId, 'event_gap', 'CRITICAL', 'silence', `no event for more than ${this.gap.critical} ms after ${run.lastEventMs}`, due, undefined, `silence:${run.lastEventMs}`);
      }
      if (run.durationMs === undefined && !run.durationJudged && run.firstMs + this.duration.critical <= due) {
        run.durationJudged = true;
        this.violation(run, run.runId, 'run_duration', 'CRITICAL', 'deadline', `not completed ${this.duration.critical} ms after it started`, due, undefined, 'deadline');
      }
      const closeDue = Math.min(run.firstMs + this.deadlineMs, run.completedAtMs ?? Number.POSITIVE_INFINITY);
      if (closeDue <= due) this.close(run, run.completedAtMs === undefined ? 'deadline' : 'completed', closeDue);
      else this.schedule(run);
    }
  }

  private schedule(run: Run): void {
    let due = Math.min(run.firstMs + this.deadlineMs, run.completedAtMs ?? Number.POSITIVE_INFINITY);
    if (run.completedAtMs === undefined && !run.silenceReported) due = Math.min(due, run.lastEventMs + this.gap.critical);
    if (run.durationMs === undefined && !run.durationJudged) due = Math.min(due, run.firstMs + this.duration.critical);
    if (due === run.dueMs) return;
    run.dueMs = due;
    run.version += 1;
    this.timers.push({ dueMs: due, runId: run.runId, version: run.version });
  }

  private onLate(event: AgentEvent): void {
    const open = this.runs.get(event.runId);
    let run: Run;
    if (open !== undefined) {
      run = open;
      this.learnIds(run, event);
      run.lateCount += 1;
      run.seenMask |= 1 << CODE[event.type];
      run.positions.push(event.source.partition, event.source.offset);
      this.emit({ kind: 'late_event', runId: event.runId, type: event.type, eventTimeMs: event.emittedAtMs, runState: 'open' });
    } else {
      // A stand-in run (not kept): the per-event checks still apply to the late event.
      run = this.openRun(event);
      this.learnIds(run, event);
      const closed = this.closed.get(event.runId);
      if (closed !== undefined) {
        run.threadId = closed.threadId;
        run.ownerUserId = closed.owner;
      }
      this.emit({ kind: 'late_event', runId: event.runId, type: event.type, eventTimeMs: event.emittedAtMs, runState: closed === undefined ? 'unknown' : 'closed' });
      if (closed?.missingVerdict !== undefined) {
        const retracted = closed.missingVerdict.missing.includes(event.type);
        this.emit({ kind: 'revision', violationId: closed.missingVerdict.id, runId: event.runId, action: retracted ? 'retracted' : 'confirmed' });
      }
    }
    this.checkContent(run, event);
    this.checkLatency(run, event);
    const owner = run.ownerUserId ?? run.anyUserId;
    if (owner !== undefined) this.checkEventIsolation(run, event, owner);
  }

  /** The run's thread and owner, learned before any rule sees the event. */
  private learnIds(run: Run, event: AgentEvent): void {
    if (run.threadId === undefined && event.threadId !== undefined) run.threadId = event.threadId;
    if (event.userId !== undefined) {
      run.anyUserId ??= event.userId;
      if (run.ownerUserId === undefined && event.userId !== event.threadId && event.userId !== run.threadId) run.ownerUserId = event.userId;
    }
  }

  private checkLatency(run: Run, event: AgentEvent): number {
    const latency = event.deliveredAtMs - event.emittedAtMs;
    const latencySeverity = severity(latency, this.latency);
    if (latencySeverity !== undefined) {
      this.violation(run, run.runId, 'delivery_latency', latencySeverity, event.type, `${event.type} delivered ${Math.round(latency)} ms after it was emitted`, event.emittedAtMs, event);
    }
    return latency;
  }

  private onEvent(event: AgentEvent): void {
    const ms = event.emittedAtMs;
    this.fireTimers(ms, false);
    if (ms > this.nowMs) this.nowMs = ms;
    const closed = this.closed.get(event.runId);
    if (closed !== undefined) {
      if (closed.completedAtMs !== undefined && ms > closed.completedAtMs) {
        this.violation(undefined, event.runId, 'event_after_completion', 'CRITICAL', event.type, `${event.type} ${Math.round(ms - closed.completedAtMs)} ms after agent_completed`, ms, event);
      } else {
        this.emit({ kind: 'late_event', runId: event.runId, type: event.type, eventTimeMs: ms, runState: 'closed' });
        if (closed.missingVerdict !== undefined) this.emit({ kind: 'revision', violationId: closed.missingVerdict.id, runId: event.runId, action: 'confirmed' });
      }
      return;
    }
    let run = this.runs.get(event.runId);
    if (run === undefined) {
      run = this.openRun(event);
      this.runs.set(event.runId, run);
    }
    this.learnIds(run, event);

    // Duplicates: a redelivered copy is reported and seen by no other rule.
    const print = `${event.type}|${ms}|${event.executionId ?? ''}|${event.eventId ?? ''}|${event.toolName ?? ''}`;
    if (run.prints.has(print)) {
      run.duplicateCount += 1;
      this.violation(run, run.runId, 'duplicate_delivery', 'WARNING', event.type, `${event.type} delivered again${event.recovered ? ' (recovery replay)' : ''}; counted once`, ms, event);
      this.schedule(run);
      return;
    }
    run.prints.add(print);

    this.checkContent(run, event);
    this.checkSequence(run, event);

    run.latencies.push(this.checkLatency(run, event));

    // Gaps (the silence itself is reported by the timer).
    const gap = ms - run.lastEventMs;
    if (gap > run.maxGapMs) run.maxGapMs = gap;
    const gapSeverity = severity(gap, this.gap);
    if (gapSeverity !== undefined && !(gapSeverity === 'CRITICAL' && run.silenceReported)) {
      this.violation(run, run.runId, 'event_gap', gapSeverity, event.type, `${Math.round(gap)} ms without an event before ${event.type}`, ms, event);
    }
    run.lastEventMs = ms;
    run.silenceReported = false;

    // Run duration.
    if (CODE[event.type] === COMPLETED && run.durationMs === undefined && !run.durationJudged) {
      run.durationMs = ms - (run.startedAtMs ?? run.firstMs);
      const durationSeverity = severity(run.durationMs, this.duration);
      if (durationSeverity !== undefined) this.violation(run, run.runId, 'run_duration', durationSeverity, 'duration', `run took ${Math.round(run.durationMs)} ms`, ms, event);
    }

    this.checkContamination(run, event);
    this.checkPartitioning(run, event);

    // Facts.
    run.eventCount += 1;
    run.seenMask |= 1 << CODE[event.type];
    if (ms > run.lastMs) run.lastMs = ms;
    if (CODE[event.type] === STARTED && run.startedAtMs === undefined) run.startedAtMs = ms;
    if (CODE[event.type] === COMPLETED && (run.completedAtMs === undefined || ms > run.completedAtMs)) run.completedAtMs = ms;
    run.positions.push(event.source.partition, event.source.offset);
    this.schedule(run);
  }

  private openRun(event: AgentEvent): Run {
    return {
      runId: event.runId,
      threadId: undefined,
      ownerUserId: undefined,
      anyUserId: undefined,
      claimedOwner: undefined,
      threadChecked: false,
      partition: event.source.partition,
      partitionReported: false,
      firstMs: event.emittedAtMs,
      lastMs: event.emittedAtMs,
      startedAtMs: undefined,
      completedAtMs: undefined,
      seenMask: 0,
      eventCount: 0,
      duplicateCount: 0,
      lateCount: 0,
      prints: new Set(),
      started: false,
      lastCode: -1,
      beforeStart: undefined,
      openTools: [],
      earlyCompletions: [],
      latencies: [],
      lastEventMs: event.emittedAtMs,
      maxGapMs: 0,
      silenceReported: false,
      durationMs: undefined,
      durationJudged: false,
      warnings: 0,
      criticals: 0,
      perfWarnings: 0,
      perfCriticals: 0,
      secWarnings: 0,
      secCriticals: 0,
      missingVerdict: undefined,
      positions: [],
      dueMs: Number.NaN,
      version: 0,
    };
  }

  private checkContent(run: Run, event: AgentEvent): void {
    const body = event.body;
    const problems: [string, string][] = [];
    const text = (key: string): void => {
      const value = field(body, key);
      if (!isText(value)) problems.push([key, typeof value === 'string' ? 'must not be empty' : value === undefined ? 'required' : 'must be a string']);
    };
    switch (event.type) {
      case 'agent_started':
        text('agent_name');
        break;
      case 'agent_thinking':
        text('reasoning');
        break;
      case 'tool_executing':
        text('tool_name');
        text('agent_name');
        break;
      case 'tool_completed':
        text('tool_name');
        if (!isPresent(field(body, 'result')) && !isPresent(field(body, 'results')) && !isPresent(field(body, 'success')) && !isPresent(field(body, 'error'))) {
          problems.push(['result|results|success|error', 'one of result, results, success, error is required']);
        }
        break;
      case 'agent_completed':
        text('agent_name');
        if (!isPresent(field(body, 'run_id'))) problems.push(['run_id', 'required']);
        break;
    }
    for (const [path, message] of problems) {
      this.violation(run, run.runId, 'content_invalid', 'CRITICAL', path, `${event.type}.${path}: ${message}`, event.emittedAtMs, event, path);
    }
  }

  private checkSequence(run: Run, event: AgentEvent): void {
    const code = CODE[event.type];
    const ref = { executionId: event.executionId, eventId: event.eventId, toolName: event.toolName, emittedAtMs: event.emittedAtMs, partition: event.source.partition, offset: event.source.offset };
    if (code === STARTED) {
      if (run.started) this.outOfOrder(run, event.type, ref, `${event.type} again after the run started`);
      else if (run.beforeStart !== undefined) this.outOfOrder(run, run.beforeStart.type, run.beforeStart, `${run.beforeStart.type} before agent_started`);
      run.started = true;
    } else if (!run.started) {
      run.beforeStart ??= { ...ref, type: event.type };
    } else if (run.lastCode === COMPLETED) {
      this.violation(run, run.runId, 'event_after_completion', 'CRITICAL', event.type, `${event.type} after agent_completed`, event.emittedAtMs, event);
    } else if (((ALLOWED_AFTER[run.lastCode] ?? 0) & (1 << code)) === 0) {
      this.outOfOrder(run, event.type, ref, `${event.type} may not follow ${TYPES[run.lastCode] ?? 'nothing'}`);
    }
    if (code === EXECUTING) {
      const early = findPartner(ref, run.earlyCompletions);
      if (early >= 0) {
        const completion = run.earlyCompletions.splice(early, 1)[0] as ToolRef;
        this.outOfOrder(run, 'tool_completed', completion, `tool_completed of ${completion.toolName ?? 'a tool'} before its tool_executing`);
      } else {
        run.openTools.push(ref);
      }
    } else if (code === TOOL_COMPLETED) {
      const partner = findPartner(ref, run.openTools);
      if (partner >= 0) run.openTools.splice(partner, 1);
      else run.earlyCompletions.push(ref);
    }
    run.lastCode = code;
  }

  private outOfOrder(run: Run, type: LifecycleType, ref: ToolRef, detail: string): void {
    this.violation(run, run.runId, 'out_of_order', 'CRITICAL', type, detail, ref.emittedAtMs, ref);
  }

  private checkContamination(run: Run, event: AgentEvent): void {
    const ms = event.emittedAtMs;
    if (run.claimedOwner === undefined) {
      const claim = claimedUser(event, event.threadId ?? run.threadId);
      if (claim === undefined) return;
      run.claimedOwner = claim;
      this.registerId(claim, claim, ms);
      this.registerId(run.runId, claim, ms);
    }
    const owner = run.claimedOwner;
    const thread = run.threadId;
    if (!run.threadChecked && thread !== undefined) {
      run.threadChecked = true;
      const previous = this.threadOwners.get(thread);
      if (previous !== undefined && previous.owner !== owner) {
        this.violation(run, run.runId, 'cross_user_contamination', 'CRITICAL', 'thread_id', `thread ${thread} belongs to user ${previous.owner} but run ${run.runId} is user ${owner}'s`, ms, event, `thread:${thread}`);
      } else {
        this.threadOwners.delete(thread);
        this.threadOwners.set(thread, { owner, seenMs: ms });
        this.registerId(thread, owner, ms);
      }
    }
    this.checkEventIsolation(run, event, owner);
  }

  /** (b) addressed to another user, (a) carrying another user's thread, (c) another active user's id in the content. */
  private checkEventIsolation(run: Run, event: AgentEvent, owner: string): void {
    const ms = event.emittedAtMs;
    const claim = claimedUser(event, event.threadId ?? run.threadId);
    if (claim !== undefined && claim !== owner) {
      this.violation(run, run.runId, 'cross_user_contamination', 'CRITICAL', 'user_id', `${event.type} of user ${owner}'s run addressed to user ${claim}`, ms, event, `user:${claim}`);
    }
    const thread = event.threadId;
    if (thread !== undefined && thread !== run.threadId) {
      const threadOwner = this.threadOwners.get(thread)?.owner;
      if (threadOwner !== undefined && threadOwner !== owner) {
        this.violation(run, run.runId, 'cross_user_contamination', 'CRITICAL', 'thread_id', `${event.type} of user ${owner}'s run carries thread ${thread} of user ${threadOwner}`, ms, event, `thread:${thread}`);
      }
    }
    const reported = new Set<string>();
    const visit = (node: unknown, depth: number): void => {
      if (typeof node === 'string') {
        if (node.length < 8) return;
        for (const match of node.matchAll(ID_TOKEN)) {
          const id = match[0];
          const entry = this.activeIds.get(id);
          if (entry === undefined || entry.owner === owner || reported.has(id)) continue;
          reported.add(id);
          this.violation(run, run.runId, 'cross_user_contamination', 'CRITICAL', 'content', `${event.type} of user ${owner}'s run mentions ${id}, an id of user ${entry.owner}`, ms, event, `mention:${id}`);
        }
      } else if (Array.isArray(node)) {
        for (const item of node) visit(item, depth + 1);
      } else if (isObject(node)) {
        for (const key in node) {
          if (depth <= 1 && IDENTITY_KEYS.has(key)) continue;
          const value = node[key];
          visit(value, depth === 0 && (key === 'payload' || key === 'data') && isObject(value) ? 1 : 2);
        }
      }
    };
    visit(event.body, 0);
  }

  private registerId(id: string, owner: string, ms: number): void {
    if (id.length < 8) return;
    this.activeIds.delete(id);
    this.activeIds.set(id, { owner, seenMs: ms });
  }

  private checkPartitioning(run: Run, event: AgentEvent): void {
    if (run.partitionReported) return;
    const partition = event.source.partition;
    const thread = event.threadId ?? run.threadId;
    let detail: string | undefined;
    if (partition !== run.partition) {
      detail = `run ${run.runId} has events in partitions ${run.partition} and ${partition}`;
    } else if (thread !== undefined) {
      const known = this.threadPartitions.get(thread);
      if (known !== undefined && known.partition !== partition) detail = `thread ${thread} has runs in partitions ${known.partition} and ${partition}`;
      else {
        this.threadPartitions.delete(thread);
        this.threadPartitions.set(thread, { partition, seenMs: event.emittedAtMs });
      }
    }
    if (detail === undefined) return;
    run.partitionReported = true;
    this.violation(run, run.runId, 'partitioning_broken', 'WARNING', 'partition', detail, event.emittedAtMs, event);
  }

  private close(run: Run, outcome: 'completed' | 'deadline' | 'end_of_input', atMs: number): void {
    this.runs.delete(run.runId);
    if (!run.started) {
      this.violation(run, run.runId, 'run_never_started', 'CRITICAL', 'agent_started', `no agent_started; first event was ${run.beforeStart?.type ?? 'none'}`, run.firstMs);
    }
    for (const call of run.openTools) this.violation(run, run.runId, 'unpaired_tool', 'CRITICAL', 'tool_executing', `tool_executing of ${call.toolName ?? 'a tool'} never got its tool_completed`, call.emittedAtMs, call);
    for (const done of run.earlyCompletions) this.violation(run, run.runId, 'unpaired_tool', 'CRITICAL', 'tool_completed', `tool_completed of ${done.toolName ?? 'a tool'} without a tool_executing`, done.emittedAtMs, done);
    const missing = TYPES.filter((t, code) => code !== STARTED && ((ALL_TYPES_MASK & (1 << code)) !== 0) && (run.seenMask & (1 << code)) === 0);
    if (missing.length > 0) {
      const id = this.violation(run, run.runId, 'missing_events', 'CRITICAL', missing.join(','), `run closed (${outcome}) without ${missing.join(', ')}`, run.startedAtMs ?? run.firstMs, undefined, '', missing);
      run.missingVerdict = { id, missing };
    }
    const sorted = run.latencies.slice().sort((a, b) => a - b);
    const decidedAtMs = Math.max(this.nowMs, atMs);
    const summary: BaselineSummary = {
      kind: 'run_summary',
      runId: run.runId,
      threadId: run.threadId,
      userId: run.ownerUserId ?? run.anyUserId,
      firstEventMs: run.firstMs,
      lastEventMs: run.lastMs,
      eventCount: run.eventCount,
      duplicateCount: run.duplicateCount,
      lateEventCount: run.lateCount,
      seenMask: run.seenMask,
      outcome,
      durationMs: run.durationMs,
      maxGapMs: run.maxGapMs,
      latencyP50Ms: sorted.length === 0 ? undefined : percentile(sorted, 50),
      latencyP95Ms: sorted.length === 0 ? undefined : percentile(sorted, 95),
      latencyP99Ms: sorted.length === 0 ? undefined : percentile(sorted, 99),
      warnings: run.warnings,
      criticals: run.criticals,
      performanceGrade: grade(run.perfWarnings, run.perfCriticals, 1, 3),
      securityGrade: grade(run.secWarnings, run.secCriticals, 2, 5),
      isolationWarnings: run.secWarnings,
      isolationCriticals: run.secCriticals,
      decidedAtMs,
      positions: sortedPositions(run.positions),
    };
    this.emit(summary);
    this.closed.set(run.runId, { closedAtMs: atMs, completedAtMs: run.completedAtMs, missingVerdict: run.missingVerdict, threadId: run.threadId, owner: run.ownerUserId ?? run.anyUserId });
    this.gradeUser(summary);
  }

  private gradeUser(summary: BaselineSummary): void {
    if (summary.userId !== undefined) {
      const windowStartMs = Math.floor(summary.firstEventMs / this.gradeWindowMs) * this.gradeWindowMs;
      const key = `${summary.userId}|${windowStartMs}`;
      let w = this.userWindows.get(key);
      if (w === undefined) {
        w = { userId: summary.userId, windowStartMs, runs: 0, criticals: 0, others: 0 };
        this.userWindows.set(key, w);
        this.nextFinalAtMs = Math.min(this.nextFinalAtMs, windowStartMs + this.gradeWindowMs + this.deadlineMs);
      }
      w.runs += 1;
      w.criticals += summary.isolationCriticals;
      w.others += summary.isolationWarnings;
    }
    const decided = summary.decidedAtMs;
    if (decided < this.nextFinalAtMs) return;
    this.nextFinalAtMs = Number.POSITIVE_INFINITY;
    for (const [key, w] of this.userWindows) {
      const finalAt = w.windowStartMs + this.gradeWindowMs + this.deadlineMs;
      if (finalAt > decided) {
        this.nextFinalAtMs = Math.min(this.nextFinalAtMs, finalAt);
        continue;
      }
      this.userWindows.delete(key);
      this.emitGrade(w);
    }
  }

  private emitGrade(w: { userId: string; windowStartMs: number; runs: number; criticals: number; others: number }): void {
    this.emit({ kind: 'user_grade', userId: w.userId, windowStartMs: w.windowStartMs, runs: w.runs, grade: grade(w.others, w.criticals, 2, 5) });
  }

  /** Emits a violation with a deterministic id (sha256 of rule, run, event position or key); returns the id. */
  private violation(
    run: Run | undefined,
    runId: string,
    rule: string,
    sev: 'WARNING' | 'CRITICAL',
    subject: string,
    detail: string,
    eventTimeMs: number,
    at?: AgentEvent | ToolRef,
    key = '',
    missing?: readonly LifecycleType[],
  ): string {
    const position = at === undefined ? undefined : 'source' in at ? [at.source.partition, at.source.offset] : [at.partition, at.offset];
    const id = createHash('sha256')
      .update(`${rule}\u0000${runId}\u0000${position === undefined ? key : key === '' ? `${position[0]}:${position[1]}` : `${position[0]}:${position[1]}:${key}`}`)
      .digest('hex')
      .slice(0, 32);
    if (run !== undefined) {
      if (sev === 'CRITICAL') run.criticals += 1;
      else run.warnings += 1;
      if (PERFORMANCE_RULES.has(rule)) sev === 'CRITICAL' ? (run.perfCriticals += 1) : (run.perfWarnings += 1);
      else if (SECURITY_RULES.has(rule)) sev === 'CRITICAL' ? (run.secCriticals += 1) : (run.secWarnings += 1);
    }
    this.emit({
      kind: 'violation',
      id,
      rule,
      severity: sev,
      runId,
      userId: run === undefined ? undefined : (run.ownerUserId ?? run.anyUserId),
      subject,
      detail,
      eventTimeMs,
      decidedAtMs: Math.max(this.nowMs, eventTimeMs),
      positions: position ?? (run === undefined ? [] : sortedPositions(run.positions)),
      ...(missing === undefined ? {} : { missing }),
    });
    return id;
  }
}

/** The user an event claims to be for: a user_id equal to a thread id names a thread, not a user. */
function claimedUser(event: AgentEvent, runThreadId: string | undefined): string | undefined {
  const user = event.userId;
  return user === undefined || user === event.threadId || user === runThreadId ? undefined : user;
}

/** Tool pairing: most specific key both carry (execution id, event id, tool name), else the oldest. */
function findPartner(event: ToolRef, candidates: readonly ToolRef[]): number {
  if (candidates.length === 0) return -1;
  if (event.executionId === undefined && event.eventId === undefined && event.toolName === undefined) return 0;
  if (event.executionId !== undefined) {
    for (let i = 0; i < candidates.length; i += 1) if (candidates[i]?.executionId === event.executionId) return i;
  }
  if (event.eventId !== undefined) {
    for (let i = 0; i < candidates.length; i += 1) if (candidates[i]?.eventId === event.eventId) return i;
  }
  if (event.toolName !== undefined) {
    for (let i = 0; i < candidates.length; i += 1) if (candidates[i]?.toolName === event.toolName) return i;
  }
  // Keys match nothing: a partner carrying none of them still pairs by order (event ids are per
  // event on some wire shapes, so different ones never block pairing).
  for (let i = 0; i < candidates.length; i += 1) {
    const c = candidates[i] as ToolRef;
    if ((c.executionId === undefined || event.executionId === undefined) && (c.toolName === undefined || event.toolName === undefined)) return i;
  }
  return -1;
}

/** Runs the baseline over a whole bounded input (replay mode). */
export function runBaseline(events: readonly AgentEvent[], config: DetectionConfig, emit: (output: BaselineOutput) => void): void {
  const detector = new BaselineDetector(config, emit);
  for (let i = 0; i < events.length; i += 1) detector.push(events[i] as AgentEvent);
  detector.end();
}
