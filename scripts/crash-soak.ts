/**
 * Crash soak, run by hand (`npm run crash:soak`): the crash-recovery test at scale. Publishes
 * ≥ SOAK_RECORDS (default 1,000,000) records of the independent producer model to a fresh topic on
 * a broker it starts itself, replays them once without interruption, then replays them again
 * killed SOAK_KILLS (default 20) times with SIGKILL — at every fault point of the checkpoint
 * protocol in turn and from outside at random moments — and compares the two sets of ClickHouse
 * tables row for row (FINAL, wall-clock stamps aside). Bounded: it stops by itself; exit 0 when
 * identical, 1 when not, 2 on bad settings.
 *
 * Env: SOAK_RECORDS, SOAK_KILLS, SOAK_SEED (default 1).
 */
import { randomUUID } from 'node:crypto';
import { ensureTopic } from '../src/consumers/topics.js';
import { diffDumps, dumpTables, freshDataPath, publish, replayThroughCrashes, startMonitorProcess, type CrashPlanStep } from '../test/support/crash-harness.js';
import { startKafkaForTests } from '../test/support/kafka-broker.js';
import { intSetting, trafficOfAtLeast } from './settings.js';

const RECORDS = intSetting('crash-soak', 'SOAK_RECORDS', 1_000_000);
const KILLS = intSetting('crash-soak', 'SOAK_KILLS', 20);
const SEED = intSetting('crash-soak', 'SOAK_SEED', 1);
const DATABASE = 'runwatch_soak';
const log = (text: string): void => void process.stderr.write(`[crash-soak ${new Date().toISOString()}] ${text}\n`);

const broker = await startKafkaForTests();
try {
  const startedAt = Date.now();
  const traffic = trafficOfAtLeast(RECORDS, SEED, 2_000);
  const topic = `soak-${randomUUID()}`;
  await ensureTopic(broker.brokers, topic, traffic.partitions, { keepHistoricalRecords: true });
  log(`publishing ${traffic.records.length} records`);
  await publish(broker.brokers, topic, traffic.records);

  log('uninterrupted replay');
  const baselinePath = await freshDataPath();
  const baselineStarted = Date.now();
  const baseline = startMonitorProcess({ brokers: broker.brokers, topic, group: `soak-base-${randomUUID()}`, dataPath: baselinePath, database: DATABASE, replay: true });
  const { code } = await baseline.exited;
  if (code !== 0) throw new Error(`baseline exited ${code}: ${baseline.logLines.slice(-10).join('\n')}`);
  const baselineMs = Date.now() - baselineStarted;
  log(`uninterrupted: ${baselineMs} ms, ${baseline.outLines.at(-1) ?? ''}`);

  const points = ['checkpoint-after-save', 'sink-mid-write', 'checkpoint-before-save', 'after-commit'];
  const plan: CrashPlanStep[] = Array.from({ length: KILLS }, (_, i) =>
    i % 3 === 2 ? { externalKillAfterMs: 200 + Math.floor(Math.random() * 3_000) } : { faultInject: `${points[i % points.length]}:${2 + Math.floor(Math.random() * 10)}` },
  );
  const crashPath = await freshDataPath();
  const crashStarted = Date.now();
  const report = await replayThroughCrashes(
    { brokers: broker.brokers, topic, group: `soak-crash-${randomUUID()}`, dataPath: crashPath, database: DATABASE, checkpointIntervalMs: 200, extraArgs: ['--batch-rows', '1000', '--flush-interval-ms', '100', '--max-pending-rows', '5000'] },
    plan,
    5,
  );
  log(`through ${report.kills} kills: ${Date.now() - crashStarted} ms over ${report.attempts.length} starts`);
  for (const attempt of report.attempts) log(`  ${JSON.stringify(attempt)}`);
  const [expected, actual] = [await dumpTables(baselinePath, DATABASE), await dumpTables(crashPath, DATABASE)];
  const differences = diffDumps(expected, actual);
  const rows = Object.entries(expected).map(([table, r]) => `${table} ${r.length}`).join(', ');
  log(`compared: ${rows}`);
  if (differences.length > 0) {
    log(`DIFFERENT:\n${differences.join('\n')}`);
    process.exitCode = 1;
  } else {
    log(`identical after ${report.kills} kills (${traffic.records.length} records, ${Math.round((Date.now() - startedAt) / 1000)} s in all)`);
  }
} finally {
  await broker.stop();
}
