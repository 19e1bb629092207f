import { z } from 'zod';
import type { AgentEvent, LifecycleType } from '../../contract/event.js';
import { lookupField } from '../../contract/wire.js';
import type { RuleFactory, RuleOutput } from '../engine/rule.js';

const text = z.string({ required_error: 'required', invalid_type_error: 'must be a string' }).trim().min(1, 'must not be empty');
const present = z.unknown().refine((v) => v !== undefined && v !== null, 'required');
/** Any value that is there (false and 0 count: `success: false` is a valid outcome). */
const outcome = z
  .object({ result: z.unknown(), results: z.unknown(), success: z.unknown(), error: z.unknown() })
  .refine((o) => [o.result, o.results, o.success, o.error].some((v) => v !== undefined && v !== null), 'one of result, results, success, error is required');

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

/**
 * Required content per lifecycle type (fact sheet §2), one zod schema per field so that every
 * failing field is reported, not just the first.
 */
export const CONTENT_CHECKS: Readonly<Record<LifecycleType, readonly FieldCheck[]>> = {
  agent_started: [field('agent_name', text, isText)],
  agent_thinking: [field('reasoning', text, isText)],
  tool_executing: [field('tool_name', text, isText), field('agent_name', text, isText)],
  tool_completed: [
    field('tool_name', text, isText),
    {
      path: 'result|results|success|error',
      fields: ['result', 'results', 'success', 'error'],
      schema: outcome,
      accepts: (v) => typeof v === 'object' && v !== null && Object.values(v).some(isPresent),
    },
  ],
  agent_completed: [field('agent_name', text, isText), field('run_id', present, isPresent)],
};

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
 * Rule `content_invalid` (per event, every arrival): each event carries the content its type
 * requires. One CRITICAL verdict per failing field, naming the field path and what was wrong.
 */
export function contentRule(): RuleFactory {
  const check = (slot: number, event: AgentEvent, out: RuleOutput): void => {
    for (const fieldCheck of CONTENT_CHECKS[event.type]) {
      const value = read(event, fieldCheck);
      if (fieldCheck.accepts(value)) continue;
      const result = fieldCheck.schema.safeParse(value);
      if (result.success) continue;
      out.violation(slot, {
        rule: 'content_invalid',
        severity: 'CRITICAL',
        subject: fieldCheck.path,
        detail: `${event.type}.${fieldCheck.path}: ${result.error.issues[0]?.message ?? 'invalid'}`,
        eventTimeMs: event.emittedAtMs,
        event,
        key: fieldCheck.path,
      });
    }
  };
  return () => ({ name: 'content_invalid', onArrival: check });
}
