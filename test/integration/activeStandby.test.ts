/**
 * Three monitor processes in one consumer group over a six-partition topic, sharing one store
 * (the ClickHouse engine behind its HTTP interface, test/support/chdb-http-server.ts): one is
 * active, two stand by; the active one is killed (kill -9 at a fault point) mid-stream, a standby
 * takes over from the last checkpoint, and so on. Live, with a producer publishing meanwhile, and
 * replaying: the shared store ends with exactly the rows of one uninterrupted single-instance
 * replay of the topic, and every survivor of a replay exits 0 (a standby ends when the active one
 * has read to the end). The traffic is the independent producer model's (keyed by thread, by run
 * and round robin), so runs and users span partitions.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { ensureTopic } from '../../src/consumers/topics.js';
import { generateTraffic } from '../oracle/producers.js';
import { auditCli, auditRows } from '../support/audit-cli.js';
import { activeProcess, committedTotal, diffDumps, dumpTables, freshDataPath, inDeliveryOrder, publish, settleEarlyFiring, startMonitorProcess, startSharedStore, trailer, waitFor, withoutTrailer, type MonitorProcess, type MonitorProcessOptions } from '../support/crash-harness.js';

const brokers = inject('kafkaBrokers');
const DATABASE = 'runwatch_scale';

/**
 * Starts three members of one group: the first with `faults[0]` alone until it is active, then the
 * others. Each dies at its own fault point once it is the active one; the last has none.
 */
async function startGroup(options: Omit<MonitorProcessOptions, 'faultInject'>, faults: readonly [string, string]): Promise<MonitorProcess[]> {
  const first = startMonitorProcess({ ...options, faultInject: faults[0] });
  await waitFor('the first member to be active', () => activeProcess([first]) !== undefined, 60_000);
  return [first, startMonitorProcess({ ...options, faultInject: faults[1] }), startMonitorProcess(options)];
}

/** RUNWATCH_CRASH_LOGS=<dir> keeps each member's log lines there (debugging a failure). */
function keepLogs(name: string, processes: readonly MonitorProcess[]): void {
  const dir = process.env['RUNWATCH_CRASH_LOGS'];
  if (dir !== undefined) processes.forEach((p, i) => writeFileSync(`${dir}/${name}-${i}.log`, p.logLines.join('\n')));
}

/** How each member ended and its last log lines: the message of a failed expectation. */
const story = (processes: readonly MonitorProcess[]): string =>
  processes.map((p, i) => `member ${i}: exit ${p.child.exitCode} signal ${p.child.signalCode}\n  ${p.logLines.slice(-6).map((l) => l.slice(0, 300)).join('\n  ')}`).join('\n');

const killed = (processes: readonly MonitorProcess[]): number => processes.filter((p) => p.child.signalCode === 'SIGKILL').length;
const tookOver = (processes: readonly MonitorProcess[]): number => processes.slice(1).filter((p) => p.logLines.some((l) => l.includes('active: this member holds every partition'))).length;

describe('three instances in one group: active, standbys, takeover through kill -9 (real broker, shared store)', () => {
  it('store, live and replaying, exactly what one uninterrupted instance stores', async () => {
    const topic = `scale-${randomUUID()}`;
    const traffic = generateTraffic({ seed: 6_006, runs: 2_000, users: 150, partitions: 6, meanRunSpacingMs: 250 });
    const records = inDeliveryOrder([...traffic.records, ...trailer(traffic.records, traffic.partitions)]);
    await ensureTopic(brokers, topic, traffic.partitions, { keepHistoricalRecords: true });
    const settings = ['--batch-rows', '200', '--flush-interval-ms', '50', '--user-grade-window-ms', '60000', '--max-pending-rows', '1000'];

    // Live: three members, then a producer publishes (about 15 s) while the active ones die at fault points.
    const liveStorePath = await freshDataPath();
    const liveStore = await startSharedStore(liveStorePath);
    const liveGroup = `scale-live-${randomUUID()}`;
    const live = { brokers, topic, group: liveGroup, dataPath: await freshDataPath(), database: DATABASE, replay: false, checkpointIntervalMs: 200, extraArgs: [...settings, '--idle-heartbeat-ms', '60000', '--clickhouse-url', liveStore.url] };
    const liveMembers = await startGroup(live, ['checkpoint-after-save:3', 'sink-mid-write:12']);
    await publish(brokers, topic, records, 400, 250);
    await waitFor('the live group to commit every record', async () => (await committedTotal(brokers, topic, liveGroup)) >= records.length, 180_000);
    for (const member of liveMembers) member.child.kill('SIGTERM');
    const liveExits = await Promise.all(liveMembers.map((m) => m.exited));
    keepLogs('live', liveMembers);
    expect(killed(liveMembers), story(liveMembers)).toBeGreaterThanOrEqual(1);
    expect(tookOver(liveMembers), story(liveMembers)).toBeGreaterThanOrEqual(1);
    expect(liveExits.filter((e) => e.signal === null).every((e) => e.code === 0), JSON.stringify(liveExits)).toBe(true);
    await liveStore.stop();

    // The reference: one instance replays the topic, uninterrupted, into a store of its own.
    const referencePath = await freshDataPath();
    const reference = startMonitorProcess({ brokers, topic, group: `scale-ref-${randomUUID()}`, dataPath: referencePath, database: DATABASE, replay: true, extraArgs: settings });
    expect((await reference.exited).code, reference.logLines.slice(-5).join('\n')).toBe(0);

    // Replay: three members; the active ones die at fault points; every survivor exits 0.
    const replayStorePath = await freshDataPath();
    const replayStore = await startSharedStore(replayStorePath);
    const replayGroup = `scale-replay-${randomUUID()}`;
    const replay = { brokers, topic, group: replayGroup, dataPath: await freshDataPath(), database: DATABASE, replay: true, checkpointIntervalMs: 100, extraArgs: [...settings, '--clickhouse-url', replayStore.url] };
    // The first active dies mid-write, at its first write after a committed checkpoint: the takeover
    // always has a checkpoint to restore, however fast the store takes rows.
    const replayMembers = await startGroup(replay, ['sink-mid-write-after-commit:1', 'checkpoint-after-save:2']);
    const replayExits = await Promise.all(replayMembers.map((m) => m.exited));
    keepLogs('replay', replayMembers);
    expect(killed(replayMembers), story(replayMembers)).toBeGreaterThanOrEqual(1);
    expect(tookOver(replayMembers), story(replayMembers)).toBeGreaterThanOrEqual(1);
    expect(replayExits.filter((e) => e.signal === null).map((e) => e.code)).toEqual(Array.from({ length: 3 - killed(replayMembers) }, () => 0));
    expect(replayMembers.some((m) => m.logLines.some((l) => l.includes('restoring the checkpoint')))).toBe(true);
    await replayStore.stop();

    const want = withoutTrailer(await dumpTables(referencePath, DATABASE));
    expect(want.run_summaries?.length).toBeGreaterThan(1_500);
    expect(want.violations?.length).toBeGreaterThan(100);
    // Live, early firing stored provisional findings first: all final by now, or withdrawn (a copy's).
    const liveSettled = settleEarlyFiring(withoutTrailer(await dumpTables(liveStorePath, DATABASE)));
    expect(liveSettled.unexplainedWithdrawals).toEqual([]);
    expect(diffDumps(want, liveSettled.dump)).toEqual([]);
    expect(diffDumps(want, withoutTrailer(await dumpTables(replayStorePath, DATABASE)))).toEqual([]);
    // Through every takeover, the ledger recorded each offset once (the dead member's uncommitted
    // rows deleted by its successor), its chain unbroken.
    const perPartition = Array.from({ length: traffic.partitions }, (_, p) => records.filter((r) => r.partition === p).length);
    for (const path of [liveStorePath, replayStorePath]) {
      const completeness = await auditCli('completeness', path, DATABASE);
      expect(completeness.code, `${completeness.report.outcome.text}\n${JSON.stringify(auditRows(completeness.report, 1).slice(0, 5))}`).toBe(0);
      expect(auditRows(completeness.report, 0).map((r) => [Number(r.partition), Number(r.first_offset), Number(r.next_offset), Number(r.records)])).toEqual(perPartition.map((n, p) => [p, 0, n, n]));
      const verify = await auditCli('verify', path, DATABASE);
      expect(verify.code, verify.report.outcome.text).toBe(0);
    }
  }, 600_000);
});
