/**
 * The run contract, as data: what a correct agent run looks like. Detectors are derived from it
 * (src/operators); thresholds are configuration with the reference values as defaults.
 *
 * `compileRunContract` validates a contract once at start-up and turns it into an immutable,
 * fast form (bit masks, a transition table indexed by type code). A malformed contract fails
 * start-up with a clear error, before any event flows.
 */
import { z } from 'zod';
import { RunwatchError } from '../errors.js';
import { LIFECYCLE_TYPES, type LifecycleType } from './event.js';

const lifecycleType = z.enum(LIFECYCLE_TYPES);
const levels = z
  .object({ warning: z.number().nonnegative(), critical: z.number().nonnegative() })
  .strict()
  .refine((l) => l.warning <= l.critical, 'warning must not exceed critical');

/**
 * One content check of a lifecycle type: a field holding non-blank text, a field that is there
 * (any value but null), or one of several fields that is there (a tool's outcome). Fields are
 * read at the root, then under payload, then under data.
 */
export const contentCheckSchema = z.union([
  z.object({ field: z.string().min(1), require: z.enum(['text', 'present']) }).strict(),
  z.object({ anyOf: z.array(z.string().min(1)).min(2), require: z.literal('present') }).strict(),
]);
export type ContentCheckSpec = z.infer<typeof contentCheckSchema>;

/**
 * A grade from warning counts; any CRITICAL is F. `A`, `B`, `C`: the most warnings each grade
 * allows (non-decreasing); more than `C` is D.
 */
const gradeBandsSchema = z
  .object({ A: z.number().int().nonnegative(), B: z.number().int().nonnegative(), C: z.number().int().nonnegative() })
  .strict()
  .refine((b) => b.A <= b.B && b.B <= b.C, 'the bands must not decrease: A <= B <= C');
export type GradeBands = z.infer<typeof gradeBandsSchema>;

export const runContractSchema = z
  .object({
    startType: lifecycleType,
    terminalType: lifecycleType,
    /** Every run must contain each of these types at least once. */
    requiredTypes: z.array(lifecycleType).min(1),
    /** For each type, the types that may follow it (in event time). The start type may only come first. */
    transitions: z.record(lifecycleType, z.array(lifecycleType)),
    toolPairing: z
      .object({
        opens: lifecycleType,
        closes: lifecycleType,
        /** Pairing keys, most specific first; when none is present pairs match by order. */
        matchBy: z.array(z.enum(['executionId', 'eventId', 'toolName'])),
      })
      .strict(),
    thresholds: z
      .object({
        /** delivered-at − emitted-at of each event (strict >). */
        deliveryLatencyMs: levels,
        /** Time between consecutive events of a run (strict >); silence counts once event time passes it. */
        gapMs: levels,
        /** agent_started → agent_completed (strict >); an unfinished run breaches at the critical deadline. */
        runDurationMs: levels,
      })
      .strict(),
    /** Event timestamps this far from the stream's event time are suspicious (not used for ordering). */
    suspiciousSkewMs: z.number().positive(),
    /** Required content per lifecycle type (rule content_invalid). A type left out has no check. */
    content: z.record(lifecycleType, z.array(contentCheckSchema)),
    /** Run performance grade (timing violations) and security grade (isolation violations, per run and per user window). */
    grades: z.object({ performance: gradeBandsSchema, security: gradeBandsSchema }).strict(),
  })
  .strict();

export type RunContract = z.infer<typeof runContractSchema>;

/** The reference contract: fact sheet §2 of the original test plan, as runwatch understands it. */
export const REFERENCE_RUN_CONTRACT: RunContract = {
  startType: 'agent_started',
  terminalType: 'agent_completed',
  requiredTypes: [...LIFECYCLE_TYPES],
  transitions: {
    // tool_completed right after the start is the pairing rule's finding (no call before it), not a transition's.
    agent_started: ['agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'],
    agent_thinking: ['agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'],
    tool_executing: ['agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'],
    tool_completed: ['agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'],
    agent_completed: [],
  },
  toolPairing: { opens: 'tool_executing', closes: 'tool_completed', matchBy: ['executionId', 'eventId', 'toolName'] },
  thresholds: {
    deliveryLatencyMs: { warning: 500, critical: 2_000 },
    gapMs: { warning: 1_000, critical: 5_000 },
    runDurationMs: { warning: 10_000, critical: 30_000 },
  },
  suspiciousSkewMs: 3_600_000,
  content: {
    agent_started: [{ field: 'agent_name', require: 'text' }],
    agent_thinking: [{ field: 'reasoning', require: 'text' }],
    tool_executing: [
      { field: 'tool_name', require: 'text' },
      { field: 'agent_name', require: 'text' },
    ],
    tool_completed: [
      { field: 'tool_name', require: 'text' },
      { anyOf: ['result', 'results', 'success', 'error'], require: 'present' },
    ],
    agent_completed: [
      { field: 'agent_name', require: 'text' },
      { field: 'run_id', require: 'present' },
    ],
  },
  // Fact sheet §2: performance A none, B one, C two or three; security A none, B up to 2, C up to 5.
  grades: { performance: { A: 0, B: 1, C: 3 }, security: { A: 0, B: 2, C: 5 } },
};

/** Type codes: index into LIFECYCLE_TYPES; bit = 1 << code. */
export const TYPE_CODE: Readonly<Record<LifecycleType, number>> = Object.fromEntries(LIFECYCLE_TYPES.map((t, i) => [t, i])) as Record<LifecycleType, number>;

export interface CompiledRunContract {
  readonly source: RunContract;
  readonly startType: LifecycleType;
  readonly terminalType: LifecycleType;
  readonly requiredMask: number;
  /** allowedAfter[code of previous type] = bit mask of types that may follow. */
  readonly allowedAfter: readonly number[];
  readonly toolPairing: RunContract['toolPairing'];
  readonly thresholds: RunContract['thresholds'];
  /** A run is judged at the latest this long after its earliest event (= critical run duration). */
  readonly runDeadlineMs: number;
  readonly suspiciousSkewMs: number;
  readonly content: RunContract['content'];
  readonly grades: RunContract['grades'];
}

export function compileRunContract(raw: unknown = REFERENCE_RUN_CONTRACT): CompiledRunContract {
  const parsed = runContractSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new RunwatchError('CONTRACT_INVALID', `invalid run contract: ${problems.join('; ')}`, { context: { problems } });
  }
  const contract = parsed.data;
  const problems: string[] = [];
  if (contract.startType === contract.terminalType) problems.push('startType and terminalType must differ');
  for (const type of LIFECYCLE_TYPES) if (contract.transitions[type] === undefined) problems.push(`transitions.${type} is missing`);
  if ((contract.transitions[contract.terminalType] ?? []).length > 0) problems.push(`nothing may follow the terminal type ${contract.terminalType}`);
  for (const [from, next] of Object.entries(contract.transitions)) if (next.includes(contract.startType)) problems.push(`${contract.startType} may only come first, but transitions.${from} allows it`);
  if (contract.toolPairing.opens === contract.toolPairing.closes) problems.push('toolPairing.opens and toolPairing.closes must differ');
  if (problems.length > 0) throw new RunwatchError('CONTRACT_INVALID', `invalid run contract: ${problems.join('; ')}`, { context: { problems } });

  const maskOf = (types: readonly LifecycleType[]): number => types.reduce((mask, t) => mask | (1 << TYPE_CODE[t]), 0);
  return Object.freeze({
    source: contract,
    startType: contract.startType,
    terminalType: contract.terminalType,
    requiredMask: maskOf(contract.requiredTypes),
    allowedAfter: Object.freeze(LIFECYCLE_TYPES.map((t) => maskOf(contract.transitions[t] ?? []))),
    toolPairing: contract.toolPairing,
    thresholds: contract.thresholds,
    runDeadlineMs: contract.thresholds.runDurationMs.critical,
    suspiciousSkewMs: contract.suspiciousSkewMs,
    content: contract.content,
    grades: contract.grades,
  });
}

/** Severity of a measured value against warning/critical levels (strict >), or undefined when fine. */
export function severityOf(value: number, levelsOf: { readonly warning: number; readonly critical: number }): 'WARNING' | 'CRITICAL' | undefined {
  if (value > levelsOf.critical) return 'CRITICAL';
  if (value > levelsOf.warning) return 'WARNING';
  return undefined;
}
