/**
 * Deterministic traffic generator: thousands of interleaved agent runs encoded in every real wire
 * shape, plus the ground truth that tests and the demo check the detectors against: which runs
 * lack which event type, which faults were injected where, and the exact set of violations the
 * detector chain must report. Each fault class is one injector (injectors.ts), on the labelling
 * rules of faults.ts. Pure: no clock, no Math.random, no I/O; one seed -> one byte stream.
 */
import { z } from 'zod';
import { LIFECYCLE_TYPES, type LifecycleType } from '../contract/event.js';
import type { RuleId } from '../contract/verdict.js';
import {
  FAULT_CLASSES,
  INJECTED,
  deliveryLatencyLabel,
  faultMixSchema,
  timingLabels,
  timingModelled,
  wireEmittedMs,
  type ExpectedLateEvent,
  type ExpectedRevision,
  type ExpectedViolation,
  type FaultClass,
  type InjectedFault,
  type Label,
  type PendingLabel,
  type TimedEvent,
} from './faults.js';
import {
  FAULT_INJECTORS,
  deliveredAt,
  drawToolPairs,
  missingEvent,
  type Borrowed,
  type FaultInjector,
  type LateReplay,
  type OtherUsers,
  type PlannedEvent,
} from './injectors.js';
import { createRng, type Rng } from './random.js';
import {
  LIFECYCLE_SHAPES,
  encodeLifecycle,
  encodeServerMessage,
  shapeSupports,
  type JsonObject,
  type LifecycleShape,
  type SimLifecycleEvent,
  type SimToolCall,
} from './wire-encoders.js';

export { FAULT_CLASSES, type ExpectedLateEvent, type ExpectedRevision, type ExpectedViolation, type FaultClass, type InjectedFault } from './faults.js';

/** Fixed event-time origin so that default output never depends on when it is generated. */
export const DEFAULT_START_TIME_MS = Date.UTC(2025, 8, 18, 12, 0, 0);

const range = (min: number, max: number, limit: number, floor = 0) =>
  z
    .object({ min: z.number().int().min(floor).max(limit), max: z.number().int().min(floor).max(limit) })
    .refine((r) => r.min <= r.max, 'min must be <= max')
    .default({ min, max });

const weight = z.number().nonnegative().default(0);

export const trafficOptionsSchema = z
  .object({
    seed: z.number().int().default(1),
    users: z.number().int().min(1).default(20),
    threadsPerUser: z.number().int().min(1).default(3),
    runs: z.number().int().min(0).default(1000),
    startTimeMs: z.number().int().min(0).default(DEFAULT_START_TIME_MS),
    /** Mean of the exponential spacing between run starts; small values make many runs overlap. */
    meanRunStartSpacingMs: z.number().min(0).default(5),
    /** (thinking, tool_executing, tool_completed) repeats per run. */
    pairRepeats: range(1, 3, 20),
    /**
     * Event-time gap between consecutive events of a run: defaults keep a run under ~10 s with no
     * gap above 1 s. A drawn 0 counts as 1 ms: the events of a run never share a timestamp.
     */
    gapMs: range(50, 900, 600_000),
    /**
     * Delivery latency: record timestamp = emitted + latency. At least 1 ms because wire timestamps
     * carry up to 0.5 ms of extra microseconds: delivery must never precede emission.
     */
    latencyMs: range(5, 300, 600_000, 1),
    /**
     * Fraction of runs that lose every event of one lifecycle type (fault class `missing_event`),
     * labelled with that type only: no unpaired_tool for the pairs a lost tool type leaves open.
     */
    missingEventFraction: z.number().min(0).max(1).default(0.05),
    /**
     * Fraction of runs that get exactly one fault of `faultMix` (on top of, and disjoint from, the
     * missing-event runs; capped by the runs left). Exactly round(fraction * runs) runs.
     */
    faultFraction: z.number().min(0).max(1).default(0.1),
    /**
     * Relative weights of the fault classes; omitted keys in a given mix weigh 0. A class that
     * cannot be injected into the run drawn for it (the isolation classes need another user who
     * was active 15 s to 5 min earlier, or at least two users) is replaced by a class of the mix
     * that can, duplicate_delivery if none can. Some classes override the run's shape: unpaired_tool
     * uses at least 2 tool pairs, run_duration_warning 5-6 pairs with 750-950 ms gaps, late_replay
     * exactly one pair.
     */
    faultMix: faultMixSchema,
    /** Heartbeat/connection records, as a fraction of the lifecycle record count. */
    serverMessageFraction: z.number().min(0).max(1).default(0.02),
    /** Undecodable records (bad JSON, no type), as a fraction of the lifecycle record count. */
    malformedFraction: z.number().min(0).max(1).default(0.002),
    /** Emitter-path agent_thinking records sent with wire type "reasoning" (known emitter bug). */
    reasoningTypeFraction: z.number().min(0).max(1).default(0.02),
    /** Relative weights of the lifecycle wire shapes; omitted keys in a given mix weigh 0. */
    shapeMix: z
      .object({ flat: weight, wrapped: weight, bridge: weight, fixture: weight, data_nested: weight })
      .default({ flat: 4, wrapped: 1, bridge: 3, fixture: 1, data_nested: 1 }),
  })
  // agent_thinking/agent_completed never travel bridge-direct: some other shape must be allowed.
  .refine((o) => LIFECYCLE_SHAPES.some((s) => s !== 'bridge' && o.shapeMix[s] > 0), {
    message: 'shapeMix needs a positive weight on a non-bridge shape',
    path: ['shapeMix'],
  })
  .refine((o) => o.faultFraction === 0 || FAULT_CLASSES.some((c) => o.faultMix[c] > 0), {
    message: 'faultMix needs a positive weight when faultFraction > 0',
    path: ['faultMix'],
  });

export type TrafficOptions = z.input<typeof trafficOptionsSchema>;
export type ResolvedTrafficOptions = z.output<typeof trafficOptionsSchema>;

export interface SimRecord {
  /** The thread id: all runs of one thread land on one partition. */
  readonly key: string;
  readonly value: string;
  /** Simulated delivery time (ms); published as the Kafka record timestamp. */
  readonly timestampMs: number;
}

export interface MissingEventRun {
  readonly runId: string;
  readonly userId: string;
  readonly threadId: string;
  readonly missing: LifecycleType[];
}

/** A run that got an injected fault (one per run), and how many violations it must produce. */
export interface FaultRun {
  readonly runId: string;
  /** The run's owner. */
  readonly userId: string;
  /** The thread the run's records are keyed by (another user's for contamination_thread). */
  readonly threadId: string;
  readonly fault: InjectedFault;
  /** What exactly was done, e.g. "drop:tool_completed", "tool_executing.tool_name", "agent_thinking". */
  readonly variant: string;
  /** Number of entries of expected.violations for this run. */
  readonly violations: number;
}

export interface SimulatedTraffic {
  readonly options: ResolvedTrafficOptions;
  /** Sorted by delivery time (stable: ties keep generation order). */
  readonly records: SimRecord[];
  readonly expected: {
    /** The runs of the missing-event class (`missingEventFraction`), with the type each lost. */
    readonly missingEventRuns: MissingEventRun[];
    /**
     * Every run the chain must judge incomplete (a missing_events or run_never_started verdict):
     * the missing-event runs and the late_replay runs, which lose their thinking (a late replay
     * may then revise the verdict, it never removes it). In generation order.
     */
    readonly incompleteRuns: MissingEventRun[];
    /** Every injected fault, missing-event runs included, in run order. */
    readonly faultRuns: FaultRun[];
    /**
     * The violations the detector chain (reference thresholds, 3 s out-of-orderness bound, all
     * records consumed) must report, as a multiset: nothing else, nothing missing. Unfaulted runs
     * contribute none with the default options; custom timing options may add timing violations
     * to any run, and they are listed too.
     */
    readonly violations: ExpectedViolation[];
    /**
     * Records the chain must count as late (late_replay faults): exactly these, as a multiset of
     * (run, type). Every other record arrives within the out-of-orderness bound.
     */
    readonly lateEvents: ExpectedLateEvent[];
    /** What those late records must do to the missing_events verdicts of their judged runs. */
    readonly revisions: ExpectedRevision[];
    /** Expected violations per rule (rules with none omitted), conditional ones (`onlyIfApart`) left out. */
    readonly violationCounts: Partial<Record<RuleId, number>>;
    /**
     * False when some run leaves what the labels model (a run lasting about 30 s or more, or a
     * delivery latency near the 3 s out-of-orderness bound, possible only with custom gap or
     * latency options): `violations` may then be inexact.
     */
    readonly labelsExact: boolean;
    readonly malformedRecords: number;
    readonly serverMessages: number;
    readonly runs: number;
    /** Lifecycle records, redeliveries and replays included. */
    readonly lifecycleEvents: number;
  };
}

// ---- Content catalog: realistic text and arguments so records weigh what real ones do. ----

interface ToolSpec {
  readonly name: string;
  args(rng: Rng): JsonObject;
  result(rng: Rng): JsonObject;
}

const SERVICES = ['checkout-api', 'inference-gateway', 'billing-worker', 'search-indexer', 'auth-service'];
const MODELS = ['gpt-4o', 'claude-3-5-sonnet', 'gemini-1.5-pro', 'llama-3-70b', 'mistral-large'];
const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2'];
const money = (rng: Rng, max: number): number => Math.round(rng.next() * max * 100) / 100;

const TOOLS: Record<string, ToolSpec> = {
  sql_query: {
    name: 'sql_query',
    args: (rng) => ({
      query: `SELECT model, SUM(cost_usd) AS cost FROM billing.daily_costs WHERE day >= today() - ${rng.int(7, 90)} GROUP BY model`,
      database: 'analytics',
      timeout_s: 30,
    }),
    result: (rng) => ({ rows: rng.int(1, 500), columns: ['model', 'region', 'cost'], top: { model: rng.pick(MODELS), cost: money(rng, 9000) } }),
  },
  cost_analyzer: {
    name: 'cost_analyzer',
    args: (rng) => ({ workload_id: `wl_${rng.hex(8)}`, window_days: rng.int(7, 90), group_by: ['model', 'region'], currency: 'USD' }),
    result: (rng) => ({ total_cost_usd: money(rng, 50000), top_driver: rng.pick(MODELS), savings_opportunity_usd: money(rng, 8000), confidence: rng.int(60, 99) / 100 }),
  },
  web_search: {
    name: 'web_search',
    args: (rng) => ({ query: `${rng.pick(MODELS)} pricing per million tokens ${rng.pick(['batch API', 'cached input', 'fine-tuned'])}`, max_results: rng.int(3, 10), safe: true }),
    result: (rng) => ({ hits: rng.int(3, 10), top_url: `https://docs.example.com/pricing/${rng.hex(6)}`, snippet: 'Batch requests are billed at a 50% discount on both input and output tokens.' }),
  },
  log_fetch: {
    name: 'log_fetch',
    args: (rng) => ({ service: rng.pick(SERVICES), since_minutes: rng.int(5, 240), level: rng.pick(['ERROR', 'WARN']), limit: 200 }),
    result: (rng) => ({ lines: rng.int(0, 200), error_rate: rng.int(0, 500) / 10000, first_error: 'upstream timeout after 30000ms (pool exhausted)' }),
  },
  latency_profiler: {
    name: 'latency_profiler',
    args: (rng) => ({ endpoint: `/v1/${rng.pick(['chat', 'embeddings', 'completions'])}`, region: rng.pick(REGIONS), percentiles: [50, 95, 99] }),
    result: (rng) => {
      const p50 = rng.int(80, 400);
      return { p50_ms: p50, p95_ms: p50 * rng.int(2, 4), p99_ms: p50 * rng.int(4, 8), samples: rng.int(1000, 90000) };
    },
  },
  forecast_model: {
    name: 'forecast_model',
    args: (rng) => ({ metric: 'monthly_spend_usd', horizon_days: rng.int(30, 180), method: rng.pick(['prophet', 'arima', 'ets']), seasonality: 'weekly' }),
    result: (rng) => {
      const mid = money(rng, 120000);
      return { forecast_usd: mid, lower_usd: Math.round(mid * 0.85), upper_usd: Math.round(mid * 1.2), mape: rng.int(3, 15) / 100 };
    },
  },
};

interface AgentSpec {
  readonly name: string;
  readonly tools: readonly string[];
  readonly tasks: readonly string[];
}

const AGENTS: readonly AgentSpec[] = [
  { name: 'data_agent', tools: ['sql_query', 'log_fetch', 'latency_profiler'], tasks: ['Break down last month\'s inference spend by model and region', 'Find which services drive the p99 latency regression since Monday'] },
  { name: 'optimization_agent', tools: ['cost_analyzer', 'forecast_model', 'sql_query'], tasks: ['Recommend model routing changes that cut cost without hurting quality', 'Estimate savings from moving batch jobs to cached-input pricing'] },
  { name: 'research_agent', tools: ['web_search'], tasks: ['Compare current per-token pricing of the frontier models we use', 'Summarize vendor guidance on rate limits for batch workloads'] },
  { name: 'triage_agent', tools: ['log_fetch', 'web_search', 'latency_profiler'], tasks: ['Explain the spike of upstream timeouts in the checkout API', 'Decide whether the error burst in eu-west-1 needs a rollback'] },
  { name: 'reporting_agent', tools: ['sql_query', 'forecast_model'], tasks: ['Prepare the weekly AI spend report with a quarter-end forecast', 'Draft an executive summary of cost anomalies for this sprint'] },
];

const THOUGHT_OPENERS = ['Checking', 'Comparing', 'Reviewing', 'Cross-referencing', 'Estimating'];
const THOUGHT_SUBJECTS = [
  'cost drivers across the top models and regions',
  'the latency percentiles against last week\'s baseline',
  'whether cached-input pricing applies to these workloads',
  'error bursts around the deployment window',
  'token usage per request for the heaviest endpoints',
];
const THOUGHT_NEXT = [
  'next I will query the detailed rows to confirm the trend',
  'the numbers look consistent, moving on to the forecast',
  'this needs one more data source before a recommendation',
  'I should rule out a seasonal effect first',
];
const FINDINGS = [
  'Two models account for 70% of spend',
  'The latency regression comes from one region',
  'Batch jobs qualify for cached-input pricing',
  'The timeout burst matches the pool resize',
];
const TIERS = ['free', 'early', 'mid', 'enterprise'];

function uuidLike(rng: Rng, unique?: number): string {
  // The tail embeds a counter when uniqueness within one seed must be guaranteed, not just likely.
  const tail = unique === undefined ? rng.hex(12) : `${rng.hex(4)}${unique.toString(16).padStart(8, '0')}`;
  return `${rng.hex(8)}-${rng.hex(4)}-4${rng.hex(3)}-${rng.pick(['8', '9', 'a', 'b'])}${rng.hex(3)}-${tail}`;
}

function buildToolCall(rng: Rng, agent: AgentSpec, gapMs: number): SimToolCall {
  const spec = TOOLS[rng.pick(agent.tools)];
  if (!spec) throw new Error(`agent ${agent.name} names an unknown tool`);
  return {
    name: spec.name,
    executionId: rng.chance(0.15) ? null : `exec_${rng.hex(12)}`,
    args: spec.args(rng),
    result: spec.result(rng),
    // The tool ran between its two events: its time is the gap minus a little bookkeeping.
    executionTimeMs: Math.max(1, gapMs - rng.int(1, 20)) + rng.int(0, 9) / 10,
    success: true,
  };
}

// ---- Generation ----

interface Owner {
  readonly userId: string;
  readonly tier: string;
  readonly threads: readonly string[];
  readonly connectionId: string;
}

/** A past run, remembered so that isolation faults only name ids the detector knows as active. */
interface PastRun {
  readonly startMs: number;
  readonly runId: string;
  readonly threadId: string;
}

/**
 * Isolation faults name ids of a run that started at most this long before (the detector keeps a
 * user's ids active for 10 min of event time; half of that leaves room for the watermark lag).
 */
const ACTIVE_ID_MAX_AGE_MS = 300_000;

/** Labels of one run, resolved once the end of the input (in event time) is known. */
interface RunLabels {
  readonly runId: string;
  readonly labels: Label[];
  readonly pending: PendingLabel[];
  fault: Omit<FaultRun, 'violations'> | undefined;
}

/**
 * Records delivered after the watermark could pass a late replay's run close and before the replay
 * itself. With records keyed by thousands of threads, 400 records leave no partition of a topic of
 * up to a dozen without one (odds of one empty: about 12 * (11/12)^400, under 1e-13).
 */
const LATE_REPLAY_MIN_TRAFFIC = 400;
/** The 3 s out-of-orderness bound the labels assume, plus one 50 ms watermark step and some room. */
const WATERMARK_LAG_MS = 3_100;
/** The traffic counted for a late replay ends this long before it: partitions may lag each other by as much. */
const PARTITION_SKEW_ALLOWANCE_MS = 5_000;

/** What every event of one run shares. */
interface RunContext {
  readonly runId: string;
  readonly threadId: string;
  readonly owner: Owner;
  readonly agent: AgentSpec;
  readonly task: string;
  readonly startMs: number;
  readonly totalSteps: number;
  readonly reasoningTypeFraction: number;
}

function simEvent(rng: Rng, run: RunContext, type: LifecycleType, shape: LifecycleShape, emittedAtMs: number, step: number, tool: SimToolCall | undefined): SimLifecycleEvent {
  const emitterPath = shape === 'flat' || shape === 'wrapped';
  return {
    type,
    wireType: type === 'agent_thinking' && emitterPath && rng.chance(run.reasoningTypeFraction) ? 'reasoning' : type,
    runId: run.runId,
    threadId: run.threadId,
    userId: run.owner.userId,
    agentName: run.agent.name,
    userTier: run.owner.tier,
    emittedAtMs,
    step,
    totalSteps: run.totalSteps,
    eventId: uuidLike(rng),
    withOptional: rng.chance(0.5),
    taskDescription: run.task,
    // One object shape for every event (absent fields undefined) keeps the encoders monomorphic.
    reasoning: type === 'agent_thinking' ? `${rng.pick(THOUGHT_OPENERS)} ${rng.pick(THOUGHT_SUBJECTS)}; ${rng.pick(THOUGHT_NEXT)}.` : undefined,
    tool: type === 'tool_executing' || type === 'tool_completed' ? tool : undefined,
    finalResponse: type === 'agent_completed' ? `Finished. ${rng.pick(FINDINGS)}; estimated monthly savings $${money(rng, 20000)}.` : undefined,
    elapsedMs: emittedAtMs - run.startMs,
  };
}

/** Index of the last item whose value is <= limit in an ascending array, or -1. */
function lastAtOrBefore<T>(items: readonly T[], limit: number, valueOf: (item: T) => number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (valueOf(items[mid] as T) <= limit) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * The runs generated so far, as the isolation faults need them: they only name ids the detector
 * already knows as active, i.e. registered by a run of their user that started at least
 * `registrationLagMs` and at most ACTIVE_ID_MAX_AGE_MS before.
 */
function createRunHistory(rng: Rng, owners: readonly Owner[], registrationLagMs: number) {
  const pastRunsByUser = new Map<string, PastRun[]>();
  const pastStartsByThread = new Map<string, number[]>();
  const otherOwner = (ownerIndex: number): Owner => owners[(ownerIndex + rng.int(1, owners.length - 1)) % owners.length] as Owner;
  return {
    /** Other users than owners[ownerIndex], as seen by a run starting at startMs. */
    othersThan(ownerIndex: number, startMs: number): OtherUsers {
      return {
        recentThread() {
          for (let attempt = 0; attempt < 8; attempt++) {
            const thread = rng.pick(otherOwner(ownerIndex).threads);
            const starts = pastStartsByThread.get(thread) ?? [];
            const i = lastAtOrBefore(starts, startMs - registrationLagMs, (s) => s);
            if (i >= 0 && (starts[i] as number) >= startMs - ACTIVE_ID_MAX_AGE_MS) return thread;
          }
          return undefined;
        },
        activeId() {
          for (let attempt = 0; attempt < 8; attempt++) {
            const other = otherOwner(ownerIndex);
            const past = pastRunsByUser.get(other.userId) ?? [];
            const run = past[lastAtOrBefore(past, startMs - registrationLagMs, (p) => p.startMs)];
            if (run === undefined || run.startMs < startMs - ACTIVE_ID_MAX_AGE_MS) continue;
            const kind = rng.int(0, 2);
            return kind === 0 ? other.userId : kind === 1 ? run.runId : run.threadId;
          }
          return undefined;
        },
        anyUserId: () => otherOwner(ownerIndex).userId,
      };
    },
    remember(userId: string, run: PastRun): void {
      let past = pastRunsByUser.get(userId);
      if (past === undefined) pastRunsByUser.set(userId, (past = []));
      past.push(run);
      let starts = pastStartsByThread.get(run.threadId);
      if (starts === undefined) pastStartsByThread.set(run.threadId, (starts = []));
      starts.push(run.startMs);
    },
  };
}

/** A run's fault, ready to inject. */
interface RunFault {
  readonly fault: InjectedFault;
  readonly injector: FaultInjector;
  readonly borrowed: Borrowed;
}

export function generateTraffic(input: TrafficOptions = {}): SimulatedTraffic {
  const options = trafficOptionsSchema.parse(input);
  const rng = createRng(options.seed);
  // Ids embed the seed: traffic of two seeds published to one topic never shares a run/thread/user.
  const tag = (options.seed >>> 0).toString(36);

  const owners: Owner[] = [];
  for (let u = 0; u < options.users; u++) {
    const threads: string[] = [];
    for (let t = 0; t < options.threadsPerUser; t++) threads.push(`thread_${tag}_${u.toString(36)}_${t.toString(36)}_${rng.hex(6)}`);
    owners.push({ userId: `user_${tag}_${u.toString(36)}_${rng.hex(6)}`, tier: rng.pick(TIERS), threads, connectionId: `conn_${rng.hex(16)}` });
  }

  // Exactly round(fraction * runs) runs lose one type, so expectations are exact, not statistical.
  const droppedRuns = new Map<number, LifecycleType>();
  const runIndexes = rng.shuffle(Array.from({ length: options.runs }, (_, i) => i));
  const missingCount = Math.round(options.missingEventFraction * options.runs);
  for (const i of runIndexes.slice(0, missingCount)) droppedRuns.set(i, rng.pick(LIFECYCLE_TYPES));
  // Then exactly round(fraction * runs) other runs get one fault each (fewer if runs run out).
  const faultedRuns = new Map<number, FaultClass>();
  const faultCount = Math.min(Math.round(options.faultFraction * options.runs), options.runs - missingCount);
  const mixWeights = FAULT_CLASSES.map((c) => options.faultMix[c]);
  for (const i of runIndexes.slice(missingCount, missingCount + faultCount)) faultedRuns.set(i, FAULT_CLASSES[rng.weighted(mixWeights)] ?? 'duplicate_delivery');

  const shapeWeights = LIFECYCLE_SHAPES.map((s) => options.shapeMix[s]);
  const pickShape = (type: LifecycleType): LifecycleShape => {
    const weights = LIFECYCLE_SHAPES.map((s, i) => (shapeSupports(s, type) ? (shapeWeights[i] ?? 0) : 0));
    return LIFECYCLE_SHAPES[rng.weighted(weights)] ?? 'flat';
  };

  // A run registers its owner's ids at its first event naming the owner, at most a few gaps after it starts.
  const registrationLagMs = Math.max(15_000, 2 * options.gapMs.max + INJECTED.gapCriticalMs.max + 1_000);
  const history = createRunHistory(rng, owners, registrationLagMs);

  /** What the class takes from other users for this run; undefined if this run cannot take the class. */
  const borrowFor = (fault: FaultClass, others: OtherUsers): Borrowed | undefined => {
    const injector = FAULT_INJECTORS[fault];
    if (owners.length < (injector.minUsers ?? 1)) return undefined;
    return injector.borrow === undefined ? {} : injector.borrow(others);
  };
  /** A class of the mix that can be injected into any run. */
  const fallbackFault = (): FaultClass => {
    const injectable = (c: FaultClass): boolean => !FAULT_INJECTORS[c].needsPastRuns && owners.length >= (FAULT_INJECTORS[c].minUsers ?? 1);
    const weights = FAULT_CLASSES.map((c) => (injectable(c) ? options.faultMix[c] : 0));
    return weights.some((w) => w > 0) ? (FAULT_CLASSES[rng.weighted(weights)] ?? 'duplicate_delivery') : 'duplicate_delivery';
  };
  /** The fault of run r, if any: a class this run cannot take is replaced by one it can. */
  const faultOf = (r: number, ownerIndex: number, startMs: number): RunFault | undefined => {
    const dropped = droppedRuns.get(r);
    if (dropped !== undefined) return { fault: 'missing_event', injector: missingEvent(dropped), borrowed: {} };
    const drawn = faultedRuns.get(r);
    if (drawn === undefined) return undefined;
    const others = history.othersThan(ownerIndex, startMs);
    const borrowed = borrowFor(drawn, others);
    if (borrowed !== undefined) return { fault: drawn, injector: FAULT_INJECTORS[drawn], borrowed };
    const fallback = fallbackFault();
    const fallbackBorrowed = borrowFor(fallback, others);
    if (fallbackBorrowed === undefined) throw new Error(`fallback fault ${fallback} cannot be injected`);
    return { fault: fallback, injector: FAULT_INJECTORS[fallback], borrowed: fallbackBorrowed };
  };

  const records: SimRecord[] = [];
  const missingEventRuns: MissingEventRun[] = [];
  const incompleteRuns: MissingEventRun[] = [];
  const labelled: RunLabels[] = [];
  const lateReplays: (LateReplay & { readonly run: RunLabels })[] = [];
  let labelsExact = true;
  let runStartOffset = 0;
  let lastDeliveryMs = options.startTimeMs;
  /** The highest event time the chain processes: timers due before it fire, later ones never do. */
  let inputEndMs = Number.NEGATIVE_INFINITY;

  for (let r = 0; r < options.runs; r++) {
    runStartOffset += rng.exponential(options.meanRunStartSpacingMs);
    const startMs = options.startTimeMs + Math.round(runStartOffset);
    const ownerIndex = rng.int(0, owners.length - 1);
    const owner = owners[ownerIndex] as Owner;
    const ownThreadId = rng.pick(owner.threads);
    const runId = rng.chance(0.5) ? uuidLike(rng, r) : `run_${tag}_${r.toString(36)}_${rng.hex(6)}`;
    const agent = rng.pick(AGENTS);
    const task = rng.pick(agent.tasks);
    const runFault = faultOf(r, ownerIndex, startMs);
    const injector = runFault?.injector;
    const threadId = runFault?.borrowed.threadId ?? ownThreadId;

    const pairs = injector?.toolPairs === undefined ? drawToolPairs(rng, options.pairRepeats, 1) : injector.toolPairs(rng, options.pairRepeats);
    const plan: LifecycleType[] = ['agent_started'];
    for (let i = 0; i < pairs; i++) plan.push('agent_thinking', 'tool_executing', 'tool_completed');
    plan.push('agent_completed');

    // gaps[i] precedes event i; drawn up front so a tool call knows its running time (the next gap).
    const gapRange = injector?.gapRangeMs ?? options.gapMs;
    const gaps = plan.map((_, i) => (i === 0 ? 0 : Math.max(1, rng.int(gapRange.min, gapRange.max))));
    injector?.reshapeGaps?.(gaps, rng);

    const run: RunContext = { runId, threadId, owner, agent, task, startMs, totalSteps: plan.length, reasoningTypeFraction: options.reasoningTypeFraction };
    const planned: PlannedEvent[] = [];
    let emittedAtMs = startMs;
    let tool: SimToolCall | undefined;
    for (let step = 1; step <= plan.length; step++) {
      const type = plan[step - 1] as LifecycleType;
      emittedAtMs += gaps[step - 1] ?? 0;
      if (type === 'tool_executing') tool = buildToolCall(rng, agent, gaps[step] ?? options.gapMs.min);
      if (type === injector?.omits) continue;
      const shape = pickShape(type);
      const sim = simEvent(rng, run, type, shape, emittedAtMs, step, tool);
      planned.push({ sim, shape, latencyMs: rng.int(options.latencyMs.min, options.latencyMs.max), body: encodeLifecycle(sim, shape) });
    }

    const injection = injector?.inject({
      rng,
      runId,
      threadId,
      planned,
      pairs,
      borrowed: runFault?.borrowed ?? {},
      newEvent: (type, at) => {
        const shape = pickShape(type);
        const body = encodeLifecycle(simEvent(rng, run, type, shape, at, plan.length, undefined), shape);
        return { body, deliveredAtMs: at + rng.int(options.latencyMs.min, options.latencyMs.max), emittedAtMs: wireEmittedMs(at, shape) };
      },
    });
    const extras = injection?.extras ?? [];
    if (injection?.missing !== undefined) {
      const incomplete: MissingEventRun = { runId, userId: owner.userId, threadId, missing: [...injection.missing] };
      if (runFault?.fault === 'missing_event') missingEventRuns.push(incomplete);
      incompleteRuns.push(incomplete);
    }

    // Timing verdicts follow from the times every rule sees (redeliveries and extras excluded).
    const labels: Label[] = [...(injection?.labels ?? [])];
    const timed: TimedEvent[] = planned
      .map((p) => ({ type: p.sim.type, emittedAtMs: wireEmittedMs(p.sim.emittedAtMs, p.shape), deliveredAtMs: deliveredAt(p) }))
      .sort((a, b) => a.emittedAtMs - b.emittedAtMs);
    const timing = timingLabels(timed);
    labels.push(...timing.labels);
    if (!timingModelled(timed, extras.filter((e) => e.emittedAtMs !== undefined).map((e) => e.deliveredAtMs - (e.emittedAtMs as number)))) labelsExact = false;

    if (labels.length > 0 || timing.pending.length > 0 || runFault !== undefined) {
      const fault = runFault === undefined || injection === undefined ? undefined : { runId, userId: owner.userId, threadId, fault: runFault.fault, variant: injection.variant };
      const runLabels: RunLabels = { runId, labels, pending: timing.pending, fault };
      labelled.push(runLabels);
      if (injection?.lateReplay !== undefined) lateReplays.push({ ...injection.lateReplay, run: runLabels });
    }

    for (const p of planned) {
      const timestampMs = deliveredAt(p);
      if (timestampMs > lastDeliveryMs) lastDeliveryMs = timestampMs;
      records.push({ key: p.key ?? threadId, value: JSON.stringify(p.body), timestampMs });
    }
    for (const e of extras) {
      if (e.deliveredAtMs > lastDeliveryMs) lastDeliveryMs = e.deliveredAtMs;
      if (e.emittedAtMs !== undefined && e.emittedAtMs > inputEndMs) inputEndMs = e.emittedAtMs;
      records.push({ key: threadId, value: JSON.stringify(e.body), timestampMs: e.deliveredAtMs });
    }
    const lastEmitted = timed.at(-1)?.emittedAtMs;
    if (lastEmitted !== undefined && lastEmitted > inputEndMs) inputEndMs = lastEmitted;

    // A run on another user's thread is not its owner's: remembered, it would let a later fault name that thread as the owner's.
    if (runFault?.borrowed.threadId === undefined) history.remember(owner.userId, { startMs, runId, threadId });
  }

  // A late replay is sent only where later traffic moves the watermark past its run's close on every
  // partition before it arrives (not near the end of the input): it is then late, and its run judged
  // and still remembered. Else the run stays a run that lost its thinking.
  const lateEvents: ExpectedLateEvent[] = [];
  const revisions: ExpectedRevision[] = [];
  const deliveries = records.map((r) => r.timestampMs).sort((a, b) => a - b);
  const deliveredUpTo = (ms: number): number => lastAtOrBefore(deliveries, ms, (d) => d) + 1;
  for (const replay of lateReplays) {
    // Delivered from here on, a record was emitted after the close + the out-of-orderness bound + a watermark step.
    const from = replay.closedAtMs + WATERMARK_LAG_MS + options.latencyMs.max;
    const traffic = deliveredUpTo(replay.record.timestampMs - PARTITION_SKEW_ALLOWANCE_MS) - deliveredUpTo(from);
    const fault = replay.run.fault as NonNullable<RunLabels['fault']>;
    if (traffic < LATE_REPLAY_MIN_TRAFFIC) {
      replay.run.fault = { ...fault, variant: `${fault.variant}:not_sent` };
      continue;
    }
    records.push(replay.record);
    if (replay.record.timestampMs > lastDeliveryMs) lastDeliveryMs = replay.record.timestampMs;
    // Checked like any late event: its delivery latency is the time it spent failed and queued.
    const latency = deliveryLatencyLabel({ type: replay.type, emittedAtMs: replay.emittedAtMs, deliveredAtMs: replay.record.timestampMs });
    if (latency !== undefined) replay.run.labels.push(latency);
    lateEvents.push({ runId: replay.run.runId, type: replay.type });
    revisions.push({ runId: replay.run.runId, action: replay.revision });
  }

  // Timer verdicts (silence, deadline of an unfinished run) fire only if event time passes them.
  const violations: ExpectedViolation[] = [];
  const faultRuns: FaultRun[] = [];
  const violationCounts: Partial<Record<RuleId, number>> = {};
  for (const run of labelled) {
    const labels = [...run.labels, ...run.pending.filter((p) => p.dueMs < inputEndMs).map((p) => p.label)];
    for (const label of labels) {
      violations.push({ runId: run.runId, ...label });
      if (label.onlyIfApart === undefined) violationCounts[label.rule] = (violationCounts[label.rule] ?? 0) + 1;
    }
    if (run.fault !== undefined) faultRuns.push({ ...run.fault, violations: labels.length });
  }

  const lifecycleEvents = records.length;
  const serverMessages = Math.round(options.serverMessageFraction * lifecycleEvents);
  const malformedRecords = Math.round(options.malformedFraction * lifecycleEvents);
  const span = lastDeliveryMs - options.startTimeMs;

  for (let i = 0; i < serverMessages; i++) {
    const owner = rng.pick(owners);
    const emittedAtMs = options.startTimeMs + rng.int(0, span);
    const type = rng.chance(0.85) ? 'heartbeat' : 'connection_established';
    const value = JSON.stringify(encodeServerMessage({ type, connectionId: owner.connectionId, userId: owner.userId, emittedAtMs }));
    records.push({ key: rng.pick(owner.threads), value, timestampMs: emittedAtMs + rng.int(options.latencyMs.min, options.latencyMs.max) });
  }

  for (let i = 0; i < malformedRecords; i++) records.push(malformedRecord(rng, records, lifecycleEvents, owners, options.startTimeMs, span));

  // Array.prototype.sort is stable, so ties keep generation order and the output stays deterministic.
  records.sort((a, b) => a.timestampMs - b.timestampMs);
  return {
    options,
    records,
    expected: { missingEventRuns, incompleteRuns, faultRuns, violations, lateEvents, revisions, violationCounts, labelsExact, malformedRecords, serverMessages, runs: options.runs, lifecycleEvents },
  };
}

/**
 * A record the decoder must dead-letter: a truncated copy of a real record, a real record with
 * its `type` removed, or a plain log line. Copies are extra records, so the run keeps its event.
 */
function malformedRecord(rng: Rng, records: readonly SimRecord[], lifecycleCount: number, owners: readonly Owner[], startMs: number, span: number): SimRecord {
  const kind = lifecycleCount === 0 ? 2 : rng.int(0, 2);
  if (kind < 2) {
    const base = records[rng.int(0, lifecycleCount - 1)] as SimRecord;
    if (kind === 0) {
      // Any proper prefix of a JSON object text is invalid JSON (its closing brace is gone).
      return { key: base.key, value: base.value.slice(0, rng.int(1, base.value.length - 1)), timestampMs: base.timestampMs + rng.int(0, 50) };
    }
    const parsed = JSON.parse(base.value) as Record<string, unknown>;
    delete parsed['type'];
    return { key: base.key, value: JSON.stringify(parsed), timestampMs: base.timestampMs + rng.int(0, 50) };
  }
  const owner = rng.pick(owners);
  const threadId = rng.pick(owner.threads);
  return {
    key: threadId,
    value: `WARNING websocket send failed for thread ${threadId}: connection reset by peer (attempt ${rng.int(1, 3)})`,
    timestampMs: startMs + rng.int(0, span),
  };
}
