/**
 * Deterministic traffic generator: thousands of interleaved agent runs encoded in every real wire
 * shape, plus the ground truth (which runs lack which event type) that tests and the demo check
 * the detectors against. Pure: no clock, no Math.random, no I/O; one seed -> one byte stream.
 */
import { z } from 'zod';
import { LIFECYCLE_TYPES, type LifecycleType } from '../contract/event.js';
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
    /** Event-time gap between consecutive events of a run: defaults keep a run under ~10 s. */
    gapMs: range(50, 900, 600_000),
    /**
     * Delivery latency: record timestamp = emitted + latency. At least 1 ms because wire timestamps
     * carry up to 0.5 ms of extra microseconds: delivery must never precede emission.
     */
    latencyMs: range(5, 300, 600_000, 1),
    /** Fraction of runs that lose every event of one lifecycle type. */
    missingEventFraction: z.number().min(0).max(1).default(0.05),
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

export interface SimulatedTraffic {
  readonly options: ResolvedTrafficOptions;
  /** Sorted by delivery time (stable: ties keep generation order). */
  readonly records: SimRecord[];
  readonly expected: {
    readonly missingEventRuns: MissingEventRun[];
    readonly malformedRecords: number;
    readonly serverMessages: number;
    readonly runs: number;
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
  const runIndexes = Array.from({ length: options.runs }, (_, i) => i);
  for (const i of rng.shuffle(runIndexes).slice(0, Math.round(options.missingEventFraction * options.runs))) {
    droppedRuns.set(i, rng.pick(LIFECYCLE_TYPES));
  }

  const shapeWeights = LIFECYCLE_SHAPES.map((s) => options.shapeMix[s]);
  const pickShape = (type: LifecycleType): LifecycleShape => {
    const weights = LIFECYCLE_SHAPES.map((s, i) => (shapeSupports(s, type) ? (shapeWeights[i] ?? 0) : 0));
    return LIFECYCLE_SHAPES[rng.weighted(weights)] ?? 'flat';
  };

  const records: SimRecord[] = [];
  const missingEventRuns: MissingEventRun[] = [];
  let runStartOffset = 0;
  let lastDeliveryMs = options.startTimeMs;

  for (let r = 0; r < options.runs; r++) {
    runStartOffset += rng.exponential(options.meanRunStartSpacingMs);
    const startMs = options.startTimeMs + Math.round(runStartOffset);
    const owner = rng.pick(owners);
    const threadId = rng.pick(owner.threads);
    const runId = rng.chance(0.5) ? uuidLike(rng, r) : `run_${tag}_${r.toString(36)}_${rng.hex(6)}`;
    const agent = rng.pick(AGENTS);
    const task = rng.pick(agent.tasks);
    const dropped = droppedRuns.get(r);
    if (dropped) missingEventRuns.push({ runId, userId: owner.userId, threadId, missing: [dropped] });

    const plan: LifecycleType[] = ['agent_started'];
    const repeats = rng.int(options.pairRepeats.min, options.pairRepeats.max);
    for (let i = 0; i < repeats; i++) plan.push('agent_thinking', 'tool_executing', 'tool_completed');
    plan.push('agent_completed');

    // gaps[i] precedes event i; drawn up front so a tool call knows its running time (the next gap).
    const gaps = plan.map((_, i) => (i === 0 ? 0 : rng.int(options.gapMs.min, options.gapMs.max)));
    let emittedAtMs = startMs;
    let tool: SimToolCall | undefined;
    for (let step = 1; step <= plan.length; step++) {
      const type = plan[step - 1] as LifecycleType;
      emittedAtMs += gaps[step - 1] ?? 0;
      if (type === 'tool_executing') tool = buildToolCall(rng, agent, gaps[step] ?? options.gapMs.min);
      if (type === dropped) continue;

      const shape = pickShape(type);
      const emitterPath = shape === 'flat' || shape === 'wrapped';
      const ev: SimLifecycleEvent = {
        type,
        wireType: type === 'agent_thinking' && emitterPath && rng.chance(options.reasoningTypeFraction) ? 'reasoning' : type,
        runId,
        threadId,
        userId: owner.userId,
        agentName: agent.name,
        userTier: owner.tier,
        emittedAtMs,
        step,
        totalSteps: plan.length,
        eventId: uuidLike(rng),
        withOptional: rng.chance(0.5),
        taskDescription: task,
        // One object shape for every event (absent fields undefined) keeps the encoders monomorphic.
        reasoning: type === 'agent_thinking' ? `${rng.pick(THOUGHT_OPENERS)} ${rng.pick(THOUGHT_SUBJECTS)}; ${rng.pick(THOUGHT_NEXT)}.` : undefined,
        tool: type === 'tool_executing' || type === 'tool_completed' ? tool : undefined,
        finalResponse: type === 'agent_completed' ? `Finished. ${rng.pick(FINDINGS)}; estimated monthly savings $${money(rng, 20000)}.` : undefined,
        elapsedMs: emittedAtMs - startMs,
      };
      const timestampMs = emittedAtMs + rng.int(options.latencyMs.min, options.latencyMs.max);
      if (timestampMs > lastDeliveryMs) lastDeliveryMs = timestampMs;
      records.push({ key: threadId, value: JSON.stringify(encodeLifecycle(ev, shape)), timestampMs });
    }
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
  return { options, records, expected: { missingEventRuns, malformedRecords, serverMessages, runs: options.runs, lifecycleEvents } };
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
