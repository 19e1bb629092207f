/**
 * A bounded replay judges the runs cut by the end of its input with what they have (outcome
 * `end_of_input`); those rows are provisional. When the same group later reads on (more records
 * appended, a second replay or the live monitor), the cut runs continue from the checkpoint taken
 * before that flush and are judged again when final: the provisional rows must give way to the
 * final ones, none may linger. The tables after "replay half, append the rest, replay again" must
 * equal those of one replay of the whole topic.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { ensureTopic } from '../../src/consumers/topics.js';
import { generateTraffic } from '../oracle/producers.js';
import { diffDumps, dumpTables, freshDataPath, publish, startMonitorProcess } from '../support/crash-harness.js';

const brokers = inject('kafkaBrokers');
const DATABASE = 'runwatch_continue';

describe('a replay continued by a later read of the same group', () => {
  it('ends with exactly the rows of one replay of the whole topic: no provisional row of the first read lingers', async () => {
    const topic = `continue-${randomUUID()}`;
    const traffic = generateTraffic({ seed: 8_080, runs: 2_000, users: 100, partitions: 3, meanRunSpacingMs: 250 });
    const ordered = [...traffic.records].sort((a, b) => a.timestampMs - b.timestampMs || a.partition - b.partition || a.offset - b.offset);
    const half = Math.floor(ordered.length / 2);
    await ensureTopic(brokers, topic, traffic.partitions, { keepHistoricalRecords: true });
    const settings = ['--batch-rows', '500', '--user-grade-window-ms', '60000'];

    const continuedPath = await freshDataPath();
    const group = `continue-${randomUUID()}`;
    await publish(brokers, topic, ordered.slice(0, half));
    const first = startMonitorProcess({ brokers, topic, group, dataPath: continuedPath, database: DATABASE, replay: true, extraArgs: settings });
    expect((await first.exited).code).toBe(0);
    const afterFirst = await dumpTables(continuedPath, DATABASE);
    await publish(brokers, topic, ordered.slice(half));
    const second = startMonitorProcess({ brokers, topic, group, dataPath: continuedPath, database: DATABASE, replay: true, extraArgs: settings });
    expect((await second.exited).code).toBe(0);

    const wholePath = await freshDataPath();
    const whole = startMonitorProcess({ brokers, topic, group: `whole-${randomUUID()}`, dataPath: wholePath, database: DATABASE, replay: true, extraArgs: settings });
    expect((await whole.exited).code).toBe(0);
    const want = await dumpTables(wholePath, DATABASE);
    // The first read did cut runs: its end-of-input rows are not all in the final result.
    expect(diffDumps(want, afterFirst).length).toBeGreaterThan(0);
    expect((afterFirst['run_summaries'] ?? []).filter((row) => row.includes('"end_of_input"')).length).toBeGreaterThan(10);
    expect(diffDumps(want, await dumpTables(continuedPath, DATABASE))).toEqual([]);
  }, 300_000);
});
