/**
 * Chain vs oracle: both reduced to multisets of `runId rule severity`, plus per-run grades, and
 * diffed. The chain's side is its EFFECTIVE verdicts: violations minus those a `revision`
 * retracted (a late event brought a type the run was judged to miss). `late_event` verdicts are
 * bookkeeping of the chain's own timing and are not compared.
 *
 * Runs cut by the end of input (deadline + a margin after the traffic's last event time) are left
 * out: a replay closes them early, so neither side is wrong about them.
 */
import type { Grade, RuleId, Severity, Verdict } from '../../src/contract/verdict.js';
import type { OracleReport } from './oracle.js';

export const NO_DIFFERENCES = 'no differences';

/** One `runId rule severity` the two sides count differently. */
export interface DiffEntry {
  readonly runId: string;
  readonly rule: RuleId;
  readonly severity: Severity;
  /** How many more one side has than the other. */
  readonly count: number;
  readonly chainCount: number;
  readonly oracleCount: number;
  /** The chain's violation details for this key. */
  readonly chainSays: readonly string[];
  /** The oracle's reasons for this key. */
  readonly oracleSays: readonly string[];
}

export interface GradeMismatch {
  readonly runId: string;
  readonly grade: 'performance' | 'security';
  readonly chain: Grade | 'no run_summary';
  readonly oracle: Grade;
}

export interface Comparison {
  readonly comparedRuns: number;
  readonly excludedRuns: number;
  /** Found by the oracle, not (or fewer times) by the chain. */
  readonly missing: readonly DiffEntry[];
  /** Found by the chain, not (or more times) by the oracle. */
  readonly extra: readonly DiffEntry[];
  readonly gradeMismatches: readonly GradeMismatch[];
  /** Runs the chain summarized more than once. */
  readonly repeatedSummaries: readonly string[];
}

export interface CompareOptions {
  /** A run is compared only if its deadline + this is not after the last event time. */
  readonly cutMarginMs?: number;
}

interface Tally {
  count: number;
  readonly explanations: string[];
}

const keyOf = (runId: string, rule: RuleId, severity: Severity): string => `${runId} ${rule} ${severity}`;

function tally(into: Map<string, Tally>, key: string, explanation: string): void {
  const entry = into.get(key);
  if (entry === undefined) into.set(key, { count: 1, explanations: [explanation] });
  else {
    entry.count += 1;
    entry.explanations.push(explanation);
  }
}

export function compareWithOracle(chain: readonly Verdict[], oracle: OracleReport, options: CompareOptions = {}): Comparison {
  const margin = options.cutMarginMs ?? 10_000;
  const isCompared = (runId: string): boolean => {
    const run = oracle.runs.get(runId);
    return run === undefined || run.deadlineMs + margin <= oracle.lastEventTimeMs;
  };

  const retracted = new Set(chain.flatMap((v) => (v.kind === 'revision' && v.action === 'retracted' ? [v.violationId] : [])));
  const chainTally = new Map<string, Tally>();
  const summaries = new Map<string, { performance: Grade; security: Grade; times: number }>();
  for (const verdict of chain) {
    if (verdict.kind === 'violation') {
      const v = verdict.violation;
      if (retracted.has(v.violationId) || !isCompared(v.runId)) continue;
      tally(chainTally, keyOf(v.runId, v.rule, v.severity), v.detail);
    } else if (verdict.kind === 'run_summary') {
      const s = verdict.summary;
      const times = (summaries.get(s.runId)?.times ?? 0) + 1;
      summaries.set(s.runId, { performance: s.performanceGrade, security: s.securityGrade, times });
    }
  }
  const oracleTally = new Map<string, Tally>();
  for (const f of oracle.findings) if (isCompared(f.runId)) tally(oracleTally, keyOf(f.runId, f.rule, f.severity), f.why);

  const missing: DiffEntry[] = [];
  const extra: DiffEntry[] = [];
  for (const key of new Set([...chainTally.keys(), ...oracleTally.keys()])) {
    const found = chainTally.get(key);
    const expected = oracleTally.get(key);
    const difference = (found?.count ?? 0) - (expected?.count ?? 0);
    if (difference === 0) continue;
    const [runId = '', rule, severity] = key.split(' ') as [string, RuleId, Severity];
    const entry: DiffEntry = {
      runId,
      rule,
      severity,
      count: Math.abs(difference),
      chainCount: found?.count ?? 0,
      oracleCount: expected?.count ?? 0,
      chainSays: found?.explanations ?? [],
      oracleSays: expected?.explanations ?? [],
    };
    (difference > 0 ? extra : missing).push(entry);
  }

  // A run summary (and its grades) is final when the run is; what arrives later (a late recovery
  // replay and its delivery_latency, a late event on another partition) is stored as its own
  // verdict but does not re-grade the run (docs/detection.md, "Time model"). So grades are compared
  // only for runs without a late event; their violations are compared either way.
  const hadLateEvents = new Set(chain.flatMap((v) => (v.kind === 'late_event' ? [v.runId] : [])));
  const gradeMismatches: GradeMismatch[] = [];
  let comparedRuns = 0;
  for (const run of oracle.runs.values()) {
    if (!isCompared(run.runId)) continue;
    comparedRuns += 1;
    const summary = summaries.get(run.runId);
    if (summary?.performance !== run.performanceGrade && !hadLateEvents.has(run.runId)) {
      gradeMismatches.push({ runId: run.runId, grade: 'performance', chain: summary?.performance ?? 'no run_summary', oracle: run.performanceGrade });
    }
    if (summary?.security !== run.securityGrade && !hadLateEvents.has(run.runId)) {
      gradeMismatches.push({ runId: run.runId, grade: 'security', chain: summary?.security ?? 'no run_summary', oracle: run.securityGrade });
    }
  }
  const byRunThenRule = (a: DiffEntry, b: DiffEntry): number => a.rule.localeCompare(b.rule) || a.runId.localeCompare(b.runId);
  return {
    comparedRuns,
    excludedRuns: oracle.runs.size - comparedRuns,
    missing: missing.sort(byRunThenRule),
    extra: extra.sort(byRunThenRule),
    gradeMismatches: gradeMismatches.sort((a, b) => a.grade.localeCompare(b.grade) || a.runId.localeCompare(b.runId)),
    repeatedSummaries: [...summaries].filter(([runId, s]) => s.times > 1 && isCompared(runId)).map(([runId]) => runId),
  };
}

export function isEmptyComparison(comparison: Comparison): boolean {
  return comparison.missing.length === 0 && comparison.extra.length === 0 && comparison.gradeMismatches.length === 0 && comparison.repeatedSummaries.length === 0;
}

/** Counts per rule and severity: how many verdicts the chain misses and adds. */
export function tallyByRule(comparison: Comparison): Map<string, { missing: number; extra: number }> {
  const rows = new Map<string, { missing: number; extra: number }>();
  const row = (e: DiffEntry) => {
    const key = `${e.rule} ${e.severity}`;
    const existing = rows.get(key) ?? { missing: 0, extra: 0 };
    rows.set(key, existing);
    return existing;
  };
  for (const e of comparison.missing) row(e).missing += e.count;
  for (const e of comparison.extra) row(e).extra += e.count;
  return new Map([...rows].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * A readable diff: a table per rule, then each difference with the explanations of the side that
 * has it, then grade mismatches. `describeRun` may add what the reader needs (the injected fault).
 */
export function formatComparison(comparison: Comparison, describeRun: (runId: string) => string = () => '', maxLines = 80): string {
  if (isEmptyComparison(comparison)) return NO_DIFFERENCES;
  const lines: string[] = [`${comparison.comparedRuns} runs compared (${comparison.excludedRuns} cut by the end of input left out)`];
  lines.push('rule severity: chain misses / chain adds');
  for (const [rule, { missing, extra }] of tallyByRule(comparison)) lines.push(`  ${rule}: -${missing} / +${extra}`);
  const detail: string[] = [];
  const show = (label: string, e: DiffEntry): void => {
    const about = describeRun(e.runId);
    const says = (who: string, count: number, what: readonly string[]): string => `${who} ${count}${count === 0 ? '' : ` (${what.slice(0, 3).join('; ')}${what.length > 3 ? '; ...' : ''})`}`;
    detail.push(
      `${label} x${e.count} ${e.runId} ${e.rule} ${e.severity}${about === '' ? '' : ` [${about}]`}\n      ${says('chain', e.chainCount, e.chainSays)} | ${says('oracle', e.oracleCount, e.oracleSays)}`,
    );
  };
  for (const e of comparison.missing) show('chain MISSES', e);
  for (const e of comparison.extra) show('chain ADDS', e);
  for (const g of comparison.gradeMismatches) {
    const about = describeRun(g.runId);
    detail.push(`grade ${g.grade} ${g.runId}${about === '' ? '' : ` [${about}]`}: chain ${g.chain}, oracle ${g.oracle}`);
  }
  for (const runId of comparison.repeatedSummaries) detail.push(`run_summary emitted more than once for ${runId}`);
  lines.push(...detail.slice(0, maxLines));
  if (detail.length > maxLines) lines.push(`... and ${detail.length - maxLines} more`);
  return lines.join('\n');
}
