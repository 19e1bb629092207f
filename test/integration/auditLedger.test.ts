/**
 * The completeness ledger as an auditor relies on it, on real parts: the CLI monitor (a child
 * process) reads traffic of the independent producer model from a real broker into the embedded
 * ClickHouse, an operator moves the group's offsets with Kafka's own tool
 * (kafka-consumer-groups' ConsumerGroupCommand) forward on one partition and back on another, and
 * `runwatch audit completeness` must name exactly the skipped and the twice-processed offsets.
 * Then the ledger is altered with SQL as someone with write access could (a row edited, one
 * deleted, one inserted), each on a copy of the store, and `runwatch audit verify` must name the
 * first row that does not hold.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cp, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { ensureTopic } from '../../src/consumers/topics.js';
import { generateTraffic, type Traffic, type WireRecord } from '../oracle/producers.js';
import { freshDataPath, publish, startMonitorProcess, startSharedStore } from '../support/crash-harness.js';
import { auditCli, auditRows, type AuditRun } from '../support/audit-cli.js';
import { resetGroupOffset } from '../support/kafka-tools.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const brokers = inject('kafkaBrokers');
const topic = `audit-ledger-${randomUUID()}`;
const group = `audit-ledger-${randomUUID()}`;
const DATABASE = 'runwatch_audit_ledger';
const SKIPPED = 50;
const REPEATED = 30;

let traffic: Traffic;
let dataPath: string;
/** Per partition: where the first read ended, and the end of the topic. */
let firstEnd: number[] = [];
let topicEnd: number[] = [];
const copies: string[] = [];

const problemRow = z.object({ partition: z.coerce.number(), kind: z.string(), from_offset: z.coerce.number(), to_offset: z.coerce.number() });
const audit = (report: string, path: string): Promise<AuditRun> => auditCli(report, path, DATABASE);

async function monitorOnce(): Promise<void> {
  // Frequent checkpoints, small batches: many ledger rows per read.
  const monitor = startMonitorProcess({ brokers, topic, group, dataPath, database: DATABASE, replay: true, checkpointIntervalMs: 20, extraArgs: ['--batch-rows', '200', '--flush-interval-ms', '20', '--max-pending-rows', '1000'] });
  const { code } = await monitor.exited;
  if (code !== 0) throw new Error(`monitor exited ${code}:\n${monitor.logLines.slice(-15).join('\n')}`);
}

async function runSql(path: string, ...statements: string[]): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/support/run-sql.ts'), path, DATABASE, ...statements], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const code = await new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
  if (code !== 0) throw new Error(`run-sql exited ${code}: ${err.slice(-2_000)}`);
}

async function copyOfStore(): Promise<string> {
  const path = await freshDataPath();
  await rm(path, { recursive: true, force: true });
  // verbatimSymlinks: the engine links tables relatively inside its directory; resolved links would point into the original.
  await cp(dataPath, path, { recursive: true, verbatimSymlinks: true });
  copies.push(path);
  return path;
}

beforeAll(async () => {
  traffic = generateTraffic({ seed: 777_001, runs: 2_000, users: 40, partitions: 3, meanRunSpacingMs: 200 });
  await ensureTopic(brokers, topic, traffic.partitions, { keepHistoricalRecords: true });
  const perPartition = (p: number): WireRecord[] => traffic.records.filter((r) => r.partition === p);
  topicEnd = Array.from({ length: traffic.partitions }, (_, p) => perPartition(p).length);
  firstEnd = topicEnd.map((n) => Math.floor(n / 2));
  // First half of each partition; the monitor reads it to the end; then the rest arrives.
  await publish(brokers, topic, traffic.records.filter((r) => r.offset < (firstEnd[r.partition] as number)));
  dataPath = await freshDataPath();
  await monitorOnce();
  await publish(brokers, topic, traffic.records.filter((r) => r.offset >= (firstEnd[r.partition] as number)));
  // An operator skips offsets of partition 1 (kafka-consumer-groups --reset-offsets, forward).
  await resetGroupOffset(brokers, group, topic, 1, (firstEnd[1] as number) + SKIPPED);
  await monitorOnce();
  // And makes partition 0 read its last records again (backward).
  await resetGroupOffset(brokers, group, topic, 0, (topicEnd[0] as number) - REPEATED);
  await monitorOnce();
}, 300_000);

afterAll(async () => {
  for (const path of [dataPath, ...copies]) if (path !== undefined) await rm(path, { recursive: true, force: true });
});

describe('completeness ledger: gaps, overlaps and tampering are found (real broker, CLI processes, Kafka\'s own tool)', () => {
  it('completeness names exactly the offsets skipped on partition 1 and processed twice on partition 0 (exit 1)', async () => {
    const { code, report, err } = await audit('completeness', dataPath);
    expect(code, err).toBe(1);
    expect(report.outcome.ok).toBe(false);
    // However the reads were cut into ledger rows, the problems cover exactly these offsets.
    const problems = auditRows(report, 1).map((r) => problemRow.parse(r));
    expect(new Set(problems.map((p) => `${p.partition} ${p.kind}`))).toEqual(new Set(['0 overlap', '1 gap']));
    const offsetsOf = (partition: number, kind: string): number[] =>
      [...new Set(problems.filter((p) => p.partition === partition && p.kind === kind).flatMap((p) => Array.from({ length: p.to_offset - p.from_offset }, (_, i) => p.from_offset + i)))].sort((a, b) => a - b);
    const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
    expect(offsetsOf(0, 'overlap')).toEqual(range((topicEnd[0] as number) - REPEATED, topicEnd[0] as number));
    expect(offsetsOf(1, 'gap')).toEqual(range(firstEnd[1] as number, (firstEnd[1] as number) + SKIPPED));
    expect(report.outcome.text).toContain(`(${SKIPPED} offsets never processed)`);
    // Every partition is covered to its end; records counted = records read (the repeated ones twice, the skipped ones never).
    const processed = auditRows(report, 0).map((r) => ({ partition: Number(r.partition), first: Number(r.first_offset), next: Number(r.next_offset), records: Number(r.records) }));
    expect(processed).toEqual(topicEnd.map((end, partition) => ({ partition, first: 0, next: end, records: end + (partition === 0 ? REPEATED : 0) - (partition === 1 ? SKIPPED : 0) })));
  }, 120_000);

  it('the same SQL through a ClickHouse server URL gives the same results, to the byte (result hashes)', async () => {
    const reports = ['completeness', 'verify', 'isolation', 'violations'];
    // One process at a time: the embedded engine opens a data directory in one process only.
    const embedded: AuditRun[] = [];
    for (const report of reports) embedded.push(await audit(report, dataPath));
    const server = await startSharedStore(dataPath);
    try {
      const viaUrl: AuditRun[] = [];
      for (const report of reports) viaUrl.push(await audit(report, server.url));
      expect(viaUrl.map((r) => [r.code, r.report.queries])).toEqual(embedded.map((r) => [r.code, r.report.queries]));
      expect(embedded.flatMap((r) => r.report.queries).every((q) => /^[0-9a-f]{64}$/.test(q.resultHash))).toBe(true);
    } finally {
      await server.stop();
    }
  }, 180_000);

  it('verify finds the chain intact (exit 0): a gap in what was processed is not a change to the ledger', async () => {
    const { code, report, err } = await audit('verify', dataPath);
    expect(code, err).toBe(0);
    expect(report.outcome.ok).toBe(true);
    expect(auditRows(report, 0)).toEqual([]);
    // Three reads of three partitions at least; the tampering below uses rows 5 to 9.
    expect(Number(auditRows(report, 1)[0]?.ledger_rows)).toBeGreaterThanOrEqual(9);
  }, 120_000);

  it('verify with a head kept from an earlier audit notices rows cut from the end of the chain, which the chain alone cannot show', async () => {
    const before = await audit('verify', dataPath);
    const head = auditRows(before.report, 1)[0];
    const kept = `${Number(head?.head_seq)}:${String(head?.head_hash)}`;
    const cut = await copyOfStore();
    await runSql(cut, `DELETE FROM ${DATABASE}.completeness_ledger WHERE ledger_seq >= ${Number(head?.head_seq) - 1}`);
    const plain = await audit('verify', cut);
    expect(plain.code, plain.report.outcome.text).toBe(0);
    const anchored = await auditCli('verify', cut, DATABASE, ['--expect-head', kept]);
    expect(anchored.code, anchored.err).toBe(1);
    expect(anchored.report.outcome.text).toContain(`first ledger_seq ${Number(head?.head_seq)}`);
    const intact = await auditCli('verify', dataPath, DATABASE, ['--expect-head', kept]);
    expect(intact.code, intact.report.outcome.text).toBe(0);
    expect(intact.report.outcome.text).toContain('1 kept head(s) still there');
  }, 120_000);

  it('verify names an edited row, the row after a deleted one, and an inserted row (exit 1)', async () => {
    const table = `${DATABASE}.completeness_ledger`;
    const edited = await copyOfStore();
    await runSql(edited, `ALTER TABLE ${table} UPDATE records = records + 1 WHERE ledger_seq = 5 SETTINGS mutations_sync = 2`);
    const deleted = await copyOfStore();
    await runSql(deleted, `DELETE FROM ${table} WHERE ledger_seq = 7`);
    const inserted = await copyOfStore();
    await runSql(inserted, `INSERT INTO ${table} SETTINGS insert_deduplicate = 0 SELECT * FROM ${table} WHERE ledger_seq = 9`);

    const cases = [
      { path: edited, seq: 5, problem: /^edited/ },
      { path: deleted, seq: 8, problem: /^deleted: ledger_seq 7\.\.7 missing/ },
      { path: inserted, seq: 9, problem: /^inserted/ },
    ];
    for (const { path, seq, problem } of cases) {
      const { code, report, err } = await audit('verify', path);
      expect(code, err).toBe(1);
      const first = auditRows(report, 0)[0];
      expect(first?.ledger_seq === undefined ? undefined : Number(first.ledger_seq)).toBe(seq);
      expect(String(first?.problem)).toMatch(problem);
      expect(report.outcome.text).toContain(`ledger_seq ${seq}`);
    }
  }, 120_000);
});
