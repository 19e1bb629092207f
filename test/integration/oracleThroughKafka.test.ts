/**
 * The independent oracle, end to end on real parts: traffic the project's own simulator did not
 * write (the producer model of test/oracle/producers.ts: three producers keyed by thread, by run
 * and round-robin, every fault kind) is published with KafkaJS's own producer (idempotent,
 * acks=-1) to its model partitions and offsets, checked on the broker with a third-party client
 * (kcat, librdkafka), monitored by the real job (`replayTopic`: KafkaJS source → chain →
 * embedded ClickHouse), and what ClickHouse stores is compared with `judgeTraffic` over the same
 * records: no differences, run by run, rule by rule, grade by grade.
 *
 * Nothing here comes from src/simulator; the only project code on the input side is the topic
 * admin (`ensureTopic`) and, on the oracle side, normalizeRecord (the one boundary the oracle
 * shares with the chain, see test/oracle/oracle.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { Kafka, logLevel, type RecordMetadata } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import type { ClickHouseConfig } from '../../src/config/config.js';
import { ensureTopic } from '../../src/consumers/topics.js';
import { LIFECYCLE_TYPES } from '../../src/contract/event.js';
import { RULES, type RuleId, type Verdict } from '../../src/contract/verdict.js';
import type { MonitorStats } from '../../src/pipeline/monitor.js';
import { createClickHouseClient } from '../../src/sinks/clickhouse-client.js';
import { compareWithOracle, formatComparison, NO_DIFFERENCES } from '../oracle/compare.js';
import { normalizeLifecycle } from '../oracle/harness.js';
import { judgeTraffic, REFERENCE_SEMANTICS, type OracleReport } from '../oracle/oracle.js';
import { FAULT_KINDS, generateTraffic, type Traffic, type WireRecord } from '../oracle/producers.js';
import { embeddedClickHouse, queryRows, replayTopic } from '../support/monitor-run.js';
import { buildReport } from '../../src/audit/reports.js';
import { builtInContract, REFERENCE_CONTRACT } from '../../src/contract/contract-file.js';
import { REFERENCE_RUN_CONTRACT } from '../../src/contract/run-contract.js';
import type { AuditReport } from '../../src/audit/report.js';

/** The header the Kafka source reads a publisher's delivery time from (src/consumers/kafka-source.ts). */
const DELIVERED_AT_HEADER = 'delivered_at';
const DATABASE = 'runwatch_oracle_kafka';
/** ~3 300 records, ~400 runs (~300 of them judged before the end of input), every fault kind, all three producers. */
const TRAFFIC = { seed: 20260102, runs: 300, users: 16, faultFraction: 0.5, meanRunSpacingMs: 500, partitions: 4 } as const;
const SEND_CHUNK = 500;

const brokers = inject('kafkaBrokers');
const topic = `oracle-e2e-${randomUUID()}`;
const traffic: Traffic = generateTraffic(TRAFFIC);
const oracle: OracleReport = judgeTraffic(normalizeLifecycle(traffic.records));

let appended: AppendedAt[] = [];
let highWatermarks: Array<{ partition: number; low: number; high: number }> = [];
let stats: MonitorStats;
let clickhouse: ClickHouseConfig | undefined;
let client: ClickHouseClient | undefined;

interface AppendedAt {
  readonly model: WireRecord;
  /** The offset the broker acknowledged this record at. */
  readonly offset: number;
  readonly partition: number;
}

beforeAll(async () => {
  await ensureTopic(brokers, topic, traffic.partitions, { keepHistoricalRecords: true });
  appended = await publishWithKafkaJs(traffic.records);
  highWatermarks = await topicOffsets();
  const store = await embeddedClickHouse(DATABASE);
  clickhouse = store;
  // Events stored too (--store-events): the reverify report re-derives verdicts from them in SQL.
  stats = await replayTopic(brokers, topic, `oracle-e2e-${randomUUID()}`, store, { storeEvents: true });
  client = createClickHouseClient(store);
}, 120_000);

afterAll(async () => {
  await client?.close();
  if (clickhouse?.mode === 'embedded') await rm(clickhouse.dataPath, { recursive: true, force: true });
});

describe('independent producer model → Kafka → monitor → ClickHouse, judged by the oracle', () => {
  it('the model traffic has every fault kind, all three producers, records with and without a delivered_at header', () => {
    expect(FAULT_KINDS.filter((kind) => !traffic.faults.some((f) => f.kind === kind))).toEqual([]);
    expect(new Set(traffic.runs.map((r) => r.producer))).toEqual(new Set(['by_thread', 'by_run', 'round_robin']));
    // A record keyed by run that lands apart from its thread's partition: partitioning really breaks.
    expect(traffic.faults.some((f) => f.kind === 'event_keyed_by_run' && f.expected.some((e) => e.rule === 'partitioning_broken'))).toBe(true);
    expect(traffic.records.some((r) => r.deliveredAtHeaderMs !== undefined)).toBe(true);
    expect(traffic.records.some((r) => r.deliveredAtHeaderMs === undefined)).toBe(true);
    expect(traffic.records.length).toBeGreaterThan(2_500);
  });

  it('KafkaJS (idempotent, acks=-1) appended every record at its model partition and offset', () => {
    expect(appended).toHaveLength(traffic.records.length);
    const misplaced = appended.filter((a) => a.partition !== a.model.partition || a.offset !== a.model.offset);
    expect(misplaced.slice(0, 5).map((a) => `model p${a.model.partition}@${a.model.offset}, broker p${a.partition}@${a.offset}`)).toEqual([]);
    expect(highWatermarks).toEqual(
      Array.from({ length: traffic.partitions }, (_, partition) => ({ partition, low: 0, high: traffic.records.filter((r) => r.partition === partition).length })),
    );
  });

  it('kcat (librdkafka) reads the same records per partition and offset: key, value, timestamp, delivered_at', async () => {
    const kcat = findKcat();
    const read = await run(kcat, ['-C', '-b', brokers.join(','), '-t', topic, '-o', 'beginning', '-e', '-q', '-J']);
    expect(read.code, read.stderr).toBe(0);
    const records = read.stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => kcatRecord.parse(JSON.parse(line)));

    const countPerPartition = (rs: ReadonlyArray<{ partition: number }>): number[] =>
      Array.from({ length: traffic.partitions }, (_, p) => rs.filter((r) => r.partition === p).length);
    expect(countPerPartition(records)).toEqual(countPerPartition(traffic.records));

    const model = new Map(traffic.records.map((r) => [`${r.partition}@${r.offset}`, r]));
    const differences: string[] = [];
    for (const r of records) {
      const at = `${r.partition}@${r.offset}`;
      const want = model.get(at);
      if (want === undefined) {
        differences.push(`${at}: not in the model`);
        continue;
      }
      if (r.key !== want.key) differences.push(`${at}: key ${r.key} (model ${want.key})`);
      if (r.payload !== want.value) differences.push(`${at}: value differs`);
      if (r.tstype !== 'create' || r.ts !== want.timestampMs) differences.push(`${at}: timestamp ${r.tstype} ${r.ts} (model ${want.timestampMs})`);
      const header = headerValue(r.headers, DELIVERED_AT_HEADER);
      const wantHeader = want.deliveredAtHeaderMs === undefined ? undefined : String(want.deliveredAtHeaderMs);
      if (header !== wantHeader) differences.push(`${at}: ${DELIVERED_AT_HEADER} ${header ?? '(none)'} (model ${wantHeader ?? '(none)'})`);
    }
    expect(differences.slice(0, 10)).toEqual([]);
    expect(new Set(records.map((r) => `${r.partition}@${r.offset}`)).size).toBe(traffic.records.length);
  });

  it('the monitor read every record once: lifecycle events, heartbeats, no dead letters', () => {
    const lifecycle = normalizeLifecycle(traffic.records).length;
    expect(stats).toMatchObject({ records: traffic.records.length, lifecycleEvents: lifecycle, otherEvents: traffic.records.length - lifecycle, deadLetters: 0 });
  });

  it('what ClickHouse stores equals the oracle, run by run, rule by rule, grade by grade', async () => {
    const stored = await readStoredVerdicts(requireClient());
    // Every emitted verdict is stored under its own id (a shared id would collapse two in FINAL).
    const count = (kind: Verdict['kind']): number => stored.filter((v) => v.kind === kind).length;
    expect({ violations: count('violation'), runSummaries: count('run_summary'), lateEvents: count('late_event'), revisions: count('revision') }).toEqual({
      violations: stats.violations,
      runSummaries: stats.runSummaries,
      lateEvents: stats.lateEvents,
      revisions: stats.revisions,
    });
    // Each revision revises a stored verdict.
    const violationIds = new Set(stored.flatMap((v) => (v.kind === 'violation' ? [v.violation.violationId] : [])));
    expect(stored.filter((v) => v.kind === 'revision' && !violationIds.has(v.violationId))).toEqual([]);

    const comparison = compareWithOracle(stored, oracle);
    expect(formatComparison(comparison, describeRun)).toBe(NO_DIFFERENCES);

    // Not vacuous: most runs are compared, with every rule among their verdicts.
    expect(comparison.comparedRuns).toBeGreaterThanOrEqual(250);
    const compared = new Set([...oracle.runs.values()].filter((r) => r.deadlineMs + 10_000 <= oracle.lastEventTimeMs).map((r) => r.runId));
    const rulesSeen = new Set(oracle.findings.filter((f) => compared.has(f.runId)).map((f) => f.rule));
    expect(Object.keys(RULES).filter((rule) => !rulesSeen.has(rule as RuleId))).toEqual([]);
    expect(stats.revisions).toBeGreaterThan(0);
  });

  it('the audit reports (schemas/audit SQL over the store) equal an independent computation: the model per partition, the oracle per rule and grade', async () => {
    const ch = requireClient();
    const allTime = { from: new Date(0), to: new Date('2200-01-01T00:00:00Z'), includeReplays: false };
    // Completeness: every offset of every partition once, with the model's counts.
    const completeness = await buildReport(ch, DATABASE, 'completeness', allTime);
    expect(completeness.outcome, completeness.outcome.text).toMatchObject({ ok: true });
    const lifecycleOf = (partition: number): number => normalizeLifecycle(traffic.records.filter((r) => r.partition === partition)).length;
    expect(tableRows(completeness, 0).map((r) => ({ partition: r.partition, first: r.first_offset, next: r.next_offset, records: r.records, lifecycle: r.lifecycle_events, other: r.other_events, dead: r.dead_letters }))).toEqual(
      Array.from({ length: traffic.partitions }, (_, partition) => {
        const records = traffic.records.filter((r) => r.partition === partition).length;
        return { partition, first: 0, next: records, records, lifecycle: lifecycleOf(partition), other: records - lifecycleOf(partition), dead: 0 };
      }),
    );
    // The ledger's late events (counted as the chain judged them) are the late_events rows the sink wrote.
    const storedLate = (await queryRows(ch, `SELECT count() AS n FROM ${DATABASE}.late_events FINAL`, z.object({ n: z.coerce.number() })))[0]?.n;
    expect(tableRows(completeness, 0).reduce((sum, r) => sum + Number(r.late_events), 0)).toBe(storedLate);
    const verify = await buildReport(ch, DATABASE, 'verify', allTime);
    expect(verify.outcome, verify.outcome.text).toMatchObject({ ok: true });

    // The period's runs: those starting before the first run the oracle comparison leaves out (cut by the end of input).
    const cut = [...oracle.runs.values()].filter((r) => r.deadlineMs + 10_000 > oracle.lastEventTimeMs);
    const to = Math.min(...cut.map((r) => r.firstEventMs));
    const inPeriod = new Set([...oracle.runs.values()].filter((r) => r.firstEventMs < to).map((r) => r.runId));
    const findings = oracle.findings.filter((f) => inPeriod.has(f.runId));
    const period = { from: new Date(0), to: new Date(to), includeReplays: false };
    expect(inPeriod.size).toBeGreaterThan(200);

    const isolation = await buildReport(ch, DATABASE, 'isolation', period);
    expect(tableRows(isolation, 0)[0]).toMatchObject({ runs: inPeriod.size });
    const contamination = findings.filter((f) => f.rule === 'cross_user_contamination');
    expect(contamination.length).toBeGreaterThan(0);
    expect(tableRows(isolation, 1).map((r) => `${r.run_id} ${r.severity}`).sort()).toEqual(contamination.map((f) => `${f.runId} ${f.severity}`).sort());
    expect(isolation.outcome.ok).toBe(false);

    const violations = await buildReport(ch, DATABASE, 'violations', period);
    const perRule = (rows: ReadonlyArray<{ rule: string; severity: string; n: number }>): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const r of rows) out[`${r.rule} ${r.severity}`] = (out[`${r.rule} ${r.severity}`] ?? 0) + r.n;
      return out;
    };
    expect(perRule(tableRows(violations, 0).map((r) => ({ rule: String(r.rule), severity: String(r.severity), n: Number(r.violations) })))).toEqual(perRule(findings.map((f) => ({ rule: f.rule, severity: f.severity, n: 1 }))));

    // A run's grades are final when the run is: a late event does not re-grade it (test/oracle/compare.ts).
    // Those runs count with the grades they were stored with; every other run with the oracle's.
    const stored = await readStoredVerdicts(ch);
    const hadLateEvents = new Set(stored.flatMap((v) => (v.kind === 'late_event' ? [v.runId] : [])));
    const storedGrades = new Map(stored.flatMap((v) => (v.kind === 'run_summary' ? [[v.summary.runId, v.summary] as const] : [])));
    const gradesOf = [...oracle.runs.values()]
      .filter((r) => inPeriod.has(r.runId))
      .map((r) => (hadLateEvents.has(r.runId) ? { performance: storedGrades.get(r.runId)?.performanceGrade, security: storedGrades.get(r.runId)?.securityGrade } : { performance: r.performanceGrade, security: r.securityGrade }));
    expect(hadLateEvents.size).toBeGreaterThan(0);
    const grades = await buildReport(ch, DATABASE, 'grades', period);
    expect(tableRows(grades, 0).map((r) => [r.grade, r.runs_by_performance_grade, r.runs_by_security_grade])).toEqual(
      ['A', 'B', 'C', 'D', 'F'].map((grade) => [grade, gradesOf.filter((g) => g.performance === grade).length, gradesOf.filter((g) => g.security === grade).length]),
    );

    const latency = await buildReport(ch, DATABASE, 'latency', period);
    const criticalLatency = findings.filter((f) => f.rule === 'delivery_latency' && f.severity === 'CRITICAL').length;
    expect(tableRows(latency, 0).reduce((sum, r) => sum + Number(r.latency_criticals), 0)).toBe(criticalLatency);
    expect(tableRows(latency, 0).reduce((sum, r) => sum + Number(r.runs), 0)).toBe(inPeriod.size);
    // Missing-event rate by agent and tool: each run's agent and tools from the model's events
    // (those that can be placed in time), missing from the oracle's findings.
    const missingRuns = new Set(findings.filter((f) => f.rule === 'missing_events').map((f) => f.runId));
    const agentOf = new Map<string, string>();
    const toolsOf = new Map<string, Set<string>>();
    for (const e of normalizeLifecycle(traffic.records)) {
      if (!inPeriod.has(e.runId) || Math.abs(e.deliveredAtMs - e.emittedAtMs) > REFERENCE_SEMANTICS.suspiciousSkewMs) continue;
      if (e.agentName !== undefined && e.agentName !== '' && !agentOf.has(e.runId)) agentOf.set(e.runId, e.agentName);
      if (e.toolName !== undefined && e.toolName !== '') toolsOf.set(e.runId, (toolsOf.get(e.runId) ?? new Set()).add(e.toolName));
    }
    const expectedRates = new Map<string, { runs: number; missing: number }>();
    const countIn = (key: string, runId: string): void => {
      const entry = expectedRates.get(key) ?? { runs: 0, missing: 0 };
      entry.runs += 1;
      if (missingRuns.has(runId)) entry.missing += 1;
      expectedRates.set(key, entry);
    };
    for (const runId of inPeriod) {
      countIn(`agent ${agentOf.get(runId) ?? '(none)'}`, runId);
      for (const tool of toolsOf.get(runId) ?? []) countIn(`tool ${tool}`, runId);
    }
    const missingReport = await buildReport(ch, DATABASE, 'missing', period);
    const reported = [...tableRows(missingReport, 0).map((r) => [`agent ${String(r.name)}`, r]), ...tableRows(missingReport, 1).map((r) => [`tool ${String(r.name)}`, r])] as Array<[string, Record<string, string | number | null>]>;
    expect(Object.fromEntries(reported.map(([key, r]) => [key, { runs: Number(r.runs), missing: Number(r.runs_with_missing_events) }]))).toEqual(Object.fromEntries(expectedRates));
    expect([...expectedRates.values()].some((e) => e.missing > 0)).toBe(true);
    expect(tableRows(missingReport, 1).length, 'tools named by the model traffic').toBeGreaterThan(1);
    expect(tableRows(missingReport, 0).filter((r) => r.name !== '(none)').length, 'agents named by the model traffic').toBeGreaterThan(0);

    // Every report names its queries, parameters, row counts and result hashes.
    for (const report of [completeness, verify, isolation, violations, grades, latency, missingReport]) {
      for (const q of report.queries) expect(q).toMatchObject({ file: `schemas/audit/${q.name}.sql`, resultHash: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown as string });
    }
  });

  it('the daily rollups (materialized views) count what the tables hold: violations by rule and severity, runs by grade, user windows by grade', async () => {
    const ch = requireClient();
    const pairs = async (query: string): Promise<string[]> => z.array(z.object({ k: z.string(), n: z.coerce.number() })).parse(await (await ch.query({ query, format: 'JSONEachRow' })).json()).map((r) => `${r.k}=${r.n}`);
    const db = DATABASE;
    expect(await pairs(`SELECT concat(rule, ' ', severity) AS k, uniqExactMerge(violations) AS n FROM ${db}.violations_daily WHERE replay_id = '' GROUP BY k ORDER BY k`)).toEqual(
      await pairs(`SELECT concat(rule, ' ', severity) AS k, count() AS n FROM ${db}.violations FINAL WHERE replay_id = '' GROUP BY k ORDER BY k`),
    );
    expect(await pairs(`SELECT concat(performance_grade, security_grade) AS k, uniqExactMerge(runs) AS n FROM ${db}.runs_daily WHERE replay_id = '' GROUP BY k ORDER BY k`)).toEqual(
      await pairs(`SELECT concat(performance_grade, security_grade) AS k, count() AS n FROM ${db}.run_summaries FINAL WHERE replay_id = '' GROUP BY k ORDER BY k`),
    );
    expect(await pairs(`SELECT security_grade AS k, uniqExactMerge(user_windows) AS n FROM ${db}.user_grades_daily WHERE replay_id = '' GROUP BY k ORDER BY k`)).toEqual(
      await pairs(`SELECT security_grade AS k, count() AS n FROM ${db}.user_grades FINAL WHERE replay_id = '' GROUP BY k ORDER BY k`),
    );
    expect((await pairs(`SELECT 'runs' AS k, uniqExactMerge(runs) AS n FROM ${db}.runs_daily`))[0]).toBe(`runs=${stats.runSummaries}`);
  });

  it('reverify: SQL over the stored events re-derives the stream\'s delivery_latency, missing_events, run_duration and event_gap verdicts, and names a verdict deleted by hand', async () => {
    const ch = requireClient();
    const allTime = { from: new Date(0), to: new Date('2200-01-01T00:00:00Z'), includeReplays: false };
    const agreed = await buildReport(ch, DATABASE, 'reverify', allTime);
    expect(agreed.outcome, `${agreed.outcome.text}\n${JSON.stringify(agreed.tables.slice(1).map((t) => t.rows.slice(0, 5)))}`).toMatchObject({ ok: true });
    const coverage = tableRows(agreed, 0)[0];
    expect(Number(coverage?.events)).toBe(stats.lifecycleEvents);
    // The rules re-derived are not idle on this traffic.
    const storedCount = async (rule: string): Promise<number> => (await queryRows(ch, `SELECT count() AS n FROM ${DATABASE}.violations FINAL WHERE rule = '${rule}'`, z.object({ n: z.coerce.number() })))[0]?.n ?? 0;
    for (const rule of ['delivery_latency', 'missing_events', 'run_duration', 'event_gap']) expect(await storedCount(rule), rule).toBeGreaterThan(0);
    // A stricter contract (critical latency 1 s) is not what these verdicts were judged with:
    // reverify names the verdicts' own contract and does not compare.
    const reference = REFERENCE_RUN_CONTRACT;
    const stricter = builtInContract({ ...reference.thresholds, deliveryLatencyMs: { ...reference.thresholds.deliveryLatencyMs, critical: 1_000 } }, reference.suspiciousSkewMs);
    const mismatched = await buildReport(ch, DATABASE, 'reverify', allTime, new Date(), { contract: stricter });
    expect(mismatched.outcome.ok).toBe(false);
    expect(mismatched.outcome.text).toContain(`judged with contract ${REFERENCE_CONTRACT.hash.slice(0, 12)}`);
    // A verdict deleted by hand: named, exit-worthy.
    const [victim] = await queryRows(ch, `SELECT violation_id, run_id FROM ${DATABASE}.violations FINAL WHERE rule = 'missing_events' ORDER BY violation_id LIMIT 1`, z.object({ violation_id: z.string(), run_id: z.string() }));
    if (victim === undefined) throw new Error('no missing_events verdict to delete');
    const [kept] = await queryRows(ch, `SELECT * FROM ${DATABASE}.violations FINAL WHERE violation_id = {id:String}`.replace('{id:String}', `'${victim.violation_id}'`), z.record(z.unknown()));
    await ch.command({ query: `DELETE FROM ${DATABASE}.violations WHERE violation_id = '${victim.violation_id}'` });
    try {
      const tampered = await buildReport(ch, DATABASE, 'reverify', allTime);
      expect(tampered.outcome.ok).toBe(false);
      expect(tableRows(tampered, 2)).toEqual([expect.objectContaining({ run_id: victim.run_id, stored_missing: '', difference: 'derived in SQL, not stored' })]);
      expect(tableRows(tampered, 1)).toEqual([]);
      expect(tableRows(tampered, 3)).toEqual([]);
      expect(tableRows(tampered, 4)).toEqual([]);
    } finally {
      if (kept !== undefined) await ch.insert({ table: `${DATABASE}.violations`, values: [kept], format: 'JSONEachRow' });
    }
    expect((await buildReport(ch, DATABASE, 'reverify', allTime)).outcome.ok).toBe(true);
    // And an event_gap verdict (of a completed run) deleted by hand: named in its own table.
    const [gap] = await queryRows(ch, `SELECT v.violation_id AS violation_id, v.run_id AS run_id FROM ${DATABASE}.violations AS v FINAL INNER JOIN ${DATABASE}.run_summaries AS s FINAL ON v.run_id = s.run_id WHERE v.rule = 'event_gap' AND s.outcome = 'completed' ORDER BY v.violation_id LIMIT 1`, z.object({ violation_id: z.string(), run_id: z.string() }));
    if (gap === undefined) throw new Error('no event_gap verdict of a completed run to delete');
    const [keptGap] = await queryRows(ch, `SELECT * FROM ${DATABASE}.violations FINAL WHERE violation_id = '${gap.violation_id}'`, z.record(z.unknown()));
    await ch.command({ query: `DELETE FROM ${DATABASE}.violations WHERE violation_id = '${gap.violation_id}'` });
    try {
      const tampered = await buildReport(ch, DATABASE, 'reverify', allTime);
      expect(tableRows(tampered, 4)).toEqual([expect.objectContaining({ run_id: gap.run_id, stored_severity: '', difference: 'derived in SQL, not stored' })]);
      expect(tableRows(tampered, 2)).toEqual([]);
    } finally {
      if (keptGap !== undefined) await ch.insert({ table: `${DATABASE}.violations`, values: [keptGap], format: 'JSONEachRow' });
    }
  });

  it('--hash-user-ids: the same verdicts, every user id in the store a keyed pseudonym (columns and the ids a detail names)', async () => {
    const ch = requireClient();
    const hashed = `${DATABASE}_hashed`;
    const store = clickhouse;
    if (store === undefined) throw new Error('no store');
    const key = 'test-key-0123456789abcdef';
    const hashedStats = await replayTopic(brokers, topic, `oracle-e2e-hashed-${randomUUID()}`, { ...store, database: hashed }, { storeEvents: true, userIdKey: key });
    expect({ ...hashedStats, checkpoints: 0, batchesWritten: 0 }).toEqual({ ...stats, checkpoints: 0, batchesWritten: 0 });
    const lines = async (query: string): Promise<string[]> => (await queryRows(ch, query, z.object({ line: z.string() }))).map((r) => r.line);
    // The same verdicts (ids, rules, severities), whatever the user ids became.
    const verdicts = (db: string): Promise<string[]> => lines(`SELECT concat(violation_id, ' ', rule, ' ', severity) AS line FROM ${db}.violations FINAL ORDER BY line`);
    expect(await verdicts(hashed)).toEqual(await verdicts(DATABASE));
    // No user id of the traffic is left as a whole token in any user id column or detail.
    const rawUsers = new Set(traffic.runs.map((r) => r.userId));
    const stored = [
      ...(await lines(`SELECT user_id AS line FROM ${hashed}.violations FINAL`)),
      ...(await lines(`SELECT user_id AS line FROM ${hashed}.run_summaries FINAL`)),
      ...(await lines(`SELECT user_id AS line FROM ${hashed}.user_grades FINAL`)),
      ...(await lines(`SELECT user_id AS line FROM ${hashed}.events FINAL`)),
    ];
    expect(stored.length).toBeGreaterThan(1_000);
    expect(stored.filter((u) => u !== '' && !/^u_[0-9a-f]{32}$/.test(u)).slice(0, 5)).toEqual([]);
    const details = await lines(`SELECT detail AS line FROM ${hashed}.violations FINAL WHERE rule = 'cross_user_contamination'`);
    expect(details.length).toBeGreaterThan(0);
    const namesARawUser = (d: string): boolean => d.split(/[^A-Za-z0-9_\-.:@]+/).some((token) => rawUsers.has(token));
    expect(details.filter(namesARawUser).slice(0, 3)).toEqual([]);
    // (Unhashed, the same details do name users: the check above can fail.)
    expect((await lines(`SELECT detail AS line FROM ${DATABASE}.violations FINAL WHERE rule = 'cross_user_contamination'`)).filter(namesARawUser).length).toBe(details.length);
    // One pseudonym per user: as many users as before, and per-user counts unchanged.
    const perUser = (db: string): Promise<string[]> => lines(`SELECT toString(count()) AS line FROM ${db}.run_summaries FINAL GROUP BY user_id ORDER BY count(), line`);
    expect(await perUser(hashed)).toEqual(await perUser(DATABASE));
  });

  it('the comparison has teeth: an oracle off by one threshold, or one stored verdict lost, differs', async () => {
    const stored = await readStoredVerdicts(requireClient());
    const strict = judgeTraffic(normalizeLifecycle(traffic.records), { ...REFERENCE_SEMANTICS, deliveryLatencyMs: { warning: 450, critical: 2_000 } });
    expect(formatComparison(compareWithOracle(stored, strict))).not.toBe(NO_DIFFERENCES);
    const lost = compareWithOracle(dropOne(stored, 'cross_user_contamination'), oracle);
    expect(lost.missing.map((e) => e.rule)).toEqual(['cross_user_contamination']);
  });
});

// ---------------------------------------------------------------------------------------------
// Publishing with KafkaJS's own producer

async function publishWithKafkaJs(records: readonly WireRecord[]): Promise<AppendedAt[]> {
  const producer = new Kafka({ clientId: 'oracle-model-producer', brokers, logLevel: logLevel.NOTHING }).producer({
    idempotent: true,
    maxInFlightRequests: 1, // one batch at a time: each partition's records land in the model's order
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const out: AppendedAt[] = [];
  try {
    // traffic.records is per partition in offset order: chunks keep each partition's order.
    for (let i = 0; i < records.length; i += SEND_CHUNK) {
      const chunk = records.slice(i, i + SEND_CHUNK);
      const metadata = await producer.send({
        topic,
        acks: -1,
        messages: chunk.map((r) => ({
          partition: r.partition,
          key: r.key,
          value: r.value,
          timestamp: String(r.timestampMs),
          ...(r.deliveredAtHeaderMs === undefined ? {} : { headers: { [DELIVERED_AT_HEADER]: String(r.deliveredAtHeaderMs) } }),
        })),
      });
      out.push(...placeChunk(chunk, metadata));
    }
  } finally {
    await producer.disconnect();
  }
  return out;
}

/** A chunk's records of one partition were appended consecutively from the batch's base offset. */
function placeChunk(chunk: readonly WireRecord[], metadata: readonly RecordMetadata[]): AppendedAt[] {
  const next = new Map<number, number>();
  for (const m of metadata) {
    if (m.topicName !== topic || m.errorCode !== 0 || m.baseOffset === undefined) throw new Error(`send failed: ${JSON.stringify(m)}`);
    next.set(m.partition, Number(m.baseOffset));
  }
  return chunk.map((model) => {
    const offset = next.get(model.partition);
    if (offset === undefined) throw new Error(`no acknowledgement for partition ${model.partition}: ${JSON.stringify(metadata)}`);
    next.set(model.partition, offset + 1);
    return { model, partition: model.partition, offset };
  });
}

async function topicOffsets(): Promise<Array<{ partition: number; low: number; high: number }>> {
  const admin = new Kafka({ clientId: 'oracle-model-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) })).sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// kcat

const kcatRecord = z.object({
  partition: z.number().int(),
  offset: z.number().int(),
  tstype: z.string(),
  ts: z.number(),
  key: z.string().nullable(),
  payload: z.string().nullable(),
  /** kcat -J: header names and values alternating (absent or null without headers). */
  headers: z.array(z.string().nullable()).nullish(),
});

function headerValue(headers: ReadonlyArray<string | null> | null | undefined, name: string): string | undefined {
  for (let i = 0; headers !== null && headers !== undefined && i + 1 < headers.length; i += 2) {
    if (headers[i] === name) return headers[i + 1] ?? undefined;
  }
  return undefined;
}

function findKcat(): string {
  const found = spawnSync('sh', ['-c', 'command -v kcat'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') {
    throw new Error("kcat is not installed: it is the third-party Kafka client this test checks the broker with. Install the Debian package 'kcat' (apt-get install -y kcat); .ci/run does this.");
  }
  return path;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// ---------------------------------------------------------------------------------------------
// Reading the stored verdicts back from ClickHouse (FINAL) as the chain's Verdicts

const ms = z.coerce.number();
const grade = z.enum(['A', 'B', 'C', 'D', 'F']);
const severity = z.enum(['WARNING', 'CRITICAL']);
const ruleId = z.enum(Object.keys(RULES) as [RuleId, ...RuleId[]]);
const lifecycleType = z.enum(LIFECYCLE_TYPES);
const optional = <T>(value: T | null): T | undefined => value ?? undefined;
const orUndefined = (value: string): string | undefined => (value === '' ? undefined : value);

const violationRow = z.object({
  violation_id: z.string(),
  rule: ruleId,
  severity,
  run_id: z.string(),
  thread_id: z.string(),
  user_id: z.string(),
  missing: z.array(lifecycleType),
  subject: z.string(),
  detail: z.string(),
  event_time_ms: ms,
  decided_ms: ms,
  source_topic: z.string(),
  source_partitions: z.array(ms),
  source_offsets: z.array(ms),
});

const summaryRow = z.object({
  run_id: z.string(),
  thread_id: z.string(),
  user_id: z.string(),
  first_ms: ms,
  last_ms: ms,
  started_ms: ms.nullable(),
  completed_ms: ms.nullable(),
  event_count: ms,
  duplicate_count: ms,
  late_event_count: ms,
  types_seen: z.array(lifecycleType),
  outcome: z.enum(['completed', 'deadline', 'end_of_input']),
  duration_ms: ms.nullable(),
  max_gap_ms: ms,
  latency_p50_ms: ms.nullable(),
  latency_p95_ms: ms.nullable(),
  latency_p99_ms: ms.nullable(),
  warnings: ms,
  criticals: ms,
  performance_grade: grade,
  security_grade: grade,
  isolation_warnings: ms,
  isolation_criticals: ms,
  decided_ms: ms,
  source_topic: z.string(),
  source_partitions: z.array(ms),
  source_offsets: z.array(ms),
});

const lateRow = z.object({
  run_id: z.string(),
  type: lifecycleType,
  run_state: z.enum(['open', 'closed', 'unknown']),
  event_time_ms: ms,
  watermark_ms: ms,
  source_topic: z.string(),
  source_partition: ms,
  source_offset: ms,
});

const revisionRowSchema = z.object({
  violation_id: z.string(),
  run_id: z.string(),
  action: z.enum(['confirmed', 'retracted']),
  reason: z.string(),
  event_time_ms: ms,
  source_topic: z.string(),
  source_partition: ms,
  source_offset: ms,
});

async function readStoredVerdicts(ch: ClickHouseClient): Promise<Verdict[]> {
  const t = (column: string, as: string): string => `toUnixTimestamp64Milli(${column}) AS ${as}`;
  const violations = await queryRows(
    ch,
    `SELECT violation_id, rule, severity, run_id, thread_id, user_id, missing, subject, detail, ${t('event_time', 'event_time_ms')}, ${t('decided_at_watermark', 'decided_ms')},
            source_topic, source_partitions, source_offsets
       FROM ${DATABASE}.violations FINAL`,
    violationRow,
  );
  const summaries = await queryRows(
    ch,
    `SELECT run_id, thread_id, user_id, ${t('first_event_time', 'first_ms')}, ${t('last_event_time', 'last_ms')}, ${t('started_at', 'started_ms')}, ${t('completed_at', 'completed_ms')},
            event_count, duplicate_count, late_event_count, types_seen, outcome, duration_ms, max_gap_ms, latency_p50_ms, latency_p95_ms, latency_p99_ms,
            warnings, criticals, performance_grade, security_grade, isolation_warnings, isolation_criticals, ${t('decided_at_watermark', 'decided_ms')},
            source_topic, source_partitions, source_offsets
       FROM ${DATABASE}.run_summaries FINAL`,
    summaryRow,
  );
  const late = await queryRows(
    ch,
    `SELECT run_id, type, run_state, ${t('event_time', 'event_time_ms')}, ${t('watermark', 'watermark_ms')}, source_topic, source_partition, source_offset FROM ${DATABASE}.late_events FINAL`,
    lateRow,
  );
  const revisions = await queryRows(
    ch,
    `SELECT violation_id, run_id, action, reason, ${t('event_time', 'event_time_ms')}, source_topic, source_partition, source_offset FROM ${DATABASE}.verdict_revisions FINAL`,
    revisionRowSchema,
  );
  return [
    ...violations.map((v): Verdict => ({
      kind: 'violation',
      violation: {
        violationId: v.violation_id,
        rule: v.rule,
        severity: v.severity,
        runId: v.run_id,
        threadId: orUndefined(v.thread_id),
        userId: orUndefined(v.user_id),
        missing: v.missing,
        subject: v.subject,
        detail: v.detail,
        eventTimeMs: v.event_time_ms,
        decidedAtWatermarkMs: v.decided_ms,
        source: { topic: v.source_topic, partitions: v.source_partitions, offsets: v.source_offsets },
      },
    })),
    ...summaries.map((s): Verdict => ({
      kind: 'run_summary',
      summary: {
        runId: s.run_id,
        threadId: orUndefined(s.thread_id),
        userId: orUndefined(s.user_id),
        firstEventMs: s.first_ms,
        lastEventMs: s.last_ms,
        startedAtMs: optional(s.started_ms),
        completedAtMs: optional(s.completed_ms),
        eventCount: s.event_count,
        duplicateCount: s.duplicate_count,
        lateEventCount: s.late_event_count,
        typesSeen: s.types_seen,
        outcome: s.outcome,
        durationMs: optional(s.duration_ms),
        maxGapMs: s.max_gap_ms,
        latencyP50Ms: optional(s.latency_p50_ms),
        latencyP95Ms: optional(s.latency_p95_ms),
        latencyP99Ms: optional(s.latency_p99_ms),
        warnings: s.warnings,
        criticals: s.criticals,
        performanceGrade: s.performance_grade,
        securityGrade: s.security_grade,
        isolationWarnings: s.isolation_warnings,
        isolationCriticals: s.isolation_criticals,
        decidedAtWatermarkMs: s.decided_ms,
        source: { topic: s.source_topic, partitions: s.source_partitions, offsets: s.source_offsets },
      },
    })),
    ...late.map((l): Verdict => ({
      kind: 'late_event',
      runId: l.run_id,
      type: l.type,
      eventTimeMs: l.event_time_ms,
      watermarkMs: l.watermark_ms,
      runState: l.run_state,
      source: { topic: l.source_topic, partition: l.source_partition, offset: l.source_offset },
    })),
    ...revisions.map((r): Verdict => ({
      kind: 'revision',
      violationId: r.violation_id,
      runId: r.run_id,
      action: r.action,
      reason: r.reason,
      eventTimeMs: r.event_time_ms,
      source: { topic: r.source_topic, partition: r.source_partition, offset: r.source_offset },
    })),
  ];
}

/** A report's table as objects, column name → cell. */
function tableRows(report: AuditReport, index: number): Array<Record<string, string | number | null>> {
  const table = report.tables[index];
  if (table === undefined) throw new Error(`${report.report} has no table ${index}`);
  return table.rows.map((row) => Object.fromEntries(table.columns.map((column, i) => [column, row[i] ?? null])));
}

function requireClient(): ClickHouseClient {
  if (client === undefined) throw new Error('no ClickHouse client: beforeAll did not finish');
  return client;
}

/** The stored verdicts less one (not retracted) violation of a rule: what the comparison must notice. */
function dropOne(verdicts: readonly Verdict[], rule: RuleId): Verdict[] {
  const compared = (runId: string): boolean => {
    const run = oracle.runs.get(runId);
    return run !== undefined && run.deadlineMs + 10_000 <= oracle.lastEventTimeMs;
  };
  const index = verdicts.findIndex((v) => v.kind === 'violation' && v.violation.rule === rule && compared(v.violation.runId));
  if (index < 0) throw new Error(`no stored ${rule} verdict of a compared run`);
  return verdicts.filter((_, i) => i !== index);
}

/** What a reader of a failing diff wants to know about a run: the fault injected, its producer. */
function describeRun(runId: string): string {
  const fault = traffic.faults.find((f) => f.runId === runId);
  const producer = traffic.runs.find((r) => r.runId === runId)?.producer ?? '?';
  return `${fault === undefined ? 'no fault' : `${fault.kind}: ${fault.detail}`}; producer ${producer}`;
}
