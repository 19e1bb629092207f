import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { detectionConfigSchema, kafkaConfigSchema, type ClickHouseConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/observability/logger.js';
import { startMonitorJob } from '../../src/pipeline/job.js';
import type { MonitorStats } from '../../src/pipeline/monitor.js';

export async function embeddedClickHouse(database: string): Promise<ClickHouseConfig> {
  return { mode: 'embedded', dataPath: await mkdtemp(join(tmpdir(), 'runwatch-ch-')), database };
}

/** Runs the real monitor job (KafkaJS → operators → ClickHouse) over a topic up to its current end. */
export async function replayTopic(brokers: string[], topic: string, groupId: string, clickhouse: ClickHouseConfig, options: { readonly storeEvents?: boolean; readonly userIdKey?: string } = {}): Promise<MonitorStats> {
  const job = await startMonitorJob(
    {
      kafka: kafkaConfigSchema.parse({ brokers, topic, groupId, clientId: 'runwatch-test', stallTimeoutMs: 60_000 }),
      clickhouse,
      detection: detectionConfigSchema.parse({}),
      sink: { batchRows: 2_000, flushIntervalMs: 200 },
      mode: 'bounded',
      ...(options.storeEvents === true ? { storeEvents: true } : {}),
      ...(options.userIdKey === undefined ? {} : { userIdKey: options.userIdKey }),
    },
    // warn by default: stall reports and KafkaJS problems show in CI output; RUNWATCH_LOG_LEVEL=info adds end offsets and group joins.
    createLogger(process.env.RUNWATCH_LOG_LEVEL || 'warn'),
  );
  return job.done;
}

export async function queryRows<T>(client: ClickHouseClient, query: string, schema: z.ZodType<T>): Promise<T[]> {
  const result = await client.query({ query, format: 'JSONEachRow' });
  return z.array(schema).parse(await result.json());
}
