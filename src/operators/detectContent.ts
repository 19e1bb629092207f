import type { OperatorFunction } from 'rxjs';
import { z } from 'zod';
import type { AgentEvent, LifecycleType } from '../contract/event.js';
import type { CompiledRunContract } from '../contract/run-contract.js';
import type { Verdict } from '../contract/verdict.js';
import { lookupField } from '../contract/wire.js';
import { defineRule, runEngine, type AnyRunRule } from './internal/run-engine.js';
import type { StreamItem } from './stream-item.js';

const text = z.string({ required_error: 'required', invalid_type_error: 'must be a string' }).trim().min(1, 'must not be empty');
const present = z.unknown().refine((v) => v !== undefined && v !== null, 'required');

/**
 * Required content per lifecycle type (fact sheet §2), validated with zod. Fields are read the way
 * the product's front end reads them: root, then `payload`, then `data`.
 */
export const CONTENT_SCHEMAS: Readonly<Record<LifecycleType, z.ZodTypeAny>> = {
  agent_started: z.object({ agent_name: text }),
  agent_thinking: z.object({ reasoning: text }),
  tool_executing: z.object({ tool_name: text, agent_name: text }),
  tool_completed: z
    .object({ tool_name: text, result: z.unknown(), results: z.unknown(), success: z.unknown(), error: z.unknown() })
    .refine((c) => [c.result, c.results, c.success, c.error].some((v) => v !== undefined && v !== null), { message: 'one of result, results, success, error is required', path: ['result|results|success|error'] }),
  agent_completed: z.object({ agent_name: text, run_id: present }),
};

const FIELDS: Readonly<Record<LifecycleType, readonly string[]>> = {
  agent_started: ['agent_name'],
  agent_thinking: ['reasoning'],
  tool_executing: ['tool_name', 'agent_name'],
  tool_completed: ['tool_name', 'result', 'results', 'success', 'error'],
  agent_completed: ['agent_name', 'run_id'],
};

const asIs = (value: unknown): unknown => value;

/** The fields a type's schema checks, looked up root → payload → data. */
function contentOf(event: AgentEvent): Record<string, unknown> {
  const content: Record<string, unknown> = {};
  for (const field of FIELDS[event.type]) content[field] = lookupField(event.body, field, asIs);
  return content;
}

/**
 * Rule: each event carries the content its type requires. One CRITICAL `content_invalid` per
 * failing field, naming the field path and what was wrong.
 */
export function contentRule(): AnyRunRule {
  return defineRule<undefined>({
    name: 'content_invalid',
    init: () => undefined,
    onEvent: (_state, event, run, out) => {
      const result = CONTENT_SCHEMAS[event.type].safeParse(contentOf(event));
      if (result.success) return;
      for (const issue of result.error.issues) {
        const path = issue.path.join('.');
        out.violation(run, {
          rule: 'content_invalid',
          severity: 'CRITICAL',
          subject: path,
          detail: `${event.type}.${path}: ${issue.message}`,
          eventTimeMs: event.emittedAtMs,
          event,
          key: path,
        });
      }
    },
  });
}

/**
 * Emits `content_invalid` for events without the content their type requires.
 *
 * ```
 * input:   -T(reasoning: "")-|
 * output:  -v----------------|     v: agent_thinking.reasoning: must not be empty
 * ```
 */
export function detectContent(contract: CompiledRunContract): OperatorFunction<StreamItem, Verdict> {
  return runEngine(contract, () => [contentRule()]);
}
