/**
 * `runwatch audit <report> --format json` as a child process (the embedded engine opens one data
 * directory per process), parsed: what the audit tests read of a store a monitor process wrote.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

const reportSchema = z.object({
  report: z.string(),
  queries: z.array(z.object({ name: z.string(), rowCount: z.number(), resultHash: z.string() })),
  outcome: z.object({ ok: z.boolean(), text: z.string() }),
  tables: z.array(z.object({ title: z.string(), columns: z.array(z.string()), rows: z.array(z.array(z.union([z.string(), z.number(), z.null()]))) })),
});
const outputSchema = z.object({ reports: z.array(reportSchema) });

export type AuditJson = z.infer<typeof reportSchema>;

export interface AuditRun {
  readonly code: number | null;
  readonly report: AuditJson;
  readonly err: string;
}

/** Runs one audit report over a store (an embedded data directory, or a server's http:// URL); the period defaults to all time. */
export async function auditCli(report: string, store: string, database: string, extraArgs: readonly string[] = ['--from', '2000-01-01', '--to', '2200-01-01']): Promise<AuditRun> {
  const target = store.startsWith('http://') || store.startsWith('https://') ? ['--clickhouse-url', store] : ['--clickhouse-path', store];
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'audit', report, ...target, '--database', database, '--format', 'json', ...extraArgs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const code = await new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
  let parsed: z.infer<typeof outputSchema> | undefined;
  try {
    parsed = outputSchema.parse(JSON.parse(out));
  } catch {
    parsed = undefined;
  }
  const first = parsed?.reports[0];
  if (first === undefined) throw new Error(`audit ${report} exited ${code} without a report:\n${err.slice(-2_000)}\n${out.slice(0, 2_000)}`);
  return { code, report: first, err };
}

/** A report's table as objects, column → cell. */
export function auditRows(report: AuditJson, index: number): Array<Record<string, string | number | null>> {
  const table = report.tables[index];
  if (table === undefined) throw new Error(`no table ${index} in ${report.report}`);
  return table.rows.map((row) => Object.fromEntries(table.columns.map((column, i) => [column, row[i] ?? null])));
}
