/**
 * Encoders from a plain description of one lifecycle event to each wire shape that really reaches
 * clients (fact sheet §1.1). The simulator must exercise every shape, because the original
 * validation only ever saw its own fixture shape and rejected real production events.
 *
 * Encoders are pure: all randomness is decided by the generator and carried in the description,
 * so a description always encodes to the same bytes.
 */
import type { LifecycleType, WireShape } from '../contract/event.js';

/** Lifecycle wire shapes (E "server" only carries heartbeats/connection messages). */
export type LifecycleShape = Exclude<WireShape, 'server'>;
export const LIFECYCLE_SHAPES: readonly LifecycleShape[] = ['flat', 'wrapped', 'bridge', 'fixture', 'data_nested'];

/** The bridge sends only these lifecycle types directly (fact sheet §1.1 B). */
const BRIDGE_TYPES: ReadonlySet<LifecycleType> = new Set(['agent_started', 'tool_executing', 'tool_completed']);

export function shapeSupports(shape: LifecycleShape, type: LifecycleType): boolean {
  return shape !== 'bridge' || BRIDGE_TYPES.has(type);
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface SimToolCall {
  readonly name: string;
  /** Emitters may send a null execution id (fact sheet §1.2). */
  readonly executionId: string | null;
  readonly args: JsonObject;
  readonly result: JsonObject;
  readonly executionTimeMs: number;
  readonly success: boolean;
}

export interface SimLifecycleEvent {
  readonly type: LifecycleType;
  /** Wire `type`; differs from `type` only for the emitter bug sending "reasoning" for agent_thinking. */
  readonly wireType: string;
  readonly runId: string;
  readonly threadId: string;
  /** The real owner of the run (emitter-path thinking/completed still put thread_id on the wire). */
  readonly userId: string;
  readonly agentName: string;
  readonly userTier: string;
  readonly emittedAtMs: number;
  /** 1-based position of the event in its run, and the run's planned length (for progress). */
  readonly step: number;
  readonly totalSteps: number;
  /** uuid-like; sent as event_id / message_id where the shape carries one. */
  readonly eventId: string;
  /** Whether optional fields (trace, bridge event_id, request_id) are present on this record. */
  readonly withOptional: boolean;
  readonly taskDescription: string;
  readonly reasoning?: string;
  readonly tool?: SimToolCall;
  readonly finalResponse?: string;
  /** Event time elapsed since the run started (agent_completed's execution_time_ms). */
  readonly elapsedMs?: number;
}

/**
 * Sub-millisecond digits derived from the ms value itself (deterministic) and kept within
 * [100, 499] µs: any reader that truncates or rounds to ms gets back exactly `ms`, and float
 * epoch seconds stay clear of the .000/.500 edges where double rounding could flip a digit.
 */
function subMicros(ms: number): number {
  return 100 + ((Math.imul(ms % 0x7fffffff, 2654435761) >>> 0) % 400);
}

/** ISO-8601 with microseconds and "+00:00", as the Python backend writes it. */
export function isoMicros(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}${String(subMicros(ms)).padStart(3, '0')}+00:00`;
}

/** Epoch seconds as a float (server messages and test fixtures), with microsecond precision. */
export function epochSeconds(ms: number): number {
  return (ms * 1000 + subMicros(ms)) / 1e6;
}

function requireTool(ev: SimLifecycleEvent): SimToolCall {
  if (!ev.tool) throw new RangeError(`${ev.type} event of run ${ev.runId} has no tool call`);
  return ev.tool;
}

function progress(ev: SimLifecycleEvent): number {
  return Math.round((ev.step / ev.totalSteps) * 100);
}

/** Emitter-path business fields (shapes A and A'), in the emitter's key order. */
function emitterFields(ev: SimLifecycleEvent): JsonObject {
  // The emitter stamps thread_id into user_id for thinking/completed (fact sheet §1.3).
  const wireUser = ev.type === 'agent_thinking' || ev.type === 'agent_completed' ? ev.threadId : ev.userId;
  const base: JsonObject = { type: ev.wireType, run_id: ev.runId, thread_id: ev.threadId, user_id: wireUser, agent_name: ev.agentName };
  if (ev.withOptional) base['request_id'] = `req_${ev.eventId.replace(/-/g, '').slice(0, 16)}`;
  const metadata: JsonObject = {
    coordination_mode: 'unified',
    performance_mode: true,
    emitter_type: 'UnifiedWebSocketEmitter',
    user_tier: ev.userTier,
    is_priority_queue: ev.userTier === 'enterprise',
  };
  switch (ev.type) {
    case 'agent_started':
      return { ...base, task_description: ev.taskDescription, status: 'started', metadata };
    case 'agent_thinking':
      return { ...base, reasoning: ev.reasoning ?? '', step_number: ev.step, progress_percentage: progress(ev), metadata };
    case 'tool_executing': {
      const tool = requireTool(ev);
      return { ...base, tool_name: tool.name, tool_args: tool.args, parameters: tool.args, execution_id: tool.executionId };
    }
    case 'tool_completed': {
      const tool = requireTool(ev);
      return {
        ...base,
        tool_name: tool.name,
        results: tool.result,
        execution_time: tool.executionTimeMs / 1000,
        duration: tool.executionTimeMs,
        success: tool.success,
        execution_id: tool.executionId,
      };
    }
    case 'agent_completed':
      return {
        ...base,
        status: 'completed',
        final_response: ev.finalResponse ?? '',
        result: { status: 'success', steps: ev.totalSteps },
        execution_time_ms: ev.elapsedMs ?? 0,
        message: `${ev.agentName} completed`,
        metadata: { user_tier: ev.userTier, emitter_type: 'UnifiedWebSocketEmitter' },
      };
  }
}

/** A: flat critical envelope (current emitter). */
function encodeFlat(ev: SimLifecycleEvent): JsonObject {
  return { timestamp: isoMicros(ev.emittedAtMs), critical: true, ...emitterFields(ev) };
}

/** A': the same business fields wrapped in `payload` (emitter behaviour of 2025-09-15/16). */
function encodeWrapped(ev: SimLifecycleEvent): JsonObject {
  const { type: _type, ...payload } = emitterFields(ev);
  return { timestamp: isoMicros(ev.emittedAtMs), critical: true, attempt: null, type: ev.wireType, payload };
}

/** B: bridge-direct dicts; real user_id, no thread_id, details in `data`. */
function encodeBridge(ev: SimLifecycleEvent): JsonObject {
  const head: JsonObject = { type: ev.wireType, run_id: ev.runId, user_id: ev.userId, agent_name: ev.agentName };
  const timestamp = isoMicros(ev.emittedAtMs);
  switch (ev.type) {
    case 'agent_started': {
      const out: JsonObject = {
        ...head,
        timestamp,
        data: {
          status: 'started',
          context: { task: ev.taskDescription, user_tier: ev.userTier, streaming: true },
          message: `${ev.agentName} started processing the request`,
        },
      };
      if (ev.withOptional) out['trace'] = { trace_id: ev.eventId.replace(/-/g, ''), span_id: ev.eventId.slice(0, 16).replace(/-/g, '') };
      return out;
    }
    case 'tool_executing': {
      const tool = requireTool(ev);
      const out: JsonObject = {
        ...head,
        tool_name: tool.name,
        timestamp,
        data: { parameters: tool.args, status: 'executing', message: `${ev.agentName} is executing ${tool.name}` },
      };
      if (ev.withOptional) out['event_id'] = ev.eventId;
      return out;
    }
    case 'tool_completed': {
      const tool = requireTool(ev);
      const out: JsonObject = {
        ...head,
        tool_name: tool.name,
        timestamp,
        results: tool.result,
        data: {
          result: tool.result,
          execution_time_ms: tool.executionTimeMs,
          status: 'completed',
          message: `${ev.agentName} completed ${tool.name}`,
        },
      };
      if (ev.withOptional) out['event_id'] = ev.eventId;
      return out;
    }
    default:
      throw new RangeError(`the bridge never sends ${ev.type} directly`);
  }
}

/** Type-specific fields for the fixture and data-nested shapes (real user_id there). */
function detailFields(ev: SimLifecycleEvent): JsonObject {
  switch (ev.type) {
    case 'agent_started':
      return { task_description: ev.taskDescription, status: 'started' };
    case 'agent_thinking':
      return { reasoning: ev.reasoning ?? '', step_number: ev.step, progress_percentage: progress(ev) };
    case 'tool_executing': {
      const tool = requireTool(ev);
      return { tool_name: tool.name, parameters: tool.args };
    }
    case 'tool_completed': {
      const tool = requireTool(ev);
      return { tool_name: tool.name, results: tool.result, success: tool.success, execution_time_ms: tool.executionTimeMs };
    }
    case 'agent_completed':
      return {
        status: 'completed',
        final_response: ev.finalResponse ?? '',
        result: { status: 'success', steps: ev.totalSteps },
        execution_time_ms: ev.elapsedMs ?? 0,
      };
  }
}

/** C: the original tests' fixture shape: epoch-seconds root timestamp, fields in `payload`. */
function encodeFixture(ev: SimLifecycleEvent): JsonObject {
  const seconds = epochSeconds(ev.emittedAtMs);
  return {
    type: ev.wireType,
    thread_id: ev.threadId,
    message_id: `msg_${ev.eventId.replace(/-/g, '').slice(0, 16)}`,
    timestamp: seconds,
    payload: { agent_name: ev.agentName, run_id: ev.runId, user_id: ev.userId, timestamp: seconds, ...detailFields(ev) },
  };
}

/** D: older data-nested shape with ids, ISO timestamp and a uuid event_id inside `data`. */
function encodeDataNested(ev: SimLifecycleEvent): JsonObject {
  return {
    type: ev.wireType,
    data: {
      agent_name: ev.agentName,
      ...detailFields(ev),
      user_id: ev.userId,
      thread_id: ev.threadId,
      run_id: ev.runId,
      timestamp: isoMicros(ev.emittedAtMs),
      event_id: ev.eventId,
    },
  };
}

export function encodeLifecycle(ev: SimLifecycleEvent, shape: LifecycleShape): JsonObject {
  switch (shape) {
    case 'flat':
      return encodeFlat(ev);
    case 'wrapped':
      return encodeWrapped(ev);
    case 'bridge':
      return encodeBridge(ev);
    case 'fixture':
      return encodeFixture(ev);
    case 'data_nested':
      return encodeDataNested(ev);
  }
}

export interface SimServerMessage {
  readonly type: 'heartbeat' | 'connection_established';
  readonly connectionId: string;
  readonly userId: string;
  readonly emittedAtMs: number;
}

/** E: server messages; epoch-seconds float timestamp and null server/correlation ids. */
export function encodeServerMessage(msg: SimServerMessage): JsonObject {
  const data: JsonObject =
    msg.type === 'heartbeat'
      ? { connection_id: msg.connectionId, status: 'healthy', server_time: isoMicros(msg.emittedAtMs), interval_seconds: 30 }
      : {
          connection_id: msg.connectionId,
          user_id: msg.userId,
          connection_ready: true,
          server_time: isoMicros(msg.emittedAtMs),
          config: { heartbeat_interval: 30, max_message_size: 65536, compression: false },
        };
  return { type: msg.type, data, timestamp: epochSeconds(msg.emittedAtMs), server_id: null, correlation_id: null };
}
