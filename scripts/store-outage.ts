/**
 * Store outage run by hand (`npm run fault:store-outage`): the CI test
 * test/integration/storeOutage.test.ts at scale. Publishes ≥ OUTAGE_RECORDS (default 200,000)
 * records of the independent producer model to a broker it starts itself, then replays them three
 * ways through the CLI against a ClickHouse server (the engine behind its HTTP interface,
 * test/support/chdb-http-server.ts): uninterrupted; with the server killed (SIGKILL) for
 * OUTAGE_MS (default 60,000) after a fifth of the records were committed, then restarted on the
 * same port and data; and against a slow server (OUTAGE_DELAY_MS per answer, default 200). Prints
 * elapsed time and the monitor's peak RSS for each, and compares every table row for row with the
 * uninterrupted replay. Bounded; exit 0 when identical, 1 when not, 2 on bad settings.
 */
import { randomUUID } from 'node:crypto';
import { ensureTopic } from '../src/consumers/topics.js';
import { diffDumps, dumpTables, publish, replayThroughStoreOutage } from '../test/support/crash-harness.js';
import { startKafkaForTests } from '../test/support/kafka-broker.js';
import { intSetting, trafficOfAtLeast } from './settings.js';

const RECORDS = intSetting('store-outage', 'OUTAGE_RECORDS', 200_000);
const OUTAGE_MS = intSetting('store-outage', 'OUTAGE_MS', 60_000);
const DELAY_MS = intSetting('store-outage', 'OUTAGE_DELAY_MS', 200);
const DATABASE = 'runwatch_store_outage';
const log = (text: string): void => void process.stderr.write(`[store-outage ${new Date().toISOString()}] ${text}\n`);
const settings = ['--max-pending-rows', '20000', '--sink-max-backoff-ms', '2000'];

const broker = await startKafkaForTests();
try {
  const traffic = trafficOfAtLeast(RECORDS, 4, 1_000);
  const topic = `store-outage-${randomUUID()}`;
  await ensureTopic(broker.brokers, topic, traffic.partitions, { keepHistoricalRecords: true });
  log(`publishing ${traffic.records.length} records`);
  await publish(broker.brokers, topic, traffic.records);
  const common = { brokers: broker.brokers, topic, database: DATABASE, extraArgs: settings };
  const runs3 = [
    { name: 'uninterrupted', outageMs: 0, afterCommitted: 0 },
    { name: `server killed for ${OUTAGE_MS} ms`, outageMs: OUTAGE_MS, afterCommitted: Math.floor(traffic.records.length / 5) },
    { name: `slow server (${DELAY_MS} ms per answer)`, outageMs: 0, afterCommitted: 0, delayMs: DELAY_MS },
  ];
  let reference: Record<string, string[]> | undefined;
  let identical = true;
  for (const run of runs3) {
    log(`replay: ${run.name}`);
    const report = await replayThroughStoreOutage({ ...common, ...run });
    const tables = await dumpTables(report.storePath, DATABASE);
    const problems = reference === undefined ? [] : diffDumps(reference, tables);
    reference ??= tables;
    if (problems.length > 0) identical = false;
    process.stdout.write(
      `${JSON.stringify({ replay: run.name, records: traffic.records.length, exit: report.code, elapsedMs: report.elapsedMs, peakRssMb: Math.round(report.peakRssBytes / 1_048_576), outageReported: report.outageReported, fetchingPaused: report.fetchingPaused, identicalToUninterrupted: problems.length === 0, problems: problems.slice(0, 6) })}\n`,
    );
    if (report.code !== 0) identical = false;
  }
  process.exitCode = identical ? 0 : 1;
} finally {
  await broker.stop();
}
