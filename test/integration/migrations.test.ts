/**
 * Versioned schema migrations on the embedded ClickHouse engine: applied once and recorded with
 * their checksums; idempotent; an edited applied migration and a schema from a newer build are
 * refused; `--no-migrate` and `runwatch migrate --check` refuse an unmigrated store (exit 2).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { projectRoot } from '../../src/infra/broker-config.js';
import { createClickHouseClient } from '../../src/sinks/clickhouse-client.js';
import { CLICKHOUSE_DDL_DIR, migrate, migrationsIn } from '../../src/sinks/migrations.js';
import { applyRetention, DEFAULT_RETENTION_DAYS, parseRetention, readRetention, RETAINED_TABLES } from '../../src/sinks/retention.js';

const ROOT = projectRoot();
const brokers = inject('kafkaBrokers');
let client: ClickHouseClient;
const dataPath = mkdtempSync(join(tmpdir(), 'runwatch-migrations-'));

beforeAll(() => {
  client = createClickHouseClient({ mode: 'embedded', dataPath, database: 'unused' });
});
afterAll(async () => client?.close());

const ledger = async (database: string): Promise<Array<{ version: number; name: string; checksum: string }>> =>
  z.array(z.object({ version: z.coerce.number(), name: z.string(), checksum: z.string() })).parse(await (await client.query({ query: `SELECT version, name, checksum FROM ${database}.schema_migrations FINAL ORDER BY version`, format: 'JSONEachRow' })).json());

describe('schema migrations (embedded engine)', () => {
  it('apply once, in order, recorded with their checksums; again: nothing to do', async () => {
    const files = migrationsIn();
    expect(files.map((m) => m.name)).toEqual(['001_tables.sql', '002_checkpoints.sql', '003_provisional.sql', '004_replays.sql', '005_provenance.sql', '006_completeness_ledger.sql', '007_retention_rollups.sql', '008_events.sql', '009_early_firing.sql']);
    const first = await migrate(client, 'mig_fresh');
    expect(first.appliedNow.map((m) => m.name)).toEqual(files.map((m) => m.name));
    expect((await ledger('mig_fresh')).map((r) => [r.name, r.checksum])).toEqual(files.map((m) => [m.name, m.checksum]));
    const second = await migrate(client, 'mig_fresh');
    expect(second.appliedNow).toEqual([]);
    expect(await ledger('mig_fresh')).toHaveLength(files.length);
  });

  it('every evidence table keeps rows 400 days after they were recorded; --retention-days changes it per table, and a later migrate keeps it', async () => {
    await migrate(client, 'mig_retention');
    const before = await readRetention(client, 'mig_retention');
    // Stored events (--store-events) are bulky and only needed for re-verification: 30 days.
    expect(Object.fromEntries(before)).toEqual(Object.fromEntries(Object.keys(RETAINED_TABLES).map((t) => [t, t === 'events' ? 30 : DEFAULT_RETENTION_DAYS])));
    expect(before.size).toBe(Object.keys(RETAINED_TABLES).length);
    await applyRetention(client, 'mig_retention', parseRetention('violations=730,completeness_ledger=2555'));
    await migrate(client, 'mig_retention');
    const after = await readRetention(client, 'mig_retention');
    expect(Object.fromEntries(after)).toEqual({ ...Object.fromEntries(before), violations: 730, completeness_ledger: 2555 });
    expect(() => parseRetention('checkpoints=10')).toThrow(/expected <days> or <table>=<days>/);
    expect(() => parseRetention('violations=0')).toThrow(/violations: expected whole days/);
    expect([...parseRetention('500').values()]).toEqual(Object.keys(RETAINED_TABLES).map(() => 500));
  });

  it('009: rows written before it are final; the daily rollup counts final rows only (early firing)', async () => {
    // A store at 008 with a verdict in it, then 009.
    for (const query of migrationsIn().filter((m) => m.version <= 8).flatMap((m) => m.statements('mig_early'))) await client.command({ query });
    const insert = (id: string, extra: Record<string, string>) =>
      client.insert({ table: 'mig_early.violations', format: 'JSONEachRow', values: [{ violation_id: id, rule: 'delivery_latency', category: 'performance', severity: 'CRITICAL', run_id: `run_${id}`, subject: 's', detail: 'd', event_time: 1_764_000_000_000, decided_at_watermark: 1_764_000_000_000, detected_at: 1_764_000_000_000, source_topic: 't', source_partitions: [0], source_offsets: [1], ...extra }] });
    await insert('before', {});
    await migrate(client, 'mig_early');
    await insert('fired', { status: 'provisional' });
    await insert('fired', { status: 'final' });
    await insert('copy', { status: 'provisional' });
    await insert('copy', { status: 'withdrawn' });
    const statuses = await (await client.query({ query: 'SELECT violation_id, status FROM mig_early.violations FINAL ORDER BY violation_id', format: 'CSV' })).text();
    expect(statuses).toBe('"before","final"\n"copy","withdrawn"\n"fired","final"\n');
    // 'before' was counted by 007's view when it was written; 009's view counts 'fired' once (final) and never 'copy'.
    const rollup = await (await client.query({ query: 'SELECT uniqExactMerge(violations) FROM mig_early.violations_daily', format: 'CSV' })).text();
    expect(rollup.trim()).toBe('2');
  });

  it('a database from before the ledger (tables, no schema_migrations) is brought under it', async () => {
    for (const query of migrationsIn().flatMap((m) => m.statements('mig_legacy'))) await client.command({ query });
    const status = await migrate(client, 'mig_legacy');
    expect(status.appliedNow).toHaveLength(migrationsIn().length);
  });

  it('refuses an applied migration whose file changed, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runwatch-ddl-'));
    cpSync(CLICKHOUSE_DDL_DIR, dir, { recursive: true });
    await migrate(client, 'mig_edited', { dir });
    appendFileSync(join(dir, '002_checkpoints.sql'), '\n-- an innocent-looking edit\n');
    await expect(migrate(client, 'mig_edited', { dir })).rejects.toThrow(/migration 002_checkpoints\.sql was applied to mig_edited with sha256 [0-9a-f]{12}…, but the file now has [0-9a-f]{12}…: an applied migration must not change/);
  });

  it('refuses a schema migrated by a newer build', async () => {
    await migrate(client, 'mig_newer');
    await client.insert({ table: 'mig_newer.schema_migrations', format: 'JSONEachRow', values: [{ version: 999, name: '999_future.sql', checksum: 'f'.repeat(64), applied_at: Date.now(), runwatch_version: '9.9.9', runwatch_commit: 'x' }] });
    await expect(migrate(client, 'mig_newer')).rejects.toThrow('database mig_newer has migration 999_future.sql (version 999), which this build does not know: a newer runwatch migrated it');
  });

  it('check-only refuses an unmigrated database and passes a migrated one', async () => {
    await expect(migrate(client, 'mig_check', { checkOnly: true })).rejects.toThrow(/database mig_check is not migrated: 001_tables\.sql, 002_checkpoints\.sql, 003_provisional\.sql, 004_replays\.sql, 005_provenance\.sql, 006_completeness_ledger\.sql, 007_retention_rollups\.sql, 008_events\.sql, 009_early_firing\.sql pending; run `runwatch migrate`/);
    await migrate(client, 'mig_check');
    expect((await migrate(client, 'mig_check', { checkOnly: true })).appliedNow).toEqual([]);
  });

  it('the CLI: monitor --no-migrate and migrate --check exit 2 on an unmigrated store; migrate, then both are fine', () => {
    const path = mkdtempSync(join(tmpdir(), 'runwatch-migrate-cli-'));
    const cli = (args: readonly string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, RUNWATCH_LOG_LEVEL: 'warn' } });
    const store = ['--clickhouse-path', path, '--database', 'mig_cli'];
    const check = cli(['migrate', '--check', ...store]);
    expect(check.status, check.stderr).toBe(2);
    expect(check.stderr.trim().split('\n')).toHaveLength(1);
    expect(check.stderr).toContain('database mig_cli is not migrated');
    const monitor = cli(['monitor', '--replay', '--no-migrate', '--brokers', brokers.join(','), '--topic', 'mig-cli-unused', ...store]);
    expect(monitor.status, monitor.stderr.slice(-1_000)).toBe(2);
    expect(monitor.stderr).toContain('database mig_cli is not migrated');
    const apply = cli(['migrate', ...store]);
    expect(apply.status, apply.stderr).toBe(0);
    expect(apply.stdout).toContain(`database mig_cli: applied ${migrationsIn().length} migration(s)`);
    // It says how long each table keeps its rows.
    expect(apply.stdout).toMatch(/retention \(days after a row is recorded\):\n(.|\n)*  violations +400\n(.|\n)*  events +30\n/);
    const again = cli(['migrate', '--check', ...store]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/database mig_cli: up to date/);
  });
});
