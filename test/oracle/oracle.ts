/**
 * The oracle: an independent second source of truth for the detector chain.
 *
 * It judges every run from its COMPLETE list of events, after the fact, with one plain function
 * per rule written from the rule semantics (docs/detection.md, the fact sheet, the lead's brief)
 * and nothing else: no streaming, no watermarks, no shared code with src/operators or
 * src/simulator. Clarity beats speed here: traffic is a few thousand events.
 *
 * Its input is the normalized lifecycle events (normalizeRecord is the one boundary it shares
 * with the system under test); its output is findings `run rule severity` and per-run grades.
 */
import type { AgentEvent, LifecycleType } from '../../src/contract/event.js';
import type { Grade, RuleId, Severity } from '../../src/contract/verdict.js';

// ---------------------------------------------------------------------------------------------
// Semantics (reference values; all comparisons strict >)

export interface Levels {
  readonly warning: number;
  readonly critical: number;
}

export interface Semantics {
  readonly deliveryLatencyMs: Levels;
  readonly gapMs: Levels;
  readonly runDurationMs: Levels;
  /** A run with no agent_completed is judged at its first event + this (the critical duration). */
  readonly runDeadlineMs: number;
  readonly suspiciousSkewMs: number;
  /** Another user's ids count for content contamination while that user was active this recently. */
  readonly activeUserWindowMs: number;
}

export const REFERENCE_SEMANTICS: Semantics = {
  deliveryLatencyMs: { warning: 500, critical: 2_000 },
  gapMs: { warning: 1_000, critical: 5_000 },
  runDurationMs: { warning: 10_000, critical: 30_000 },
  runDeadlineMs: 30_000,
  suspiciousSkewMs: 3_600_000,
  activeUserWindowMs: 600_000,
};

/** Which grade a rule counts toward (our own table, not the chain's). */
const PERFORMANCE_RULES: ReadonlySet<RuleId> = new Set<RuleId>(['delivery_latency', 'event_gap', 'run_duration']);
const SECURITY_RULES: ReadonlySet<RuleId> = new Set<RuleId>(['cross_user_contamination', 'partitioning_broken']);

/** Types every run must contain besides agent_started (whose absence is run_never_started). */
const REQUIRED_TYPES: readonly LifecycleType[] = ['agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'];

// ---------------------------------------------------------------------------------------------
// Output

export interface Finding {
  readonly runId: string;
  readonly rule: RuleId;
  readonly severity: Severity;
  /** Why, in words (for diffs). */
  readonly why: string;
}

export interface JudgedRun {
  readonly runId: string;
  /** Earliest event time of the run (suspicious events aside). */
  readonly firstEventMs: number;
  /** When a monitor must have judged it at the latest: first event + run deadline. */
  readonly deadlineMs: number;
  readonly owner?: string;
  readonly performanceGrade: Grade;
  readonly securityGrade: Grade;
}

export interface OracleReport {
  readonly findings: readonly Finding[];
  readonly runs: ReadonlyMap<string, JudgedRun>;
  /** The latest event time of the whole traffic (suspicious timestamps aside). */
  readonly lastEventTimeMs: number;
}

// ---------------------------------------------------------------------------------------------
// The evidence of one run

interface RunEvidence {
  readonly runId: string;
  /** Events more than suspiciousSkewMs from their delivery: they cannot be placed in time. */
  readonly suspicious: readonly AgentEvent[];
  /** Further copies of an event already delivered. */
  readonly copies: readonly AgentEvent[];
  /** The run's distinct, placeable events, sorted by emitted time. */
  readonly events: readonly AgentEvent[];
  /** Its first agent_completed, if any. */
  readonly completion?: AgentEvent;
  /** Its thread: the first thread_id its events carry. */
  readonly threadId?: string;
}

const byEmittedTime = (a: AgentEvent, b: AgentEvent): number =>
  a.emittedAtMs - b.emittedAtMs || a.source.partition - b.source.partition || a.source.offset - b.source.offset;

/** Delivery order: which copy of an event came first. */
const byDelivery = (a: AgentEvent, b: AgentEvent): number =>
  a.deliveredAtMs - b.deliveredAtMs || a.source.partition - b.source.partition || a.source.offset - b.source.offset;

/** What makes two records the same event: type, emitted time and the ids of the call. */
function identityOf(event: AgentEvent): string {
  return JSON.stringify([event.type, event.emittedAtMs, event.toolName ?? null, event.executionId ?? null, event.eventId ?? null]);
}

function isSuspicious(event: AgentEvent, semantics: Semantics): boolean {
  return Math.abs(event.emittedAtMs - event.deliveredAtMs) > semantics.suspiciousSkewMs;
}

function gatherEvidence(runId: string, records: readonly AgentEvent[], semantics: Semantics): RunEvidence {
  const suspicious = records.filter((e) => isSuspicious(e, semantics));
  const placeable = records.filter((e) => !isSuspicious(e, semantics)).sort(byDelivery);
  const seen = new Set<string>();
  const distinct: AgentEvent[] = [];
  const copies: AgentEvent[] = [];
  for (const event of placeable) {
    const identity = identityOf(event);
    if (seen.has(identity)) copies.push(event);
    else {
      seen.add(identity);
      distinct.push(event);
    }
  }
  distinct.sort(byEmittedTime);
  const completion = distinct.find((e) => e.type === 'agent_completed');
  const threadId = distinct.find((e) => e.threadId !== undefined)?.threadId;
  return {
    runId,
    suspicious,
    copies,
    events: distinct,
    ...(completion === undefined ? {} : { completion }),
    ...(threadId === undefined ? {} : { threadId }),
  };
}

/** Events up to and including agent_completed (all of them when there is none). */
function eventsUntilCompletion(run: RunEvidence): readonly AgentEvent[] {
  const completion = run.completion;
  return completion === undefined ? run.events : run.events.filter((e) => e.emittedAtMs <= completion.emittedAtMs);
}

function isAfterCompletion(run: RunEvidence, event: AgentEvent): boolean {
  return run.completion !== undefined && event.emittedAtMs > run.completion.emittedAtMs;
}

function severityOver(value: number, levels: Levels): Severity | undefined {
  if (value > levels.critical) return 'CRITICAL';
  if (value > levels.warning) return 'WARNING';
  return undefined;
}

const at = (event: AgentEvent): string => `${event.type}@${new Date(Math.floor(event.emittedAtMs)).toISOString().slice(11, 23)}`;

// ---------------------------------------------------------------------------------------------
// Correctness rules, one function each

function suspiciousTimestampRule(run: RunEvidence, semantics: Semantics): Finding[] {
  return run.suspicious.map((e) => ({
    runId: run.runId,
    rule: 'suspicious_timestamp',
    severity: 'WARNING',
    why: `${e.type} emitted ${Math.round((e.emittedAtMs - e.deliveredAtMs) / 60_000)} min from its delivery (> ${semantics.suspiciousSkewMs / 60_000} min)`,
  }));
}

function duplicateDeliveryRule(run: RunEvidence): Finding[] {
  return run.copies.map((e) => ({ runId: run.runId, rule: 'duplicate_delivery', severity: 'WARNING', why: `another copy of ${at(e)} (p${e.source.partition}@${e.source.offset})` }));
}

/** A field's first usable value, read root first, then `payload`, then `data` (as the product's front end reads). */
function readField(body: Readonly<Record<string, unknown>>, field: string, usable: (value: unknown) => boolean): unknown {
  for (const level of [body, body['payload'], body['data']]) {
    if (typeof level !== 'object' || level === null || Array.isArray(level)) continue;
    const value = (level as Record<string, unknown>)[field];
    if (usable(value)) return value;
  }
  return undefined;
}

const isNonBlankText = (value: unknown): boolean => typeof value === 'string' && value.trim() !== '';
const isPresent = (value: unknown): boolean => value !== undefined && value !== null;

interface RequiredContent {
  readonly name: string;
  readonly satisfiedBy: (body: Readonly<Record<string, unknown>>) => boolean;
}

const text = (field: string): RequiredContent => ({ name: field, satisfiedBy: (body) => readField(body, field, isNonBlankText) !== undefined });
const anyOf = (fields: readonly string[]): RequiredContent => ({
  name: fields.join('|'),
  satisfiedBy: (body) => fields.some((field) => readField(body, field, isPresent) !== undefined),
});

/** Fact sheet §2 "Content". */
const REQUIRED_CONTENT: Readonly<Record<LifecycleType, readonly RequiredContent[]>> = {
  agent_started: [text('agent_name')],
  agent_thinking: [text('reasoning')],
  tool_executing: [text('tool_name'), text('agent_name')],
  tool_completed: [text('tool_name'), anyOf(['result', 'results', 'success', 'error'])],
  agent_completed: [text('agent_name'), text('run_id')],
};

function contentRule(run: RunEvidence): Finding[] {
  return run.events.flatMap((event) =>
    REQUIRED_CONTENT[event.type]
      .filter((required) => !required.satisfiedBy(event.body))
      .map((required): Finding => ({ runId: run.runId, rule: 'content_invalid', severity: 'CRITICAL', why: `${at(event)} lacks ${required.name}` })),
  );
}

function runNeverStartedRule(run: RunEvidence): Finding[] {
  return run.events.some((e) => e.type === 'agent_started')
    ? []
    : [{ runId: run.runId, rule: 'run_never_started', severity: 'CRITICAL', why: 'no agent_started' }];
}

function missingEventsRule(run: RunEvidence): Finding[] {
  const present = new Set(run.events.map((e) => e.type));
  const missing = REQUIRED_TYPES.filter((type) => !present.has(type));
  return missing.length === 0 ? [] : [{ runId: run.runId, rule: 'missing_events', severity: 'CRITICAL', why: `missing ${missing.join(', ')}` }];
}

// Tool pairing -------------------------------------------------------------------------------

interface ToolPairing {
  readonly pairs: readonly (readonly [executing: AgentEvent, completed: AgentEvent])[];
  readonly unpairedExecuting: readonly AgentEvent[];
  readonly unpairedCompleted: readonly AgentEvent[];
}

/**
 * Pairs each tool_completed with its tool_executing ("by execution id, else event id, else tool
 * name, else order"):
 * 1. the same execution id, then the same event id: an id shared by two records names one call,
 *    wherever they sit in time (the n-th call with the n-th completion carrying that id);
 * 2. then, in emitted order, each remaining completion takes a call still open before it: one
 *    with the same tool name if there is one, else the earliest one that could be it;
 * 3. a completion with no call before it takes the earliest later one that could be it (it came
 *    first: out of order).
 * "Could be it": no tool names that differ, no execution ids that differ. Event ids do not rule a
 * call out: the older data-nested emitter stamps every record with its own event id.
 */
function pairToolCalls(events: readonly AgentEvent[]): ToolPairing {
  const calls = events.filter((e) => e.type === 'tool_executing');
  const completions = events.filter((e) => e.type === 'tool_completed');
  const pairs: (readonly [AgentEvent, AgentEvent])[] = [];
  const paired = new Set<AgentEvent>();
  const pair = (call: AgentEvent, completion: AgentEvent): void => {
    pairs.push([call, completion]);
    paired.add(call).add(completion);
  };

  for (const idOf of [(e: AgentEvent) => e.executionId, (e: AgentEvent) => e.eventId]) {
    const openCalls = groupBy(calls.filter((e) => !paired.has(e) && idOf(e) !== undefined), (e) => idOf(e) ?? '');
    for (const completion of completions) {
      const id = idOf(completion);
      if (paired.has(completion) || id === undefined) continue;
      const call = openCalls.get(id)?.shift();
      if (call !== undefined) pair(call, completion);
    }
  }

  const couldBe = (call: AgentEvent, completion: AgentEvent): boolean =>
    !(call.toolName !== undefined && completion.toolName !== undefined && call.toolName !== completion.toolName) &&
    !(call.executionId !== undefined && completion.executionId !== undefined && call.executionId !== completion.executionId);
  const unpairedCalls = (): AgentEvent[] => calls.filter((call) => !paired.has(call));

  for (const completion of completions) {
    if (paired.has(completion)) continue;
    const open = unpairedCalls().filter((call) => call.emittedAtMs < completion.emittedAtMs && couldBe(call, completion));
    const call = open.find((c) => c.toolName !== undefined && c.toolName === completion.toolName) ?? open[0];
    if (call !== undefined) pair(call, completion);
  }
  for (const completion of completions) {
    if (paired.has(completion)) continue;
    const later = unpairedCalls().find((call) => call.emittedAtMs > completion.emittedAtMs && couldBe(call, completion));
    if (later !== undefined) pair(later, completion);
  }
  return { pairs, unpairedExecuting: unpairedCalls(), unpairedCompleted: completions.filter((c) => !paired.has(c)) };
}

function outOfOrderRule(run: RunEvidence, pairing: ToolPairing): Finding[] {
  const findings: Finding[] = [];
  const starts = run.events.filter((e) => e.type === 'agent_started');
  const [start, ...extraStarts] = starts;
  if (start !== undefined) {
    const first = run.events[0];
    if (first !== undefined && first !== start) {
      findings.push({ runId: run.runId, rule: 'out_of_order', severity: 'CRITICAL', why: `${at(first)} before agent_started` });
    }
  }
  for (const extra of extraStarts) findings.push({ runId: run.runId, rule: 'out_of_order', severity: 'CRITICAL', why: `a second agent_started ${at(extra)}` });
  for (const [call, completion] of pairing.pairs) {
    if (completion.emittedAtMs < call.emittedAtMs) {
      findings.push({ runId: run.runId, rule: 'out_of_order', severity: 'CRITICAL', why: `${at(completion)} before its ${at(call)}` });
    }
  }
  return findings;
}

function unpairedToolRule(run: RunEvidence, pairing: ToolPairing): Finding[] {
  const types = new Set(run.events.map((e) => e.type));
  // With a whole tool type missing, missing_events names the fault: one fault, one verdict.
  if (!types.has('tool_executing') || !types.has('tool_completed')) return [];
  return [...pairing.unpairedExecuting, ...pairing.unpairedCompleted]
    .filter((e) => !isAfterCompletion(run, e))
    .map((e) => ({ runId: run.runId, rule: 'unpaired_tool', severity: 'CRITICAL', why: `${at(e)} has no ${e.type === 'tool_executing' ? 'tool_completed' : 'tool_executing'}` }));
}

function eventAfterCompletionRule(run: RunEvidence): Finding[] {
  return run.events
    .filter((e) => isAfterCompletion(run, e))
    .map((e) => ({ runId: run.runId, rule: 'event_after_completion', severity: 'CRITICAL', why: `${at(e)} after agent_completed` }));
}

// Performance rules ----------------------------------------------------------------------------

function deliveryLatencyRule(run: RunEvidence, semantics: Semantics): Finding[] {
  return run.events.flatMap((e) => {
    const latency = e.deliveredAtMs - e.emittedAtMs;
    const severity = severityOver(latency, semantics.deliveryLatencyMs);
    return severity === undefined ? [] : [{ runId: run.runId, rule: 'delivery_latency', severity, why: `${at(e)} delivered after ${latency.toFixed(1)} ms` }];
  });
}

function eventGapRule(run: RunEvidence, semantics: Semantics): Finding[] {
  const findings: Finding[] = [];
  const timeline = eventsUntilCompletion(run);
  for (let i = 1; i < timeline.length; i++) {
    const previous = timeline[i - 1] as AgentEvent;
    const current = timeline[i] as AgentEvent;
    const gap = current.emittedAtMs - previous.emittedAtMs;
    const severity = severityOver(gap, semantics.gapMs);
    if (severity !== undefined) findings.push({ runId: run.runId, rule: 'event_gap', severity, why: `${gap.toFixed(1)} ms from ${at(previous)} to ${at(current)}` });
  }
  // A run that never completes: its silence until the deadline counts once it is critical.
  const first = timeline[0];
  const last = timeline[timeline.length - 1];
  if (run.completion === undefined && first !== undefined && last !== undefined) {
    const silence = first.emittedAtMs + semantics.runDeadlineMs - last.emittedAtMs;
    if (silence > semantics.gapMs.critical) {
      findings.push({ runId: run.runId, rule: 'event_gap', severity: 'CRITICAL', why: `silent for ${silence.toFixed(1)} ms after ${at(last)} until the deadline` });
    }
  }
  return findings;
}

function runDurationRule(run: RunEvidence, semantics: Semantics): Finding[] {
  if (run.completion === undefined) return [{ runId: run.runId, rule: 'run_duration', severity: 'CRITICAL', why: 'never completed' }];
  const begin = run.events.find((e) => e.type === 'agent_started') ?? run.events[0];
  if (begin === undefined) return [];
  const duration = run.completion.emittedAtMs - begin.emittedAtMs;
  const severity = severityOver(duration, semantics.runDurationMs);
  return severity === undefined ? [] : [{ runId: run.runId, rule: 'run_duration', severity, why: `ran ${duration.toFixed(1)} ms` }];
}

// Security rules (they need every run) ----------------------------------------------------------

function partitioningRule(run: RunEvidence): Finding[] {
  const partitions = new Set(run.events.map((e) => e.source.partition));
  return partitions.size > 1
    ? [{ runId: run.runId, rule: 'partitioning_broken', severity: 'WARNING', why: `events in partitions ${[...partitions].sort().join(', ')}` }]
    : [];
}

/** A user_id equal to the run's thread id is what emitter paths send: it names nobody. */
function namedUser(run: RunEvidence, event: AgentEvent): string | undefined {
  const userId = event.userId;
  if (userId === undefined || userId === run.threadId || userId === event.threadId) return undefined;
  return userId;
}

/** The run's owner: the user named by its earliest event that names one. */
function ownerOf(run: RunEvidence): string | undefined {
  for (const event of run.events) {
    const user = namedUser(run, event);
    if (user !== undefined) return user;
  }
  return undefined;
}

/** Ids that may not leak into content: whose they are and since when they are known. */
interface IdOwnership {
  readonly owner: string;
  readonly knownSinceMs: number;
}

interface World {
  readonly runs: readonly RunEvidence[];
  readonly ownerOfRun: ReadonlyMap<string, string>;
  readonly ownerOfThread: ReadonlyMap<string, string>;
  readonly ids: ReadonlyMap<string, IdOwnership>;
  /** Per user, the emitted times of the events of the runs they own, sorted. */
  readonly activity: ReadonlyMap<string, readonly number[]>;
}

function firstEventMs(run: RunEvidence): number {
  return run.events[0]?.emittedAtMs ?? Number.POSITIVE_INFINITY;
}

function buildWorld(runs: readonly RunEvidence[]): World {
  const chronological = [...runs].sort((a, b) => firstEventMs(a) - firstEventMs(b) || (a.runId < b.runId ? -1 : 1));
  const ownerOfRun = new Map<string, string>();
  const ownerOfThread = new Map<string, string>();
  for (const run of chronological) {
    const owner = ownerOf(run);
    if (owner === undefined) continue;
    ownerOfRun.set(run.runId, owner);
    // A thread belongs to the owner of its first run (that names an owner).
    if (run.threadId !== undefined && !ownerOfThread.has(run.threadId)) ownerOfThread.set(run.threadId, owner);
  }
  const ids = new Map<string, IdOwnership>();
  const activity = new Map<string, number[]>();
  // Runs come in order of their first event: the first sighting of an id is the earliest.
  const know = (id: string, owner: string, sinceMs: number): void => {
    if (!ids.has(id)) ids.set(id, { owner, knownSinceMs: sinceMs });
  };
  for (const run of chronological) {
    const owner = effectiveOwner(run, ownerOfRun, ownerOfThread);
    const start = run.events[0];
    if (owner === undefined || start === undefined) continue;
    know(owner, owner, start.emittedAtMs);
    know(run.runId, owner, start.emittedAtMs);
    const threadOwner = run.threadId === undefined ? undefined : ownerOfThread.get(run.threadId);
    if (run.threadId !== undefined && threadOwner !== undefined) know(run.threadId, threadOwner, start.emittedAtMs);
    const times = activity.get(owner) ?? [];
    times.push(...run.events.map((e) => e.emittedAtMs));
    activity.set(owner, times);
  }
  for (const times of activity.values()) times.sort((a, b) => a - b);
  return { runs, ownerOfRun, ownerOfThread, ids, activity };
}

/** The run's own owner, else (events that name nobody) the owner of its thread. */
function effectiveOwner(run: RunEvidence, ownerOfRun: ReadonlyMap<string, string>, ownerOfThread: ReadonlyMap<string, string>): string | undefined {
  return ownerOfRun.get(run.runId) ?? (run.threadId === undefined ? undefined : ownerOfThread.get(run.threadId));
}

function wasActive(world: World, user: string, atMs: number, windowMs: number): boolean {
  return (world.activity.get(user) ?? []).some((t) => t <= atMs && t >= atMs - windowMs);
}

/** Keys that carry the envelope's ids: checked by ownership ((a), (b)), not as content. */
const ENVELOPE_ID_KEYS: ReadonlySet<string> = new Set(['user_id', 'thread_id', 'run_id']);
const ID_TOKEN = /[A-Za-z0-9_-]+/g;

/** Every whole token of every string of the event's content (envelope ids aside). */
function contentTokens(body: Readonly<Record<string, unknown>>): Set<string> {
  const tokens = new Set<string>();
  const walk = (value: unknown, isEnvelopeLevel: boolean): void => {
    if (typeof value === 'string') {
      for (const token of value.match(ID_TOKEN) ?? []) tokens.add(token);
    } else if (Array.isArray(value)) {
      for (const item of value) walk(item, false);
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, inner] of Object.entries(value)) {
        if (isEnvelopeLevel && ENVELOPE_ID_KEYS.has(key)) continue;
        walk(inner, isEnvelopeLevel && (key === 'payload' || key === 'data'));
      }
    }
  };
  walk(body, true);
  return tokens;
}

function contaminationRule(run: RunEvidence, world: World, semantics: Semantics): Finding[] {
  const findings: Finding[] = [];
  const owner = world.ownerOfRun.get(run.runId);
  const threadOwner = run.threadId === undefined ? undefined : world.ownerOfThread.get(run.threadId);
  const finding = (why: string): Finding => ({ runId: run.runId, rule: 'cross_user_contamination', severity: 'CRITICAL', why });

  // (a) a run on a thread that belongs to another user
  if (owner !== undefined && threadOwner !== undefined && owner !== threadOwner) {
    findings.push(finding(`${owner}'s run on ${run.threadId ?? '?'}, a thread of ${threadOwner}`));
  }
  // (b) an event addressed to another user
  if (owner !== undefined) {
    for (const event of run.events) {
      const user = namedUser(run, event);
      if (user !== undefined && user !== owner) findings.push(finding(`${at(event)} addressed to ${user}, not ${owner}`));
    }
  }
  // (c) content naming another active user's ids
  const self = owner ?? threadOwner;
  for (const event of run.events) {
    for (const token of contentTokens(event.body)) {
      const known = world.ids.get(token);
      if (known === undefined || known.owner === self || known.knownSinceMs > event.emittedAtMs) continue;
      if (!wasActive(world, known.owner, event.emittedAtMs, semantics.activeUserWindowMs)) continue;
      findings.push(finding(`${at(event)} mentions ${token} of ${known.owner}`));
    }
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------
// Grades (fact sheet §2)

function performanceGrade(findings: readonly Finding[]): Grade {
  const mine = findings.filter((f) => PERFORMANCE_RULES.has(f.rule));
  if (mine.some((f) => f.severity === 'CRITICAL')) return 'F';
  if (mine.length === 0) return 'A';
  if (mine.length === 1) return 'B';
  if (mine.length <= 3) return 'C';
  return 'D';
}

function securityGrade(findings: readonly Finding[]): Grade {
  const mine = findings.filter((f) => SECURITY_RULES.has(f.rule));
  if (mine.some((f) => f.severity === 'CRITICAL')) return 'F';
  if (mine.length === 0) return 'A';
  if (mine.length <= 2) return 'B';
  if (mine.length <= 5) return 'C';
  return 'D';
}

// ---------------------------------------------------------------------------------------------
// Judging the traffic

export function judgeTraffic(events: readonly AgentEvent[], semantics: Semantics = REFERENCE_SEMANTICS): OracleReport {
  const runs = [...groupBy(events, (e) => e.runId)].map(([runId, records]) => gatherEvidence(runId, records, semantics));
  const world = buildWorld(runs);
  const findings: Finding[] = [];
  const judged = new Map<string, JudgedRun>();
  for (const run of runs) {
    const pairing = pairToolCalls(run.events);
    const ofRun = [
      ...suspiciousTimestampRule(run, semantics),
      ...duplicateDeliveryRule(run),
      ...contentRule(run),
      ...runNeverStartedRule(run),
      ...outOfOrderRule(run, pairing),
      ...missingEventsRule(run),
      ...unpairedToolRule(run, pairing),
      ...eventAfterCompletionRule(run),
      ...deliveryLatencyRule(run, semantics),
      ...eventGapRule(run, semantics),
      ...runDurationRule(run, semantics),
      ...contaminationRule(run, world, semantics),
      ...partitioningRule(run),
    ];
    findings.push(...ofRun);
    // A run of suspicious events only has no place in time: judge it by when it was delivered.
    const first = run.events[0]?.emittedAtMs ?? Math.min(...run.suspicious.map((e) => e.deliveredAtMs));
    const owner = world.ownerOfRun.get(run.runId);
    judged.set(run.runId, {
      runId: run.runId,
      firstEventMs: first,
      deadlineMs: first + semantics.runDeadlineMs,
      ...(owner === undefined ? {} : { owner }),
      performanceGrade: performanceGrade(ofRun),
      securityGrade: securityGrade(ofRun),
    });
  }
  const placeable = events.filter((e) => !isSuspicious(e, semantics));
  const lastEventTimeMs = placeable.reduce((latest, e) => Math.max(latest, e.emittedAtMs), Number.NEGATIVE_INFINITY);
  return { findings, runs: judged, lastEventTimeMs };
}

function groupBy<T>(items: Iterable<T>, keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return groups;
}
