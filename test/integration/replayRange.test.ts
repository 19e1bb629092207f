/**
 * Replaying a time range to validate a change (real broker, the CLI as processes, the embedded
 * ClickHouse engine):
 * - the live monitor judges the topic (the live results); `runwatch replay` of a range inside it
 *   stores, under its id, exactly the live rows of the runs that start in the range, and nothing of
 *   other runs; `runwatch diff` finds no difference and exits 0;
 * - a candidate contract with one threshold changed: the diff lists exactly the verdicts that an
 *   independent computation (the test oracle, which shares no code with the rules) says change,
 *   and exits 1;
 * - a contract file with an error: exit 2 naming the key.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { ensureTopic } from '../../src/consumers/topics.js';
import { REFERENCE_CONTRACT } from '../../src/contract/contract-file.js';
import { projectRoot } from '../../src/infra/broker-config.js';
import { normalizeLifecycle } from '../oracle/harness.js';
import { judgeTraffic, REFERENCE_SEMANTICS } from '../oracle/oracle.js';
import { generateTraffic } from '../oracle/producers.js';
import { dumpTables, freshDataPath, publish, startMonitorProcess } from '../support/crash-harness.js';
import { freePort, get, waitFor } from '../support/http-probe.js';

const brokers = inject('kafkaBrokers');
const ROOT = projectRoot();
const DATABASE = 'runwatch_replays';
/** Small grade windows, so that some lie inside the range and are compared too. */
const GRADE_WINDOW = ['--user-grade-window-ms', '60000'];

function cli(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000, env: { ...process.env, RUNWATCH_LOG_LEVEL: 'warn' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A table's rows of one side (live: replay_id ''), without what only says who wrote them when. */
function rowsOf(dump: Record<string, string[]>, table: string, replayId: string): string[] {
  return (dump[table] ?? [])
    .map((line) => z.record(z.unknown()).parse(JSON.parse(line)))
    .filter((row) => row['replay_id'] === replayId)
    .map((row) => {
      const { replay_id: _r, provisional: _p, ...rest } = row;
      return JSON.stringify(rest);
    })
    .sort();
}

const diffJson = z.object({
  differences: z.number(),
  withinBudget: z.boolean(),
  added: z.array(z.unknown()),
  removed: z.array(z.unknown()),
  changed: z.array(z.object({ before: z.object({ runId: z.string(), rule: z.string(), severity: z.string() }), after: z.object({ runId: z.string(), rule: z.string(), severity: z.string() }) })),
  runGrades: z.array(z.object({ runId: z.string() })),
});

describe('runwatch replay of a time range, contract files and runwatch diff', () => {
  it('replays a range to the live verdicts of its runs, and a changed threshold to exactly the verdicts it changes', async () => {
    const topic = `replay-range-${randomUUID()}`;
    const traffic = generateTraffic({ seed: 2_026, runs: 320, users: 24, partitions: 3, meanRunSpacingMs: 900 });
    await ensureTopic(brokers, topic, traffic.partitions, { keepHistoricalRecords: true });
    await publish(brokers, topic, traffic.records);
    const dataPath = await freshDataPath();

    const base = Math.min(...traffic.records.map((r) => r.timestampMs));
    const fromMs = Math.ceil(base / 60_000) * 60_000 + 60_000;
    const toMs = fromMs + 120_000;
    const from = new Date(fromMs).toISOString();
    const to = new Date(toMs).toISOString();
    // The live results: the monitor in live mode over the topic, stopped (SIGTERM) once event time
    // has passed the range far enough that its runs and grade windows are final.
    const port = await freePort();
    const live = startMonitorProcess({ brokers, topic, group: `live-${randomUUID()}`, dataPath, database: DATABASE, replay: false, extraArgs: [...GRADE_WINDOW, '--http-port', String(port), '--http-host', '127.0.0.1', '--idle-heartbeat-ms', '500'] });
    const metric = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    try {
      await waitFor('the live monitor to read everything and pass the range in event time', async () => {
        const text = (await get(`http://127.0.0.1:${port}/metrics`)).text;
        return metric(text, 'runwatch_records_consumed_total') >= traffic.records.length && metric(text, 'runwatch_watermark_seconds') * 1_000 > toMs + 60_000 ? true : undefined;
      }, 120_000);
      // The sink flushes every second; SIGTERM writes what is left with the last checkpoint.
      live.child.kill('SIGTERM');
      expect((await live.exited).code, live.logLines.slice(-5).join('\n')).toBe(0);
    } finally {
      live.child.kill('SIGKILL');
    }

    const common = ['--brokers', brokers.join(','), '--topic', topic, '--clickhouse-path', dataPath, '--database', DATABASE, '--from', from, '--to', to, ...GRADE_WINDOW, '--json'];

    const same = cli(['replay', ...common, '--replay-id', 'same-contract']);
    expect(same.status, same.stderr.slice(-2_000)).toBe(0);
    const sameResult = z.object({ replayId: z.string(), runs: z.number(), runsCut: z.number(), status: z.string() }).parse(JSON.parse(same.stdout.trim()));
    expect(sameResult).toMatchObject({ replayId: 'same-contract', status: 'finished', runsCut: 0 });

    // The runs that start in the range, by an independent reading of the records.
    const events = normalizeLifecycle(traffic.records);
    const firstEvent = new Map<string, number>();
    // Events whose timestamp is too far from their delivery to be placed in time do not count.
    for (const e of events) if (Math.abs(e.deliveredAtMs - e.emittedAtMs) <= REFERENCE_SEMANTICS.suspiciousSkewMs) firstEvent.set(e.runId, Math.min(firstEvent.get(e.runId) ?? Number.POSITIVE_INFINITY, e.emittedAtMs));
    const inRange = new Set([...firstEvent].filter(([, ms]) => ms >= fromMs && ms < toMs).map(([runId]) => runId));
    expect(inRange.size).toBeGreaterThan(80);
    // Stored: exactly the live rows of those runs, and nothing of other runs.
    const dump = await dumpTables(dataPath, DATABASE, ['decided_at_watermark']);
    const runIdOf = (line: string): string => z.object({ run_id: z.string() }).passthrough().parse(JSON.parse(line)).run_id;
    const replayed = new Set(rowsOf(dump, 'run_summaries', 'same-contract').map(runIdOf));
    const extra = [...replayed].filter((id) => !inRange.has(id));
    const missing = [...inRange].filter((id) => !replayed.has(id));
    expect({ extra, missing }, JSON.stringify([...extra, ...missing].map((id) => [id, firstEvent.get(id), events.filter((e) => e.runId === id).map((e) => [e.type, e.emittedAtMs, e.deliveredAtMs])]))).toEqual({ extra: [], missing: [] });
    expect(sameResult.runs).toBe(inRange.size);
    for (const table of ['violations', 'run_summaries', 'late_events', 'verdict_revisions']) {
      const liveRows = rowsOf(dump, table, '').filter((line) => inRange.has(runIdOf(line)));
      const replayRows = rowsOf(dump, table, 'same-contract');
      expect(replayRows, `${table}: the replay's rows are the live rows of the runs in range`).toEqual(liveRows);
    }
    expect(rowsOf(dump, 'violations', 'same-contract').length).toBeGreaterThan(20);
    const windowsInRange = (line: string): boolean => {
      const row = z.object({ window_start: z.string(), window_end: z.string() }).passthrough().parse(JSON.parse(line));
      return Date.parse(`${row.window_start}Z`) >= fromMs && Date.parse(`${row.window_end}Z`) <= toMs;
    };
    const liveGrades = rowsOf(dump, 'user_grades', '').filter(windowsInRange);
    expect(liveGrades.length).toBeGreaterThan(0);
    expect(rowsOf(dump, 'user_grades', 'same-contract')).toEqual(liveGrades);

    const noDiff = cli(['diff', '--baseline', 'live', '--candidate', 'same-contract', '--clickhouse-path', dataPath, '--database', DATABASE]);
    expect(noDiff.status, noDiff.stdout + noDiff.stderr).toBe(0);
    expect(noDiff.stdout).toContain('no difference');

    // A candidate contract: the critical delivery latency lowered from 2000 to 1000 ms.
    const dir = mkdtempSync(join(tmpdir(), 'runwatch-contract-'));
    const candidate = join(dir, 'faster.yaml');
    writeFileSync(candidate, readFileSync(join(ROOT, 'contracts/reference.yaml'), 'utf8').replace('name: reference', 'name: faster-delivery').replace('deliveryLatencyMs: { warning: 500, critical: 2000 }', 'deliveryLatencyMs: { warning: 500, critical: 1000 }'));
    const check = cli(['contract', 'check', candidate]);
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout).toContain('thresholds.deliveryLatencyMs.critical: 2000 -> 1000');
    const faster = cli(['replay', ...common, '--replay-id', 'faster-delivery', '--contract', candidate]);
    expect(faster.status, faster.stderr.slice(-2_000)).toBe(0);
    // Provenance: every row names the contract it was judged with and the build.
    const fasterHash = z.object({ contractHash: z.string() }).passthrough().parse(JSON.parse(faster.stdout.trim())).contractHash;
    const provenance = (await dumpTables(dataPath, DATABASE, ['decided_at_watermark']))['violations']?.map((line) => z.object({ replay_id: z.string(), contract_hash: z.string(), build: z.string() }).passthrough().parse(JSON.parse(line))) ?? [];
    expect(new Set(provenance.filter((r) => r.replay_id === 'faster-delivery').map((r) => r.contract_hash))).toEqual(new Set([fasterHash]));
    expect(new Set(provenance.filter((r) => r.replay_id === '').map((r) => r.contract_hash))).toEqual(new Set([REFERENCE_CONTRACT.hash]));
    expect(provenance.every((r) => /^\d+\.\d+\.\d+\+\S+$/.test(r.build))).toBe(true);
    const changedDiff = cli(['diff', '--baseline', 'live', '--candidate', 'faster-delivery', '--format', 'json', '--clickhouse-path', dataPath, '--database', DATABASE]);
    expect(changedDiff.status, faster.stdout + changedDiff.stdout.slice(0, 3000) + changedDiff.stderr).toBe(1);
    const diff = diffJson.parse(JSON.parse(changedDiff.stdout));

    // The oracle under both thresholds: delivery_latency findings of the runs in range.
    const latencyFindings = (critical: number): Map<string, string[]> => {
      const report = judgeTraffic(events, { ...REFERENCE_SEMANTICS, deliveryLatencyMs: { warning: 500, critical } });
      const byRun = new Map<string, string[]>();
      for (const f of report.findings) if (f.rule === 'delivery_latency' && inRange.has(f.runId)) byRun.set(f.runId, [...(byRun.get(f.runId) ?? []), f.severity].sort());
      return byRun;
    };
    const before = latencyFindings(2_000);
    const after = latencyFindings(1_000);
    // Each event keeps its verdict; only WARNINGs between 1000 and 2000 ms become CRITICAL.
    const expectedChanges = new Map<string, number>();
    for (const [runId, severities] of after) {
      const becameCritical = severities.filter((s) => s === 'CRITICAL').length - (before.get(runId) ?? []).filter((s) => s === 'CRITICAL').length;
      if (becameCritical > 0) expectedChanges.set(runId, becameCritical);
    }
    expect(expectedChanges.size, 'the changed threshold matters in this traffic').toBeGreaterThan(0);
    const changesByRun = new Map<string, number>();
    for (const c of diff.changed) {
      expect(c.before).toMatchObject({ rule: 'delivery_latency', severity: 'WARNING' });
      expect(c.after).toMatchObject({ rule: 'delivery_latency', severity: 'CRITICAL' });
      changesByRun.set(c.after.runId, (changesByRun.get(c.after.runId) ?? 0) + 1);
    }
    expect(changesByRun).toEqual(expectedChanges);
    expect(diff.added).toEqual([]);
    expect(diff.removed).toEqual([]);
    expect(diff.withinBudget).toBe(false);
    // A run whose verdict became CRITICAL is graded F now (unless it was already).
    expect(diff.runGrades.every((g) => expectedChanges.has(g.runId))).toBe(true);

    // The markdown form reads as a pull-request comment; a budget lets it pass.
    const md = cli(['diff', '--baseline', 'live', '--candidate', 'faster-delivery', '--format', 'md', '--max-differences', '100000', '--clickhouse-path', dataPath, '--database', DATABASE]);
    expect(md.status, md.stderr).toBe(0);
    expect(md.stdout).toMatch(/^## runwatch diff: faster-delivery vs live/);
    expect(md.stdout).toContain('| delivery_latency | WARNING |');

    // A contract with an error: exit 2, one line naming the key.
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, readFileSync(candidate, 'utf8').replace('gapMs: { warning: 1000', 'gapMs: { warning: "soon"'));
    const bad = cli(['replay', ...common, '--replay-id', 'broken', '--contract', broken]);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('thresholds.gapMs.warning');
  }, 300_000);
});
