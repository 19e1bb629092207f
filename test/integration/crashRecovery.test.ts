/**
 * Exactly the same verdicts through crashes. The real monitor (the CLI, a child process) replays a
 * topic of ≥ 100k records from the independent producer model and is killed with SIGKILL again and
 * again: at fault points inside the checkpoint protocol (after the state is saved but before the
 * offsets are committed, before it is saved, after the commit, half-way through writing a batch)
 * and from outside at a random moment. Each time it is started again; at the end its ClickHouse
 * tables (read with FINAL, wall-clock stamps aside) must equal those of one uninterrupted replay,
 * row for row. A graceful stop (SIGTERM) exits 0 within the shutdown bound and also loses nothing.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureTopic } from '../../src/consumers/topics.js';
import { generateTraffic, type Traffic } from '../oracle/producers.js';
import { auditCli, auditRows } from '../support/audit-cli.js';
import { committedTotal, diffDumps, dumpTables, exitWithin, freshDataPath, inDeliveryOrder, publish, replayThroughCrashes, settleEarlyFiring, startMonitorProcess, trailer, withoutTrailer, type MonitorProcess } from '../support/crash-harness.js';

const brokers = inject('kafkaBrokers');
const topic = `crash-${randomUUID()}`;
const DATABASE = 'runwatch_crash';
let traffic: Traffic;
let expected: Record<string, string[]>;

beforeAll(async () => {
  traffic = generateTraffic({ seed: 90_210, runs: 15_500, users: 400, partitions: 3, meanRunSpacingMs: 250 });
  await ensureTopic(brokers, topic, traffic.partitions, { keepHistoricalRecords: true });
  await publish(brokers, topic, traffic.records);
  // The reference: one uninterrupted replay.
  const dataPath = await freshDataPath();
  const baselineStartedAt = Date.now();
  const baseline = startMonitorProcess({ brokers, topic, group: `crash-baseline-${randomUUID()}`, dataPath, database: DATABASE, replay: true });
  const { code } = await baseline.exited;
  console.log(`[crash-recovery] uninterrupted replay of ${traffic.records.length} records: ${Date.now() - baselineStartedAt} ms, ${baseline.outLines.at(-1) ?? ''}`);
  if (code !== 0) throw new Error(`baseline replay exited ${code}:\n${baseline.logLines.slice(-15).join('\n')}`);
  expected = await dumpTables(dataPath, DATABASE);
}, 600_000);

afterAll(() => undefined);

describe('replay through kill -9 (real broker, real ClickHouse engine, the CLI as a process)', () => {
  it('has a reference worth comparing with', () => {
    expect(traffic.records.length).toBeGreaterThanOrEqual(100_000);
    expect(expected.run_summaries?.length).toBeGreaterThan(15_000);
    expect(expected.violations?.length).toBeGreaterThan(1_000);
    expect(expected.user_grades?.length).toBeGreaterThan(100);
  });

  it('writes exactly the verdicts of an uninterrupted replay after being killed at every step of the checkpoint protocol', async () => {
    const dataPath = await freshDataPath();
    // Small batches, frequent checkpoints and a low backpressure bound (reading keeps pace with
    // writing): many of each happen while a restart reads.
    const often = { checkpointIntervalMs: 100, extraArgs: ['--batch-rows', '500', '--flush-interval-ms', '50', '--max-pending-rows', '2000'] };
    const report = await replayThroughCrashes({ brokers, topic, group: `crash-${randomUUID()}`, dataPath, database: DATABASE, ...often }, [
      { faultInject: 'checkpoint-after-save:3' }, // state saved, offsets not committed: the previous checkpoint is restored
      { faultInject: 'sink-mid-write:6' }, // violations of a batch written, the other tables not
      { externalKillAfterMs: 100 + Math.floor(Math.random() * 400) },
      { faultInject: 'checkpoint-before-save:3' },
      { faultInject: 'after-commit:3' }, // offsets committed: the newest checkpoint is restored
      { faultInject: 'ledger-after-write:3' }, // offsets committed, then the ledger rows written: the newest checkpoint is restored
      { externalKillAfterMs: 100 + Math.floor(Math.random() * 400) },
    ]);
    console.log(`[crash-recovery] ${JSON.stringify(report.attempts)}`);
    expect(report.kills, JSON.stringify(report.attempts)).toBeGreaterThanOrEqual(5);
    // Every start after the first found a checkpoint to continue from.
    expect(report.attempts.slice(1).every((a) => a.restored), JSON.stringify(report.attempts)).toBe(true);
    const actual = await dumpTables(dataPath, DATABASE);
    expect(diffDumps(expected, actual)).toEqual([]);
    // The completeness ledger recorded every offset once through all of it, its chain unbroken.
    const completeness = await auditCli('completeness', dataPath, DATABASE);
    expect(completeness.code, `${completeness.report.outcome.text}\n${JSON.stringify(auditRows(completeness.report, 1).slice(0, 5))}`).toBe(0);
    const processed = auditRows(completeness.report, 0);
    expect(processed.map((r) => [Number(r.partition), Number(r.first_offset), Number(r.next_offset), Number(r.records)])).toEqual(
      Array.from({ length: traffic.partitions }, (_, p) => {
        const records = traffic.records.filter((r) => r.partition === p).length;
        return [p, 0, records, records];
      }),
    );
    const verify = await auditCli('verify', dataPath, DATABASE);
    expect(verify.code, verify.report.outcome.text).toBe(0);
  }, 600_000);

  it('stops on SIGTERM within the shutdown bound with exit 0, and a restart continues to the same verdicts', async () => {
    const dataPath = await freshDataPath();
    const options = { brokers, topic, group: `sigterm-${randomUUID()}`, dataPath, database: DATABASE, replay: true };
    const first = startMonitorProcess(options);
    await waitFor(() => first.logLines.some((l) => l.includes('no checkpoint to restore')), 60_000);
    await new Promise((resolve) => setTimeout(resolve, 800));
    const signalledAt = Date.now();
    first.child.kill('SIGTERM');
    const { code } = await first.exited;
    const stopMs = Date.now() - signalledAt;
    expect(code).toBe(0);
    expect(stopMs).toBeLessThan(10_000);
    expect(first.logLines.some((l) => l.includes('stopped: state and offsets saved'))).toBe(true);
    const second = startMonitorProcess(options);
    expect((await second.exited).code).toBe(0);
    expect(second.logLines.some((l) => l.includes('restoring the checkpoint'))).toBe(true);
    expect(diffDumps(expected, await dumpTables(dataPath, DATABASE))).toEqual([]);
  }, 600_000);
});

describe('SIGTERM while starting', () => {
  it('exits 0 at once while the monitor still waits for ClickHouse to answer', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    const proc = startMonitorProcess({ brokers, topic, group: `starting-${randomUUID()}`, dataPath: await freshDataPath(), database: DATABASE, replay: false, extraArgs: ['--clickhouse-url', `http://127.0.0.1:${port}`] });
    await waitFor(() => proc.logLines.some((l) => l.includes('ClickHouse is not answering')), 60_000);
    const signalledAt = Date.now();
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(2_000);
    expect(proc.logLines.some((l) => l.includes('stopping before the monitor started'))).toBe(true);
  }, 90_000);
});

describe('SIGTERM while standing by', () => {
  it('exits 0 at once, leaving the active member of the group undisturbed', async () => {
    const group = `standby-${randomUUID()}`;
    // A topic of its own with no backlog: on the shared 100k-record topic the active member was busy
    // with a batch when the standby joined, and a loaded machine took over a minute to rebalance.
    const quietTopic = `standby-${randomUUID()}`;
    await ensureTopic(brokers, quietTopic, 3, { keepHistoricalRecords: true });
    const active = startMonitorProcess({ brokers, topic: quietTopic, group, dataPath: await freshDataPath(), database: DATABASE, replay: false });
    await waitFor(() => active.logLines.some((l) => l.includes('active: this member holds every partition')), 60_000, () => `active member:\n${active.logLines.slice(-10).join('\n')}`);
    const standby = startMonitorProcess({ brokers, topic: quietTopic, group, dataPath: await freshDataPath(), database: DATABASE, replay: false });
    try {
      await waitFor(() => standby.logLines.some((l) => l.includes('standby: another member of the group is active')), 40_000, () => `standby member:\n${standby.logLines.slice(-10).join('\n')}`);
      const signalledAt = Date.now();
      standby.child.kill('SIGTERM');
      expect((await exitWithin(standby, 10_000, 'the standby after SIGTERM')).code).toBe(0);
      expect(Date.now() - signalledAt).toBeLessThan(5_000);
      expect(standby.logLines.some((l) => l.includes('stopping before the monitor started'))).toBe(true);
      expect(active.child.exitCode).toBeNull();
      active.child.kill('SIGTERM');
      expect((await exitWithin(active, 30_000, 'the active member after SIGTERM')).code).toBe(0);
    } finally {
      // A failed expectation must not leave monitors running through the rest of the suite.
      for (const proc of [active, standby]) if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    }
  }, 150_000);
});

describe('one topic judged live, live through kill -9 while a producer publishes, and by a replay through kill -9', () => {
  it('stores the same rows all three ways', async () => {
    const liveTopic = `crash-live-${randomUUID()}`;
    const live = generateTraffic({ seed: 5_150, runs: 2_500, users: 120, partitions: 3, meanRunSpacingMs: 250 });
    // Published as producers send them: all partitions at once, in delivery-time order.
    const records = inDeliveryOrder([...live.records, ...trailer(live.records, live.partitions)]);
    await ensureTopic(brokers, liveTopic, live.partitions, { keepHistoricalRecords: true });
    // One-minute user windows: the trailer closes every real one.
    const settings = ['--batch-rows', '200', '--flush-interval-ms', '50', '--user-grade-window-ms', '60000'];
    // Idle partitions advance event time with the wall clock (processing time, by design): a long
    // idle bound keeps a loaded machine's pauses in publishing out of the comparison.
    const common = { brokers, topic: liveTopic, database: DATABASE, replay: false, checkpointIntervalMs: 200, extraArgs: [...settings, '--idle-heartbeat-ms', '60000'] };
    const reference = { ...common, group: `live-ref-${randomUUID()}`, dataPath: await freshDataPath() };
    const crashing = { ...common, group: `live-crash-${randomUUID()}`, dataPath: await freshDataPath() };
    const steady = startMonitorProcess(reference);
    // About 20 s of publishing: records keep coming while the crashing monitor dies and restarts.
    const publishing = publish(brokers, liveTopic, records, 400, 300);
    const plan = ['checkpoint-after-save:5', 'sink-mid-write:4', undefined, 'after-commit:6', undefined];
    let kills = 0;
    let current: MonitorProcess | undefined;
    for (const faultInject of plan) {
      current = startMonitorProcess({ ...crashing, ...(faultInject === undefined ? {} : { faultInject }) });
      const proc = current;
      await waitFor(() => proc.logLines.some((l) => l.includes('Kafka consumer joined its group')), 60_000);
      if (faultInject === undefined) setTimeout(() => proc.child.kill('SIGKILL'), 500 + Math.floor(Math.random() * 1_000));
      // A fault point that is not reached (publishing over, nothing left to checkpoint) must not hang the test.
      const bound = setTimeout(() => proc.child.kill('SIGKILL'), 45_000);
      const { signal } = await proc.exited;
      clearTimeout(bound);
      if (signal === 'SIGKILL') kills += 1;
    }
    const last = startMonitorProcess(crashing);
    current = last;
    await waitFor(() => last.logLines.some((l) => l.includes('Kafka consumer joined its group')), 60_000);
    await publishing;
    // Both committed to the end: a checkpoint covering every record, its results written first.
    for (const group of [reference.group, crashing.group]) {
      const deadline = Date.now() + 120_000;
      while ((await committedTotal(brokers, liveTopic, group)) < records.length) {
        if (Date.now() > deadline) throw new Error(`group ${group} did not commit to the end`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    for (const proc of [steady, current]) proc.child.kill('SIGTERM');
    expect((await steady.exited).code).toBe(0);
    expect((await current.exited).code).toBe(0);
    expect(kills).toBeGreaterThanOrEqual(5);

    // The same topic by replay, killed twice on the way.
    const replayPath = await freshDataPath();
    const replayed = await replayThroughCrashes(
      { brokers, topic: liveTopic, group: `live-replay-${randomUUID()}`, dataPath: replayPath, database: DATABASE, checkpointIntervalMs: 100, extraArgs: [...settings, '--max-pending-rows', '1000'] },
      [{ faultInject: 'checkpoint-after-save:3' }, { faultInject: 'sink-mid-write:3' }],
    );
    expect(replayed.kills, JSON.stringify(replayed.attempts)).toBe(2);

    // Live, early firing stored provisional findings first: all of them final by now, or withdrawn,
    // with or without kill -9 (a restart withdraws what the restored state cannot know it fired).
    // A run's findings fire when its completion arrives, over what of the run had arrived then:
    // processing time, so which of them were fired early, and withdrawn, differs between two live
    // monitors. Everything else is the same row for row. A replay fires nothing early.
    const steadyLive = settleEarlyFiring(withoutTrailer(await dumpTables(reference.dataPath, DATABASE)));
    const crashedLive = settleEarlyFiring(withoutTrailer(await dumpTables(crashing.dataPath, DATABASE)));
    for (const settled of [steadyLive, crashedLive]) {
      expect(settled.unexplainedWithdrawals).toEqual([]);
      expect(settled.dump['violations provisional'] ?? []).toEqual([]);
    }
    expect(diffDumps(steadyLive.dump, crashedLive.dump)).toEqual([]);
    const want = steadyLive.dump;
    expect(want.run_summaries?.length).toBeGreaterThan(2_000);
    expect(want.user_grades?.length).toBeGreaterThan(100);
    expect(diffDumps(want, withoutTrailer(await dumpTables(replayPath, DATABASE)))).toEqual([]);
    // Live through kill -9 too, the ledger recorded every offset of the topic exactly once, its chain unbroken.
    const perPartition = Array.from({ length: live.partitions }, (_, p) => records.filter((r) => r.partition === p).length);
    for (const path of [reference.dataPath, crashing.dataPath]) {
      const completeness = await auditCli('completeness', path, DATABASE);
      expect(completeness.code, `${completeness.report.outcome.text}\n${JSON.stringify(auditRows(completeness.report, 1).slice(0, 5))}`).toBe(0);
      expect(auditRows(completeness.report, 0).map((r) => [Number(r.partition), Number(r.first_offset), Number(r.next_offset), Number(r.records)])).toEqual(perPartition.map((n, p) => [p, 0, n, n]));
      expect((await auditCli('verify', path, DATABASE)).code).toBe(0);
    }
  }, 600_000);
});

async function waitFor(condition: () => boolean, ms: number, context: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms\n${context()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
