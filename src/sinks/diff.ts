/**
 * What a candidate replay changes against a baseline (the live results or another replay), over
 * the candidate's runs: verdicts added, removed and changed (same verdict id, another severity),
 * run grades changed, user grade windows changed (runwatch diff). Read from ClickHouse.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { notCanarySql } from '../contract/canary.js';
import { RunwatchError } from '../errors.js';
import { findReplay, type StoredReplay } from './replays.js';

export interface VerdictRef {
  readonly violationId: string;
  readonly runId: string;
  readonly rule: string;
  readonly severity: string;
  readonly subject: string;
  readonly detail: string;
}

export interface VerdictDiff {
  readonly baseline: string;
  readonly candidate: string;
  readonly candidateReplay: StoredReplay;
  /** Runs compared on each side. */
  readonly runs: { readonly baseline: number; readonly candidate: number };
  readonly added: readonly VerdictRef[];
  readonly removed: readonly VerdictRef[];
  readonly changed: ReadonlyArray<{ readonly before: VerdictRef; readonly after: VerdictRef }>;
  readonly runGrades: ReadonlyArray<{ readonly runId: string; readonly before: string; readonly after: string }>;
  readonly runsOnlyIn: { readonly baseline: readonly string[]; readonly candidate: readonly string[] };
  readonly userGrades: ReadonlyArray<{ readonly userId: string; readonly windowStartMs: number; readonly before: string; readonly after: string }>;
}

/** Everything that differs, counted once: what the budget of `runwatch diff` is compared with. */
export function differenceCount(diff: VerdictDiff): number {
  return diff.added.length + diff.removed.length + diff.changed.length + diff.runGrades.length + diff.runsOnlyIn.baseline.length + diff.runsOnlyIn.candidate.length + diff.userGrades.length;
}

const violationRow = z.object({ violation_id: z.string(), run_id: z.string(), rule: z.string(), severity: z.string(), subject: z.string(), detail: z.string() });
const summaryRow = z.object({ run_id: z.string(), performance_grade: z.string(), security_grade: z.string() });
const userGradeRow = z.object({ user_id: z.string(), window_start: z.coerce.number(), security_grade: z.string() });

export async function diffReplays(client: ClickHouseClient, database: string, baseline: string, candidate: string): Promise<VerdictDiff> {
  const candidateReplay = await findReplay(client, database, candidate);
  if (candidateReplay === undefined) throw new RunwatchError('CONFIG_INVALID', `invalid diff configuration: --candidate=${JSON.stringify(candidate)}: no such replay in ${database}.replays`);
  if (candidateReplay.status !== 'finished') throw new RunwatchError('CONFIG_INVALID', `invalid diff configuration: --candidate=${JSON.stringify(candidate)}: the replay is ${candidateReplay.status}, not finished`);
  const baselineId = baseline === 'live' ? '' : baseline;
  if (baselineId !== '') {
    const base = await findReplay(client, database, baselineId);
    if (base === undefined) throw new RunwatchError('CONFIG_INVALID', `invalid diff configuration: --baseline=${JSON.stringify(baseline)}: "live" or the id of a replay in ${database}.replays`);
    if (base.status !== 'finished') throw new RunwatchError('CONFIG_INVALID', `invalid diff configuration: --baseline=${JSON.stringify(baseline)}: the replay is ${base.status}, not finished`);
  }

  const { judged_from: fromMs, judged_to: toMs } = candidateReplay;
  const timed = fromMs !== null && toMs !== null;
  // The runs of one side: for a time range, those starting in it; for an offset range, the candidate's.
  const runsOf = timed
    ? `SELECT run_id FROM ${database}.run_summaries FINAL WHERE replay_id = {side:String} AND ${notCanarySql('run_id')} AND first_event_time >= fromUnixTimestamp64Milli({from:Int64}) AND first_event_time < fromUnixTimestamp64Milli({to:Int64})`
    : `SELECT run_id FROM ${database}.run_summaries FINAL WHERE replay_id = {candidate:String}`;
  // Ids and times travel as server-side parameters, never pasted into the SQL text.
  const query = async <T>(sql: string, side: string, schema: z.ZodType<T>): Promise<T[]> =>
    z.array(schema).parse(await (await client.query({ query: sql, query_params: { side, candidate, from: fromMs ?? 0, to: toMs ?? 0 }, format: 'JSONEachRow' })).json());
  const violations = (side: string) => query(`SELECT violation_id, run_id, rule, severity, subject, detail FROM ${database}.violations FINAL WHERE replay_id = {side:String} AND status = 'final' AND run_id IN (${runsOf}) ORDER BY run_id, rule, violation_id`, side, violationRow);
  const summaries = (side: string) => query(`SELECT run_id, performance_grade, security_grade FROM ${database}.run_summaries FINAL WHERE replay_id = {side:String} AND run_id IN (${runsOf})`, side, summaryRow);
  const grades = (side: string) =>
    timed
      ? query(`SELECT user_id, toUnixTimestamp64Milli(window_start) AS window_start, security_grade FROM ${database}.user_grades FINAL WHERE replay_id = {side:String} AND window_start >= fromUnixTimestamp64Milli({from:Int64}) AND window_end <= fromUnixTimestamp64Milli({to:Int64})`, side, userGradeRow)
      : Promise.resolve([]);

  const [beforeViolations, afterViolations, beforeRuns, afterRuns, beforeGrades, afterGrades] = [
    await violations(baselineId),
    await violations(candidate),
    await summaries(baselineId),
    await summaries(candidate),
    await grades(baselineId),
    await grades(candidate),
  ];
  const ref = (v: z.infer<typeof violationRow>): VerdictRef => ({ violationId: v.violation_id, runId: v.run_id, rule: v.rule, severity: v.severity, subject: v.subject, detail: v.detail });
  const before = new Map(beforeViolations.map((v) => [v.violation_id, ref(v)]));
  const after = new Map(afterViolations.map((v) => [v.violation_id, ref(v)]));
  const added = [...after.values()].filter((v) => !before.has(v.violationId));
  const removed = [...before.values()].filter((v) => !after.has(v.violationId));
  const changed = [...after.values()].flatMap((v) => {
    const old = before.get(v.violationId);
    // Severity is the verdict; the detail text names the thresholds, so it changes with them alone.
    return old !== undefined && old.severity !== v.severity ? [{ before: old, after: v }] : [];
  });
  const runsBefore = new Map(beforeRuns.map((r) => [r.run_id, r]));
  const runsAfter = new Map(afterRuns.map((r) => [r.run_id, r]));
  const gradeOf = (r: z.infer<typeof summaryRow>): string => `performance ${r.performance_grade}, security ${r.security_grade}`;
  const runGrades = [...runsAfter.values()].flatMap((r) => {
    const old = runsBefore.get(r.run_id);
    return old !== undefined && gradeOf(old) !== gradeOf(r) ? [{ runId: r.run_id, before: gradeOf(old), after: gradeOf(r) }] : [];
  });
  const gradesBefore = new Map(beforeGrades.map((g) => [`${g.user_id}\u0000${g.window_start}`, g]));
  const userGrades = afterGrades.flatMap((g) => {
    const old = gradesBefore.get(`${g.user_id}\u0000${g.window_start}`);
    return old !== undefined && old.security_grade !== g.security_grade ? [{ userId: g.user_id, windowStartMs: g.window_start, before: old.security_grade, after: g.security_grade }] : [];
  });
  return {
    baseline,
    candidate,
    candidateReplay,
    runs: { baseline: runsBefore.size, candidate: runsAfter.size },
    added,
    removed,
    changed,
    runGrades,
    runsOnlyIn: { baseline: [...runsBefore.keys()].filter((id) => !runsAfter.has(id)).sort(), candidate: [...runsAfter.keys()].filter((id) => !runsBefore.has(id)).sort() },
    userGrades,
  };
}
