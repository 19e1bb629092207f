import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import type { ActiveIdSeed } from '../operators/rules/contamination.js';

const seedRow = z.object({
  run_id: z.string().min(1),
  thread_id: z.string(),
  user_id: z.string().min(1),
  first_ms: z.coerce.number().finite(),
});

/**
 * The users, threads and runs that were active in the last `windowMs` of event time the store
 * knows (before its latest decision): what the contamination rule's id index held before a restart
 * or a deploy, so rule (c) is not blind for its first window. Only runs whose owner is a real user
 * (not a thread id) are taken. An empty store gives an empty seed.
 */
export async function loadActiveIds(client: ClickHouseClient, database: string, windowMs: number): Promise<ActiveIdSeed> {
  const result = await client.query({
    query: `
      SELECT run_id, thread_id, user_id, toUnixTimestamp64Milli(first_event_time) AS first_ms
      FROM ${database}.run_summaries FINAL
      WHERE replay_id = '' AND user_id != '' AND user_id != thread_id
        AND decided_at_watermark >= (SELECT max(decided_at_watermark) FROM ${database}.run_summaries WHERE replay_id = '') - toIntervalMillisecond({windowMs:UInt64})
      ORDER BY first_event_time, run_id`,
    query_params: { windowMs },
    format: 'JSONEachRow',
  });
  const rows = z.array(seedRow).parse(await result.json());
  return { runs: rows.map((row) => ({ runId: row.run_id, ...(row.thread_id === '' ? {} : { threadId: row.thread_id }), userId: row.user_id, seenMs: row.first_ms })) };
}
