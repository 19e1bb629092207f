import { Command, Option } from 'commander';
import { createClickHouseClient } from '../../sinks/clickhouse-client.js';
import { migrate } from '../../sinks/migrations.js';
import { addClickHouseOptions, clickHouseConfigFrom, type RawOptions } from '../options.js';

/** `runwatch migrate`: brings the store to this build's schema, or with --check says whether it is. */
export function migrateCommand(): Command {
  const command = new Command('migrate')
    .description('apply the schema migrations (schemas/clickhouse) not yet applied, recorded with their checksums in schema_migrations; refuses an edited applied migration or a newer schema (exit 2)')
    .addOption(new Option('--check', 'apply nothing: exit 2 when a migration is pending (or the schema is not this build\'s), 0 when up to date'));
  addClickHouseOptions(command);
  return command.action(async (raw: RawOptions) => {
    const config = clickHouseConfigFrom(raw);
    const client = createClickHouseClient(config);
    try {
      const status = await migrate(client, config.database, { checkOnly: raw.check === true });
      const lines = [`ClickHouse ${status.serverVersion}, database ${config.database}: ${status.appliedNow.length === 0 ? 'up to date' : `applied ${status.appliedNow.length} migration(s)`}`];
      for (const m of status.migrations) lines.push(`  ${m.name}${status.appliedNow.some((a) => a.version === m.version) ? '  (applied now)' : ''}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    } finally {
      await client.close();
    }
  });
}
