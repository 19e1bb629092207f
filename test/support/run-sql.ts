/**
 * Runs SQL statements against an embedded ClickHouse data directory, in a process of its own (the
 * embedded engine opens one data directory per process), as a person with write access to the
 * store would: the audit tests tamper with the ledger this way. A SELECT prints its rows.
 *
 *   node --import tsx test/support/run-sql.ts <data-dir> <database> <statement>...
 */
import { createClickHouseClient } from '../../src/sinks/clickhouse-client.js';

const [dataPath, database, ...statements] = process.argv.slice(2);
if (dataPath === undefined || database === undefined || statements.length === 0) {
  process.stderr.write('usage: run-sql.ts <data-dir> <database> <statement>...\n');
  process.exit(2);
}
const client = createClickHouseClient({ mode: 'embedded', dataPath, database });
try {
  for (const query of statements) {
    // A SELECT prints its rows (JSONEachRow); anything else is run as a command.
    if (/^\s*SELECT\b/i.test(query)) process.stdout.write(await (await client.query({ query, format: 'JSONEachRow' })).text());
    else await client.command({ query });
  }
} finally {
  await client.close();
}
