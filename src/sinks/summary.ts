import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { notCanarySql } from '../contract/canary.js';
import { LIFECYCLE_TYPES, type LifecycleType } from '../contract/event.js';

/** What `runwatch summary` and the demo print: read back from ClickHouse, never from memory. */
export interface StoredSummary {
  readonly runsChecked: number;
  readonly runsByOutcome: ReadonlyArray<{ outcome: string; runs: number }>;
  readonly violationsByRule: ReadonlyArray<{ rule: string; severity: string; violations: number }>;
  readonly deadLettersByReason: ReadonlyArray<{ reason: string; records: number }>;
  readonly lateEvents: number;
  readonly performanceGrades: ReadonlyArray<{ grade: string; runs: number }>;
  readonly userSecurityGrades: ReadonlyArray<{ grade: string; userWindows: number }>;
  readonly revisions: ReadonlyArray<{ action: string; revisions: number }>;
}

const countRow = z.object({ n: z.coerce.number() });
const outcomeRow = z.object({ outcome: z.string(), runs: z.coerce.number() });
const ruleRow = z.object({ rule: z.string(), severity: z.string(), violations: z.coerce.number() });
const reasonRow = z.object({ reason: z.string(), records: z.coerce.number() });
const gradeRow = z.object({ grade: z.string(), runs: z.coerce.number() });
const userGradeRow = z.object({ grade: z.string(), userWindows: z.coerce.number() });
const revisionRow = z.object({ action: z.string(), revisions: z.coerce.number() });

async function rows<T>(client: ClickHouseClient, query: string, schema: z.ZodType<T>): Promise<T[]> {
  const result = await client.query({ query, format: 'JSONEachRow' });
  return z.array(schema).parse(await result.json());
}

export async function readSummary(client: ClickHouseClient, database: string): Promise<StoredSummary> {
  // FINAL: rows replaced by replays/redeliveries are counted once. Canary runs (runwatch canary)
  // test the monitor: they are left out of what reports count, as are replays (runwatch replay).
  const live = "replay_id = ''";
  const users = `WHERE ${live} AND ${notCanarySql('run_id')}`;
  const [runs] = await rows(client, `SELECT count() AS n FROM ${database}.run_summaries FINAL ${users}`, countRow);
  const runsByOutcome = await rows(client, `SELECT outcome, count() AS runs FROM ${database}.run_summaries FINAL ${users} GROUP BY outcome ORDER BY outcome`, outcomeRow);
  const violationsByRule = await rows(client, `SELECT rule, severity, count() AS violations FROM ${database}.violations FINAL ${users} AND status = 'final' GROUP BY rule, severity ORDER BY rule, severity`, ruleRow);
  const deadLettersByReason = await rows(
    client,
    `SELECT splitByChar(':', reason)[1] AS reason, count() AS records FROM ${database}.dead_letters FINAL WHERE ${live} GROUP BY reason ORDER BY reason`,
    reasonRow,
  );
  const [late] = await rows(client, `SELECT count() AS n FROM ${database}.late_events FINAL ${users}`, countRow);
  const performanceGrades = await rows(client, `SELECT performance_grade AS grade, count() AS runs FROM ${database}.run_summaries FINAL ${users} GROUP BY grade ORDER BY grade`, gradeRow);
  const userSecurityGrades = await rows(client, `SELECT security_grade AS grade, count() AS userWindows FROM ${database}.user_grades FINAL WHERE ${live} GROUP BY grade ORDER BY grade`, userGradeRow);
  const revisions = await rows(client, `SELECT action, count() AS revisions FROM ${database}.verdict_revisions FINAL ${users} GROUP BY action ORDER BY action`, revisionRow);
  return { runsChecked: runs?.n ?? 0, runsByOutcome, violationsByRule, deadLettersByReason, lateEvents: late?.n ?? 0, performanceGrades, userSecurityGrades, revisions };
}

/** Every stored late event as (run, type): for comparing with the late replays a simulation injected. */
export async function storedLateEvents(client: ClickHouseClient, database: string): Promise<Array<{ runId: string; type: LifecycleType }>> {
  const found = await rows(client, `SELECT run_id, type FROM ${database}.late_events FINAL WHERE replay_id = '' ORDER BY run_id, type`, z.object({ run_id: z.string(), type: z.enum(LIFECYCLE_TYPES) }));
  return found.map((r) => ({ runId: r.run_id, type: r.type }));
}

/**
 * Every stored revision as (run, action), with the rule of the verdict it revises, joined on the
 * violation id (undefined when that verdict is not stored, which an audit must never find).
 */
export async function storedRevisions(client: ClickHouseClient, database: string): Promise<Array<{ runId: string; action: 'confirmed' | 'retracted'; rule: string | undefined }>> {
  const found = await rows(
    client,
    `SELECT r.run_id AS run_id, r.action AS action, v.rule AS rule
       FROM ${database}.verdict_revisions AS r FINAL
       LEFT JOIN (SELECT violation_id, rule FROM ${database}.violations FINAL WHERE replay_id = '' AND status = 'final') AS v ON v.violation_id = r.violation_id
      WHERE r.replay_id = ''
      ORDER BY run_id, action`,
    z.object({ run_id: z.string(), action: z.enum(['confirmed', 'retracted']), rule: z.string() }),
  );
  // A LEFT JOIN without a match gives the column's default, the empty string.
  return found.map((r) => ({ runId: r.run_id, action: r.action, rule: r.rule === '' ? undefined : r.rule }));
}

/** Every stored violation as (run, rule, severity, subject): for comparing with what a simulation injected. */
export async function storedViolations(client: ClickHouseClient, database: string): Promise<Array<{ runId: string; rule: string; severity: string; subject: string }>> {
  const found = await rows(
    client,
    `SELECT run_id, rule, severity, subject FROM ${database}.violations FINAL WHERE replay_id = '' AND status = 'final' ORDER BY run_id, rule, subject`,
    z.object({ run_id: z.string(), rule: z.string(), severity: z.string(), subject: z.string() }),
  );
  return found.map((r) => ({ runId: r.run_id, rule: r.rule, severity: r.severity, subject: r.subject }));
}

export function formatSummary(summary: StoredSummary): string {
  const lines = [`runs checked: ${summary.runsChecked}`];
  for (const o of summary.runsByOutcome) lines.push(`  closed by ${o.outcome.padEnd(13)} ${o.runs}`);
  lines.push('violations by rule and severity:');
  if (summary.violationsByRule.length === 0) lines.push('  (none)');
  for (const v of summary.violationsByRule) lines.push(`  ${v.rule.padEnd(26)} ${v.severity.padEnd(9)} ${v.violations}`);
  lines.push('dead letters by reason:');
  if (summary.deadLettersByReason.length === 0) lines.push('  (none)');
  for (const d of summary.deadLettersByReason) lines.push(`  ${d.reason.padEnd(30)} ${d.records}`);
  lines.push(`run performance grades: ${summary.performanceGrades.map((g) => `${g.grade}=${g.runs}`).join(' ') || '(none)'}`);
  lines.push(`user security grades (per window): ${summary.userSecurityGrades.map((g) => `${g.grade}=${g.userWindows}`).join(' ') || '(none)'}`);
  lines.push(`late events: ${summary.lateEvents}; verdict revisions: ${summary.revisions.map((r) => `${r.action}=${r.revisions}`).join(' ') || '0'}`);
  return lines.join('\n');
}
