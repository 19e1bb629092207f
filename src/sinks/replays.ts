/** The `replays` table: one row per replay, its latest state (ReplacingMergeTree on updated_at). */
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';

export interface ReplayRecord {
  readonly replayId: string;
  readonly status: 'running' | 'finished' | 'failed';
  readonly topic: string;
  readonly rangeFrom: string;
  readonly rangeTo: string;
  readonly judgedFromMs?: number;
  readonly judgedToMs?: number;
  readonly readFrom: string;
  readonly readTo: string;
  readonly contractName: string;
  readonly contractHash: string;
  readonly configHash: string;
  readonly buildVersion: string;
  readonly buildCommit: string;
  readonly startedAtMs: number;
  readonly finishedAtMs?: number;
  readonly records: number;
  readonly runs: number;
  readonly violations: number;
  readonly runsCut: number;
}

export async function saveReplay(client: ClickHouseClient, database: string, replay: ReplayRecord): Promise<void> {
  await client.insert({
    table: `${database}.replays`,
    format: 'JSONEachRow',
    values: [
      {
        replay_id: replay.replayId,
        status: replay.status,
        topic: replay.topic,
        range_from: replay.rangeFrom,
        range_to: replay.rangeTo,
        judged_from: replay.judgedFromMs ?? null,
        judged_to: replay.judgedToMs ?? null,
        read_from: replay.readFrom,
        read_to: replay.readTo,
        contract_name: replay.contractName,
        contract_hash: replay.contractHash,
        config_hash: replay.configHash,
        build_version: replay.buildVersion,
        build_commit: replay.buildCommit,
        started_at: replay.startedAtMs,
        finished_at: replay.finishedAtMs ?? null,
        records: replay.records,
        runs: replay.runs,
        violations: replay.violations,
        runs_cut: replay.runsCut,
        updated_at: Date.now(),
      },
    ],
  });
}

const replayRow = z.object({
  replay_id: z.string(),
  status: z.enum(['running', 'finished', 'failed']),
  topic: z.string(),
  range_from: z.string(),
  range_to: z.string(),
  judged_from: z.coerce.number().nullable(),
  judged_to: z.coerce.number().nullable(),
  contract_name: z.string(),
  contract_hash: z.string(),
  runs: z.coerce.number(),
});
export type StoredReplay = z.infer<typeof replayRow>;

export async function findReplay(client: ClickHouseClient, database: string, replayId: string): Promise<StoredReplay | undefined> {
  const result = await client.query({
    query: `SELECT replay_id, status, topic, range_from, range_to, toUnixTimestamp64Milli(judged_from) AS judged_from, toUnixTimestamp64Milli(judged_to) AS judged_to, contract_name, contract_hash, runs
              FROM ${database}.replays FINAL WHERE replay_id = {replayId:String}`,
    query_params: { replayId },
    format: 'JSONEachRow',
  });
  return z.array(replayRow).parse(await result.json())[0];
}

/** Counts of what a replay stored, read back (what its replays row reports). */
export async function replayCounts(client: ClickHouseClient, database: string, replayId: string): Promise<{ runs: number; violations: number; runsCut: number }> {
  const result = await client.query({
    query: `SELECT
              (SELECT count() FROM ${database}.run_summaries FINAL WHERE replay_id = {replayId:String}) AS runs,
              (SELECT count() FROM ${database}.violations FINAL WHERE replay_id = {replayId:String} AND status = 'final') AS violations,
              (SELECT count() FROM ${database}.run_summaries FINAL WHERE replay_id = {replayId:String} AND outcome = 'end_of_input') AS runs_cut`,
    query_params: { replayId },
    format: 'JSONEachRow',
  });
  const [row] = z.array(z.object({ runs: z.coerce.number(), violations: z.coerce.number(), runs_cut: z.coerce.number() })).parse(await result.json());
  return { runs: row?.runs ?? 0, violations: row?.violations ?? 0, runsCut: row?.runs_cut ?? 0 };
}
