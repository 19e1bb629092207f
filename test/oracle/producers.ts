/**
 * An independent producer model for the oracle tests: users, threads and agent runs whose
 * lifecycle events go through several Kafka producers as wire records, with faults injected at
 * random.
 *
 * It deliberately shares no code with src/simulator (nor src/operators): the simulator labels its
 * own faults with the same understanding of the rules the detectors were written from, so a
 * misunderstanding shared by both would pass every test. Here the fault labels are bookkeeping
 * only (for the reader of a failing test and for a sanity check of the oracle); the oracle judges
 * the records alone (test/oracle/oracle.ts).
 *
 * Deterministic from a seed: the same options give byte-identical records.
 */
import type { LifecycleType, SourceRecord } from '../../src/contract/event.js';
import type { RuleId, Severity } from '../../src/contract/verdict.js';

// ---------------------------------------------------------------------------------------------
// Randomness

/** mulberry32: a tiny, fast, well-mixed 32-bit generator; plenty for test traffic. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = (seed ^ 0x9e3779b9) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** Uniform integer in [min, max] (both included). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  weighted<T>(options: readonly (readonly [T, number])[]): T {
    const total = options.reduce((sum, [, weight]) => sum + weight, 0);
    let roll = this.next() * total;
    for (const [value, weight] of options) {
      roll -= weight;
      if (roll < 0) return value;
    }
    const last = options[options.length - 1];
    if (last === undefined) throw new Error('weighted pick from an empty list');
    return last[0];
  }

  hex(length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += Math.floor(this.next() * 16).toString(16);
    return out;
  }

  /** An independent stream, so adding draws in one place does not shift every later draw. */
  fork(): Prng {
    return new Prng(Math.floor(this.next() * 4_294_967_296));
  }
}

// ---------------------------------------------------------------------------------------------
// Public shapes

/** A record as a Kafka consumer gets it: value is the JSON text the producer sent. */
export interface WireRecord {
  readonly key: string;
  readonly value: string;
  readonly partition: number;
  readonly offset: number;
  /** Kafka record timestamp: when the broker appended it (delivery time). */
  readonly timestampMs: number;
  /** Set by the producers that stamp a delivery header (the monitor then prefers it). */
  readonly deliveredAtHeaderMs?: number;
}

export type ProducerName = 'by_thread' | 'by_run' | 'round_robin';
/** Wire shapes of docs/event-contract.md this model writes: A, A', B and D. */
export type WireShapeName = 'flat' | 'wrapped' | 'bridge' | 'data_nested';

export const FAULT_KINDS = [
  'drop_event_type',
  'tool_completed_before_executing',
  'thinking_before_started',
  'drop_one_tool_completed',
  'duplicate_record',
  'event_after_completion',
  'required_field_broken',
  'latency_warning',
  'latency_critical',
  'gap_warning',
  'gap_critical',
  'long_run',
  'slow_run_just_over_deadline',
  'slow_run_far_over_deadline',
  'addressed_to_other_user',
  'run_on_other_users_thread',
  'content_mentions_other_user',
  'suspicious_timestamp',
  'late_recovery_replay',
  'event_keyed_by_run',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface ExpectedFinding {
  readonly rule: RuleId;
  readonly severity: Severity;
}

/** Bookkeeping of one injected fault. Never read by the oracle. */
export interface FaultLabel {
  readonly runId: string;
  readonly kind: FaultKind;
  readonly detail: string;
  /** What a correct monitor must report for this run because of the fault (at least). */
  readonly expected: readonly ExpectedFinding[];
}

export interface RunBook {
  readonly runId: string;
  readonly userId: string;
  readonly threadId: string;
  readonly producer: ProducerName;
  readonly startMs: number;
  readonly fault?: FaultKind;
}

export interface Traffic {
  readonly partitions: number;
  /** Every record, per partition in offset order (partition 0 first). */
  readonly records: readonly WireRecord[];
  readonly runs: readonly RunBook[];
  readonly faults: readonly FaultLabel[];
}

export interface TrafficOptions {
  readonly seed: number;
  /** Runs with (possible) faults; clean tail runs come on top of these. */
  readonly runs: number;
  readonly users?: number;
  readonly partitions?: number;
  /** Fraction of runs that get one fault (default 0.35). */
  readonly faultFraction?: number;
  /** Which faults may be injected (default: all). */
  readonly faultKinds?: readonly FaultKind[];
  /** Mean time between run starts (default 900 ms). */
  readonly meanRunSpacingMs?: number;
  /**
   * Clean runs keep starting for this long after the last run above, so that those runs are
   * judged before the input ends (the comparison leaves out runs cut by the end of input).
   */
  readonly tailMs?: number;
}

export const TOPIC = 'agent-events';

/** The record as the monitor's Kafka source would hand it over. */
export function toSourceRecord(record: WireRecord): SourceRecord {
  return {
    topic: TOPIC,
    partition: record.partition,
    offset: record.offset,
    key: record.key,
    value: Buffer.from(record.value, 'utf8'),
    timestampMs: record.timestampMs,
    ...(record.deliveredAtHeaderMs === undefined ? {} : { deliveredAtHeaderMs: record.deliveredAtHeaderMs }),
  };
}

// ---------------------------------------------------------------------------------------------
// The world: users, threads, producers

const TRAFFIC_START_MS = Date.UTC(2025, 8, 18, 12, 0, 0);
const HOUR_MS = 3_600_000;
const AGENT_NAMES = ['supervisor', 'data_agent', 'triage', 'optimizer'] as const;
const TOOL_NAMES = ['sql_query', 'cost_analyzer', 'web_search', 'file_reader', 'chart_builder'] as const;
const WORDS = [
  'checking', 'cost', 'drivers', 'for', 'the', 'region', 'comparing', 'last', 'quarter', 'usage', 'summarizing',
  'findings', 'looking', 'at', 'query', 'plan', 'latency', 'budget', 'forecast', 'anomaly', 'report', 'table',
] as const;
const FAILURE_REASONS = ['connection closed', 'send timeout', 'socket reset by peer'] as const;

interface User {
  readonly id: string;
  readonly threads: readonly string[];
}

interface Producer {
  readonly name: ProducerName;
  /** Clock skew of the hosts behind this producer: their agents stamp emitted times with it. */
  readonly clockSkewMs: number;
  /** Whether it sets a delivered_at header on its records. */
  readonly stampsDeliveryHeader: boolean;
}

/** Our own partitioner hash (a 32-bit polynomial string hash), not Kafka's murmur2 nor the simulator's. */
function keyHash(key: string): number {
  let hash = 7;
  for (let i = 0; i < key.length; i++) hash = (Math.imul(hash, 31) + key.charCodeAt(i)) >>> 0;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x45d9f3b) >>> 0;
  return (hash ^ (hash >>> 16)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Planned events: what each agent emits and how each record of it is delivered

interface Recovery {
  readonly originalFailure: string;
  readonly attempt: number;
}

interface Delivery {
  readonly deliveredAtMs: number;
  readonly producer: ProducerName;
  /** A recovery replay (wire shape F): `recovered: true` plus the failure reason. */
  readonly recovery?: Recovery;
}

/** Edits applied to the encoded JSON, at every level (root, payload, data) the field is found. */
type WireEdit =
  | { readonly op: 'remove'; readonly field: string }
  | { readonly op: 'set'; readonly field: string; readonly value: unknown };

interface PlannedEvent {
  type: LifecycleType;
  wireType: string;
  /** When the agent really emitted it (true time). */
  trueMs: number;
  /** Sub-millisecond digits of the wire timestamp (the emitters write microseconds). */
  micros: number;
  /** Added to the stamped time by a fault (a timestamp from a broken clock). */
  stampShiftMs: number;
  shape: WireShapeName;
  userIdOnWire: string;
  toolName?: string;
  /** undefined: field absent; null: sent as null (the emitter's "no execution id"). */
  executionId?: string | null;
  eventId?: string;
  content: Record<string, unknown>;
  deliveries: Delivery[];
  wireEdits: WireEdit[];
}

interface RunPlan {
  readonly runId: string;
  readonly userId: string;
  threadId: string;
  readonly agentName: string;
  readonly startMs: number;
  readonly producer: Producer;
  events: PlannedEvent[];
}

/** Bookkeeping of runs already planned, for faults that involve another user's run. */
interface PastRun {
  readonly runId: string;
  readonly userId: string;
  readonly threadId: string;
  readonly startMs: number;
  /** Its owner is unambiguous: agent_started names its user and it runs on its own user's thread. */
  readonly ownershipClean: boolean;
}

/** Unique ids: a prefix and random hex, at least 8 characters (what a content scan looks for). */
class IdMint {
  private readonly used = new Set<string>();

  constructor(private readonly rng: Prng) {}

  mint(prefix: string, hexDigits: number): string {
    for (;;) {
      const id = `${prefix}${this.rng.hex(hexDigits)}`;
      if (!this.used.has(id)) {
        this.used.add(id);
        return id;
      }
    }
  }
}

interface Context {
  readonly rng: Prng;
  readonly ids: IdMint;
  readonly users: readonly User[];
  readonly producers: Readonly<Record<ProducerName, Producer>>;
  readonly pastRuns: PastRun[];
  /** Thread → start of the first run on it (by its owner). */
  readonly threadFirstRunMs: Map<string, number>;
}

function uuid4(rng: Prng): string {
  return `${rng.hex(8)}-${rng.hex(4)}-4${rng.hex(3)}-${rng.pick(['8', '9', 'a', 'b'])}${rng.hex(3)}-${rng.hex(12)}`;
}

function sentence(rng: Prng, words: number): string {
  return Array.from({ length: words }, () => rng.pick(WORDS)).join(' ');
}

/** Delivery delay of a healthy event: mostly fast, a tail up to twice the critical latency. */
function naturalDelayMs(rng: Prng): number {
  const roll = rng.next();
  if (roll < 0.92) return rng.int(5, 400);
  if (roll < 0.985) return rng.int(400, 1_500);
  return rng.int(1_500, 4_000);
}

function shapeFor(rng: Prng, type: LifecycleType): WireShapeName {
  switch (type) {
    case 'agent_started':
      return rng.weighted([['bridge', 45], ['flat', 30], ['data_nested', 15], ['wrapped', 10]]);
    case 'tool_executing':
    case 'tool_completed':
      return rng.weighted([['bridge', 50], ['flat', 25], ['data_nested', 15], ['wrapped', 10]]);
    case 'agent_thinking':
    case 'agent_completed':
      return rng.weighted([['flat', 55], ['data_nested', 30], ['wrapped', 15]]);
  }
}

/**
 * The user_id an emitter writes: agent_started and bridge records carry the real user, emitter
 * records often the thread id (fact sheet §1.3), which names nobody.
 */
function userIdFor(rng: Prng, type: LifecycleType, shape: WireShapeName, run: RunPlan): string {
  if (type === 'agent_started' || shape === 'bridge') return run.userId;
  return rng.chance(0.55) ? run.threadId : run.userId;
}

function contentFor(rng: Prng, type: LifecycleType, toolName: string | undefined): Record<string, unknown> {
  switch (type) {
    case 'agent_started':
      return { status: 'started', task_description: sentence(rng, 5), context: { tier: rng.pick(['free', 'pro']) } };
    case 'agent_thinking':
      return { reasoning: sentence(rng, rng.int(3, 9)), step_number: rng.int(1, 9) };
    case 'tool_executing':
      return { status: 'executing', parameters: { query: sentence(rng, 4) }, message: `executing ${toolName ?? 'tool'}` };
    case 'tool_completed': {
      const rows = rng.int(0, 500);
      return rng.chance(0.5)
        ? { status: 'completed', results: { rows }, execution_time_ms: rng.int(5, 900) }
        : { status: 'completed', results: { rows }, success: true, duration: rng.int(5, 900) / 1000 };
    }
    case 'agent_completed':
      return { status: 'completed', final_response: sentence(rng, 8), result: { ok: true } };
  }
}

function plannedEvent(ctx: Context, run: RunPlan, type: LifecycleType, trueMs: number, call?: ToolCall): PlannedEvent {
  const { rng } = ctx;
  const shape = shapeFor(rng, type);
  const event: PlannedEvent = {
    type,
    wireType: type === 'agent_thinking' && rng.chance(0.2) ? 'reasoning' : type, // the known emitter bug
    trueMs,
    micros: rng.int(0, 999),
    stampShiftMs: 0,
    shape,
    userIdOnWire: userIdFor(rng, type, shape, run),
    content: contentFor(rng, type, call?.toolName),
    deliveries: [{ deliveredAtMs: trueMs + naturalDelayMs(rng), producer: run.producer.name }],
    wireEdits: [],
  };
  if (call !== undefined) {
    event.toolName = call.toolName;
    if (call.executionId !== undefined) event.executionId = call.executionId;
    else if (shape === 'flat' && rng.chance(0.5)) event.executionId = null;
    if (call.eventId !== undefined) event.eventId = call.eventId;
  }
  // The older data-nested emitter stamps every record with its own uuid4 event id; bridge sometimes.
  if (event.eventId === undefined && (shape === 'data_nested' || (shape === 'bridge' && call !== undefined && rng.chance(0.3)))) {
    event.eventId = uuid4(rng);
  }
  return event;
}

interface ToolCall {
  readonly toolName: string;
  readonly executionId?: string;
  /** A call id sent as event_id on both of its records (bridge emitters do this sometimes). */
  readonly eventId?: string;
}

function newToolCall(ctx: Context, forceExecutionId: boolean): ToolCall {
  const toolName = ctx.rng.pick(TOOL_NAMES);
  const mode = forceExecutionId ? 'execution' : ctx.rng.weighted([['execution', 40], ['event', 20], ['none', 40]] as const);
  if (mode === 'execution') return { toolName, executionId: ctx.ids.mint('exe-', 10) };
  if (mode === 'event') return { toolName, eventId: uuid4(ctx.rng) };
  return { toolName };
}

interface LifecycleShape {
  readonly iterations: number;
  readonly gapMs: () => number;
  /** Calls whose records must carry an execution id (their pairing must not be ambiguous). */
  readonly callsWithExecutionId?: number;
}

/** agent_started → (agent_thinking → tool_executing → tool_completed)×k → agent_completed. */
function planLifecycle(ctx: Context, run: RunPlan, shape: LifecycleShape): PlannedEvent[] {
  const events: PlannedEvent[] = [];
  let at = run.startMs;
  events.push(plannedEvent(ctx, run, 'agent_started', at));
  for (let i = 0; i < shape.iterations; i++) {
    const call = newToolCall(ctx, i < (shape.callsWithExecutionId ?? 0));
    at += shape.gapMs();
    events.push(plannedEvent(ctx, run, 'agent_thinking', at));
    at += shape.gapMs();
    events.push(plannedEvent(ctx, run, 'tool_executing', at, call));
    at += shape.gapMs();
    events.push(plannedEvent(ctx, run, 'tool_completed', at, call));
  }
  at += shape.gapMs();
  events.push(plannedEvent(ctx, run, 'agent_completed', at));
  return events;
}

// ---------------------------------------------------------------------------------------------
// Faults. Each returns its label, or undefined when it does not apply to this run.

interface FaultOutcome {
  readonly detail: string;
  readonly expected: readonly ExpectedFinding[];
}

const finding = (rule: RuleId, severity: Severity): ExpectedFinding => ({ rule, severity });

function eventsOfType(run: RunPlan, type: LifecycleType): PlannedEvent[] {
  return run.events.filter((e) => e.type === type);
}

function only<T>(items: readonly T[], what: string): T {
  const [first] = items;
  if (first === undefined) throw new Error(`no ${what}`);
  return first;
}

/** Moves an event (and its deliveries) in true time. */
function moveEvent(event: PlannedEvent, newTrueMs: number): void {
  const shift = newTrueMs - event.trueMs;
  event.trueMs = newTrueMs;
  event.deliveries = event.deliveries.map((d) => ({ ...d, deliveredAtMs: d.deliveredAtMs + shift }));
}

/** Every event from index `from` on happens `deltaMs` later. */
function shiftFrom(run: RunPlan, from: number, deltaMs: number): void {
  for (const event of run.events.slice(from)) moveEvent(event, event.trueMs + deltaMs);
}

function swapTimes(a: PlannedEvent, b: PlannedEvent): void {
  const [aMs, aMicros, bMs, bMicros] = [a.trueMs, a.micros, b.trueMs, b.micros];
  moveEvent(a, bMs);
  moveEvent(b, aMs);
  a.micros = bMicros;
  b.micros = aMicros;
}

function otherUser(ctx: Context, userId: string): User {
  for (;;) {
    const user = ctx.rng.pick(ctx.users);
    if (user.id !== userId) return user;
  }
}

function requiredFieldsOf(type: LifecycleType): readonly string[] {
  // Bookkeeping only: which field the fault breaks. (The oracle has its own list.)
  switch (type) {
    case 'agent_started':
      return ['agent_name'];
    case 'agent_thinking':
      return ['reasoning'];
    case 'tool_executing':
      return ['tool_name', 'agent_name'];
    case 'tool_completed':
      return ['tool_name', 'outcome'];
    case 'agent_completed':
      return ['agent_name']; // run_id too, but a record without run_id is a dead letter, not an event
  }
}

type FaultPlanner = (ctx: Context, run: RunPlan) => FaultOutcome | undefined;

/** How a faulted run is laid out before the fault is applied (some faults need several calls). */
function lifecycleFor(ctx: Context, kind: FaultKind | undefined): LifecycleShape {
  const { rng } = ctx;
  const normalGap = (): number => rng.int(50, 900);
  switch (kind) {
    case 'drop_one_tool_completed':
      return { iterations: rng.int(2, 3), gapMs: normalGap };
    case 'tool_completed_before_executing':
      return { iterations: rng.int(1, 3), gapMs: normalGap, callsWithExecutionId: 3 };
    case 'long_run':
      // 13 or 16 gaps just under the gap warning: over 10 s in all, no gap verdict.
      return { iterations: rng.int(4, 5), gapMs: () => rng.int(790, 990) };
    case 'late_recovery_replay':
      // One call, short gaps: the run without the dropped event has no gap over 1 s either.
      return { iterations: 1, gapMs: () => rng.int(50, 450) };
    default:
      return { iterations: rng.int(1, 3), gapMs: normalGap };
  }
}

const FAULT_PLANNERS: Readonly<Record<FaultKind, FaultPlanner>> = {
  drop_event_type: (ctx, run) => {
    const type = ctx.rng.pick(['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const);
    run.events = run.events.filter((e) => e.type !== type);
    return type === 'agent_started'
      ? { detail: 'no agent_started', expected: [finding('run_never_started', 'CRITICAL')] }
      : { detail: `no ${type}`, expected: [finding('missing_events', 'CRITICAL')] };
  },

  tool_completed_before_executing: (ctx, run) => {
    const calls = eventsOfType(run, 'tool_executing');
    const index = ctx.rng.int(0, calls.length - 1);
    const executing = only(calls.slice(index), 'tool_executing');
    const completed = only(eventsOfType(run, 'tool_completed').slice(index), 'tool_completed');
    swapTimes(executing, completed);
    return { detail: `call ${index + 1}: tool_completed stamped before its tool_executing`, expected: [finding('out_of_order', 'CRITICAL')] };
  },

  thinking_before_started: (_ctx, run) => {
    swapTimes(only(eventsOfType(run, 'agent_started'), 'agent_started'), only(eventsOfType(run, 'agent_thinking'), 'agent_thinking'));
    return { detail: 'first agent_thinking stamped before agent_started', expected: [finding('out_of_order', 'CRITICAL')] };
  },

  drop_one_tool_completed: (ctx, run) => {
    const completions = eventsOfType(run, 'tool_completed');
    const dropped = ctx.rng.pick(completions);
    run.events = run.events.filter((e) => e !== dropped);
    return { detail: `dropped 1 of ${completions.length} tool_completed`, expected: [finding('unpaired_tool', 'CRITICAL')] };
  },

  duplicate_record: (ctx, run) => {
    const event = ctx.rng.pick(run.events);
    const first = only(event.deliveries, 'delivery');
    const recovered = ctx.rng.chance(0.5);
    event.deliveries.push({
      deliveredAtMs: first.deliveredAtMs + ctx.rng.int(100, 800),
      producer: first.producer,
      ...(recovered ? { recovery: { originalFailure: ctx.rng.pick(FAILURE_REASONS), attempt: 2 } } : {}),
    });
    return { detail: `${event.type} delivered twice${recovered ? ' (recovered)' : ''}`, expected: [finding('duplicate_delivery', 'WARNING')] };
  },

  event_after_completion: (ctx, run) => {
    const completion = only(eventsOfType(run, 'agent_completed'), 'agent_completed');
    const afterMs = completion.trueMs + ctx.rng.int(100, 2_000);
    if (ctx.rng.chance(0.5)) {
      run.events.push(plannedEvent(ctx, run, 'agent_thinking', afterMs));
      return { detail: 'an extra agent_thinking after agent_completed', expected: [finding('event_after_completion', 'CRITICAL')] };
    }
    const lastCompletion = eventsOfType(run, 'tool_completed').at(-1);
    if (lastCompletion === undefined) return undefined;
    moveEvent(lastCompletion, afterMs);
    return { detail: 'the last tool_completed stamped after agent_completed', expected: [finding('event_after_completion', 'CRITICAL')] };
  },

  required_field_broken: (ctx, run) => {
    const event = ctx.rng.pick(run.events);
    const field = ctx.rng.pick(requiredFieldsOf(event.type));
    const fields = field === 'outcome' ? ['result', 'results', 'success', 'error'] : [field];
    const how = ctx.rng.pick(['removed', 'blank', 'whitespace', 'null'] as const);
    for (const name of fields) {
      if (how === 'removed' || field === 'outcome') event.wireEdits.push({ op: 'remove', field: name });
      else event.wireEdits.push({ op: 'set', field: name, value: how === 'blank' ? '' : how === 'whitespace' ? '   ' : null });
    }
    return { detail: `${event.type}.${field} ${field === 'outcome' ? 'removed' : how}`, expected: [finding('content_invalid', 'CRITICAL')] };
  },

  latency_warning: (ctx, run) => {
    // Clock skew is at most ±150 ms, so these delays measure 550–1950 ms.
    const event = ctx.rng.pick(run.events);
    event.deliveries = [{ deliveredAtMs: event.trueMs + ctx.rng.int(700, 1_800), producer: run.producer.name }];
    return { detail: `${event.type} delivered 0.7–1.8 s late`, expected: [finding('delivery_latency', 'WARNING')] };
  },

  latency_critical: (ctx, run) => {
    const event = ctx.rng.pick(run.events);
    event.deliveries = [{ deliveredAtMs: event.trueMs + ctx.rng.int(2_200, 3_800), producer: run.producer.name }];
    return { detail: `${event.type} delivered 2.2–3.8 s late`, expected: [finding('delivery_latency', 'CRITICAL')] };
  },

  gap_warning: (ctx, run) => {
    const index = ctx.rng.int(1, run.events.length - 1);
    const previous = only(run.events.slice(index - 1), 'event');
    const current = only(run.events.slice(index), 'event');
    shiftFrom(run, index, ctx.rng.int(1_100, 4_800) - (current.trueMs - previous.trueMs));
    return { detail: `gap of 1.1–4.8 s before event ${index + 1} (${current.type})`, expected: [finding('event_gap', 'WARNING')] };
  },

  gap_critical: (ctx, run) => {
    const index = ctx.rng.int(1, run.events.length - 1);
    const previous = only(run.events.slice(index - 1), 'event');
    const current = only(run.events.slice(index), 'event');
    shiftFrom(run, index, ctx.rng.int(5_200, 9_000) - (current.trueMs - previous.trueMs));
    return { detail: `gap of 5.2–9 s before event ${index + 1} (${current.type})`, expected: [finding('event_gap', 'CRITICAL')] };
  },

  long_run: () => ({ detail: 'many short steps, over 10 s in all', expected: [finding('run_duration', 'WARNING')] }),

  slow_run_just_over_deadline: (ctx, run) => {
    const completion = only(eventsOfType(run, 'agent_completed'), 'agent_completed');
    moveEvent(completion, run.startMs + ctx.rng.int(31_000, 34_000));
    return { detail: 'agent_completed 31–34 s after start', expected: [finding('run_duration', 'CRITICAL'), finding('event_gap', 'CRITICAL')] };
  },

  slow_run_far_over_deadline: (ctx, run) => {
    const completion = only(eventsOfType(run, 'agent_completed'), 'agent_completed');
    moveEvent(completion, run.startMs + ctx.rng.int(40_000, 60_000));
    return { detail: 'agent_completed 40–60 s after start', expected: [finding('run_duration', 'CRITICAL'), finding('event_gap', 'CRITICAL')] };
  },

  addressed_to_other_user: (ctx, run) => {
    const event = ctx.rng.pick(run.events.filter((e) => e.type !== 'agent_started'));
    const stranger = otherUser(ctx, run.userId);
    event.wireEdits.push({ op: 'set', field: 'user_id', value: stranger.id });
    return { detail: `${event.type} addressed to ${stranger.id}`, expected: [finding('cross_user_contamination', 'CRITICAL')] };
  },

  run_on_other_users_thread: (ctx, run) => {
    // A thread another user opened at least 10 s earlier (so its owner is settled).
    const candidates = [...ctx.threadFirstRunMs.entries()].filter(
      ([threadId, firstMs]) => firstMs <= run.startMs - 10_000 && !ownThread(ctx, run.userId, threadId),
    );
    if (candidates.length === 0) return undefined;
    const [threadId] = ctx.rng.pick(candidates);
    const ownThreadId = run.threadId;
    run.threadId = threadId;
    for (const event of run.events) if (event.userIdOnWire === ownThreadId) event.userIdOnWire = threadId; // emitter: user_id == thread_id
    return { detail: `runs on ${threadId}, another user's thread`, expected: [finding('cross_user_contamination', 'CRITICAL')] };
  },

  content_mentions_other_user: (ctx, run) => {
    // Another user's run that started 10 s – 5 min before: that user is active, its ids are known.
    const candidates = ctx.pastRuns.filter((p) => p.ownershipClean && p.userId !== run.userId && p.startMs <= run.startMs - 10_000 && p.startMs >= run.startMs - 300_000);
    if (candidates.length === 0) return undefined;
    const victim = ctx.rng.pick(candidates);
    const mentioned = ctx.rng.pick([victim.userId, victim.threadId, victim.runId]);
    const event = ctx.rng.pick(run.events.filter((e) => e.type !== 'agent_started'));
    const text = `${sentence(ctx.rng, 3)} see ${mentioned} ${sentence(ctx.rng, 2)}`;
    switch (event.type) {
      case 'agent_thinking':
        event.content['reasoning'] = text;
        break;
      case 'tool_executing':
        event.content['parameters'] = { query: text };
        break;
      case 'tool_completed':
        event.content['results'] = { rows: 3, note: text };
        break;
      default:
        event.content['final_response'] = text;
    }
    return { detail: `${event.type} content mentions ${mentioned} (run ${victim.runId} of ${victim.userId})`, expected: [finding('cross_user_contamination', 'CRITICAL')] };
  },

  suspicious_timestamp: (ctx, run) => {
    const event = ctx.rng.pick(run.events.filter((e) => e.type !== 'agent_started' && e.type !== 'agent_completed'));
    event.stampShiftMs = (ctx.rng.chance(0.5) ? 1 : -1) * (HOUR_MS + ctx.rng.int(60_000, 1_800_000));
    return { detail: `${event.type} stamped more than an hour off`, expected: [finding('suspicious_timestamp', 'WARNING')] };
  },

  late_recovery_replay: (ctx, run) => {
    const event = ctx.rng.pick(run.events.filter((e) => e.type !== 'agent_started' && e.type !== 'agent_completed'));
    const end = only(eventsOfType(run, 'agent_completed'), 'agent_completed').trueMs;
    const firstReplayMs = end + ctx.rng.int(15_000, 23_000);
    const recovery = (attempt: number): Recovery => ({ originalFailure: ctx.rng.pick(FAILURE_REASONS), attempt });
    event.deliveries = [{ deliveredAtMs: firstReplayMs, producer: run.producer.name, recovery: recovery(2) }];
    const twice = ctx.rng.chance(0.3);
    if (twice) event.deliveries.push({ deliveredAtMs: firstReplayMs + ctx.rng.int(1_000, 3_000), producer: run.producer.name, recovery: recovery(3) });
    return {
      detail: `${event.type} lost, replayed ${twice ? 'twice, ' : ''}15–23 s after the run ended`,
      expected: [finding('delivery_latency', 'CRITICAL'), ...(twice ? [finding('duplicate_delivery', 'WARNING')] : [])],
    };
  },

  event_keyed_by_run: (ctx, run) => {
    if (run.producer.name !== 'by_thread') return undefined;
    const event = ctx.rng.pick(run.events.slice(1));
    event.deliveries = event.deliveries.map((d) => ({ ...d, producer: 'by_run' }));
    // Whether it lands apart is the partitioner's call: the label is settled after partitioning.
    return { detail: `${event.type} sent by the run-keyed producer`, expected: [] };
  },
};

function ownThread(ctx: Context, userId: string, threadId: string): boolean {
  return ctx.users.some((u) => u.id === userId && u.threads.includes(threadId));
}

// ---------------------------------------------------------------------------------------------
// Encoders: one planned event (+ one delivery) → the JSON text a producer sends

function isoTimestamp(ms: number, micros: number, zulu: boolean): string {
  const base = new Date(Math.floor(ms)).toISOString().slice(0, 23); // 2025-09-18T12:00:03.512
  return `${base}${String(micros).padStart(3, '0')}${zulu ? 'Z' : '+00:00'}`;
}

type Json = Record<string, unknown>;

function encode(event: PlannedEvent, run: RunPlan, recovery: Recovery | undefined): string {
  const timestamp = isoTimestamp(event.trueMs + run.producer.clockSkewMs + event.stampShiftMs, event.micros, event.shape === 'data_nested');
  const ids: Json = { run_id: run.runId, thread_id: run.threadId, user_id: event.userIdOnWire };
  const callIds: Json = {
    ...(event.toolName === undefined ? {} : { tool_name: event.toolName }),
    ...(event.executionId === undefined ? {} : { execution_id: event.executionId }),
    ...(event.eventId === undefined ? {} : { event_id: event.eventId }),
  };
  const fields: Json = { agent_name: run.agentName, ...callIds, ...event.content };
  let body: Json;
  switch (event.shape) {
    case 'flat':
      body = { timestamp, critical: true, type: event.wireType, ...fields, ...ids, ...(recovery === undefined ? {} : { attempt: recovery.attempt }) };
      break;
    case 'wrapped':
      body = { timestamp, critical: true, attempt: null, type: event.wireType, payload: { ...fields, ...ids } };
      break;
    case 'bridge': {
      // Ids and call ids at the root, no thread_id; the rest in `data`; results also at the root.
      const { results, ...rest } = event.content;
      body = {
        type: event.wireType,
        run_id: run.runId,
        user_id: event.userIdOnWire,
        agent_name: run.agentName,
        timestamp,
        ...callIds,
        ...(results === undefined ? {} : { results }),
        data: { ...rest, ...(results === undefined ? {} : { result: results }), message: `${run.agentName} ${event.type}` },
      };
      break;
    }
    case 'data_nested':
      body = { type: event.wireType, data: { ...fields, ...ids, timestamp } };
      break;
  }
  if (recovery !== undefined) Object.assign(body, { recovered: true, original_failure: recovery.originalFailure });
  for (const edit of event.wireEdits) applyEdit(body, edit);
  return JSON.stringify(body);
}

function applyEdit(body: Json, edit: WireEdit): void {
  const levels = [body, body['payload'], body['data']].filter((l): l is Json => typeof l === 'object' && l !== null && !Array.isArray(l));
  for (const level of levels) {
    if (!(edit.field in level)) continue;
    if (edit.op === 'remove') delete level[edit.field];
    else level[edit.field] = edit.value;
  }
}

function heartbeat(rng: Prng, atMs: number): string {
  return JSON.stringify({ type: 'heartbeat', data: { connection_id: `conn-${rng.hex(6)}` }, timestamp: atMs / 1000, server_id: null, correlation_id: null });
}

// ---------------------------------------------------------------------------------------------
// Traffic

interface PendingRecord {
  readonly key: string;
  readonly value: string;
  readonly producer: ProducerName;
  readonly deliveredAtMs: number;
  readonly runId?: string;
  /** Order of creation: ties in delivery time keep it. */
  readonly seq: number;
  /** A record of the event_keyed_by_run fault (to settle its label). */
  readonly rekeyedRun?: string;
}

export function generateTraffic(options: TrafficOptions): Traffic {
  const rng = new Prng(options.seed);
  const partitions = options.partitions ?? (rng.chance(0.5) ? 3 : 4);
  const faultFraction = options.faultFraction ?? 0.35;
  const faultKinds = options.faultKinds ?? FAULT_KINDS;
  const spacingMs = options.meanRunSpacingMs ?? 900;
  const tailMs = options.tailMs ?? 45_000;
  const ids = new IdMint(rng.fork());
  const users: User[] = Array.from({ length: options.users ?? 24 }, () => ({
    id: ids.mint('usr-', 6),
    threads: Array.from({ length: rng.int(1, 3) }, () => ids.mint('thr-', 8)),
  }));
  const skew = (): number => rng.int(-150, 150);
  const producers: Record<ProducerName, Producer> = {
    by_thread: { name: 'by_thread', clockSkewMs: skew(), stampsDeliveryHeader: true },
    by_run: { name: 'by_run', clockSkewMs: skew(), stampsDeliveryHeader: false },
    round_robin: { name: 'round_robin', clockSkewMs: skew(), stampsDeliveryHeader: rng.chance(0.5) },
  };
  const ctx: Context = { rng, ids, users, producers, pastRuns: [], threadFirstRunMs: new Map() };

  const plans: RunPlan[] = [];
  const books: RunBook[] = [];
  const labels: FaultLabel[] = [];
  let startMs = TRAFFIC_START_MS;
  let lastFaultableStart = Number.POSITIVE_INFINITY;
  for (let i = 0; ; i++) {
    const inTail = i >= options.runs;
    if (inTail && lastFaultableStart === Number.POSITIVE_INFINITY) lastFaultableStart = startMs;
    if (inTail && startMs > lastFaultableStart + tailMs) break;
    startMs += Math.max(20, Math.round(-Math.log(1 - rng.next()) * spacingMs));
    const user = rng.pick(users);
    const run: RunPlan = {
      runId: ctx.ids.mint('run-', 10),
      userId: user.id,
      threadId: rng.pick(user.threads),
      agentName: rng.pick(AGENT_NAMES),
      startMs,
      producer: producers[rng.weighted([['by_thread', 60], ['by_run', 25], ['round_robin', 15]] as const)],
      events: [],
    };
    const wantedFault = !inTail && faultKinds.length > 0 && rng.chance(faultFraction) ? rng.pick(faultKinds) : undefined;
    run.events = planLifecycle(ctx, run, lifecycleFor(ctx, wantedFault));
    const outcome = wantedFault === undefined ? undefined : FAULT_PLANNERS[wantedFault](ctx, run);
    const fault = outcome === undefined ? undefined : wantedFault;
    if (fault !== undefined && outcome !== undefined) labels.push({ runId: run.runId, kind: fault, ...outcome });

    if (!ctx.threadFirstRunMs.has(run.threadId)) ctx.threadFirstRunMs.set(run.threadId, run.startMs);
    const ownershipClean = fault !== 'run_on_other_users_thread' && fault !== 'addressed_to_other_user' && !(fault === 'drop_event_type' && !run.events.some((e) => e.type === 'agent_started'));
    ctx.pastRuns.push({ runId: run.runId, userId: run.userId, threadId: run.threadId, startMs: run.startMs, ownershipClean });
    plans.push(run);
    books.push({ runId: run.runId, userId: run.userId, threadId: run.threadId, producer: run.producer.name, startMs: run.startMs, ...(fault === undefined ? {} : { fault }) });
  }

  // Encode every delivery of every event, plus a few heartbeats (tolerated, never judged).
  const pending: PendingRecord[] = [];
  let seq = 0;
  for (const run of plans) {
    for (const event of run.events) {
      for (const delivery of event.deliveries) {
        const key = delivery.producer === 'by_thread' ? run.threadId : run.runId;
        const rekeyed = delivery.producer !== run.producer.name ? run.runId : undefined;
        pending.push({
          key,
          value: encode(event, run, delivery.recovery),
          producer: delivery.producer,
          deliveredAtMs: delivery.deliveredAtMs,
          runId: run.runId,
          seq: seq++,
          ...(rekeyed === undefined ? {} : { rekeyedRun: rekeyed }),
        });
      }
    }
  }
  const lastDelivery = pending.reduce((latest, p) => Math.max(latest, p.deliveredAtMs), Number.NEGATIVE_INFINITY);
  for (let at = TRAFFIC_START_MS; at < lastDelivery; at += rng.int(2_000, 6_000)) {
    pending.push({ key: `conn-${rng.hex(4)}`, value: heartbeat(rng, at), producer: 'round_robin', deliveredAtMs: at, seq: seq++ });
  }

  const { records, partitionOf } = assignPartitions(rng, pending, partitions, producers);
  settleRekeyedLabels(labels, pending, partitionOf);
  return { partitions, records, runs: books, faults: labels };
}

/**
 * Each producer's partitioner, records appended in delivery order: offsets increase per
 * partition. Returns the records grouped per partition, in offset order.
 */
function assignPartitions(
  rng: Prng,
  pending: readonly PendingRecord[],
  partitions: number,
  producers: Readonly<Record<ProducerName, Producer>>,
): { records: WireRecord[]; partitionOf: Map<PendingRecord, number> } {
  const partitionOf = new Map<PendingRecord, number>();
  const inDeliveryOrder = [...pending].sort((a, b) => a.deliveredAtMs - b.deliveredAtMs || a.seq - b.seq);
  const nextOffset = Array.from({ length: partitions }, () => 0);
  let roundRobin = 0;
  const perPartition: WireRecord[][] = Array.from({ length: partitions }, () => []);
  for (const record of inDeliveryOrder) {
    const partition = record.producer === 'round_robin' ? roundRobin++ % partitions : keyHash(record.key) % partitions;
    const offset = nextOffset[partition] ?? 0;
    nextOffset[partition] = offset + 1;
    const producer = producers[record.producer];
    // The broker appends a moment after the producer stamped its header.
    const header = producer.stampsDeliveryHeader ? { deliveredAtHeaderMs: record.deliveredAtMs } : {};
    const timestampMs = producer.stampsDeliveryHeader ? record.deliveredAtMs + rng.int(0, 3) : record.deliveredAtMs;
    perPartition[partition]?.push({ key: record.key, value: record.value, partition, offset, timestampMs, ...header });
    partitionOf.set(record, partition);
  }
  return { records: perPartition.flat(), partitionOf };
}

/** An event_keyed_by_run fault breaks partitioning only if the two keys land apart. */
function settleRekeyedLabels(labels: FaultLabel[], pending: readonly PendingRecord[], partitionOf: ReadonlyMap<PendingRecord, number>): void {
  for (const [index, label] of labels.entries()) {
    if (label.kind !== 'event_keyed_by_run') continue;
    const ofRun = pending.filter((p) => p.runId === label.runId);
    const partitionsUsed = new Set(ofRun.map((p) => partitionOf.get(p)));
    labels[index] = partitionsUsed.size > 1
      ? { ...label, detail: `${label.detail}: lands on another partition`, expected: [finding('partitioning_broken', 'WARNING')] }
      : { ...label, detail: `${label.detail}: same partition, no fault` };
  }
}
