import type { ClickHouseClient } from '@clickhouse/client';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** schemas/clickhouse, found from this module in src/sinks (tsx) or dist/sinks (node) alike. */
export const CLICKHOUSE_DDL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'schemas', 'clickhouse');

/** The DDL statements for a database, in file order then statement order. */
export function ddlStatements(database: string, dir: string = CLICKHOUSE_DDL_DIR): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .flatMap((name) =>
      readFileSync(join(dir, name), 'utf8')
        .split('\n')
        .filter((line) => !line.trimStart().startsWith('--'))
        .join('\n')
        .split(';')
        .map((statement) => statement.trim())
        .filter((statement) => statement.length > 0)
        .map((statement) => statement.replaceAll('${database}', database)),
    );
}

/** Creates the database and tables if missing (idempotent). */
export async function migrate(client: ClickHouseClient, database: string): Promise<void> {
  for (const query of ddlStatements(database)) await client.command({ query });
}
