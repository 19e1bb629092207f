/**
 * The boundary: one raw Kafka record in, exactly one of lifecycle event / other event / dead
 * letter out. It runs on every record, so it parses JSON once and then reads only the fields it
 * needs with the small readers of wire.ts (a full zod parse per record costs several times more).
 * It never throws: a record it cannot read becomes a dead letter with the reason.
 */
import type {
  AgentEvent,
  LifecycleType,
  NormalizeResult,
  RecordHeaders,
  SourcePosition,
  SourceRecord,
  WireShape,
} from './event.js';
import {
  isPlaceholderId,
  isWireObject,
  lifecycleTypeOf,
  lookupField,
  readId,
  readText,
  timestampToMs,
  type WireObject,
} from './wire.js';
import { hasLoneSurrogate } from './unicode.js';
import { registrySchemaIdOf, type FramedValueDecoder } from './framing.js';

/** Validates and decodes in one pass (faster than isUtf8 + toString), and drops a leading BOM. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Dead letters keep at most this many bytes of the raw value. */
export const MAX_RAW_BYTES = 64 * 1024;

/**
 * `framed` decodes schema-registry records (magic byte 0 + schema id); without it such a record is
 * a dead letter saying that no registry is configured.
 */
export function normalizeRecord(record: SourceRecord, framed?: FramedValueDecoder): NormalizeResult {
  try {
    return normalize(record, framed);
  } catch (err) {
    // Unreachable for any JSON input as far as we know; the guarantee is "never throw".
    return deadLetter(record, `internal error: ${errorMessage(err)}`);
  }
}

function normalize(record: SourceRecord, framed: FramedValueDecoder | undefined): NormalizeResult {
  const value = record.value;
  if (value === null) return deadLetter(record, 'null value (tombstone)');
  if (value.length === 0) return deadLetter(record, 'empty value');
  let parsed: unknown;
  const schemaId = registrySchemaIdOf(value);
  if (schemaId === undefined) {
    const read = parseJson(value);
    if (!read.ok) return deadLetter(record, read.reason);
    parsed = read.value;
  } else {
    if (framed === undefined) return deadLetter(record, `schema-registry record without a registry: schema id ${schemaId}; configure --schema-registry-url`);
    const decoded = framed.decode(schemaId, value);
    if (!decoded.ok) return deadLetter(record, decoded.reason);
    if (decoded.format === 'object') {
      parsed = decoded.value;
    } else {
      const read = parseJson(decoded.text);
      if (!read.ok) return deadLetter(record, `${read.reason} (JSON Schema record, schema id ${schemaId})`);
      parsed = read.value;
    }
  }
  if (!isWireObject(parsed)) return deadLetter(record, 'record is not a JSON object');

  const wireType = parsed['type'];
  if (typeof wireType !== 'string' || wireType.length === 0) {
    return deadLetter(record, 'missing field: type');
  }

  const type = lifecycleTypeOf(wireType);
  if (type === undefined) {
    // Heartbeats, agent_error, batches, custom types...: tolerated and counted, never dead.
    const runId = lookupField(parsed, 'run_id', readId);
    const source = positionOf(record);
    return { kind: 'other', event: runId === undefined ? { type: wireType, source } : { type: wireType, runId, source } };
  }
  return lifecycle(record, type, parsed);
}

function lifecycle(record: SourceRecord, type: LifecycleType, body: WireObject): NormalizeResult {
  const runId = lookupField(body, 'run_id', readId);
  if (runId === undefined) {
    const placeholder = lookupField(body, 'run_id', (v) => (isPlaceholderId(v) ? true : undefined));
    return deadLetter(record, placeholder ? 'placeholder run_id' : 'missing run_id');
  }
  const emittedAtMs = lookupField(body, 'timestamp', timestampToMs);
  if (emittedAtMs === undefined) return deadLetter(record, 'missing or invalid timestamp');

  // Optional fields are only set when present, so "absent" really is absent (no undefined keys).
  const event: { -readonly [K in keyof AgentEvent]: AgentEvent[K] } = {
    type,
    runId,
    emittedAtMs,
    deliveredAtMs: record.deliveredAtHeaderMs ?? record.timestampMs,
    recordTimestampMs: record.timestampMs,
    recovered: body['recovered'] === true,
    shape: detectShape(body),
    source: positionOf(record),
    body,
  };
  const threadId = lookupField(body, 'thread_id', readId);
  if (threadId !== undefined) event.threadId = threadId;
  const userId = lookupField(body, 'user_id', readId);
  if (userId !== undefined) event.userId = userId;
  const agentName = lookupField(body, 'agent_name', readText);
  if (agentName !== undefined) event.agentName = agentName;
  const toolName = lookupField(body, 'tool_name', readText);
  if (toolName !== undefined) event.toolName = toolName;
  const executionId = lookupField(body, 'execution_id', readId);
  if (executionId !== undefined) event.executionId = executionId;
  const eventId = lookupField(body, 'event_id', readId);
  if (eventId !== undefined) event.eventId = eventId;
  // Ids are compared and stored exactly: one that is not valid Unicode (a lone UTF-16 surrogate,
  // which JSON can spell as \ud800) cannot be stored, and repairing it could merge two ids.
  for (const [field, id] of [['run_id', runId], ['thread_id', threadId], ['user_id', userId], ['tool_name', toolName], ['execution_id', executionId], ['event_id', eventId]] as const) {
    if (id !== undefined && hasLoneSurrogate(id)) return deadLetter(record, `malformed ${field}: not valid Unicode (lone surrogate)`);
  }
  return { kind: 'lifecycle', event };
}

/** Which of the wire shapes of docs/event-contract.md a lifecycle record has (for metrics and audits). */
export function detectShape(body: WireObject): WireShape {
  const hasPayload = isWireObject(body['payload']);
  const data = body['data'];
  if (typeof body['critical'] === 'boolean') return hasPayload ? 'wrapped' : 'flat';
  if (typeof body['timestamp'] === 'number' && hasPayload) return 'fixture';
  if (isWireObject(data)) {
    const runIdAtRoot = body['run_id'] !== undefined;
    if (!runIdAtRoot && data['run_id'] !== undefined) return 'data_nested';
    if (runIdAtRoot) return 'bridge';
  }
  return 'flat';
}

function parseJson(bytes: Buffer): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string } {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return { ok: false, reason: 'value is not valid UTF-8' };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, reason: `invalid JSON: ${errorMessage(err)}` };
  }
}

function positionOf(record: SourceRecord): SourcePosition {
  return { topic: record.topic, partition: record.partition, offset: record.offset };
}

function deadLetter(record: SourceRecord, reason: string): NormalizeResult {
  return {
    kind: 'dead_letter',
    deadLetter: {
      reason,
      source: positionOf(record),
      key: record.key,
      raw: rawText(record.value),
      recordTimestampMs: record.timestampMs,
      original: { value: ownBytes(record.value), ...(record.headers === undefined ? {} : { headers: ownHeaders(record.headers) }) },
    },
  };
}

/**
 * A copy of bytes the Kafka client handed over. Its buffers are views into the whole fetch
 * response (megabytes): a dead letter waiting to be written would keep all of it alive.
 */
function ownBytes(value: Buffer | null): Buffer | null {
  return value === null ? null : Buffer.from(value);
}

function ownHeaders(headers: RecordHeaders): RecordHeaders {
  const copy = (v: Buffer | string): Buffer | string => (typeof v === 'string' ? v : Buffer.from(v));
  return Object.fromEntries(Object.entries(headers).map(([name, v]) => [name, v === undefined ? undefined : Array.isArray(v) ? v.map(copy) : copy(v as Buffer | string)]));
}

/** The raw value as text, cut to MAX_RAW_BYTES (invalid UTF-8 shows as U+FFFD). */
function rawText(value: Buffer | null): string {
  if (!Buffer.isBuffer(value)) return '';
  const bytes = value.length > MAX_RAW_BYTES ? value.subarray(0, MAX_RAW_BYTES) : value;
  return bytes.toString('utf8');
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
