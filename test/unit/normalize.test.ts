import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AgentEvent, NormalizeResult, SourceRecord } from '../../src/contract/event.js';
import { MAX_RAW_BYTES, normalizeRecord } from '../../src/contract/normalize.js';
import { frameWithSchemaId, registrySchemaIdOf, type FramedValueDecoder } from '../../src/contract/framing.js';
import {
  ISO_TIMESTAMP_PATTERN,
  LIFECYCLE_WIRE_SCHEMAS,
  WireIdSchema,
  WireTimestampSchema,
  timestampToMs,
} from '../../src/contract/wire.js';

const KAFKA_TS = Date.UTC(2025, 8, 18, 12, 0, 5);

function record(value: unknown, overrides: Partial<SourceRecord> = {}): SourceRecord {
  const bytes =
    value === null || Buffer.isBuffer(value)
      ? value
      : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
  return { topic: 'agent-events', partition: 3, offset: 41, key: 'run_7f3c', value: bytes, timestampMs: KAFKA_TS, ...overrides };
}

function lifecycle(value: unknown, overrides: Partial<SourceRecord> = {}): AgentEvent {
  const result = normalizeRecord(record(value, overrides));
  if (result.kind !== 'lifecycle') throw new Error(`expected a lifecycle event, got ${JSON.stringify(result)}`);
  return result.event;
}

function deadReason(value: unknown): string {
  const result = normalizeRecord(record(value));
  if (result.kind !== 'dead_letter') throw new Error(`expected a dead letter, got ${result.kind}`);
  return result.deadLetter.reason;
}

/** ms since the epoch of 2025-09-18 12:mm:ss.micros UTC */
const at = (mm: number, ss: number, micros = 0) => Date.UTC(2025, 8, 18, 12, mm, ss) + micros / 1000;

// The fact sheet's two example records, same shape, invented values.
const BRIDGE_TOOL_COMPLETED = {
  type: 'tool_completed',
  run_id: 'run_7f3c',
  user_id: 'user_42',
  agent_name: 'data_agent',
  tool_name: 'sql_query',
  timestamp: '2025-09-18T12:00:03.512345+00:00',
  results: { rows: 12 },
  data: { result: { rows: 12 }, execution_time_ms: 840.2, status: 'completed', message: 'data_agent completed sql_query' },
};
const EMITTER_THINKING = {
  timestamp: '2025-09-18T12:00:01.004211+00:00',
  critical: true,
  type: 'agent_thinking',
  reasoning: 'Checking cost drivers',
  user_id: 'thread_9a',
  thread_id: 'thread_9a',
  run_id: 'run_7f3c',
  agent_name: 'supervisor',
  step_number: 2,
  metadata: {
    coordination_mode: 'unified',
    performance_mode: true,
    emitter_type: 'UnifiedWebSocketEmitter',
    user_tier: 'free',
    is_priority_queue: false,
  },
};
const WRAPPED_TOOL_EXECUTING = {
  timestamp: '2025-09-16T08:30:00.250000+00:00',
  critical: true,
  attempt: null,
  type: 'tool_executing',
  payload: {
    tool_name: 'cost_analyzer',
    agent_name: 'data_agent',
    run_id: 'run_b21',
    thread_id: 'thread_b',
    user_id: 'user_7',
    execution_id: null,
    tool_args: { region: 'eu' },
  },
};
const FIXTURE_STARTED = {
  type: 'agent_started',
  thread_id: 'thread_fx',
  message_id: 'msg_1',
  timestamp: 1758196800.123456,
  payload: { agent_name: 'triage', run_id: 'run_fx', timestamp: 1758196800.123456 },
};
const DATA_NESTED_COMPLETED = {
  type: 'agent_completed',
  data: {
    user_id: 'user_9',
    thread_id: 'thread_d',
    run_id: 'run_d',
    timestamp: '2025-09-18T12:00:09.000001+00:00',
    event_id: '3f1c2a4e-9b7d-4c1e-8f00-2a9d5e6b7c81',
    agent_name: 'supervisor',
    final_response: 'done',
  },
};

describe('normalizeRecord: wire shapes', () => {
  it('A: flat critical envelope (fact-sheet emitter example)', () => {
    const event = lifecycle(EMITTER_THINKING);
    expect(event).toEqual({
      type: 'agent_thinking',
      runId: 'run_7f3c',
      threadId: 'thread_9a',
      userId: 'thread_9a',
      agentName: 'supervisor',
      emittedAtMs: at(0, 1, 4211),
      deliveredAtMs: KAFKA_TS,
      recordTimestampMs: KAFKA_TS,
      recovered: false,
      shape: 'flat',
      source: { topic: 'agent-events', partition: 3, offset: 41 },
      body: EMITTER_THINKING,
    });
  });

  it('A: user_id == thread_id is preserved as sent, not "corrected"', () => {
    const event = lifecycle({ ...EMITTER_THINKING, type: 'agent_completed', status: 'completed' });
    expect(event.userId).toBe('thread_9a');
    expect(event.threadId).toBe('thread_9a');
  });

  it("A': wrapped critical envelope with payload and attempt:null", () => {
    const event = lifecycle(WRAPPED_TOOL_EXECUTING);
    expect(event).toMatchObject({
      type: 'tool_executing',
      runId: 'run_b21',
      threadId: 'thread_b',
      userId: 'user_7',
      agentName: 'data_agent',
      toolName: 'cost_analyzer',
      emittedAtMs: Date.UTC(2025, 8, 16, 8, 30, 0, 250),
      shape: 'wrapped',
    });
    expect('executionId' in event).toBe(false); // execution_id: null is absent
  });

  it('B: bridge-direct dict with a data sub-object, ISO timestamp, no thread_id (fact-sheet example)', () => {
    const event = lifecycle(BRIDGE_TOOL_COMPLETED);
    expect(event).toMatchObject({
      type: 'tool_completed',
      runId: 'run_7f3c',
      userId: 'user_42',
      agentName: 'data_agent',
      toolName: 'sql_query',
      emittedAtMs: at(0, 3, 512345),
      shape: 'bridge',
    });
    expect(event.threadId).toBeUndefined();
    expect(event.body).toEqual(BRIDGE_TOOL_COMPLETED);
  });

  it('B: bridge agent_started with the real user and data.status', () => {
    const event = lifecycle({
      type: 'agent_started',
      run_id: 'run_s1',
      user_id: 'user_42',
      agent_name: 'supervisor',
      timestamp: '2025-09-18T12:00:00.000100+00:00',
      data: { status: 'started', context: { q: 'why' }, message: 'supervisor started' },
      trace: { span: 'x' },
    });
    expect(event).toMatchObject({ type: 'agent_started', runId: 'run_s1', userId: 'user_42', shape: 'bridge' });
    expect(event.emittedAtMs).toBe(at(0, 0, 100));
  });

  it('C: test-fixture shape with an epoch-seconds float timestamp and payload', () => {
    const event = lifecycle(FIXTURE_STARTED);
    expect(event).toMatchObject({
      type: 'agent_started',
      runId: 'run_fx',
      threadId: 'thread_fx',
      agentName: 'triage',
      emittedAtMs: 1758196800123.456,
      shape: 'fixture',
    });
  });

  it('D: older data-nested shape with event_id', () => {
    const event = lifecycle(DATA_NESTED_COMPLETED);
    expect(event).toMatchObject({
      type: 'agent_completed',
      runId: 'run_d',
      threadId: 'thread_d',
      userId: 'user_9',
      agentName: 'supervisor',
      eventId: '3f1c2a4e-9b7d-4c1e-8f00-2a9d5e6b7c81',
      emittedAtMs: at(0, 9, 1),
      shape: 'data_nested',
    });
  });

  it('E: server messages and other types are "other", never dead letters', () => {
    const others: [unknown, string, string | undefined][] = [
      [{ type: 'heartbeat', data: { connection_id: 'c1' }, timestamp: 1758196800.5, server_id: null, correlation_id: null }, 'heartbeat', undefined],
      [{ type: 'connection_established', data: { connection_id: 'c1', user_id: 'user_42' }, timestamp: 1758196800.5, server_id: null, correlation_id: null }, 'connection_established', undefined],
      [{ type: 'event_batch', user_id: 'user_42', batch_id: 'b1', events: { agent_thinking: [] }, timestamp: 1758196800.5, batch_size: 0 }, 'event_batch', undefined],
      [{ type: 'agent_error', run_id: 'run_7f3c', agent_name: 'a', timestamp: 'not a time', data: { error: 'boom' } }, 'agent_error', 'run_7f3c'],
      [{ type: 'agent_death', data: { run_id: 'run_7f3c', death_cause: 'no_heartbeat' } }, 'agent_death', 'run_7f3c'],
      [{ type: 'custom', run_id: 'unknown_run' }, 'custom', undefined],
      [{ type: 'pong' }, 'pong', undefined],
    ];
    for (const [value, type, runId] of others) {
      const result = normalizeRecord(record(value));
      expect(result).toEqual({
        kind: 'other',
        event: { type, ...(runId === undefined ? {} : { runId }), source: { topic: 'agent-events', partition: 3, offset: 41 } },
      });
    }
  });

  it('F: recovery replays are flagged and normalize identically every time they arrive', () => {
    const replay = { ...EMITTER_THINKING, recovered: true, original_failure: 'connection closed', attempt: 2 };
    const first = lifecycle(replay, { offset: 100, timestampMs: KAFKA_TS + 60_000 });
    const second = lifecycle(replay, { offset: 250, timestampMs: KAFKA_TS + 90_000 });
    expect(first.recovered).toBe(true);
    expect(first.emittedAtMs).toBe(at(0, 1, 4211)); // event time survives the late delivery
    expect({ ...first, source: null, deliveredAtMs: 0, recordTimestampMs: 0 }).toEqual({ ...second, source: null, deliveredAtMs: 0, recordTimestampMs: 0 });
    expect(lifecycle({ ...EMITTER_THINKING, recovered: 'yes' }).recovered).toBe(false);
  });
});

describe('normalizeRecord: fields', () => {
  it('maps the emitter bug type "reasoning" to agent_thinking', () => {
    expect(lifecycle({ ...EMITTER_THINKING, type: 'reasoning' }).type).toBe('agent_thinking');
  });

  it('looks fields up at the root, then payload, then data', () => {
    const event = lifecycle({
      type: 'tool_executing',
      timestamp: '2025-09-18T12:00:00+00:00',
      tool_name: 'root_tool',
      payload: { run_id: 'run_p', tool_name: 'payload_tool', thread_id: 'thread_p', timestamp: 1 },
      data: { run_id: 'run_d', thread_id: 'thread_d', user_id: 'user_d', execution_id: 'exec_d' },
    });
    expect(event).toMatchObject({ runId: 'run_p', toolName: 'root_tool', threadId: 'thread_p', userId: 'user_d', executionId: 'exec_d' });
    expect(event.emittedAtMs).toBe(at(0, 0));
  });

  it('skips placeholders, nulls and blanks and keeps looking deeper', () => {
    const event = lifecycle({
      ...EMITTER_THINKING,
      thread_id: 'unknown_thread',
      user_id: 'unknown_user',
      payload: { thread_id: '  ' },
      data: { thread_id: null, user_id: 'user_real' },
    });
    expect(event.threadId).toBeUndefined();
    expect(event.userId).toBe('user_real');
  });

  it('accepts a UTF-8 byte-order mark before the JSON', () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(EMITTER_THINKING))]);
    expect(lifecycle(withBom).runId).toBe('run_7f3c');
  });

  it('takes deliveredAtMs from the publisher header, else the Kafka timestamp', () => {
    expect(lifecycle(EMITTER_THINKING, { deliveredAtHeaderMs: KAFKA_TS - 7 }).deliveredAtMs).toBe(KAFKA_TS - 7);
    expect(lifecycle(EMITTER_THINKING).deliveredAtMs).toBe(KAFKA_TS);
  });

  it('carries the Kafka record timestamp as recordTimestampMs, whatever the delivery header says', () => {
    const forged = lifecycle(EMITTER_THINKING, { deliveredAtHeaderMs: Date.UTC(9999, 0, 1) });
    expect(forged.deliveredAtMs).toBe(Date.UTC(9999, 0, 1));
    expect(forged.recordTimestampMs).toBe(KAFKA_TS);
  });

  it.each([
    ['2025-09-18T12:00:01.004211+00:00', at(0, 1, 4211)],
    ['2025-09-18T12:00:01Z', at(0, 1)],
    ['2025-09-18T14:00:01.5+02:00', at(0, 1, 500000)],
    ['2025-09-18 12:00:01.004211', at(0, 1, 4211)],
    [1758196801.004211, at(0, 1, 4211)],
    [1758196801, at(0, 1)],
    ['1758196801.004211', at(0, 1, 4211)],
    [1758196801004, at(0, 1, 4000)], // > 1e12: already epoch ms
  ])('reads timestamp %j', (timestamp, expected) => {
    expect(lifecycle({ ...EMITTER_THINKING, timestamp }).emittedAtMs).toBe(expected);
  });
});

describe('normalizeRecord: dead letters', () => {
  it.each([
    ['null value (tombstone)', null],
    ['empty value', Buffer.alloc(0)],
    ['value is not valid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
    ['record is not a JSON object', '[1,2]'],
    ['record is not a JSON object', '42'],
    ['record is not a JSON object', 'null'],
    ['missing field: type', { run_id: 'run_1' }],
    ['missing field: type', { type: 7, run_id: 'run_1' }],
    ['missing field: type', { type: '' }],
    ['missing run_id', { ...EMITTER_THINKING, run_id: undefined }],
    ['missing run_id', { ...EMITTER_THINKING, run_id: 12345 }],
    ['placeholder run_id', { ...EMITTER_THINKING, run_id: 'unknown_run' }],
    ['missing or invalid timestamp', { ...EMITTER_THINKING, timestamp: undefined }],
    ['missing or invalid timestamp', { ...EMITTER_THINKING, timestamp: 'yesterday' }],
    ['missing or invalid timestamp', { ...EMITTER_THINKING, timestamp: '2025-02-30T00:00:00+00:00' }],
    ['missing or invalid timestamp', { ...EMITTER_THINKING, timestamp: -5 }],
  ])('%s', (reason, value) => {
    expect(deadReason(value)).toBe(reason);
  });

  it('reports the JSON parser message', () => {
    expect(deadReason('{"type": "agent_started",')).toMatch(/^invalid JSON: .+/);
  });

  it('keeps the raw text, key and position, truncated to 64 KiB', () => {
    const huge = `{"type":"agent_started","pad":"${'x'.repeat(MAX_RAW_BYTES)}"`; // unterminated
    const result = normalizeRecord(record(huge, { key: 'k1', offset: 9 }));
    expect(result.kind).toBe('dead_letter');
    if (result.kind !== 'dead_letter') return;
    expect(result.deadLetter).toMatchObject({ key: 'k1', recordTimestampMs: KAFKA_TS, source: { topic: 'agent-events', partition: 3, offset: 9 } });
    expect(result.deadLetter.raw).toBe(huge.slice(0, MAX_RAW_BYTES));
  });
});

describe('wire schemas agree with the normalizer', () => {
  it('every shape fixture parses with its lifecycle wire schema', () => {
    const fixtures = [EMITTER_THINKING, WRAPPED_TOOL_EXECUTING, BRIDGE_TOOL_COMPLETED, FIXTURE_STARTED, DATA_NESTED_COMPLETED];
    for (const fixture of fixtures) {
      const schema = LIFECYCLE_WIRE_SCHEMAS[lifecycle(fixture).type].record;
      expect(schema.safeParse(fixture).success, JSON.stringify(fixture)).toBe(true);
    }
    expect(LIFECYCLE_WIRE_SCHEMAS.agent_thinking.record.safeParse({ ...EMITTER_THINKING, run_id: 'unknown_run' }).success).toBe(false);
    expect(LIFECYCLE_WIRE_SCHEMAS.agent_thinking.record.safeParse({ ...EMITTER_THINKING, timestamp: 'soon' }).success).toBe(false);
  });

  it('WireIdSchema reads blanks, null and placeholders as absent', () => {
    expect(['unknown_user', 'unknown_thread', 'unknown_run', '', ' ', null].map((v) => WireIdSchema.parse(v))).toEqual(
      [undefined, undefined, undefined, undefined, undefined, undefined],
    );
    expect(WireIdSchema.parse('run_7f3c')).toBe('run_7f3c');
  });

  it('the hand-written timestamp reader accepts exactly what the zod schema and its pattern accept', () => {
    const isoLike = fc
      .tuple(
        fc.date({ min: new Date('1960-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }),
        fc.constantFrom('T', ' ', 't'),
        fc.constantFrom('', ':07', ':59', ':60', ':07.1', ':07.123456', ':07.123456789', ':07.1234567890', ':07.', ':07,5'),
        fc.constantFrom('', 'Z', 'z', '+00:00', '-05:30', '+0530', '+05', '+5', '+24:00', '+00:60', 'UTC', '+00:00 '),
      )
      .map(([d, sep, sec, off]) => `${d.toISOString().slice(0, 10)}${sep}${d.toISOString().slice(11, 16)}${sec}${off}`);
    const anyTimestamp = fc.oneof(isoLike, fc.string(), fc.double(), fc.integer(), fc.stringMatching(/^\d{1,13}(\.\d{1,7})?$/));
    fc.assert(
      fc.property(anyTimestamp, (value) => {
        const fast = timestampToMs(value);
        const viaZod = WireTimestampSchema.safeParse(value);
        expect(viaZod.success ? viaZod.data : undefined).toBe(fast);
        if (typeof value === 'string' && fast !== undefined && value[4] === '-') {
          expect(ISO_TIMESTAMP_PATTERN.test(value)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('ISO strings that match the pattern with valid fields read as Date.parse reads them (to the ms)', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1971-01-01'), max: new Date('2999-12-31'), noInvalidDate: true }), (d) => {
        const iso = d.toISOString();
        expect(ISO_TIMESTAMP_PATTERN.test(iso)).toBe(true);
        expect(timestampToMs(iso)).toBe(d.getTime());
        expect(timestampToMs(iso.replace('Z', '+00:00'))).toBe(d.getTime());
      }),
    );
  });

  it('applies UTC offsets', () => {
    const instant = fc.date({ min: new Date('1971-01-02'), max: new Date('2999-12-30'), noInvalidDate: true });
    fc.assert(
      fc.property(instant, fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }), (d, offsetMinutes) => {
        const local = new Date(d.getTime() + offsetMinutes * 60_000).toISOString().slice(0, 23);
        const abs = Math.abs(offsetMinutes);
        const offset = `${offsetMinutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        expect(timestampToMs(local + offset)).toBe(d.getTime());
      }),
    );
  });
});

describe('normalizeRecord: never throws (property)', () => {
  const kinds = new Set(['lifecycle', 'other', 'dead_letter']);
  function checkResult(result: NormalizeResult): void {
    expect(kinds.has(result.kind)).toBe(true);
    if (result.kind === 'lifecycle') {
      expect(result.event.runId.trim()).not.toBe('');
      expect(Number.isFinite(result.event.emittedAtMs)).toBe(true);
    }
    if (result.kind === 'dead_letter') expect(result.deadLetter.reason).not.toBe('');
  }
  const run = (value: unknown) => checkResult(normalizeRecord(record(value)));

  it('random JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => run(value === null ? 'null' : value)), { numRuns: 1000 });
  });

  it('random strings and bytes', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (text) => run(text)), { numRuns: 1000 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => run(Buffer.from(bytes))), { numRuns: 1000 });
  });

  it('lifecycle-like records with random field values at random levels', () => {
    const anyValue = fc.oneof(fc.jsonValue(), fc.constantFrom('unknown_run', 'unknown_user', '', ' ', '2025-09-18T12:00:00Z', 1758196800.5));
    const fields = fc.dictionary(
      fc.constantFrom('run_id', 'thread_id', 'user_id', 'timestamp', 'agent_name', 'tool_name', 'execution_id', 'event_id', 'critical', 'recovered', '__proto__', 'constructor'),
      anyValue,
    );
    const arb = fc.record({
      type: fc.oneof(fc.constantFrom('agent_started', 'agent_thinking', 'reasoning', 'tool_executing', 'tool_completed', 'agent_completed', 'heartbeat'), fc.jsonValue()),
      root: fields,
      payload: fc.oneof(fields, fc.jsonValue()),
      data: fc.oneof(fields, fc.jsonValue()),
    });
    fc.assert(
      fc.property(arb, ({ type, root, payload, data }) => run({ ...root, type, payload, data })),
      { numRuns: 2000 },
    );
  });
});

describe('normalizeRecord: ids that are not valid Unicode (poison pill)', () => {
  const base = { type: 'agent_thinking', thread_id: 'thread_1', user_id: 'user_1', reasoning: 'r', timestamp: '2025-09-18T12:00:03.512345+00:00' };
  it('dead-letters a record whose run_id holds a lone surrogate (valid JSON: "\\ud800"), naming the field', () => {
    // JSON.stringify writes the lone surrogate as the escape \ud800: valid JSON, not valid Unicode.
    expect(deadReason({ ...base, run_id: 'run_\ud800_1' })).toBe('malformed run_id: not valid Unicode (lone surrogate)');
    expect(deadReason({ ...base, run_id: 'run_1', user_id: '\udc00user' })).toBe('malformed user_id: not valid Unicode (lone surrogate)');
  });
  it('keeps ids with well-formed surrogate pairs (emoji)', () => {
    expect(lifecycle({ ...base, run_id: 'run_\ud83d\ude00' }).runId).toBe('run_😀');
  });
});

describe('normalizeRecord: schema-registry framed records', () => {
  const framed = (schemaId: number, body: string): Buffer => frameWithSchemaId(schemaId, Buffer.from(body));
  /** A decoder that knows schema 7 as JSON Schema and 8 as an Avro schema holding one fixed event. */
  const decoder: FramedValueDecoder = {
    decode: (schemaId, value) => {
      if (schemaId === 7) return { ok: true, format: 'json', text: value.subarray(5) };
      if (schemaId === 8) return { ok: true, format: 'object', value: EMITTER_THINKING };
      return { ok: false, reason: `unknown schema id: ${schemaId}` };
    },
  };

  it('reads a JSON Schema record like the same plain record, and an Avro record from its decoded object', () => {
    const plain = normalizeRecord(record(EMITTER_THINKING));
    expect(normalizeRecord(record(framed(7, JSON.stringify(EMITTER_THINKING))), decoder)).toEqual(plain);
    expect(normalizeRecord(record(framed(8, '\u0002')), decoder)).toEqual(plain);
  });

  it('turns what cannot be decoded into a dead letter with the reason', () => {
    const dead = (value: Buffer, with_: FramedValueDecoder | undefined): string => {
      const result = normalizeRecord(record(value), with_);
      return result.kind === 'dead_letter' ? result.deadLetter.reason : result.kind;
    };
    expect(dead(framed(9, '{}'), decoder)).toBe('unknown schema id: 9');
    expect(dead(framed(7, '{"type":'), decoder)).toMatch(/^invalid JSON: .* \(JSON Schema record, schema id 7\)$/);
    expect(dead(framed(7, '{}'), undefined)).toBe('schema-registry record without a registry: schema id 7; configure --schema-registry-url');
  });

  it('tells framed from plain by the first byte only: plain JSON never starts with byte 0', () => {
    expect(registrySchemaIdOf(Buffer.from('{"type":"agent_started"}'))).toBeUndefined();
    expect(registrySchemaIdOf(Buffer.from([0, 0, 0]))).toBeUndefined(); // too short for a frame
    expect(registrySchemaIdOf(framed(0x01020304, ''))).toBe(0x01020304);
  });
});

describe('normalizeRecord: dead letters own their bytes', () => {
  it('copies the value and headers it keeps: the client hands over views into a whole fetch response', () => {
    // Not from Node's small-buffer pool, as a fetch response is not: its own ArrayBuffer.
    const response = Buffer.alloc(2_015);
    response.write(`${'x'.repeat(1_000)}not json at all${'y'.repeat(1_000)}`);
    const value = response.subarray(1_000, 1_015);
    const header = response.subarray(0, 4);
    const result = normalizeRecord({ topic: 't', partition: 0, offset: 1, key: null, value, timestampMs: 1, headers: { h: header, many: [header, 'text'] } });
    if (result.kind !== 'dead_letter') throw new Error(`expected a dead letter, got ${result.kind}`);
    const original = result.deadLetter.original;
    expect(original?.value?.toString()).toBe('not json at all');
    expect(original?.value?.buffer).not.toBe(response.buffer);
    const headers = original?.headers ?? {};
    expect(String(headers['h'])).toBe('xxxx');
    expect((headers['h'] as Buffer).buffer).not.toBe(response.buffer);
    expect((headers['many'] as ReadonlyArray<Buffer | string>).map(String)).toEqual(['xxxx', 'text']);
  });
});
