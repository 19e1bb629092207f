/**
 * A poison pill through the real parts: valid JSON whose run_id holds a lone UTF-16 surrogate
 * (`\ud800`, which ClickHouse rejects in JSON input) among healthy records. The monitor must finish
 * the replay, dead-letter that record with its reason, and store everything else.
 */
import { randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import type { ClickHouseConfig } from '../../src/config/config.js';
import { ensureTopic } from '../../src/consumers/topics.js';
import type { MonitorStats } from '../../src/pipeline/monitor.js';
import { createClickHouseClient } from '../../src/sinks/clickhouse-client.js';
import { embeddedClickHouse, queryRows, replayTopic } from '../support/monitor-run.js';

const brokers = inject('kafkaBrokers');
const topic = `poison-${randomUUID()}`;
let clickhouse: ClickHouseConfig;
let client: ClickHouseClient;
let stats: MonitorStats;

const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '+00:00');
const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

beforeAll(async () => {
  await ensureTopic(brokers, topic, 1, { keepHistoricalRecords: true });
  const kafka = new Kafka({ clientId: 'runwatch-poison-test', brokers: [...brokers], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  const types = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'];
  const runRecords = (runId: string, startMs: number) =>
    types.map((type, i) => ({
      key: `thread_${runId}`,
      value: JSON.stringify({ type, run_id: runId, thread_id: `thread_${runId}`, user_id: `user_${runId}`, agent_name: 'a', reasoning: 'r', tool_name: 'search', result: 'ok', timestamp: iso(startMs + i * 200) }),
      timestamp: String(startMs + i * 200 + 30),
    }));
  // The pill: the text holds the six characters \ud800 (an escape JSON.parse turns into a lone surrogate).
  const pill = { key: 'thread_pill', value: `{"type":"agent_thinking","run_id":"run_\\ud800","thread_id":"thread_pill","reasoning":"r","timestamp":"${iso(T0 + 2_000)}"}`, timestamp: String(T0 + 2_030) };
  await producer.send({ topic, messages: [...runRecords('run_before', T0), pill, ...runRecords('run_after', T0 + 3_000)] });
  await producer.disconnect();
  clickhouse = await embeddedClickHouse('runwatch_poison');
  stats = await replayTopic(brokers, topic, `poison-${randomUUID()}`, clickhouse);
  client = createClickHouseClient(clickhouse);
}, 120_000);

afterAll(async () => {
  await client?.close();
});

describe('a poison pill (lone surrogate in run_id) through Kafka and ClickHouse', () => {
  it('finishes the replay, dead-letters the pill with its reason and stores every other run', async () => {
    expect(stats).toMatchObject({ records: 11, lifecycleEvents: 10, deadLetters: 1 });
    const dead = await queryRows(client, 'SELECT reason, source_offset FROM runwatch_poison.dead_letters FINAL', z.object({ reason: z.string(), source_offset: z.coerce.number() }));
    expect(dead).toEqual([{ reason: 'malformed run_id: not valid Unicode (lone surrogate)', source_offset: 5 }]);
    const runs = await queryRows(client, 'SELECT run_id FROM runwatch_poison.run_summaries FINAL ORDER BY run_id', z.object({ run_id: z.string() }));
    expect(runs.map((r) => r.run_id)).toEqual(['run_after', 'run_before']);
  });
});
