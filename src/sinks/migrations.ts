/**
 * Versioned schema migrations (schemas/clickhouse/NNN_name.sql), applied in order and recorded in
 * `schema_migrations` with the sha256 of each file. A migration once applied must not change: an
 * edited file is refused (add a new migration instead). A database that has migrations this build
 * does not know was written by a newer runwatch: refused too. Statements are idempotent
 * (IF NOT EXISTS), so a database created before the ledger existed is brought under it by applying
 * everything once. Several processes migrating at once only repeat idempotent statements; the
 * ledger keeps one row per version (ReplacingMergeTree).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { RunwatchError } from '../errors.js';
import { buildInfo } from '../observability/build.js';

/** schemas/clickhouse, found from this module in src/sinks (tsx) or dist/sinks (node) alike. */
export const CLICKHOUSE_DDL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'schemas', 'clickhouse');

/** The oldest ClickHouse server the DDL runs on (lightweight DELETE, ALTER … MODIFY ORDER BY with a new column). */
export const MIN_SERVER_VERSION = [23, 8] as const;

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
  readonly statements: (database: string) => string[];
}

const FILE = /^(\d{3})_[a-z0-9_]+\.sql$/;

/** The migrations of a directory, in version order. */
export function migrationsIn(dir: string = CLICKHOUSE_DDL_DIR): Migration[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .map((name) => {
      const match = FILE.exec(name);
      if (match === null) throw new RunwatchError('INTERNAL', `schema file ${name} is not named NNN_name.sql`);
      const text = readFileSync(join(dir, name), 'utf8');
      return {
        version: Number(match[1]),
        name,
        checksum: createHash('sha256').update(text).digest('hex'),
        statements: (database: string) =>
          text
            .split('\n')
            .filter((line) => !line.trimStart().startsWith('--'))
            .join('\n')
            .split(';')
            .map((statement) => statement.trim())
            .filter((statement) => statement.length > 0)
            .map((statement) => statement.replaceAll('${database}', database)),
      };
    });
}

/** The DDL statements for a database, in file order then statement order. */
export function ddlStatements(database: string, dir: string = CLICKHOUSE_DDL_DIR): string[] {
  return migrationsIn(dir).flatMap((m) => m.statements(database));
}

const ledgerRow = z.object({ version: z.coerce.number(), name: z.string(), checksum: z.string() });

export interface MigrationStatus {
  /** Every migration of this build (all applied once `migrate` returns). */
  readonly migrations: ReadonlyArray<{ readonly version: number; readonly name: string }>;
  /** The ones this call applied. */
  readonly appliedNow: ReadonlyArray<{ readonly version: number; readonly name: string }>;
  readonly serverVersion: string;
}

export interface MigrateOptions {
  readonly dir?: string;
  /** Only check: an unmigrated database (pending migrations) is refused instead of migrated. */
  readonly checkOnly?: boolean;
}

/**
 * Brings `database` to the schema of this build (or, with `checkOnly`, verifies it is there).
 * Throws SCHEMA_MISMATCH for an edited applied migration, a newer schema, a pending migration in
 * check-only mode, or a server older than the DDL needs.
 */
export async function migrate(client: ClickHouseClient, database: string, options: MigrateOptions = {}): Promise<MigrationStatus> {
  const serverVersion = await checkServerVersion(client);
  const migrations = migrationsIn(options.dir);
  // Check-only writes nothing (a read-only user can run it): no ledger table means nothing applied.
  const hasLedger =
    options.checkOnly === true
      ? z.array(z.object({ n: z.coerce.number() })).parse(await (await client.query({ query: `SELECT count() AS n FROM system.tables WHERE database = {database:String} AND name = 'schema_migrations'`, query_params: { database }, format: 'JSONEachRow' })).json())[0]?.n === 1
      : true;
  if (options.checkOnly !== true) {
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    await client.command({
      query: `CREATE TABLE IF NOT EXISTS ${database}.schema_migrations
              (version UInt32, name String, checksum String, applied_at DateTime64(3), runwatch_version String, runwatch_commit String)
              ENGINE = ReplacingMergeTree(applied_at) ORDER BY version`,
    });
  }
  const ledger = hasLedger ? z.array(ledgerRow).parse(await (await client.query({ query: `SELECT version, name, checksum FROM ${database}.schema_migrations FINAL ORDER BY version`, format: 'JSONEachRow' })).json()) : [];
  const known = new Map(migrations.map((m) => [m.version, m]));
  for (const row of ledger) {
    const migration = known.get(row.version);
    if (migration === undefined) {
      throw new RunwatchError('SCHEMA_MISMATCH', `database ${database} has migration ${row.name} (version ${row.version}), which this build does not know: a newer runwatch migrated it; run that version (or newer)`);
    }
    if (migration.checksum !== row.checksum) {
      throw new RunwatchError('SCHEMA_MISMATCH', `migration ${migration.name} was applied to ${database} with sha256 ${row.checksum.slice(0, 12)}…, but the file now has ${migration.checksum.slice(0, 12)}…: an applied migration must not change; put the change in a new migration`);
    }
  }
  const done = new Set(ledger.map((row) => row.version));
  const pending = migrations.filter((m) => !done.has(m.version));
  if (options.checkOnly === true && pending.length > 0) {
    throw new RunwatchError('SCHEMA_MISMATCH', `database ${database} is not migrated: ${pending.map((m) => m.name).join(', ')} pending; run \`runwatch migrate\` (same --clickhouse-* and --database flags)`);
  }
  const build = buildInfo();
  for (const migration of pending) {
    for (const query of migration.statements(database)) await client.command({ query });
    await client.insert({
      table: `${database}.schema_migrations`,
      format: 'JSONEachRow',
      values: [{ version: migration.version, name: migration.name, checksum: migration.checksum, applied_at: Date.now(), runwatch_version: build.version, runwatch_commit: build.commit }],
    });
  }
  return { migrations: migrations.map((m) => ({ version: m.version, name: m.name })), appliedNow: pending.map((m) => ({ version: m.version, name: m.name })), serverVersion };
}

async function checkServerVersion(client: ClickHouseClient): Promise<string> {
  const [row] = z.array(z.object({ version: z.string() })).parse(await (await client.query({ query: 'SELECT version() AS version', format: 'JSONEachRow' })).json());
  const version = row?.version ?? '0';
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [needMajor, needMinor] = MIN_SERVER_VERSION;
  if (major < needMajor || (major === needMajor && minor < needMinor)) {
    throw new RunwatchError('SCHEMA_MISMATCH', `ClickHouse ${version} is older than the ${needMajor}.${needMinor} runwatch's schema needs`);
  }
  return version;
}
