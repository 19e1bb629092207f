import { z } from 'zod';
import { RunwatchError } from '../errors.js';

/**
 * Crash injection for the recovery tests (test/integration/crashRecovery.test.ts,
 * scripts/crash-soak.ts): `RUNWATCH_FAULT_INJECT="checkpoint-after-save:2,sink-mid-write:5"` makes
 * the process SIGKILL itself the n-th time it reaches a point, as a power cut would. Unset in
 * production: a point then costs one Map lookup.
 */
export const FAULT_POINTS = ['sink-mid-write', 'sink-mid-write-after-commit', 'checkpoint-before-save', 'checkpoint-after-save', 'ledger-after-write', 'after-commit'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

const specSchema = z
  .string()
  .trim()
  .transform((text) => (text === '' ? [] : text.split(',')))
  .pipe(z.array(z.string().regex(/^[a-z-]+:\d+$/, 'expected <point>:<n>').transform((part) => part.split(':') as [string, string])))
  .pipe(z.array(z.tuple([z.enum(FAULT_POINTS), z.coerce.number().int().positive()])));

let armed: Map<FaultPoint, number> | undefined;
const reached = new Map<FaultPoint, number>();

function parse(): Map<FaultPoint, number> {
  const raw = process.env['RUNWATCH_FAULT_INJECT'] ?? '';
  const result = specSchema.safeParse(raw);
  if (!result.success) {
    throw new RunwatchError('CONFIG_INVALID', `invalid RUNWATCH_FAULT_INJECT=${JSON.stringify(raw)}: ${result.error.issues.map((i) => i.message).join('; ')} (points: ${FAULT_POINTS.join(', ')})`);
  }
  return new Map(result.data);
}

/** Validates RUNWATCH_FAULT_INJECT at start-up (a typo must not silently inject nothing). */
export function armFaultPoints(): void {
  armed = parse();
}

/** Whether a checkpoint's offsets have been committed in this process ('after-commit' reached). */
let committed = false;

/**
 * `sink-mid-write-after-commit` counts only the writes after the first committed checkpoint: a
 * crash that must leave something to restore, whatever the speed of the store.
 */
export function faultPoint(point: FaultPoint): void {
  if (point === 'after-commit') committed = true;
  if (point === 'sink-mid-write-after-commit' && !committed) return;
  armed ??= parse();
  const at = armed.get(point);
  if (at === undefined) return;
  const count = (reached.get(point) ?? 0) + 1;
  reached.set(point, count);
  if (count === at) {
    process.stderr.write(`runwatch: fault injection: SIGKILL at ${point} #${count}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}
