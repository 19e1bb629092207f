/**
 * Prints every result table of an embedded ClickHouse data directory as JSON (one object: table →
 * rows, each row one canonical JSON line, sorted), read with FINAL: what a report counts. The
 * violations are split by status (final, provisional, withdrawn: early firing). The
 * wall-clock stamps (detected_at, recorded_at) are left out: they say when a row was written, and
 * a row written again after a restore is otherwise identical (docs/architecture.md).
 *
 * A script, not a function: the embedded engine opens one data directory per process, so each
 * directory is read by a process of its own (test/support/crash-harness.ts runs it).
 *
 *   node --import tsx test/support/dump-tables.ts <data-dir> <database> [columns,to,leave,out]
 */
import { z } from 'zod';
import { createClickHouseClient } from '../../src/sinks/clickhouse-client.js';

const RESULT_TABLES = ['violations', 'run_summaries', 'user_grades', 'late_events', 'verdict_revisions', 'dead_letters'] as const;
const [dataPath, database, alsoLeaveOut] = process.argv.slice(2);
/** Plus, when given, more columns (comma-separated): live mode's decision watermarks, which follow the wall clock once the input goes quiet. */
const WALL_CLOCK_COLUMNS = new Set(['detected_at', 'recorded_at', ...(alsoLeaveOut ?? '').split(',').filter((c) => c !== '')]);

if (dataPath === undefined || database === undefined || !/^\w+$/.test(database)) {
  process.stderr.write('usage: dump-tables.ts <data-dir> <database>\n');
  process.exit(2);
}
const client = createClickHouseClient({ mode: 'embedded', dataPath, database });
const dump: Record<string, string[]> = {};
try {
  for (const table of RESULT_TABLES) {
    const columnsResult = await client.query({ query: `SELECT name FROM system.columns WHERE database = {db:String} AND table = {table:String} ORDER BY position`, query_params: { db: database, table }, format: 'JSONEachRow' });
    const columns = z.array(z.object({ name: z.string() })).parse(await columnsResult.json()).map((c) => c.name).filter((name) => !WALL_CLOCK_COLUMNS.has(name));
    if (columns.length === 0) {
      dump[table] = [];
      continue;
    }
    // Which group wrote a provisional row differs between runs compared; that it is provisional does not.
    const select = columns.map((c) => (c === 'provisional_of' ? "provisional_of != '' AS provisional" : `\`${c}\``));
    const rows = await client.query({ query: `SELECT ${select.join(', ')} FROM ${database}.${table} FINAL`, format: 'JSONEachRow' });
    const lines = z.array(z.record(z.unknown())).parse(await rows.json());
    if (table !== 'violations') {
      dump[table] = lines.map((row) => JSON.stringify(row)).sort();
      continue;
    }
    // Early firing (live mode): final rows are what a report counts; rows still provisional, and
    // withdrawn ones (a redelivered copy's findings), each under a key of their own.
    const withStatus = (status: string) => lines.filter((row) => (row['status'] ?? 'final') === status).map((row) => JSON.stringify(row)).sort();
    dump['violations'] = withStatus('final');
    dump['violations provisional'] = withStatus('provisional');
    dump['violations withdrawn'] = withStatus('withdrawn');
  }
} finally {
  await client.close();
}
process.stdout.write(JSON.stringify(dump));
