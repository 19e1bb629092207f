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

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n));

// Date#toISOString costs ~1 µs and runs for most of ~1M records: the "YYYY-MM-DDTHH:MM:" part is
// cached per minute (a run's events sit within seconds of each other) and the rest is arithmetic.
let cachedMinute = Number.NaN;
let cachedMinutePrefix = '';

/** ISO-8601 with microseconds and "+00:00", as the Python backend writes it. */
export function isoMicros(ms: number): string {
  const minute = Math.floor(ms / 60_000);
  if (minute !== cachedMinute) {
    cachedMinute = minute;
    cachedMinutePrefix = new Date(minute * 60_000).toISOString().slice(0, 17);
  }
  const inMinute = ms - minute * 60_000;
  return `${cachedMinutePrefix}${pad2(Math.floor(inMinute / 1000))}.${pad3(inMinute % 1000)}${subMicros(ms)}+00:00`;
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

const compactId = (uuid: string): string => uuid.replace(/-/g, '');

/*
 * Objects below are built by assigning keys in order rather than with object spread: with ~1M
 * records per 100k runs, spread copies were a visible share of generation time.
 */

/** Emitter-path business fields (shapes A and A'), in the emitter's key order; `into` may hold envelope keys. */
function emitterFields(ev: SimLifecycleEvent, into: JsonObject): JsonObject {
  const o = into;
  o['run_id'] = ev.runId;
  o['thread_id'] = ev.threadId;
  // The emitter stamps thread_id into user_id for thinking/completed (fact sheet §1.3).
  o['user_id'] = ev.type === 'agent_thinking' || ev.type === 'agent_completed' ? ev.threadId : ev.userId;
  o['agent_name'] = ev.agentName;
  if (ev.withOptional) o['request_id'] = `req_${compactId(ev.eventId).slice(0, 16)}`;
  switch (ev.type) {
    case 'agent_started':
      o['task_description'] = ev.taskDescription;
      o['status'] = 'started';
      o['metadata'] = emitterMetadata(ev);
      return o;
    case 'agent_thinking':
      o['reasoning'] = ev.reasoning ?? '';
      o['step_number'] = ev.step;
      o['progress_percentage'] = progress(ev);
      o['metadata'] = emitterMetadata(ev);
      return o;
    case 'tool_executing': {
      const tool = requireTool(ev);
      o['tool_name'] = tool.name;
      o['tool_args'] = tool.args;
      o['parameters'] = tool.args;
      o['execution_id'] = tool.executionId;
      return o;
    }
    case 'tool_completed': {
      const tool = requireTool(ev);
      o['tool_name'] = tool.name;
      o['results'] = tool.result;
      o['execution_time'] = tool.executionTimeMs / 1000;
      o['duration'] = tool.executionTimeMs;
      o['success'] = tool.success;
      o['execution_id'] = tool.executionId;
      return o;
    }
    case 'agent_completed':
      o['status'] = 'completed';
      o['final_response'] = ev.finalResponse ?? '';
      o['result'] = { status: 'success', steps: ev.totalSteps };
      o['execution_time_ms'] = ev.elapsedMs ?? 0;
      o['message'] = `${ev.agentName} completed`;
      o['metadata'] = { user_tier: ev.userTier, emitter_type: 'UnifiedWebSocketEmitter' };
      return o;
  }
}

function emitterMetadata(ev: SimLifecycleEvent): JsonObject {
  return {
    coordination_mode: 'unified',
    performance_mode: true,
    emitter_type: 'UnifiedWebSocketEmitter',
    user_tier: ev.userTier,
    is_priority_queue: ev.userTier === 'enterprise',
  };
}

/** A: flat critical envelope (current emitter). */
function encodeFlat(ev: SimLifecycleEvent): JsonObject {
  return emitterFields(ev, { timestamp: isoMicros(ev.emittedAtMs), critical: true, type: ev.wireType });
}

/** A': the same business fields wrapped in `payload` (emitter behaviour of 2025-09-15/16). */
function encodeWrapped(ev: SimLifecycleEvent): JsonObject {
  return { timestamp: isoMicros(ev.emittedAtMs), critical: true, attempt: null, type: ev.wireType, payload: emitterFields(ev, {}) };
}

/** B: bridge-direct dicts; real user_id, no thread_id, details in `data`. */
function encodeBridge(ev: SimLifecycleEvent): JsonObject {
  const o: JsonObject = { type: ev.wireType, run_id: ev.runId, user_id: ev.userId, agent_name: ev.agentName };
  switch (ev.type) {
    case 'agent_started':
      o['timestamp'] = isoMicros(ev.emittedAtMs);
      o['data'] = {
        status: 'started',
        context: { task: ev.taskDescription, user_tier: ev.userTier, streaming: true },
        message: `${ev.agentName} started processing the request`,
      };
      if (ev.withOptional) {
        const id = compactId(ev.eventId);
        o['trace'] = { trace_id: id, span_id: id.slice(0, 16) };
      }
      return o;
    case 'tool_executing': {
      const tool = requireTool(ev);
      o['tool_name'] = tool.name;
      o['timestamp'] = isoMicros(ev.emittedAtMs);
      o['data'] = { parameters: tool.args, status: 'executing', message: `${ev.agentName} is executing ${tool.name}` };
      if (ev.withOptional) o['event_id'] = ev.eventId;
      return o;
    }
    case 'tool_completed': {
      const tool = requireTool(ev);
      o['tool_name'] = tool.name;
      o['timestamp'] = isoMicros(ev.emittedAtMs);
      o['results'] = tool.result;
      o['data'] = {
        result: tool.result,
        execution_time_ms: tool.executionTimeMs,
        status: 'completed',
        message: `${ev.agentName} completed ${tool.name}`,
      };
      if (ev.withOptional) o['event_id'] = ev.eventId;
      return o;
    }
    default:
      throw new RangeError(`the bridge never sends ${ev.type} directly`);
  }
}

/** Type-specific fields for the fixture and data-nested shapes (real user_id there), added to `o`. */
function detailFields(ev: SimLifecycleEvent, o: JsonObject): JsonObject {
  switch (ev.type) {
    case 'agent_started':
      o['task_description'] = ev.taskDescription;
      o['status'] = 'started';
      return o;
    case 'agent_thinking':
      o['reasoning'] = ev.reasoning ?? '';
      o['step_number'] = ev.step;
      o['progress_percentage'] = progress(ev);
      return o;
    case 'tool_executing': {
      const tool = requireTool(ev);
      o['tool_name'] = tool.name;
      o['parameters'] = tool.args;
      return o;
    }
    case 'tool_completed': {
      const tool = requireTool(ev);
      o['tool_name'] = tool.name;
      o['results'] = tool.result;
      o['success'] = tool.success;
      o['execution_time_ms'] = tool.executionTimeMs;
      return o;
    }
    case 'agent_completed':
      o['status'] = 'completed';
      o['final_response'] = ev.finalResponse ?? '';
      o['result'] = { status: 'success', steps: ev.totalSteps };
      o['execution_time_ms'] = ev.elapsedMs ?? 0;
      return o;
  }
}

/** C: the original tests' fixture shape: epoch-seconds root timestamp, fields in `payload`. */
function encodeFixture(ev: SimLifecycleEvent): JsonObject {
  const seconds = epochSeconds(ev.emittedAtMs);
  return {
    type: ev.wireType,
    thread_id: ev.threadId,
    message_id: `msg_${compactId(ev.eventId).slice(0, 16)}`,
    timestamp: seconds,
    payload: detailFields(ev, { agent_name: ev.agentName, run_id: ev.runId, user_id: ev.userId, timestamp: seconds }),
  };
}

/** D: older data-nested shape with ids, ISO timestamp and a uuid event_id inside `data`. */
function encodeDataNested(ev: SimLifecycleEvent): JsonObject {
  const data = detailFields(ev, { agent_name: ev.agentName });
  data['user_id'] = ev.userId;
  data['thread_id'] = ev.threadId;
  data['run_id'] = ev.runId;
  data['timestamp'] = isoMicros(ev.emittedAtMs);
  data['event_id'] = ev.eventId;
  return { type: ev.wireType, data };
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
