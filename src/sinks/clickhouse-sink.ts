import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import type { DeadLetter } from '../contract/event.js';
import { hasLoneSurrogate, withoutLoneSurrogates } from '../contract/unicode.js';
import type { Verdict } from '../contract/verdict.js';
import type { Logger } from '../observability/logger.js';
import { faultPoint } from '../pipeline/fault-points.js';
import type { Metrics } from '../observability/metrics.js';
import { classifyStoreError, retryThroughOutage, storeErrorReason, type OutagePolicy } from './store-outage.js';
import type { UserIdPseudonyms } from './pseudonyms.js';
import { deadLetterRow, eventRow, lateEventRow, revisionRow, runSummaryRow, userGradeRow, violationRow } from './rows.js';

const TABLES = ['violations', 'run_summaries', 'user_grades', 'late_events', 'verdict_revisions', 'events', 'dead_letters'] as const;
type Table = (typeof TABLES)[number];

/** What the pipeline hands the sink in one write; the write resolves once ClickHouse acknowledged it. */
export interface SinkBatch {
  readonly verdicts: readonly Verdict[];
  readonly deadLetters: readonly DeadLetter[];
  /**
   * Set for verdicts judged at the end of a bounded input (runs and user windows cut by it): the
   * consumer group whose later read replaces them (docs/architecture.md, "Provisional rows").
   */
  readonly provisionalOf?: string;
}

/** What produced a row: the contract's hash, a hash of the other detection settings, the build. */
export interface Provenance {
  readonly contractHash: string;
  readonly configHash: string;
  /** version+commit */
  readonly build: string;
}

export interface SinkOptions {
  readonly database: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * How long an outage (refused connection, timeout, 5xx, a server short of memory or parts) is
   * retried before the write fails (then the monitor stops, offsets stay uncommitted). Default:
   * never give up — consumption waits, paused by backpressure, until the store is back.
   */
  readonly giveUpAfterMs?: number;
  /** Ceiling of the exponential backoff between attempts (default 30 s). */
  readonly maxBackoffMs?: number;
  /** While an outage lasts, a warning naming what fails at most this often (default 10 s). */
  readonly warnEveryMs?: number;
  /** Wall clock for detected_at / recorded_at stamps only; verdicts themselves never read it. */
  readonly now?: () => number;
  /** Tag every row with this replay id (runwatch replay); live rows have none (''). */
  readonly replayId?: string;
  /** What produced the rows (schemas/clickhouse/005_provenance.sql), stamped on every row. */
  readonly provenance?: Provenance;
  /** Store user ids as pseudonyms (--hash-user-ids): columns and the ids a verdict's detail names. */
  readonly pseudonyms?: UserIdPseudonyms;
}

/**
 * Writes verdicts, run summaries, late events and dead letters to ClickHouse. Each table gets one
 * insert per batch. Rows are idempotent (deterministic keys, ReplacingMergeTree): writing a batch
 * again after a restore or a retry changes nothing.
 *
 * Failures (docs/operations.md, "Outages"): an outage is retried with capped exponential
 * backoff and jitter for as long as it lasts (or `giveUpAfterMs`); rows the engine rejects are
 * isolated by splitting the insert in halves until the offending rows stand alone, and each of
 * those is stored in dead_letters with the server's reason; a missing table (or any other
 * statement the engine refuses) fails at once. Classification: src/sinks/store-outage.ts.
 */
export class ClickHouseSink {
  private readonly now: () => number;
  private readonly policy: OutagePolicy;

  constructor(
    private readonly client: ClickHouseClient,
    private readonly options: SinkOptions,
  ) {
    this.now = options.now ?? Date.now;
    const { logger, metrics, giveUpAfterMs, maxBackoffMs, warnEveryMs } = options;
    for (const table of TABLES) metrics.sinkRejectedRows.inc({ table }, 0); // a series per table from the start
    this.policy = { logger, metrics, ...(giveUpAfterMs === undefined ? {} : { giveUpAfterMs }), ...(maxBackoffMs === undefined ? {} : { maxBackoffMs }), ...(warnEveryMs === undefined ? {} : { warnEveryMs }) };
  }

  async write(batch: SinkBatch): Promise<void> {
    const at = this.now();
    const provisionalOf = batch.provisionalOf ?? '';
    const { pseudonyms } = this.options;
    const rows: Record<Table, object[]> = { violations: [], run_summaries: [], user_grades: [], late_events: [], verdict_revisions: [], events: [], dead_letters: [] };
    for (const verdict of batch.verdicts) {
      switch (verdict.kind) {
        case 'violation': {
          const row = violationRow(verdict.violation, at, provisionalOf);
          const { userId, namedUserIds } = verdict.violation;
          rows.violations.push(pseudonyms === undefined ? row : { ...row, user_id: pseudonyms.of(row.user_id), detail: pseudonyms.inText(row.detail, [userId ?? '', ...(namedUserIds ?? [])]) });
          break;
        }
        case 'run_summary': {
          const row = runSummaryRow(verdict.summary, at, provisionalOf);
          rows.run_summaries.push(pseudonyms === undefined ? row : { ...row, user_id: pseudonyms.of(row.user_id) });
          break;
        }
        case 'user_grade': {
          const row = userGradeRow(verdict.grade, at, provisionalOf);
          rows.user_grades.push(pseudonyms === undefined ? row : { ...row, user_id: pseudonyms.of(row.user_id) });
          break;
        }
        case 'late_event':
          rows.late_events.push(lateEventRow(verdict, at));
          break;
        case 'revision':
          rows.verdict_revisions.push(revisionRow(verdict, at));
          break;
        case 'event_placed': {
          const row = eventRow(verdict, at);
          rows.events.push(pseudonyms === undefined ? row : { ...row, user_id: pseudonyms.of(row.user_id) });
          break;
        }
      }
    }
    if (batch.verdicts.some((v) => v.kind === 'violation' && v.violation.status !== undefined)) rows.violations = lastOfEachId(rows.violations);
    for (const d of batch.deadLetters) rows.dead_letters.push(deadLetterRow(d, at));
    const tags = this.rowTags();
    if (tags !== undefined) for (const table of TABLES) rows[table] = rows[table].map((row) => ({ ...row, ...tags }));
    // Sequential on purpose: the embedded engine runs one statement at a time anyway.
    const rejected: DeadLetter[] = [];
    for (const table of TABLES) {
      if (table === 'dead_letters') continue;
      await this.insertIsolating(table, rows[table], rejected);
      if (table === 'violations') {
        // Crash tests: a batch half written (counted from the start, or after the first commit).
        faultPoint('sink-mid-write');
        faultPoint('sink-mid-write-after-commit');
      }
    }
    for (const d of rejected) rows.dead_letters.push({ ...deadLetterRow(d, at), ...tags });
    const unstorable: DeadLetter[] = [];
    await this.insertIsolating('dead_letters', rows.dead_letters, unstorable);
    for (const d of unstorable) {
      // Not even its dead letter could be stored: the log line is the last record of it.
      this.options.logger.error({ reason: d.reason, raw: d.raw.slice(0, 2_000) }, 'ClickHouse rejected a dead-letter row too; the row is only in this log line');
    }
  }

  /** Columns every row gets: the replay id (replays only) and the provenance. */
  private rowTags(): Record<string, string> | undefined {
    const { replayId, provenance } = this.options;
    if (replayId === undefined && provenance === undefined) return undefined;
    return {
      ...(replayId === undefined ? {} : { replay_id: replayId }),
      ...(provenance === undefined ? {} : { contract_hash: provenance.contractHash, config_hash: provenance.configHash, build: provenance.build }),
    };
  }

  /**
   * Inserts rows; rows the engine rejects are split off (halving) and returned in `rejected` as
   * dead letters with the server's reason, the others are stored.
   */
  private async insertIsolating(table: Table, rawValues: readonly object[], rejected: DeadLetter[]): Promise<void> {
    if (rawValues.length === 0) return;
    const values = wellFormedRows(rawValues);
    if (values !== rawValues) this.options.logger.warn({ table }, 'replaced lone UTF-16 surrogates (not valid Unicode) with U+FFFD in rows written');
    const pending: (readonly object[])[] = [values];
    for (let part = pending.pop(); part !== undefined; part = pending.pop()) {
      const refusal = await this.insertUntilStored(table, part);
      if (refusal === undefined) continue;
      if (part.length > 1) {
        const half = Math.ceil(part.length / 2);
        pending.push(part.slice(half), part.slice(0, half)); // first half next: rows keep their order
        continue;
      }
      const row = part[0] as object;
      this.options.metrics.sinkRejectedRows.inc({ table });
      this.options.logger.warn({ table, reason: refusal, row: JSON.stringify(row).slice(0, 500) }, 'ClickHouse rejected a row; stored as a dead letter');
      rejected.push(rejectedRowDeadLetter(table, row, refusal));
    }
  }

  /**
   * One insert, retried through outages (the one policy of store-outage.ts). Resolves undefined
   * once stored, or with the engine's reason when it rejected the rows; throws on any other refusal
   * or when `giveUpAfterMs` ran out.
   */
  private insertUntilStored(table: Table, values: readonly object[]): Promise<string | undefined> {
    const { metrics } = this.options;
    return retryThroughOutage(
      `insert into ${table}`,
      async () => {
        const stopTimer = metrics.sinkInsertSeconds.startTimer({ table });
        try {
          await this.client.insert({ table: `${this.options.database}.${table}`, values: values as object[], format: 'JSONEachRow' });
          stopTimer({ outcome: 'stored' });
          metrics.rowsWritten.inc({ table }, values.length);
          return undefined;
        } catch (cause) {
          const failure = classifyStoreError(cause);
          stopTimer({ outcome: failure });
          if (failure === 'rows_rejected') return storeErrorReason(cause);
          throw cause;
        }
      },
      this.policy,
    );
  }
}

/** A row ClickHouse refused, as a dead letter: where its verdict came from, the server's reason, the row itself. */
function rejectedRowDeadLetter(table: Table, row: object, refusal: string): DeadLetter {
  const fields = row as Record<string, unknown>;
  const topic = typeof fields['source_topic'] === 'string' ? fields['source_topic'] : '';
  const partition = firstNumber(fields['source_partition'] ?? fields['source_partitions']);
  const offset = firstNumber(fields['source_offset'] ?? fields['source_offsets']);
  return {
    reason: `sink_rejected: ${table}: ${refusal}`,
    source: { topic, partition, offset },
    key: `${table}`,
    raw: JSON.stringify(row),
    recordTimestampMs: 0,
  };
}

function firstNumber(value: unknown): number {
  const first: unknown = Array.isArray(value) ? value[0] : value;
  const n = typeof first === 'number' ? first : Number(first);
  return Number.isFinite(n) && n >= 0 ? n : 0;
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

/** Tables whose rows may be provisional (schemas/clickhouse/003_provisional.sql). */
const PROVISIONAL_TABLES = ['violations', 'run_summaries', 'user_grades'] as const;

/**
 * Deletes the provisional rows a group wrote at the end of an earlier bounded read. Called before
 * that group reads on from the checkpoint taken before the flush: the runs those rows judged are
 * open again in the restored state and get final rows when they close. Idempotent.
 */
export async function removeProvisionalRows(client: ClickHouseClient, database: string, groupId: string): Promise<number> {
  let removed = 0;
  for (const table of PROVISIONAL_TABLES) {
    const counted = await client.query({ query: `SELECT count() AS n FROM ${database}.${table} WHERE provisional_of = {groupId:String}`, query_params: { groupId }, format: 'JSONEachRow' });
    const n = Number((z.array(z.object({ n: z.coerce.number() })).parse(await counted.json()))[0]?.n ?? 0);
    if (n === 0) continue;
    await client.command({ query: `DELETE FROM ${database}.${table} WHERE provisional_of = {groupId:String}`, query_params: { groupId } });
    removed += n;
  }
  return removed;
}

/**
 * Withdraws the early-fired rows of `topic` still provisional (live mode, before the monitor reads
 * anything). Early firing of a run's findings depends on what had arrived when its completion did
 * (processing time): a row fired after the restored checkpoint (or by an incarnation that left no
 * checkpoint) may never be fired again from the records read again, and the restored state does not
 * know it, so nothing would ever settle it. Withdrawing every one is safe: a finding fired again is
 * stored provisional again, and each run's final judgement stores its final rows (same ids) over
 * whatever is there. Rows of bounded reads (`provisional_of`) are not early-fired ones.
 */
export async function withdrawProvisionalRows(client: ClickHouseClient, database: string, topic: string): Promise<number> {
  const where = `status = 'provisional' AND provisional_of = '' AND source_topic = {topic:String}`;
  const counted = await client.query({ query: `SELECT count() AS n FROM ${database}.violations FINAL WHERE ${where}`, query_params: { topic }, format: 'JSONEachRow' });
  const n = Number(z.array(z.object({ n: z.coerce.number() })).parse(await counted.json())[0]?.n ?? 0);
  if (n === 0) return 0;
  // A new part: ReplacingMergeTree keeps the row inserted last, so these replace the provisional ones.
  // The rows are chosen in a subquery: in ClickHouse an alias in the SELECT list (`'withdrawn' AS
  // status`) shadows the column of that name in the same query's WHERE.
  await client.command({ query: `INSERT INTO ${database}.violations SELECT * REPLACE ('withdrawn' AS status, now64(3) AS detected_at) FROM (SELECT * FROM ${database}.violations FINAL WHERE ${where})`, query_params: { topic } });
  return n;
}

/**
 * One row per violation id, the last one given (early firing: a provisional row and its final or
 * withdrawn row in one batch). Across inserts the table keeps the last row written; within one
 * insert that order is not what the engine promises to keep, so the batch carries one row.
 */
function lastOfEachId(rows: readonly object[]): object[] {
  const last = new Map<unknown, object>();
  for (const row of rows) {
    const id = (row as { violation_id?: unknown }).violation_id;
    last.delete(id); // re-inserted: keeps the order of last occurrences
    last.set(id, row);
  }
  return [...last.values()];
}
