/**
 * Rule (c) after a restart: the index of active users, threads and runs is restored from the store
 * (run_summaries in the embedded ClickHouse engine), so a mention of a user seen only before the
 * restart is still caught — and without the restore it would not be.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { from, lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectionConfigSchema } from '../../src/config/config.js';
import type { Verdict } from '../../src/contract/verdict.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { ActiveIdSeed } from '../../src/operators/rules/contamination.js';
import { detectVerdicts, type DetectOptions } from '../../src/pipeline/detect.js';
import { loadActiveIds } from '../../src/sinks/active-ids.js';
import { createClickHouseClient } from '../../src/sinks/clickhouse-client.js';
import { ClickHouseSink } from '../../src/sinks/clickhouse-sink.js';
import { migrate } from '../../src/sinks/migrations.js';
import { embeddedClickHouse } from '../support/monitor-run.js';
import { background, consume, run, type Planned } from '../support/traffic.js';

const config = detectionConfigSchema.parse({});
let client: ClickHouseClient;
let database: string;

const judge = (planned: readonly Planned[], options?: DetectOptions): Promise<Verdict[]> => lastValueFrom(from(consume(planned)).pipe(detectVerdicts(config, undefined, options), toArray()));

const alice = { userId: 'user_alice_0001', threadId: 'thread_alice_0001' };
const later = (planned: readonly Planned[], byMs: number): Planned[] => planned.map((p) => ({ ...p, atMs: p.atMs + byMs }));
const bobsRun = run('run_bob_0001', 20_000, undefined, { userId: 'user_bob_0001', threadId: 'thread_bob_0001' });
/** After the restart (event time resumes after what was stored): Bob's thinking names Alice's thread, seen only before. */
const afterRestart: Planned[] = later([...background([0], 40_000), ...bobsRun], 60_000);

beforeAll(async () => {
  const clickhouse = await embeddedClickHouse('runwatch_restore');
  database = clickhouse.database;
  client = createClickHouseClient(clickhouse);
  await migrate(client, database);
  // Before the restart: Alice's run, judged and stored like everything else.
  const before = await judge([...background([0], 40_000), ...run('run_alice_0001', 5_000, undefined, alice)]);
  const sink = new ClickHouseSink(client, { database, logger: createLogger('silent'), metrics: createMetrics() });
  await sink.write({ verdicts: before, deadLetters: [] });
}, 120_000);

afterAll(async () => {
  await client?.close();
});

function mentioningAlice(planned: readonly Planned[]): Planned[] {
  return planned.map((p) => (p.runId === 'run_bob_0001' && p.type === 'agent_thinking' ? { ...p, reasoning: `as discussed in ${alice.threadId}` } : p));
}

describe('restoring the active-id index after a restart', () => {
  it('loads the users, threads and runs active in the last window from run_summaries', async () => {
    const seed: ActiveIdSeed = await loadActiveIds(client, database, config.activeUserWindowMs);
    expect(seed.runs).toContainEqual(expect.objectContaining({ runId: 'run_alice_0001', userId: alice.userId, threadId: alice.threadId }));
    // Background runs name a user per run: all of them, oldest first.
    const times = seed.runs.map((r) => r.seenMs);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('catches a mention of a user seen only before the restart, and misses it without the restore', async () => {
    const seed = await loadActiveIds(client, database, config.activeUserWindowMs);
    const contaminations = (verdicts: Verdict[]) =>
      verdicts.flatMap((v) => (v.kind === 'violation' && v.violation.rule === 'cross_user_contamination' ? [`${v.violation.runId} ${v.violation.subject}`] : []));
    expect(contaminations(await judge(mentioningAlice(afterRestart), { activeIds: seed }))).toEqual(['run_bob_0001 content']);
    expect(contaminations(await judge(mentioningAlice(afterRestart)))).toEqual([]);
  });

  it('registers only what was active before the first place in event time: a replay from the start gets no later ids', async () => {
    const seed = await loadActiveIds(client, database, config.activeUserWindowMs);
    // The same mention, but placed before Alice's run started (a topic read again from its beginning).
    const fromTheStart = [...background([0], 40_000), ...run('run_bob_0001', 1_000, undefined, { userId: 'user_bob_0001', threadId: 'thread_bob_0001' })];
    const contaminations = (verdicts: Verdict[]) => verdicts.filter((v) => v.kind === 'violation' && v.violation.rule === 'cross_user_contamination');
    expect(contaminations(await judge(mentioningAlice(fromTheStart), { activeIds: seed }))).toEqual([]);
  });
});
