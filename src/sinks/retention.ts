/**
 * Retention of the evidence tables (schemas/clickhouse/007_retention_rollups.sql): a TTL per table
 * on the wall-clock time a row was recorded. 400 days by default; `runwatch migrate
 * --retention-days` sets other periods, table by table.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';

/** Each retained table and the column its TTL counts from. */
export const RETAINED_TABLES = {
  violations: 'detected_at',
  run_summaries: 'recorded_at',
  user_grades: 'recorded_at',
  dead_letters: 'recorded_at',
  late_events: 'recorded_at',
  verdict_revisions: 'recorded_at',
  completeness_ledger: 'committed_at',
  replays: 'updated_at',
  events: 'recorded_at',
  violations_daily: 'last_recorded_at',
  runs_daily: 'last_recorded_at',
  user_grades_daily: 'last_recorded_at',
} as const;
export type RetainedTable = keyof typeof RETAINED_TABLES;
export const DEFAULT_RETENTION_DAYS = 400;

const days = z.coerce.number().int().min(1).max(36_500);

/** Thrown by parseRetention: what is wrong with the text, for the usage error. */
export class RetentionSpecError extends Error {}

/** `--retention-days`: one number for every table, or table=days pairs (the others keep theirs). */
export function parseRetention(value: string): ReadonlyMap<RetainedTable, number> {
  const text = value.trim();
  const tables = Object.keys(RETAINED_TABLES) as RetainedTable[];
  if (/^\d+$/.test(text)) {
    const all = days.safeParse(text);
    if (!all.success) throw new RetentionSpecError('expected whole days between 1 and 36500.');
    return new Map(tables.map((t) => [t, all.data]));
  }
  const out = new Map<RetainedTable, number>();
  for (const part of text.split(',')) {
    const [table, n] = part.split('=').map((s) => s.trim());
    if (table === undefined || n === undefined || !(tables as string[]).includes(table)) throw new RetentionSpecError(`expected <days> or <table>=<days>,... with tables ${tables.join(', ')}.`);
    const parsed = days.safeParse(n);
    if (!parsed.success) throw new RetentionSpecError(`${table}: expected whole days between 1 and 36500.`);
    out.set(table as RetainedTable, parsed.data);
  }
  return out;
}

/** Sets the TTL of each table given (existing rows get it at their next merge). */
export async function applyRetention(client: ClickHouseClient, database: string, retention: ReadonlyMap<RetainedTable, number>): Promise<void> {
  for (const [table, n] of retention) {
    await client.command({ query: `ALTER TABLE ${database}.${table} MODIFY TTL toDateTime(${RETAINED_TABLES[table]}) + INTERVAL ${n} DAY SETTINGS materialize_ttl_after_modify = 0` });
  }
}

/** Each retained table's retention in days as the server has it (undefined: no TTL). */
export async function readRetention(client: ClickHouseClient, database: string): Promise<Map<RetainedTable, number | undefined>> {
  const result = await client.query({ query: 'SELECT name, engine_full FROM system.tables WHERE database = {database:String}', query_params: { database }, format: 'JSONEachRow' });
  const rows = z.array(z.object({ name: z.string(), engine_full: z.string() })).parse(await result.json());
  const byName = new Map(rows.map((r) => [r.name, r.engine_full]));
  const out = new Map<RetainedTable, number | undefined>();
  for (const table of Object.keys(RETAINED_TABLES) as RetainedTable[]) {
    const match = /TTL .*toIntervalDay\((\d+)\)/.exec(byName.get(table) ?? '');
    out.set(table, match?.[1] === undefined ? undefined : Number(match[1]));
  }
  return out;
}
