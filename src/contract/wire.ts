/**
 * The raw wire form of agent-lifecycle records, as the product really emits them.
 *
 * There is no single envelope: a field can sit at the root, under `payload` or under `data`
 * depending on which emitter produced the record (docs/event-contract.md). The product's own
 * front end reads the root first, then `payload`, then `data`; we do the same.
 *
 * Two layers live here:
 * - small hand-written readers (readId, timestampToMs, lookupField) used on the hot path by
 *   normalize.ts, where a full zod parse of every record would be too slow;
 * - zod schemas built on the same readers, which document the contract and generate the JSON
 *   Schema files under schemas/ (scripts/gen-schemas.ts).
 */
import { z } from 'zod';
import type { LifecycleType } from './event.js';

export type WireObject = Record<string, unknown>;

export function isWireObject(value: unknown): value is WireObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The first value of `key` that `read` accepts, looking at the root, then `payload`, then `data`.
 * A value the reader rejects (null, blank, placeholder, garbage) does not hide a good one deeper.
 */
export function lookupField<T>(
  body: WireObject,
  key: string,
  read: (value: unknown) => T | undefined,
): T | undefined {
  const atRoot = read(body[key]);
  if (atRoot !== undefined) return atRoot;
  const payload = body['payload'];
  if (isWireObject(payload)) {
    const inPayload = read(payload[key]);
    if (inPayload !== undefined) return inPayload;
  }
  const data = body['data'];
  if (isWireObject(data)) return read(data[key]);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Types

/** Wire `type` values per lifecycle type: a known emitter bug sends agent_thinking as "reasoning". */
export const WIRE_TYPES: Readonly<Record<LifecycleType, readonly [string, ...string[]]>> = {
  agent_started: ['agent_started'],
  agent_thinking: ['agent_thinking', 'reasoning'],
  tool_executing: ['tool_executing'],
  tool_completed: ['tool_completed'],
  agent_completed: ['agent_completed'],
};

const WIRE_TYPE_TO_LIFECYCLE: ReadonlyMap<string, LifecycleType> = new Map(
  (Object.entries(WIRE_TYPES) as [LifecycleType, readonly string[]][]).flatMap(([type, wireTypes]) =>
    wireTypes.map((wireType): [string, LifecycleType] => [wireType, type]),
  ),
);

/** The lifecycle type a wire `type` stands for, aliases included; undefined for any other type. */
export function lifecycleTypeOf(wireType: string): LifecycleType | undefined {
  return WIRE_TYPE_TO_LIFECYCLE.get(wireType);
}

// ---------------------------------------------------------------------------------------------
// Ids

/** Emitters fill these in when they lost the real id: they identify nothing. */
export const PLACEHOLDER_IDS: readonly string[] = ['unknown_user', 'unknown_thread', 'unknown_run'];
const PLACEHOLDERS: ReadonlySet<string> = new Set(PLACEHOLDER_IDS);
const NON_BLANK = /\S/;

export function isPlaceholderId(value: unknown): boolean {
  return typeof value === 'string' && PLACEHOLDERS.has(value);
}

/** A usable id: a non-blank string that is not a placeholder. Returned exactly as sent. */
export function readId(value: unknown): string | undefined {
  return typeof value === 'string' && NON_BLANK.test(value) && !PLACEHOLDERS.has(value)
    ? value
    : undefined;
}

/** A usable name or text field (agent_name, tool_name): any non-blank string, as sent. */
export function readText(value: unknown): string | undefined {
  return typeof value === 'string' && NON_BLANK.test(value) ? value : undefined;
}

// ---------------------------------------------------------------------------------------------
// Timestamps

/**
 * ISO-8601 date-time as Python's isoformat() writes it ("2025-09-18T12:00:03.512345+00:00"),
 * plus the usual variants: "Z", a space separator, no seconds fraction, no offset (read as UTC,
 * because the emitters only use UTC clocks).
 */
export const ISO_TIMESTAMP_PATTERN =
  /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?$/;
/** Epoch seconds written as a decimal string ("1758196800.123456"). */
export const NUMERIC_TIMESTAMP_PATTERN = /^\d+(?:\.\d+)?$/;

/** Above this a number cannot be epoch seconds of a sane date: it is epoch milliseconds. */
const EPOCH_MS_THRESHOLD = 1e12;
/** 9999-12-31T23:59:59.999Z: anything later is garbage. */
const MAX_MS = 253_402_300_799_999;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** Multiplier turning n fraction digits (index n, 1..6) into microseconds. */
const MICRO_SCALE = [0, 100_000, 10_000, 1000, 100, 10, 1];

/** Microsecond precision is all the emitters have; rounding makes ISO and float forms agree. */
function roundToMicros(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function epochToMs(value: number): number | undefined {
  if (!Number.isFinite(value) || value <= 0) return undefined;
  const ms = value > EPOCH_MS_THRESHOLD ? value : value * 1000;
  return ms <= MAX_MS ? roundToMicros(ms) : undefined;
}

/** The number written by the ASCII digits s[from..to), or -1 if any of them is not a digit. */
function digitsAt(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48; // NaN past the end of the string
    if (!(d >= 0 && d <= 9)) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * ISO_TIMESTAMP_PATTERN, parsed by hand: this runs on every event and is several times faster
 * than the regex with capture groups. The unit tests check that both accept the same strings.
 */
function isoToMs(s: string): number | undefined {
  const len = s.length;
  if (len < 16 || s[4] !== '-' || s[7] !== '-' || s[13] !== ':') return undefined;
  const sep = s[10];
  if (sep !== 'T' && sep !== ' ') return undefined;
  const year = digitsAt(s, 0, 4);
  const month = digitsAt(s, 5, 7);
  const day = digitsAt(s, 8, 10);
  const hour = digitsAt(s, 11, 13);
  const minute = digitsAt(s, 14, 16);
  let second = 0;
  let micros = 0;
  let i = 16;
  if (s[i] === ':') {
    second = digitsAt(s, i + 1, i + 3);
    i += 3;
    if (s[i] === '.' || s[i] === ',') {
      let j = i + 1;
      while (j < len && j - i <= 9 && digitsAt(s, j, j + 1) >= 0) j++;
      const count = j - i - 1;
      if (count === 0) return undefined;
      micros = digitsAt(s, i + 1, i + 1 + Math.min(count, 6)) * (MICRO_SCALE[Math.min(count, 6)] ?? 0);
      i = j;
    }
  }
  let offsetMinutes = 0; // no offset: read as UTC, the emitters only use UTC clocks
  if (i < len) {
    const sign = s[i];
    if ((sign === 'Z' || sign === 'z') && i + 1 === len) {
      // UTC
    } else if (sign === '+' || sign === '-') {
      const rest = len - i - 1; // "00", "0000" or "00:00"
      const oh = digitsAt(s, i + 1, i + 3);
      const om = rest === 2 ? 0 : rest === 4 ? digitsAt(s, i + 3, i + 5) : rest === 5 && s[i + 3] === ':' ? digitsAt(s, i + 4, i + 6) : -1;
      if (oh < 0 || om < 0 || oh > 23 || om > 59) return undefined;
      offsetMinutes = (sign === '-' ? -1 : 1) * (oh * 60 + om);
    } else {
      return undefined;
    }
  }
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const monthDays = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  // Years before 1970 are garbage here (and would need a negative-era daysSinceEpoch).
  if (year < 1970 || monthDays === undefined || day < 1 || day > monthDays) return undefined;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  const seconds = daysSinceEpoch(year, month, day) * 86_400 + hour * 3600 + (minute - offsetMinutes) * 60 + second;
  const ms = seconds * 1000 + micros / 1000;
  return ms > 0 && ms <= MAX_MS ? roundToMicros(ms) : undefined;
}

/** Days from 1970-01-01 to a Gregorian date with year >= 1970 (H. Hinnant's days_from_civil); Date.UTC costs more. */
function daysSinceEpoch(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/**
 * A wire timestamp in ms since the epoch, or undefined when it is not one.
 * Accepts ISO-8601 strings, epoch seconds as a number or a decimal string, and (defensively)
 * epoch milliseconds: any number above 1e12.
 */
export function timestampToMs(value: unknown): number | undefined {
  if (typeof value === 'number') return epochToMs(value);
  if (typeof value !== 'string') return undefined;
  // An ISO string always has '-' at index 4; an epoch-seconds string never does.
  if (value[4] === '-') return isoToMs(value);
  return NUMERIC_TIMESTAMP_PATTERN.test(value) ? epochToMs(Number(value)) : undefined;
}

// ---------------------------------------------------------------------------------------------
// zod schemas (contract documentation and JSON Schema source; not used on the hot path)

// The record schemas validate and keep every value as sent: zod merges the outputs of an
// intersection, and a converted value at one level would clash with the raw copy kept by the
// passthrough level above it. WireIdSchema and WireTimestampSchema convert, for callers that
// want the values the normalizer would read.

/** An id field as it may be sent. */
export const IdFieldSchema = z
  .string()
  .nullable()
  .describe(
    `An id as sent (UUID or prefixed string). Blank, null and the placeholders ${PLACEHOLDER_IDS.join(', ')} mean "absent".`,
  );

/** An id read as the normalizer reads it: blank strings, null and placeholders become undefined. */
export const WireIdSchema = IdFieldSchema.transform((value) => readId(value));

/** A run_id that must be there: the one reliable correlation key of the five events. */
export const RunIdSchema = z
  .string()
  .min(1)
  .refine((value) => readId(value) !== undefined, { message: 'blank or placeholder run_id' })
  .describe(`The run id: a non-blank string, not one of ${PLACEHOLDER_IDS.join(', ')}.`);

/** A timestamp field in any accepted form, kept as sent. */
export const TimestampFieldSchema = z
  .union([
    z.string().regex(ISO_TIMESTAMP_PATTERN).describe('ISO-8601, e.g. 2025-09-18T12:00:03.512345+00:00'),
    z.number().positive().describe('Epoch seconds (a number above 1e12 is read as epoch milliseconds)'),
    z.string().regex(NUMERIC_TIMESTAMP_PATTERN).describe('Epoch seconds as a decimal string'),
  ])
  .refine((value) => timestampToMs(value) !== undefined, { message: 'timestamp out of range' });

/** A timestamp read as the normalizer reads it: ms since the epoch. */
export const WireTimestampSchema = TimestampFieldSchema.transform(
  (value) => timestampToMs(value) ?? z.NEVER, // never undefined: the refine above checked it
);

/** The envelope every record shares: an object with a string `type`; anything else passes through. */
export const WireEnvelopeSchema = z.object({ type: z.string().min(1) }).passthrough();

// Fresh instances per field: a schema object used twice turns into a JSON pointer to its first use.
const looseObject = () => z.record(z.unknown());
const text = () => z.string();

/** Fields any of the five events may carry, at the root, under `payload` or under `data`. */
const COMMON_FIELDS = {
  run_id: IdFieldSchema,
  thread_id: IdFieldSchema.describe('Absent from bridge-direct events.'),
  user_id: IdFieldSchema.describe('Some emitter-path events carry user_id == thread_id.'),
  agent_name: text(),
  event_id: IdFieldSchema,
  message_id: IdFieldSchema.describe('Test fixtures only.'),
  request_id: IdFieldSchema,
  timestamp: TimestampFieldSchema,
  status: text(),
  message: text(),
  metadata: looseObject(),
};

/** Per-event business fields, from the emitters' source. All optional on the wire. */
const EVENT_FIELDS = {
  agent_started: { task_description: text(), context: looseObject(), trace: z.unknown() },
  agent_thinking: {
    reasoning: text().describe('The thinking text (never `thought`).'),
    step_number: z.number(),
    progress_percentage: z.number(),
  },
  tool_executing: {
    tool_name: text(),
    execution_id: IdFieldSchema,
    tool_args: z.unknown(),
    parameters: z.unknown(),
  },
  tool_completed: {
    tool_name: text(),
    execution_id: IdFieldSchema,
    results: z.unknown(),
    result: z.unknown(),
    execution_time: z.number(),
    execution_time_ms: z.number(),
    duration: z.number(),
    success: z.boolean(),
    error: z.unknown(),
  },
  agent_completed: {
    final_response: z.unknown(),
    result: z.unknown(),
    execution_time_ms: z.number(),
  },
} satisfies Record<LifecycleType, z.ZodRawShape>;

/** `key` must be found at the root, under `payload` or under `data`, as the normalizer looks. */
function somewhere<S extends z.ZodTypeAny>(key: string, schema: S) {
  const at = () => z.object({ [key]: schema });
  return z.union([at(), z.object({ payload: at() }), z.object({ data: at() })]);
}

/** The business fields of one event type, as they may appear at any of the three levels. */
function lifecycleFieldsSchema(type: LifecycleType) {
  return z.object({ ...COMMON_FIELDS, ...EVENT_FIELDS[type] }).partial().passthrough();
}

/** Per type: the fields object (shared by root, payload and data) and the whole record schema. */
function lifecycleWireSchema(type: LifecycleType) {
  const fields = lifecycleFieldsSchema(type);
  // Not passthrough: intersected with `fields`, which already keeps every other key.
  const envelope = z.object({
    type: z.enum(WIRE_TYPES[type]),
    critical: z.boolean().optional().describe('Set by the critical-event emitter (shapes A and A\').'),
    attempt: z.number().int().nullable().optional().describe('Retry attempt; null in the wrapped shape.'),
    recovered: z.boolean().optional().describe('True on a recovery replay (may be late or duplicated).'),
    original_failure: z.string().optional(),
    payload: fields.optional(),
    data: fields.optional(),
  });
  const record = fields
    .and(envelope)
    .and(somewhere('run_id', RunIdSchema))
    .and(somewhere('timestamp', TimestampFieldSchema))
    .describe(
      `Wire form of ${type}. Fields may sit at the root, under payload or under data (read in that order); run_id and timestamp must be found in one of them.`,
    );
  return { fields, record };
}

/**
 * The wire schema of each lifecycle event (`record`), and its fields object (`fields`, exported
 * so the JSON Schema generator can name it once instead of repeating it for payload and data).
 */
export const LIFECYCLE_WIRE_SCHEMAS = {
  agent_started: lifecycleWireSchema('agent_started'),
  agent_thinking: lifecycleWireSchema('agent_thinking'),
  tool_executing: lifecycleWireSchema('tool_executing'),
  tool_completed: lifecycleWireSchema('tool_completed'),
  agent_completed: lifecycleWireSchema('agent_completed'),
} satisfies Record<LifecycleType, { fields: z.ZodTypeAny; record: z.ZodTypeAny }>;
