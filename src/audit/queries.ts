/**
 * Runs the audit queries: each a .sql file under schemas/audit, sent as written (comments
 * included), with server-side parameters only. The result's hash is over the bytes ClickHouse
 * returned in JSONEachRow, so an auditor running the same file with the same parameters can
 * compare to the byte.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { RunwatchError } from '../errors.js';
import type { AuditQueryRun } from './report.js';

/** schemas/audit, found from this module in src/audit (tsx) or dist/audit (node) alike. */
export const AUDIT_SQL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'schemas', 'audit');

export type AuditParams = Readonly<Record<string, string | number>>;

export interface QueryResult<T> {
  readonly rows: T[];
  readonly run: AuditQueryRun;
}

/** The text of schemas/audit/<name>.sql, without the trailing semicolon the HTTP interface refuses. */
export function auditQueryText(name: string): string {
  if (!/^[a-z0-9_]+$/.test(name)) throw new RunwatchError('INTERNAL', `audit query name ${name} is not a file name`);
  return readFileSync(join(AUDIT_SQL_DIR, `${name}.sql`), 'utf8').trim().replace(/;$/, '');
}

export async function runAuditQuery<T>(client: ClickHouseClient, name: string, params: AuditParams, rowSchema: z.ZodType<T>): Promise<QueryResult<T>> {
  const result = await client.query({ query: auditQueryText(name), query_params: { ...params }, format: 'JSONEachRow' });
  const text = await result.text();
  const lines = text.split('\n').filter((line) => line.length > 0);
  const rows = lines.map((line, i) => {
    const parsed = rowSchema.safeParse(JSON.parse(line));
    if (!parsed.success) throw new RunwatchError('INTERNAL', `audit query ${name}: row ${i + 1} is not what the report reads: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
    return parsed.data;
  });
  return {
    rows,
    run: { name, file: `schemas/audit/${name}.sql`, params, rowCount: rows.length, resultHash: createHash('sha256').update(text, 'utf8').digest('hex') },
  };
}
