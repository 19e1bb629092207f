import { Command, Option } from 'commander';
import { createClickHouseClient } from '../../sinks/clickhouse-client.js';
import { migrate } from '../../sinks/migrations.js';
import { formatSummary, readSummary } from '../../sinks/summary.js';
import { addClickHouseOptions, clickHouseConfigFrom, type RawOptions } from '../options.js';

export function summaryCommand(): Command {
  const command = new Command('summary').description('print runs checked, violations by rule and severity, and dead letters, read from ClickHouse').addOption(new Option('--json', 'print JSON'));
  addClickHouseOptions(command);
  return command.action(async (raw: RawOptions) => {
    const config = clickHouseConfigFrom(raw);
    const client = createClickHouseClient(config);
    try {
      await migrate(client, config.database);
      const summary = await readSummary(client, config.database);
      process.stdout.write(`${raw.json === true ? JSON.stringify(summary) : formatSummary(summary)}\n`);
    } finally {
      await client.close();
    }
  });
}
