import { z } from 'zod';
import { LIFECYCLE_TYPES, type AgentEvent, type LifecycleType } from '../../contract/event.js';
import { REFERENCE_RUN_CONTRACT, type ContentCheckSpec, type RunContract } from '../../contract/run-contract.js';
import { lookupField } from '../../contract/wire.js';
import { NO_FINDINGS, type EventCheck, type RuleFactory, type RuleOutput, type ViolationSpec } from '../engine/rule.js';

const text = z.string({ required_error: 'required', invalid_type_error: 'must be a string' }).trim().min(1, 'must not be empty');
const present = z.unknown().refine((v) => v !== undefined && v !== null, 'required');

export interface FieldCheck {
  /** The field path named in the violation. */
  readonly path: string;
  /** The wire fields it reads (root → payload → data). */
  readonly fields: readonly string[];
  readonly schema: z.ZodTypeAny;
  /**
   * A cheap predicate that accepts exactly what `schema` accepts (a property test holds them
   * equal): valid content, the common case, skips zod; zod still decides and words every failure.
   */
  readonly accepts: (value: unknown) => boolean;
}

const isText = (v: unknown): boolean => typeof v === 'string' && v.trim().length > 0;
const isPresent = (v: unknown): boolean => v !== undefined && v !== null;
const field = (name: string, schema: z.ZodTypeAny, accepts: (value: unknown) => boolean): FieldCheck => ({ path: name, fields: [name], schema, accepts });

/** The content checks a contract asks for (run-contract.ts `content`), each a FieldCheck. */
export function contentChecksFrom(spec: RunContract['content']): Readonly<Record<LifecycleType, readonly FieldCheck[]>> {
  const toCheck = (check: ContentCheckSpec): FieldCheck => {
    if ('field' in check) return check.require === 'text' ? field(check.field, text, isText) : field(check.field, present, isPresent);
    const fields = check.anyOf;
    const schema = z
      .object(Object.fromEntries(fields.map((name) => [name, z.unknown()])))
      .refine((o: Record<string, unknown>) => fields.some((name) => o[name] !== undefined && o[name] !== null), `one of ${fields.join(', ')} is required`);
    return { path: fields.join('|'), fields, schema, accepts: (v) => typeof v === 'object' && v !== null && Object.values(v).some(isPresent) };
  };
  const checks: Partial<Record<LifecycleType, readonly FieldCheck[]>> = {};
  for (const type of LIFECYCLE_TYPES) checks[type] = (spec[type] ?? []).map(toCheck);
  return checks as Record<LifecycleType, readonly FieldCheck[]>;
}

/** Required content per lifecycle type of the reference contract (fact sheet §2). */
export const CONTENT_CHECKS: Readonly<Record<LifecycleType, readonly FieldCheck[]>> = contentChecksFrom(REFERENCE_RUN_CONTRACT.content);

/** Null and blank strings do not hide a usable value deeper in the envelope (as lookupField promises). */
const usable = (value: unknown): unknown => (value === null || (typeof value === 'string' && value.trim() === '') ? undefined : value);

function read(event: AgentEvent, check: FieldCheck): unknown {
  const [only] = check.fields;
  if (check.fields.length === 1 && only !== undefined) return lookupField(event.body, only, usable) ?? rawValue(event, only);
  const values: Record<string, unknown> = {};
  for (const name of check.fields) values[name] = lookupField(event.body, name, usable);
  return values;
}

/** When no usable value exists, the one that was sent (blank string, null) makes the clearer message. */
function rawValue(event: AgentEvent, name: string): unknown {
  return lookupField(event.body, name, (v) => (v === undefined ? undefined : v));
}

/**
 * The content check of one event, from the event alone (an EventCheck: live mode fires it early).
 * One CRITICAL finding per failing field, naming the field path and what was wrong.
 */
export function contentFindings(checks: Readonly<Record<LifecycleType, readonly FieldCheck[]>> = CONTENT_CHECKS): EventCheck {
  return (event) => {
    let found: ViolationSpec[] | undefined;
    for (const fieldCheck of checks[event.type]) {
      const value = read(event, fieldCheck);
      if (fieldCheck.accepts(value)) continue;
      const result = fieldCheck.schema.safeParse(value);
      if (result.success) continue;
      (found ??= []).push({
        rule: 'content_invalid',
        severity: 'CRITICAL',
        subject: fieldCheck.path,
        detail: `${event.type}.${fieldCheck.path}: ${result.error.issues[0]?.message ?? 'invalid'}`,
        eventTimeMs: event.emittedAtMs,
        event,
        key: fieldCheck.path,
      });
    }
    return found ?? NO_FINDINGS;
  };
}

/**
 * Rule `content_invalid` (per event, every arrival, trusted or not): each event carries the
 * content its type requires (contentFindings).
 */
export function contentRule(checks: Readonly<Record<LifecycleType, readonly FieldCheck[]>> = CONTENT_CHECKS): RuleFactory {
  const findings = contentFindings(checks);
  const check = (slot: number, event: AgentEvent, out: RuleOutput): void => {
    for (const spec of findings(event, true)) out.violation(slot, spec);
  };
  return () => ({ name: 'content_invalid', onArrival: check });
}
