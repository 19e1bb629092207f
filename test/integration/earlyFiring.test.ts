/**
 * Early firing on real parts (issue 13): a live `runwatch monitor` (the CLI, a process) writes to a
 * ClickHouse HTTP endpoint (the engine behind it, test/support/chdb-http-server.ts); kcat
 * (librdkafka, not our producer) publishes runs with timestamps near now; the test polls the store
 * while the monitor runs and records every status each finding's row goes through.
 *
 * A late-delivered agent_started and a blank reasoning are stored as `provisional` first, then
 * `final` (same id, same finding); a redelivered copy of the late agent_started is stored
 * `provisional`, then `withdrawn`. Reports count the final rows only. With --no-early-firing no
 * row is ever provisional.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { ensureTopic } from '../../src/consumers/topics.js';
import { freshDataPath, startMonitorProcess, startSharedStore, waitFor, type MonitorProcess } from '../support/crash-harness.js';

const brokers = inject('kafkaBrokers');
const DATABASE = 'runwatch_early';

/** Publishes lines to one partition with kcat; Kafka stamps each record with the time it was sent. */
async function kcatPublish(topic: string, partition: number, values: readonly string[]): Promise<void> {
  const child = spawn('kcat', ['-b', brokers.join(','), '-t', topic, '-p', String(partition), '-P'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(`${values.join('\n')}\n`);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`kcat exited ${code}: ${stderr}`);
}

/** A run's five events (flat wire shape), each stamped `atMs`, the first `startLateByMs` earlier. */
function runEvents(runId: string, atMs: number, options: { startLateByMs?: number; blankReasoning?: boolean } = {}): string[] {
  const types = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const;
  return types.map((type, i) =>
    JSON.stringify({
      type,
      run_id: runId,
      thread_id: `thread_${runId}`,
      user_id: `user_${runId}`,
      agent_name: 'planner',
      timestamp: new Date(atMs + i * 50 - (i === 0 ? (options.startLateByMs ?? 0) : 0)).toISOString(),
      ...(type === 'agent_thinking' ? { reasoning: options.blankReasoning === true ? '  ' : 'reading the request' } : {}),
      ...(type === 'tool_executing' || type === 'tool_completed' ? { tool_name: 'search', execution_id: `${runId}_x` } : {}),
      ...(type === 'tool_completed' ? { result: 'ok' } : {}),
    }),
  );
}

interface Observed {
  /** Each violation id's statuses in the order polls saw them (consecutive repeats collapsed). */
  readonly statuses: Map<string, string[]>;
  readonly rules: Map<string, string>;
  readonly offsets: Map<string, string>;
}

async function liveRun(earlyFiring: boolean): Promise<{ observed: Observed; summary: string; monitor: MonitorProcess }> {
  const topic = `early-${randomUUID()}`;
  await ensureTopic(brokers, topic, 1);
  const store = await startSharedStore(await freshDataPath());
  const client = createClient({ url: store.url, log: { level: ClickHouseLogLevel.OFF } });
  const monitor = startMonitorProcess({ brokers, topic, group: `early-${randomUUID()}`, dataPath: await freshDataPath(), database: DATABASE, replay: false, checkpointIntervalMs: 1_000, extraArgs: ['--clickhouse-url', store.url, ...(earlyFiring ? [] : ['--no-early-firing'])] });
  const observed: Observed = { statuses: new Map(), rules: new Map(), offsets: new Map() };
  let polling = true;
  const poll = (async () => {
    while (polling) {
      try {
        const result = await client.query({ query: `SELECT violation_id, status, rule, toString(source_offsets[1]) AS offset FROM ${DATABASE}.violations FINAL WHERE rule IN ('delivery_latency', 'content_invalid', 'missing_events')`, format: 'JSONEachRow' });
        for (const row of z.array(z.object({ violation_id: z.string(), status: z.string(), rule: z.string(), offset: z.string() })).parse(await result.json())) {
          const seen = observed.statuses.get(row.violation_id) ?? [];
          if (seen.at(-1) !== row.status) seen.push(row.status);
          observed.statuses.set(row.violation_id, seen);
          observed.rules.set(row.violation_id, row.rule);
          observed.offsets.set(row.violation_id, row.offset);
        }
      } catch {
        // The monitor has not created the tables yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  try {
    await waitFor('the monitor to join its group', () => monitor.logLines.some((l) => l.includes('Kafka consumer joined its group')), 60_000);
    const now = Date.now();
    const late = runEvents('run_late', now, { startLateByMs: 2_500 });
    // Offsets 0-4: the late run; 5-9: a run with a blank reasoning; 10-13: a run without its
    // tool_completed; 14: a copy of the late agent_started (redelivered).
    const noCompletion = runEvents('run_missing', now + 200).filter((line) => !line.includes('"tool_completed"'));
    await kcatPublish(topic, 0, [...late, ...runEvents('run_blank', now + 100, { blankReasoning: true }), ...noCompletion]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await kcatPublish(topic, 0, [late[0] ?? '']);
    // Final: each event takes its place once event time passes it (the idle partition's clock).
    await waitFor(
      'every finding to be final or withdrawn',
      // The copy's finding exists only when fired early (the engine drops the copy).
      () => observed.statuses.size >= (earlyFiring ? 4 : 3) && [...observed.statuses.values()].every((s) => s.at(-1) !== 'provisional'),
      60_000,
    );
    const counts = await client.query({ query: `SELECT rule, count() AS n FROM ${DATABASE}.violations FINAL WHERE status = 'final' AND rule IN ('delivery_latency', 'content_invalid', 'missing_events') GROUP BY rule ORDER BY rule`, format: 'CSV' });
    return { observed, summary: (await counts.text()).trim(), monitor };
  } finally {
    polling = false;
    await poll;
    monitor.child.kill('SIGTERM');
    await monitor.exited;
    await client.close();
    await store.stop();
  }
}

describe('early firing, live, on real parts', () => {
  it('stores a finding as provisional the moment its record arrives, then final; a copy\'s is withdrawn; reports count final rows', async () => {
    const { observed, summary, monitor } = await liveRun(true);
    const byOffset = (offset: string, rule: string) => [...observed.statuses].find(([id]) => observed.offsets.get(id) === offset && observed.rules.get(id) === rule)?.[1];
    const story = `${JSON.stringify([...observed.statuses].map(([id, s]) => [observed.rules.get(id), observed.offsets.get(id), s]))}\n${monitor.logLines.slice(-5).join('\n')}`;
    expect(byOffset('0', 'delivery_latency'), story).toEqual(['provisional', 'final']);
    expect(byOffset('6', 'content_invalid'), story).toEqual(['provisional', 'final']);
    expect(byOffset('14', 'delivery_latency'), story).toEqual(['provisional', 'withdrawn']);
    // A run's finding fires when its completion arrives, final when the run is.
    const missing = [...observed.statuses].find(([id]) => observed.rules.get(id) === 'missing_events')?.[1];
    expect(missing, story).toEqual(['provisional', 'final']);
    expect(observed.statuses.size, story).toBe(4);
    expect(summary).toBe('"content_invalid",1\n"delivery_latency",1\n"missing_events",1');
  }, 120_000);

  it('with --no-early-firing, the same findings are only ever stored final', async () => {
    const { observed, summary } = await liveRun(false);
    expect([...observed.statuses.values()]).toEqual([['final'], ['final'], ['final']]);
    expect(summary).toBe('"content_invalid",1\n"delivery_latency",1\n"missing_events",1');
  }, 120_000);
});
