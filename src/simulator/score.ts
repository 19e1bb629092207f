import type { ExpectedLateEvent, ExpectedRevision, ExpectedViolation } from './faults.js';

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

/** Compares two multisets of keys: what was found against what was expected. */
export function scoreKeys(found: readonly string[], expected: readonly string[]): Score {
  const pending = new Map<string, number>();
  for (const key of expected) pending.set(key, (pending.get(key) ?? 0) + 1);
  let truePositives = 0;
  const unexpected: string[] = [];
  for (const key of found) {
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

const violationKey = (v: FoundViolation): string => `${v.runId}|${v.rule}|${v.severity}|${v.subject}`;

/**
 * Compares found violations with the simulator's labels as multisets of (run, rule, severity,
 * subject). `partitionOf` resolves the labels that depend on partitioning (see resolveExpected).
 */
export function scoreViolations(found: readonly FoundViolation[], expected: readonly ExpectedViolation[], partitionOf?: (key: string) => number): Score {
  return scoreKeys(found.map(violationKey), resolveExpected(expected, partitionOf).map(violationKey));
}

/** Late events as multisets of (run, type). */
export function scoreLateEvents(found: readonly ExpectedLateEvent[], expected: readonly ExpectedLateEvent[]): Score {
  const key = (e: ExpectedLateEvent): string => `${e.runId}|${e.type}`;
  return scoreKeys(found.map(key), expected.map(key));
}

/** Revisions of missing_events verdicts as multisets of (run, action). */
export function scoreRevisions(found: readonly ExpectedRevision[], expected: readonly ExpectedRevision[]): Score {
  const key = (r: ExpectedRevision): string => `${r.runId}|${r.action}`;
  return scoreKeys(found.map(key), expected.map(key));
}

/**
 * The expected violations for a topic whose partitioner maps a record key to `partitionOf(key)`:
 * a conditional label (`onlyIfApart`) stays only if its two keys land on different partitions.
 */
export function resolveExpected(expected: readonly ExpectedViolation[], partitionOf?: (key: string) => number): ExpectedViolation[] {
  return expected.flatMap(({ onlyIfApart, ...label }) => {
    if (onlyIfApart === undefined) return [label];
    if (partitionOf === undefined) throw new Error(`the expected ${label.rule} of run ${label.runId} depends on partitioning: pass the topic's partitioner`);
    return partitionOf(onlyIfApart[0]) === partitionOf(onlyIfApart[1]) ? [] : [label];
  });
}
