/**
 * What an audit report is, whatever it is printed as (src/audit/render.ts): the queries it ran
 * (name, parameters, row count, result hash: enough to reproduce it to the byte), its tables, its
 * charts and its findings. Reports are built from ClickHouse alone (src/audit/reports.ts).
 */

/** One query of a report: a .sql file under schemas/audit, run with server-side parameters only. */
export interface AuditQueryRun {
  /** The file's name without .sql, e.g. "isolation_violations". */
  readonly name: string;
  /** Path relative to the project root, e.g. "schemas/audit/isolation_violations.sql". */
  readonly file: string;
  readonly params: Readonly<Record<string, string | number>>;
  readonly rowCount: number;
  /** sha256 (hex) of the result as ClickHouse returned it in JSONEachRow, rows in the query's order. */
  readonly resultHash: string;
}

export type Cell = string | number | null;

export interface AuditTable {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<readonly Cell[]>;
}

/**
 * A chart: categories along x (days, grades, rules), one value per category per series.
 * bar: series side by side; stacked-bar: series stacked; line: one line per series.
 */
export interface AuditChart {
  /** Unique in the page; used as the chart element's id. */
  readonly id: string;
  readonly kind: 'bar' | 'stacked-bar' | 'line';
  readonly title: string;
  /** Unit of the values, shown on the y axis, e.g. "ms" or "runs". */
  readonly unit: string;
  readonly categories: readonly string[];
  readonly series: ReadonlyArray<{ readonly name: string; readonly values: readonly number[] }>;
}

export interface AuditReport {
  /** The report's name on the command line, e.g. "isolation". */
  readonly report: string;
  readonly title: string;
  /** The period, ISO 8601 UTC, [from, to). */
  readonly from: string;
  readonly to: string;
  /** Replays counted too (--include-replays); live evidence only otherwise. */
  readonly includeReplays: boolean;
  /** When and by which build (version+commit) the report was produced. */
  readonly generatedAt: string;
  readonly build: string;
  /**
   * The report's answer in one line; ok false: the audit found a problem (the command exits 1).
   * notApplicable: nothing to audit this way (no events stored for missing and reverify); `audit
   * all` does not count it as a problem, the report asked for by name does.
   */
  readonly outcome: { readonly ok: boolean; readonly text: string; readonly notApplicable?: boolean };
  readonly queries: readonly AuditQueryRun[];
  readonly tables: readonly AuditTable[];
  readonly charts: readonly AuditChart[];
}
