import type { ClickHouseClient } from '@clickhouse/client';
import type { DeadLetter } from '../contract/event.js';
import { hasLoneSurrogate, withoutLoneSurrogates } from '../contract/unicode.js';
import type { Verdict } from '../contract/verdict.js';
import { RunwatchError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { deadLetterRow, lateEventRow, revisionRow, runSummaryRow, userGradeRow, violationRow } from './rows.js';

const TABLES = ['violations', 'run_summaries', 'user_grades', 'late_events', 'verdict_revisions', 'dead_letters'] as const;
type Table = (typeof TABLES)[number];

/** What the pipeline hands the sink in one write; the write resolves once ClickHouse acknowledged it. */
export interface SinkBatch {
  readonly verdicts: readonly Verdict[];
  readonly deadLetters: readonly DeadLetter[];
}

export interface SinkOptions {
  readonly database: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Attempts per insert before the write fails (a failed write stops the pipeline: offsets stay uncommitted). */
  readonly maxAttempts?: number;
  /** Wall clock for detected_at / recorded_at stamps only; verdicts themselves never read it. */
  readonly now?: () => number;
}

/**
 * Writes verdicts, run summaries, late events and dead letters to ClickHouse. Each table gets one
 * insert per batch; inserts are retried with backoff. Rows are idempotent (deterministic keys).
 */
export class ClickHouseSink {
  private readonly maxAttempts: number;
  private readonly now: () => number;

  constructor(
    private readonly client: ClickHouseClient,
    private readonly options: SinkOptions,
  ) {
    this.maxAttempts = options.maxAttempts ?? 5;
    this.now = options.now ?? Date.now;
  }

  async write(batch: SinkBatch): Promise<void> {
    const at = this.now();
    const rows: Record<Table, object[]> = { violations: [], run_summaries: [], user_grades: [], late_events: [], verdict_revisions: [], dead_letters: [] };
    for (const verdict of batch.verdicts) {
      switch (verdict.kind) {
        case 'violation':
          rows.violations.push(violationRow(verdict.violation, at));
          break;
        case 'run_summary':
          rows.run_summaries.push(runSummaryRow(verdict.summary, at));
          break;
        case 'user_grade':
          rows.user_grades.push(userGradeRow(verdict.grade, at));
          break;
        case 'late_event':
          rows.late_events.push(lateEventRow(verdict, at));
          break;
        case 'revision':
          rows.verdict_revisions.push(revisionRow(verdict, at));
          break;
      }
    }
    for (const d of batch.deadLetters) rows.dead_letters.push(deadLetterRow(d, at));
    // Sequential on purpose: the embedded engine runs one statement at a time anyway.
    for (const table of TABLES) await this.insert(table, rows[table]);
  }

  private async insert(table: string, rawValues: readonly object[]): Promise<void> {
    if (rawValues.length === 0) return;
    const values = wellFormedRows(rawValues);
    if (values !== rawValues) this.options.logger.warn({ table }, 'replaced lone UTF-16 surrogates (not valid Unicode) with U+FFFD in rows written');
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.client.insert({ table: `${this.options.database}.${table}`, values: values as object[], format: 'JSONEachRow' });
        this.options.metrics.rowsWritten.inc({ table }, values.length);
        return;
      } catch (cause) {
        // A statement the engine rejected (bad row, unknown table) fails the same way every time.
        const rejected = isEngineRejection(cause);
        if (rejected || attempt >= this.maxAttempts) {
          throw new RunwatchError('SINK_WRITE_FAILED', `insert into ${table} failed after ${attempt} attempts`, { cause, retriable: !rejected, context: { table, rows: values.length } });
        }
        const delayMs = Math.min(5_000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
        this.options.metrics.sinkRetries.inc();
        this.options.logger.warn({ table, attempt, delayMs: Math.round(delayMs), err: cause }, 'ClickHouse insert failed; retrying');
        await new Promise((resolveDelay) => setTimeout(resolveDelay, delayMs));
      }
    }
  }
}

/**
 * A ClickHouse server/engine error (it carries ClickHouse's error `type` and numeric `code`), as
 * opposed to a transport failure. Checked by shape: chdb raises the client-common package's
 * ClickHouseError class, not the one bundled in @clickhouse/client, so instanceof would miss it.
 */
function isEngineRejection(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const { type, code } = err as Error & { type?: unknown; code?: unknown };
  return typeof type === 'string' && typeof code === 'string' && /^\d+$/.test(code);
}

const needsRepair = (value: unknown): boolean => (typeof value === 'string' ? hasLoneSurrogate(value) : Array.isArray(value) && value.some(needsRepair));
const repair = (value: unknown): unknown => (typeof value === 'string' ? withoutLoneSurrogates(value) : Array.isArray(value) ? value.map(repair) : value);

/**
 * The rows, with every string that is not valid Unicode repaired: ClickHouse rejects a lone
 * surrogate in JSON input, and one such string (a dead letter's raw text, a tool name in a
 * verdict's detail) must not stop every insert after it. Ids never get here broken: normalization
 * dead-letters them. Returns the same array when nothing needed it (the common case).
 */
function wellFormedRows(rows: readonly object[]): readonly object[] {
  if (!rows.some((row) => Object.values(row).some(needsRepair))) return rows;
  return rows.map((row) => Object.fromEntries(Object.entries(row).map(([key, value]) => [key, repair(value)])));
}
