import type { ExpectedViolation } from './faults.js';

export interface FoundViolation {
  readonly runId: string;
  readonly rule: string;
  readonly severity: string;
  readonly subject: string;
}

export interface Score {
  readonly truePositives: number;
  readonly falsePositives: number;
  readonly falseNegatives: number;
  readonly precision: number;
  readonly recall: number;
  /** A few mismatches, for the report. */
  readonly examples: { readonly unexpected: string[]; readonly missed: string[] };
}

const keyOf = (v: FoundViolation): string => `${v.runId}|${v.rule}|${v.severity}|${v.subject}`;

/** Compares found violations with the simulator's labels as multisets of (run, rule, severity, subject). */
export function scoreViolations(found: readonly FoundViolation[], expected: readonly ExpectedViolation[]): Score {
  const pending = new Map<string, number>();
  for (const e of expected) pending.set(keyOf(e), (pending.get(keyOf(e)) ?? 0) + 1);
  let truePositives = 0;
  const unexpected: string[] = [];
  for (const f of found) {
    const key = keyOf(f);
    const left = pending.get(key) ?? 0;
    if (left > 0) {
      truePositives += 1;
      pending.set(key, left - 1);
    } else unexpected.push(key);
  }
  const missed = [...pending].flatMap(([key, n]) => Array.from({ length: n }, () => key));
  return {
    truePositives,
    falsePositives: unexpected.length,
    falseNegatives: missed.length,
    precision: found.length === 0 ? 1 : truePositives / found.length,
    recall: expected.length === 0 ? 1 : truePositives / expected.length,
    examples: { unexpected: unexpected.slice(0, 5), missed: missed.slice(0, 5) },
  };
}
