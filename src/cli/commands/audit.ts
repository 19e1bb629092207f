import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { renderReports } from '../../audit/render.js';
import { AUDIT_REPORTS, buildReport, type AuditReportName } from '../../audit/reports.js';
import type { AuditReport } from '../../audit/report.js';
import { createClickHouseClient } from '../../sinks/clickhouse-client.js';
import { migrate } from '../../sinks/migrations.js';
import { addClickHouseOptions, clickHouseConfigFrom, contractFrom, type RawOptions } from '../options.js';

const FORMATS = ['table', 'csv', 'json', 'md', 'html'] as const;
type Format = (typeof FORMATS)[number];
const DAY_MS = 86_400_000;

/** An ISO-8601 time with a date and a zone (Z or ±hh:mm), or a bare date (UTC midnight). */
function isoTime(value: string): Date {
  const ok = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(value.trim());
  const date = new Date(value.trim());
  // 2026-02-30 would silently become March 2: the date must survive the round trip.
  const [y, m, d] = value.trim().slice(0, 10).split('-').map(Number);
  const real = ok && !Number.isNaN(date.getTime()) && new Date(Date.UTC(y ?? 0, (m ?? 1) - 1, d ?? 0)).toISOString().slice(0, 10) === value.trim().slice(0, 10);
  if (!real) throw new InvalidArgumentError('expected an ISO-8601 time with a zone (2026-11-01T00:00:00Z) or a date (2026-11-01, UTC).');
  return date;
}

/** `--expect-head 1234:9f2c…,88:0a1b…`: heads a verify printed before. */
function expectHeads(value: string): Array<{ seq: number; hash: string }> {
  return value.split(',').map((part) => {
    const match = /^(\d+):([0-9a-f]{64})$/.exec(part.trim());
    if (match === null) throw new InvalidArgumentError('expected <head_seq>:<head_hash> pairs (the sha256 in hex), comma-separated.');
    return { seq: Number(match[1]), hash: match[2] as string };
  });
}

/** The file is written after the queries ran: a directory that does not exist is a usage error now, not then. */
function outFile(value: string): string {
  const path = resolve(value);
  const dir = dirname(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InvalidArgumentError(`directory ${dir} does not exist.`);
  return path;
}

/**
 * `runwatch audit <report>`: SOC2 evidence from the store alone (docs/audit.md). Exit 0: the
 * audit found nothing wrong; 1: it found a problem (named in the output); 2: usage or store error.
 */
export function auditCommand(): Command {
  const command = new Command('audit')
    .description('audit reports from ClickHouse (each query a .sql file under schemas/audit, printed with its parameters, row count and result hash): completeness, verify (the ledger hash chain), isolation, latency, grades, violations, missing (rate by agent and tool), reverify (verdicts derived again in SQL from events stored with monitor --store-events), or all; exit 1 when the audit finds a problem, 3 when the store cannot be read')
    .addArgument(new Argument('<report>', 'which report').choices([...AUDIT_REPORTS, 'all']))
    .addOption(new Option('--from <time>', 'start of the period, inclusive (ISO-8601 with a zone, or a UTC date; default: 30 days before --to)').argParser(isoTime))
    .addOption(new Option('--to <time>', 'end of the period, exclusive (default: now)').argParser(isoTime))
    .addOption(new Option('--format <format>', 'table (a terminal), csv, json, md or html (a self-contained page with charts)').choices(FORMATS).default('table'))
    .addOption(new Option('--out <file>', 'write the report to this file instead of stdout').argParser(outFile))
    .addOption(new Option('--include-replays', 'count replays (runwatch replay) as well; by default only live results are evidence'))
    .addOption(new Option('--contract <file>', 'reverify: the run contract the verdicts were judged with (default: the built-in reference)'))
    .addOption(new Option('--expect-head <seq:sha256,...>', 'verify: chain heads kept from an earlier audit (its head_seq and head_hash); exit 1 when one is gone or changed').argParser(expectHeads));
  addClickHouseOptions(command);
  return command.action(async (reportArg: string, raw: RawOptions) => {
    const config = clickHouseConfigFrom(raw);
    const contract = await contractFrom(raw);
    const to = raw.to instanceof Date ? raw.to : new Date();
    const from = raw.from instanceof Date ? raw.from : new Date(to.getTime() - 30 * DAY_MS);
    if (from.getTime() >= to.getTime()) {
      process.stderr.write(`runwatch: invalid period: --from ${from.toISOString()} is not before --to ${to.toISOString()}\n`);
      process.exitCode = 2;
      return;
    }
    const names: AuditReportName[] = reportArg === 'all' ? [...AUDIT_REPORTS] : [reportArg as AuditReportName];
    const period = { from, to, includeReplays: raw.includeReplays === true };
    const client = createClickHouseClient(config);
    const reports: AuditReport[] = [];
    try {
      // Reads only: the store must be migrated already (an audit never changes the schema).
      await migrate(client, config.database, { checkOnly: true });
      const now = new Date();
      const options = { ...(contract === undefined ? {} : { contract }), ...(Array.isArray(raw.expectHead) ? { expectHeads: raw.expectHead as Array<{ seq: number; hash: string }> } : {}) };
      for (const name of names) reports.push(await buildReport(client, config.database, name, period, now, options));
    } finally {
      await client.close();
    }
    const output = renderReports(reports, String(raw.format) as Format);
    if (typeof raw.out === 'string') {
      writeFileSync(raw.out, output);
      process.stderr.write(`runwatch: audit ${reportArg} written to ${raw.out}\n`);
    } else {
      process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
    }
    // `all` on a store without stored events: missing and reverify have nothing to audit, not a problem.
    if (reports.some((r) => !r.outcome.ok && !(reportArg === 'all' && r.outcome.notApplicable === true))) process.exitCode = 1;
  });
}
