import { Command, InvalidArgumentError, Option } from 'commander';
import { createClickHouseClient } from '../../sinks/clickhouse-client.js';
import { migrate } from '../../sinks/migrations.js';
import { applyRetention, DEFAULT_RETENTION_DAYS, parseRetention, readRetention, RetentionSpecError, type RetainedTable } from '../../sinks/retention.js';

/** Commander reports an InvalidArgumentError naming the option and the value (exit 2). */
function retentionOption(value: string): ReadonlyMap<RetainedTable, number> {
  try {
    return parseRetention(value);
  } catch (err) {
    if (err instanceof RetentionSpecError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}
import { addClickHouseOptions, clickHouseConfigFrom, type RawOptions } from '../options.js';

/** `runwatch migrate`: brings the store to this build's schema, or with --check says whether it is. */
export function migrateCommand(): Command {
  const command = new Command('migrate')
    .description('apply the schema migrations (schemas/clickhouse) not yet applied, recorded with their checksums in schema_migrations; refuses an edited applied migration or a newer schema (exit 2)')
    .addOption(new Option('--check', 'apply nothing: exit 2 when a migration is pending (or the schema is not this build\'s), 0 when up to date'))
    .addOption(new Option('--retention-days <days|table=days,...>', `how long rows are kept after they were recorded (TTL), for every table or per table (default ${DEFAULT_RETENTION_DAYS})`).argParser(retentionOption).conflicts('check'));
  addClickHouseOptions(command);
  return command.action(async (raw: RawOptions) => {
    const config = clickHouseConfigFrom(raw);
    const client = createClickHouseClient(config);
    try {
      const status = await migrate(client, config.database, { checkOnly: raw.check === true });
      const retention = raw.retentionDays instanceof Map ? (raw.retentionDays as ReadonlyMap<RetainedTable, number>) : undefined;
      if (retention !== undefined) await applyRetention(client, config.database, retention);
      const lines = [`ClickHouse ${status.serverVersion}, database ${config.database}: ${status.appliedNow.length === 0 ? 'up to date' : `applied ${status.appliedNow.length} migration(s)`}`];
      for (const m of status.migrations) lines.push(`  ${m.name}${status.appliedNow.some((a) => a.version === m.version) ? '  (applied now)' : ''}`);
      lines.push('retention (days after a row is recorded):');
      for (const [table, days] of await readRetention(client, config.database)) lines.push(`  ${table.padEnd(20)} ${days ?? 'none'}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    } finally {
      await client.close();
    }
  });
}
