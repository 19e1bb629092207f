/**
 * A replay through a ClickHouse server that dies (kill -9), stays down, and comes back on the same
 * port and data (the engine behind its HTTP interface in a process of its own,
 * test/support/chdb-http-server.ts), and through a slow server: the monitor (the CLI, a process)
 * says what fails, pauses fetching once `--max-pending-rows` results wait, retries until served,
 * exits 0, and stores exactly the rows of an uninterrupted replay. Peak RSS is printed, not judged
 * (scripts/store-outage.ts runs a 60 s outage by hand and reports it).
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureTopic } from '../../src/consumers/topics.js';
import { generateTraffic } from '../oracle/producers.js';
import { diffDumps, dumpTables, freshDataPath, publish, replayThroughStoreOutage, startMonitorProcess } from '../support/crash-harness.js';

const brokers = inject('kafkaBrokers');
const topic = `store-outage-${randomUUID()}`;
const DATABASE = 'runwatch_outage';
const settings = ['--batch-rows', '200', '--flush-interval-ms', '50', '--max-pending-rows', '2000', '--sink-max-backoff-ms', '500', '--checkpoint-interval-ms', '200'];
let records = 0;
let expected: Record<string, string[]>;

beforeAll(async () => {
  const traffic = generateTraffic({ seed: 31_337, runs: 3_000, users: 150, partitions: 3, meanRunSpacingMs: 250 });
  records = traffic.records.length;
  await ensureTopic(brokers, topic, traffic.partitions, { keepHistoricalRecords: true });
  await publish(brokers, topic, traffic.records);
  const dataPath = await freshDataPath();
  const reference = startMonitorProcess({ brokers, topic, group: `outage-ref-${randomUUID()}`, dataPath, database: DATABASE, replay: true, extraArgs: settings });
  expect((await reference.exited).code).toBe(0);
  expected = await dumpTables(dataPath, DATABASE);
}, 300_000);

const mb = (bytes: number): string => `${(bytes / 1_048_576).toFixed(0)} MB`;

describe('ClickHouse server down for a while, or slow (real client over HTTP, the CLI as a process)', () => {
  it('waits out a server killed for 8 s, with fetching paused, and stores exactly the uninterrupted rows', async () => {
    expect(expected['run_summaries']?.length).toBeGreaterThan(2_000);
    const report = await replayThroughStoreOutage({ brokers, topic, database: DATABASE, outageMs: 8_000, afterCommitted: Math.floor(records / 5), extraArgs: settings });
    console.info(`store outage 8 s: ${records} records, exit ${report.code}, ${report.elapsedMs} ms, peak RSS ${mb(report.peakRssBytes)}`);
    expect(report.code, report.logLines.slice(-5).join('\n')).toBe(0);
    expect(report.outageReported).toBe(true);
    expect(report.fetchingPaused).toBe(true);
    expect(diffDumps(expected, await dumpTables(report.storePath, DATABASE))).toEqual([]);
  }, 300_000);

  it('slows fetching to a slow server (150 ms per answer) and stores exactly the uninterrupted rows', async () => {
    const report = await replayThroughStoreOutage({ brokers, topic, database: DATABASE, outageMs: 0, afterCommitted: 0, delayMs: 150, extraArgs: settings });
    console.info(`slow store: ${records} records, exit ${report.code}, ${report.elapsedMs} ms, peak RSS ${mb(report.peakRssBytes)}`);
    expect(report.code, report.logLines.slice(-5).join('\n')).toBe(0);
    expect(report.fetchingPaused).toBe(true);
    expect(diffDumps(expected, await dumpTables(report.storePath, DATABASE))).toEqual([]);
  }, 300_000);
});
