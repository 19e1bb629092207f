/**
 * The audit reports (`runwatch audit <report>`, docs/audit.md): each is built from ClickHouse alone
 * by the queries under schemas/audit, and says in one line whether the audit found a problem.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { REFERENCE_CONTRACT, type LoadedContract } from '../contract/contract-file.js';
import { LIFECYCLE_TYPES } from '../contract/event.js';
import { compileRunContract, TYPE_CODE } from '../contract/run-contract.js';
import { buildInfo } from '../observability/build.js';
import { runAuditQuery, type AuditParams } from './queries.js';
import type { AuditChart, AuditQueryRun, AuditReport, AuditTable, Cell } from './report.js';

export const AUDIT_REPORTS = ['completeness', 'verify', 'isolation', 'latency', 'grades', 'violations', 'missing', 'reverify'] as const;
export type AuditReportName = (typeof AUDIT_REPORTS)[number];

export interface AuditPeriod {
  readonly from: Date;
  readonly to: Date;
  /** Count replays (runwatch replay) too; live evidence only otherwise. */
  readonly includeReplays: boolean;
}

const count = z.coerce.number();
const text = z.string();

/** DateTime64 parameters as ClickHouse reads them ('YYYY-MM-DD hh:mm:ss.sss', UTC). */
export function sqlTime(date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '');
}

function periodParams(database: string, period: AuditPeriod): AuditParams {
  return { database, from: sqlTime(period.from), to: sqlTime(period.to), include_replays: period.includeReplays ? 1 : 0 };
}

interface Parts {
  readonly title: string;
  readonly outcome: AuditReport['outcome'];
  readonly queries: readonly AuditQueryRun[];
  readonly tables: readonly AuditTable[];
  readonly charts?: readonly AuditChart[];
}

export interface ReportOptions {
  /** reverify: the run contract the verdicts were judged with (default: the built-in reference). */
  readonly contract?: LoadedContract;
  /** verify: chain heads kept from an earlier audit, which must still be there with the same hash. */
  readonly expectHeads?: ReadonlyArray<{ readonly seq: number; readonly hash: string }>;
}

export async function buildReport(client: ClickHouseClient, database: string, name: AuditReportName, period: AuditPeriod, now: Date = new Date(), options: ReportOptions = {}): Promise<AuditReport> {
  const parts = await BUILDERS[name](client, database, period, options);
  const build = buildInfo();
  return {
    report: name,
    title: parts.title,
    from: period.from.toISOString(),
    to: period.to.toISOString(),
    includeReplays: period.includeReplays,
    generatedAt: now.toISOString(),
    build: `${build.version}+${build.commit}`,
    outcome: parts.outcome,
    queries: parts.queries,
    tables: parts.tables,
    charts: parts.charts ?? [],
  };
}

const BUILDERS: Record<AuditReportName, (client: ClickHouseClient, database: string, period: AuditPeriod, options: ReportOptions) => Promise<Parts>> = {
  completeness: completenessReport,
  verify: verifyReport,
  isolation: isolationReport,
  latency: latencyReport,
  grades: gradesReport,
  violations: violationsReport,
  missing: missingReport,
  reverify: reverifyReport,
};

function table<T extends Record<string, unknown>>(title: string, rows: readonly T[], columns: ReadonlyArray<keyof T & string>): AuditTable {
  return { title, columns, rows: rows.map((row) => columns.map((column) => cell(row[column]))) };
}

function cell(value: unknown): Cell {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(String).join(',');
  return JSON.stringify(value);
}

const partitionRow = z.object({
  topic: text,
  partition: count,
  replay_id: text,
  ledger_rows: count,
  first_offset: count,
  next_offset: count,
  records: count,
  lifecycle_events: count,
  other_events: count,
  dead_letters: count,
  late_events: count,
  first_record_time: text,
  last_record_time: text,
  consumer_groups: count,
});
const problemRow = z.object({ topic: text, partition: count, replay_id: text, group_id: text, ledger_seq: count, kind: text, from_offset: count, to_offset: count, detail: text });

async function completenessReport(client: ClickHouseClient, database: string, period: AuditPeriod): Promise<Parts> {
  const params = periodParams(database, period);
  const partitions = await runAuditQuery(client, 'completeness_partitions', params, partitionRow);
  const problems = await runAuditQuery(client, 'completeness_problems', params, problemRow);
  const records = partitions.rows.reduce((sum, row) => sum + row.records, 0);
  const gaps = problems.rows.filter((p) => p.kind === 'gap');
  const overlaps = problems.rows.filter((p) => p.kind === 'overlap');
  const counts = problems.rows.filter((p) => p.kind === 'counts');
  const offsets = (rows: typeof problems.rows): number => rows.reduce((sum, p) => sum + (p.to_offset - p.from_offset), 0);
  const ok = partitions.rows.length > 0 && problems.rows.length === 0;
  const outcome = partitions.rows.length === 0
    ? 'no ledger rows in the period: nothing shows that monitoring ran'
    : ok
      ? `every offset of ${partitions.rows.length} partition(s) processed exactly once: ${records} records, counts reconcile`
      : `${gaps.length} gap(s) (${offsets(gaps)} offsets never processed), ${overlaps.length} overlap(s) (${offsets(overlaps)} offsets processed again), ${counts.length} row(s) whose counts do not reconcile`;
  return {
    title: 'Completeness: every offset processed exactly once',
    outcome: { ok, text: outcome },
    queries: [partitions.run, problems.run],
    tables: [
      table('Processed per partition', partitions.rows, ['topic', 'partition', 'replay_id', 'ledger_rows', 'first_offset', 'next_offset', 'records', 'lifecycle_events', 'other_events', 'dead_letters', 'late_events', 'first_record_time', 'last_record_time', 'consumer_groups']),
      table('Gaps, overlaps and counts that do not reconcile', problems.rows, ['topic', 'partition', 'replay_id', 'kind', 'from_offset', 'to_offset', 'detail', 'group_id', 'ledger_seq']),
    ],
  };
}

const chainProblemRow = z.object({ group_id: text, topic: text, ledger_seq: count, checkpoint_seq: count, partition: count, problem: text });
const headRow = z.object({ group_id: text, topic: text, replay_id: text, ledger_rows: count, first_seq: count, first_committed_at: text, head_seq: count, head_hash: text, last_committed_at: text });

const anchorRow = z.object({ ledger_seq: count, row_hash: text, hashes_now: z.array(text) });

/**
 * The hash chain of the whole ledger (not only the period: a chain is checked from its oldest
 * stored row), and the heads kept from earlier audits (--expect-head).
 */
async function verifyReport(client: ClickHouseClient, database: string, _period: AuditPeriod, options: ReportOptions): Promise<Parts> {
  const problems = await runAuditQuery(client, 'ledger_verify', { database }, chainProblemRow);
  const heads = await runAuditQuery(client, 'ledger_heads', { database }, headRow);
  const expected = options.expectHeads ?? [];
  const anchors = expected.length === 0 ? undefined : await runAuditQuery(client, 'ledger_anchors', { database, heads: `[${expected.map((h) => `(${h.seq},'${h.hash}')`).join(',')}]` }, anchorRow);
  const lost = anchors?.rows ?? [];
  const rows = heads.rows.reduce((sum, h) => sum + h.ledger_rows, 0);
  const first = problems.rows[0];
  const ok = heads.rows.length > 0 && first === undefined && lost.length === 0;
  const keptText = expected.length === 0 ? '' : lost.length === 0 ? `; ${expected.length} kept head(s) still there` : `; ${lost.length} of ${expected.length} kept head(s) gone or changed, first ledger_seq ${(lost[0] as { ledger_seq: number }).ledger_seq}: the chain up to it was rewritten or cut`;
  const outcome = heads.rows.length === 0
    ? 'the completeness ledger is empty'
    : first === undefined
      ? `${heads.rows.length} chain(s), ${rows} ledger rows: every hash matches${keptText}`
      : `${problems.rows.length} row(s) break the chain; first: group ${first.group_id}, topic ${first.topic}, ledger_seq ${first.ledger_seq} (checkpoint ${first.checkpoint_seq}, partition ${first.partition}): ${first.problem}${keptText}`;
  return {
    title: 'Verify: the completeness ledger is unaltered (hash chain)',
    outcome: { ok, text: outcome },
    queries: [problems.run, heads.run, ...(anchors === undefined ? [] : [anchors.run])],
    tables: [
      ...(anchors === undefined ? [] : [table('Kept heads that are gone or changed', anchors.rows, ['ledger_seq', 'row_hash', 'hashes_now'])]),
      table('Rows where the chain breaks', problems.rows, ['group_id', 'topic', 'ledger_seq', 'checkpoint_seq', 'partition', 'problem']),
      table('Chain heads (keep them: a later verify finding the same head shows nothing before it changed)', heads.rows, ['group_id', 'topic', 'replay_id', 'ledger_rows', 'first_seq', 'first_committed_at', 'head_seq', 'head_hash', 'last_committed_at']),
    ],
  };
}

const isolationRow = z.object({
  event_time: text,
  severity: text,
  run_id: text,
  thread_id: text,
  user_id: text,
  subject: text,
  detail: text,
  source_topic: text,
  source_partitions: z.array(count),
  source_offsets: z.array(count),
  replay_id: text,
  violation_id: text,
});
const coverageRow = z.object({ runs: count, users: count, events: count, runs_with_critical_isolation_violations: count, runs_with_isolation_warnings: count });

async function isolationReport(client: ClickHouseClient, database: string, period: AuditPeriod): Promise<Parts> {
  const params = periodParams(database, period);
  const found = await runAuditQuery(client, 'isolation_violations', params, isolationRow);
  const coverage = await runAuditQuery(client, 'isolation_coverage', params, coverageRow);
  const covered = coverage.rows[0] ?? { runs: 0, users: 0, events: 0, runs_with_critical_isolation_violations: 0, runs_with_isolation_warnings: 0 };
  const criticals = found.rows.filter((v) => v.severity === 'CRITICAL').length;
  const ok = found.rows.length === 0 && covered.runs > 0;
  const outcome = covered.runs === 0
    ? 'no runs in the period: isolation was not checked'
    : found.rows.length === 0
      ? `none found over ${covered.runs} runs, ${covered.users} users and ${covered.events} events`
      : `${found.rows.length} cross-user contamination verdict(s) (${criticals} critical) over ${covered.runs} runs and ${covered.events} events`;
  return {
    title: 'Isolation: cross-user contamination',
    outcome: { ok, text: outcome },
    queries: [found.run, coverage.run],
    tables: [
      table('Coverage', coverage.rows, ['runs', 'users', 'events', 'runs_with_critical_isolation_violations', 'runs_with_isolation_warnings']),
      table('Contamination verdicts', found.rows, ['event_time', 'severity', 'run_id', 'thread_id', 'user_id', 'subject', 'detail', 'source_topic', 'source_partitions', 'source_offsets', 'replay_id']),
    ],
  };
}

const latencyRow = z.object({
  day: text,
  runs: count,
  events: count,
  latency_warnings: count,
  latency_criticals: count,
  within_slo_pct: count,
  median_run_p50_ms: z.coerce.number().nullable(),
  p99_run_p99_ms: z.coerce.number().nullable(),
});

async function latencyReport(client: ClickHouseClient, database: string, period: AuditPeriod): Promise<Parts> {
  const days = await runAuditQuery(client, 'latency_slo_by_day', periodParams(database, period), latencyRow);
  const events = days.rows.reduce((sum, d) => sum + d.events, 0);
  const criticals = days.rows.reduce((sum, d) => sum + d.latency_criticals, 0);
  const pct = events === 0 ? 100 : 100 * (1 - criticals / events);
  const worst = [...days.rows].sort((a, b) => a.within_slo_pct - b.within_slo_pct)[0];
  return {
    title: 'Latency SLO: events delivered within the critical delivery latency',
    // A report of measurements: it finds a problem only when there is nothing to measure.
    outcome: { ok: days.rows.length > 0, text: days.rows.length === 0 ? 'no runs in the period' : `${pct.toFixed(3)} % of ${events} events within the SLO over ${days.rows.length} day(s); worst day ${worst?.day ?? ''} at ${worst?.within_slo_pct ?? 100} %` },
    queries: [days.run],
    tables: [table('By day (UTC)', days.rows, ['day', 'runs', 'events', 'latency_warnings', 'latency_criticals', 'within_slo_pct', 'median_run_p50_ms', 'p99_run_p99_ms'])],
    charts: [
      {
        id: 'latency-by-day',
        kind: 'line',
        title: 'Delivery latency by day (percentiles over runs)',
        unit: 'ms',
        categories: days.rows.map((d) => d.day),
        series: [
          { name: 'median of run p50', values: days.rows.map((d) => d.median_run_p50_ms ?? 0) },
          { name: 'p99 of run p99', values: days.rows.map((d) => d.p99_run_p99_ms ?? 0) },
        ],
      },
      { id: 'slo-by-day', kind: 'bar', title: 'Events within the SLO by day', unit: '%', categories: days.rows.map((d) => d.day), series: [{ name: 'within SLO', values: days.rows.map((d) => d.within_slo_pct) }] },
    ],
  };
}

const gradeRow = z.object({ grade: text, runs_by_performance_grade: count, runs_by_security_grade: count });
const userGradeRow = z.object({ grade: text, user_windows: count, users: count });

async function gradesReport(client: ClickHouseClient, database: string, period: AuditPeriod): Promise<Parts> {
  const params = periodParams(database, period);
  const runs = await runAuditQuery(client, 'grade_distribution', params, gradeRow);
  const users = await runAuditQuery(client, 'user_grade_distribution', params, userGradeRow);
  const total = runs.rows.reduce((sum, g) => sum + g.runs_by_performance_grade, 0);
  return {
    title: 'Grades: runs and users A–F',
    outcome: { ok: total > 0, text: total === 0 ? 'no runs in the period' : `${total} runs graded; ${users.rows.reduce((sum, g) => sum + g.user_windows, 0)} user windows graded` },
    queries: [runs.run, users.run],
    tables: [
      table('Runs per grade', runs.rows, ['grade', 'runs_by_performance_grade', 'runs_by_security_grade']),
      table('User security-grade windows per grade', users.rows, ['grade', 'user_windows', 'users']),
    ],
    charts: [
      {
        id: 'grade-distribution',
        kind: 'bar',
        title: 'Grade distribution of runs',
        unit: 'runs',
        categories: runs.rows.map((g) => g.grade),
        series: [
          { name: 'performance', values: runs.rows.map((g) => g.runs_by_performance_grade) },
          { name: 'security', values: runs.rows.map((g) => g.runs_by_security_grade) },
        ],
      },
    ],
  };
}

const violationDayRow = z.object({ day: text, rule: text, severity: text, violations: count });

async function violationsReport(client: ClickHouseClient, database: string, period: AuditPeriod): Promise<Parts> {
  const found = await runAuditQuery(client, 'violations_by_day', periodParams(database, period), violationDayRow);
  const days = [...new Set(found.rows.map((r) => r.day))].sort();
  const rules = [...new Set(found.rows.map((r) => r.rule))].sort();
  const perDayRule = new Map<string, number>();
  for (const r of found.rows) perDayRule.set(`${r.day} ${r.rule}`, (perDayRule.get(`${r.day} ${r.rule}`) ?? 0) + r.violations);
  const total = found.rows.reduce((sum, r) => sum + r.violations, 0);
  return {
    title: 'Violations by rule over time',
    outcome: { ok: true, text: `${total} violations of ${rules.length} rule(s) over ${days.length} day(s)` },
    queries: [found.run],
    tables: [table('By day (UTC), rule and severity', found.rows, ['day', 'rule', 'severity', 'violations'])],
    charts: [{ id: 'violations-by-rule', kind: 'stacked-bar', title: 'Violations by rule per day', unit: 'violations', categories: days, series: rules.map((rule) => ({ name: rule, values: days.map((day) => perDayRule.get(`${day} ${rule}`) ?? 0) })) }],
  };
}

const coverageOfEvents = z.object({ runs: count, runs_with_events: count, runs_with_all_events: count, events: count, contract_hashes: z.array(text) });
const latencyDifference = z.object({ run_id: text, partition: count, offset: count, derived_severity: text, stored_severity: text, difference: text });
const missingDifference = z.object({ run_id: text, derived_missing: z.array(text), stored_missing: z.array(text), difference: text });
const durationDifference = z.object({ run_id: text, derived_severity: text, stored_severity: text, difference: text });
const gapDifference = z.object({ run_id: text, key: text, derived_severity: text, stored_severity: text, difference: text });

/**
 * The contract compiled to SQL: its levels and types as server-side parameters of the reverify
 * queries, which re-derive verdicts from the stored events (--store-events) and name every
 * difference from the stored verdicts.
 */
async function reverifyReport(client: ClickHouseClient, database: string, period: AuditPeriod, options: ReportOptions): Promise<Parts> {
  const loaded = options.contract ?? REFERENCE_CONTRACT;
  const contract = compileRunContract(loaded.contract);
  const base = { database, from: sqlTime(period.from), to: sqlTime(period.to) };
  const coverage = await runAuditQuery(client, 'reverify_coverage', base, coverageOfEvents);
  const latency = await runAuditQuery(client, 'reverify_delivery_latency', { ...base, latency_warning_ms: contract.thresholds.deliveryLatencyMs.warning, latency_critical_ms: contract.thresholds.deliveryLatencyMs.critical }, latencyDifference);
  const requiredTypes = LIFECYCLE_TYPES.filter((t) => (contract.requiredMask & (1 << TYPE_CODE[t])) !== 0 && t !== contract.startType);
  const missing = await runAuditQuery(client, 'reverify_missing_events', { ...base, required_types: `[${requiredTypes.map((t) => `'${t}'`).join(',')}]` }, missingDifference);
  const duration = await runAuditQuery(client, 'reverify_run_duration', { ...base, terminal_type: contract.terminalType, duration_warning_ms: contract.thresholds.runDurationMs.warning, duration_critical_ms: contract.thresholds.runDurationMs.critical }, durationDifference);
  const gaps = await runAuditQuery(client, 'reverify_event_gap', { ...base, terminal_type: contract.terminalType, gap_warning_ms: contract.thresholds.gapMs.warning, gap_critical_ms: contract.thresholds.gapMs.critical, run_deadline_ms: contract.runDeadlineMs }, gapDifference);
  const covered = coverage.rows[0] ?? { runs: 0, runs_with_events: 0, runs_with_all_events: 0, events: 0, contract_hashes: [] };
  const otherContracts = covered.contract_hashes.filter((h) => h !== loaded.hash);
  const differences = latency.rows.length + missing.rows.length + duration.rows.length + gaps.rows.length;
  const ok = covered.runs > 0 && covered.runs_with_all_events === covered.runs && otherContracts.length === 0 && differences === 0;
  const outcome =
    covered.runs === 0
      ? 'no runs in the period'
      : covered.runs_with_all_events < covered.runs
        ? `${covered.runs - covered.runs_with_all_events} of ${covered.runs} runs lack some or all of their events (stored with --store-events, kept 30 days; a run open when storing began has only its later ones): they are not re-verified${differences === 0 ? '' : `; ${differences} difference(s) among the others`}`
        : otherContracts.length > 0
          ? `verdicts of the period were judged with contract ${otherContracts.map((h) => h.slice(0, 12)).join(', ')}…, not ${loaded.name} (${loaded.hash.slice(0, 12)}…): give that contract with --contract`
          : differences === 0
            ? `SQL over ${covered.events} stored events agrees with the stream's verdicts of ${covered.runs} runs: delivery_latency, missing_events, run_duration, event_gap`
            : `${differences} difference(s) between SQL and the stream: delivery_latency ${latency.rows.length}, missing_events ${missing.rows.length}, run_duration ${duration.rows.length}, event_gap ${gaps.rows.length}`;
  return {
    title: `Re-verification in SQL with contract ${loaded.name} (${loaded.hash.slice(0, 12)}…)`,
    outcome: { ok, text: outcome, ...(covered.events === 0 ? { notApplicable: true } : {}) },
    queries: [coverage.run, latency.run, missing.run, duration.run, gaps.run],
    tables: [
      table('Coverage', coverage.rows, ['runs', 'runs_with_events', 'runs_with_all_events', 'events', 'contract_hashes']),
      table('delivery_latency: differences', latency.rows, ['run_id', 'partition', 'offset', 'derived_severity', 'stored_severity', 'difference']),
      table('missing_events: differences', missing.rows, ['run_id', 'derived_missing', 'stored_missing', 'difference']),
      table('run_duration: differences', duration.rows, ['run_id', 'derived_severity', 'stored_severity', 'difference']),
      table('event_gap: differences', gaps.rows, ['run_id', 'key', 'derived_severity', 'stored_severity', 'difference']),
    ],
  };
}

const missingRow = z.object({ dimension: text, name: text, runs: count, runs_with_missing_events: count, missing_rate_pct: count });

async function missingReport(client: ClickHouseClient, database: string, period: AuditPeriod): Promise<Parts> {
  const found = await runAuditQuery(client, 'missing_events_by_agent_tool', periodParams(database, period), missingRow);
  const agents = found.rows.filter((r) => r.dimension === 'agent');
  const tools = found.rows.filter((r) => r.dimension === 'tool');
  const runs = agents.reduce((sum, r) => sum + r.runs, 0);
  const missing = agents.reduce((sum, r) => sum + r.runs_with_missing_events, 0);
  return {
    title: 'Missing-event rate by agent and tool',
    outcome: {
      ok: runs > 0,
      ...(runs === 0 ? { notApplicable: true } : {}),
      text: runs === 0 ? 'no runs with stored events in the period (the monitor stores them with --store-events)' : `${missing} of ${runs} runs (${((100 * missing) / runs).toFixed(3)} %) judged without a required event, over ${agents.length} agent(s) and ${tools.length} tool(s)`,
    },
    queries: [found.run],
    tables: [
      table('By agent', agents, ['name', 'runs', 'runs_with_missing_events', 'missing_rate_pct']),
      table('By tool', tools, ['name', 'runs', 'runs_with_missing_events', 'missing_rate_pct']),
    ],
    charts: [{ id: 'missing-by-agent', kind: 'bar', title: 'Missing-event rate by agent', unit: '%', categories: agents.map((r) => r.name), series: [{ name: 'runs missing a required event', values: agents.map((r) => r.missing_rate_pct) }] }],
  };
}
