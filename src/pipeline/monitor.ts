import { bufferTime, concatMap, connect, filter, ignoreElements, map, merge, type Observable, tap } from 'rxjs';
import type { DetectionConfig, SinkConfig } from '../config/config.js';
import type { AgentEvent, DeadLetter, NormalizeResult, SourceRecord } from '../contract/event.js';
import { normalizeRecord } from '../contract/normalize.js';
import type { Verdict } from '../contract/verdict.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SourceHint } from '../operators/stream-item.js';
import type { SinkBatch } from '../sinks/clickhouse-sink.js';
import type { ActiveIdSeed } from '../operators/rules/contamination.js';
import { detectVerdicts } from './detect.js';
import { liveHints } from './live-hints.js';
import { OffsetLedger } from './offset-ledger.js';

/** Where records come from (Kafka in production; anything Observable in tests). */
export interface RecordSource {
  records$(): Observable<SourceRecord>;
  /**
   * Live sources: records and, in the same order, where the source stands (the group assignment,
   * the partitions caught up with the broker). Used instead of records$() when present.
   */
  items$?(): Observable<SourceRecord | SourceHint>;
  /** Commits, per partition, the next offset to read; called only with offsets whose results are durable. */
  commit(nextOffsets: ReadonlyMap<number, number>): Promise<void>;
}

export interface VerdictSink {
  write(batch: SinkBatch): Promise<void>;
}

export interface MonitorOptions {
  readonly source: RecordSource;
  readonly sink: VerdictSink;
  readonly detection: DetectionConfig;
  readonly sinkConfig: SinkConfig;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /**
   * Live mode: a partition the source reports caught up with the broker (fresh end offsets), with
   * no event arriving, for this long (wall clock) is idle: the watermark stops waiting for it; when
   * every assigned partition is, event time advances by the time since (src/pipeline/live-hints.ts).
   * Never from wall-clock silence alone: a lagging partition or an unreachable broker stops both.
   */
  readonly idleHeartbeatMs?: number;
  /** Partitions that will deliver events (bounded mode): the watermark waits for all of them. */
  readonly partitions?: readonly number[];
  /** Ids active before this start, restored from the store (isolation checks are not blind at first). */
  readonly activeIds?: ActiveIdSeed;
  readonly onProgress?: (stats: MonitorStats) => void;
}

export interface MonitorStats {
  records: number;
  lifecycleEvents: number;
  otherEvents: number;
  deadLetters: number;
  violations: number;
  runSummaries: number;
  lateEvents: number;
  revisions: number;
  userGrades: number;
  batchesWritten: number;
}

type Output = { readonly kind: 'verdict'; readonly verdict: Verdict } | { readonly kind: 'dead_letter'; readonly deadLetter: DeadLetter };

/**
 * The monitor: records → normalize → (dead letters | events → detectors → verdicts) → batches →
 * ClickHouse, then commit. Resolves with counts when the source completes (replay/bounded mode)
 * after the last batch was written; rejects if the source or the sink fails.
 */
export function runMonitor(options: MonitorOptions): { readonly done: Promise<MonitorStats>; stop(): void } {
  const { metrics, logger } = options;
  const stats: MonitorStats = { records: 0, lifecycleEvents: 0, otherEvents: 0, deadLetters: 0, violations: 0, runSummaries: 0, lateEvents: 0, revisions: 0, userGrades: 0, batchesWritten: 0 };

  const ledger = new OffsetLedger();
  const input$: Observable<SourceRecord | SourceHint> = options.source.items$?.() ?? options.source.records$();
  const outputs$ = input$.pipe(
    map((item): NormalizeResult | SourceHint => {
      if ('kind' in item) return item;
      stats.records += 1;
      metrics.recordsConsumed.inc();
      ledger.track(item.partition, item.offset);
      return normalizeRecord(item);
    }),
    connect((normalized) => {
      const deadLetters$ = normalized.pipe(
        filter((r) => r.kind === 'dead_letter'),
        map((r): Output => {
          stats.deadLetters += 1;
          metrics.deadLetters.inc({ reason: reasonClass(r.deadLetter.reason) });
          logger.warn({ reason: r.deadLetter.reason, topic: r.deadLetter.source.topic, partition: r.deadLetter.source.partition, offset: r.deadLetter.source.offset }, 'dead letter');
          return { kind: 'dead_letter', deadLetter: r.deadLetter };
        }),
      );
      const others$ = normalized.pipe(
        filter((r) => r.kind === 'other'),
        tap((r) => {
          ledger.done(r.event.source.partition, r.event.source.offset);
          stats.otherEvents += 1;
          metrics.otherEvents.inc({ type: r.event.type.slice(0, 40) });
        }),
        ignoreElements(),
      );
      // Events and the source's hints stay in one stream: their order is what the hints mean.
      const detectorInput$ = normalized.pipe(
        filter((r): r is Extract<NormalizeResult, { kind: 'lifecycle' }> | SourceHint => r.kind === 'lifecycle' || r.kind === 'assignment' || r.kind === 'caught_up'),
        map((r): AgentEvent | SourceHint => {
          if (r.kind !== 'lifecycle') return r;
          stats.lifecycleEvents += 1;
          metrics.lifecycleEvents.inc({ type: r.event.type, shape: r.event.shape });
          return r.event;
        }),
        liveHints(options.idleHeartbeatMs === undefined ? {} : { idleMs: options.idleHeartbeatMs }),
      );
      const verdicts$ = detectorInput$.pipe(
        detectVerdicts(options.detection, options.partitions, options.activeIds === undefined ? {} : { activeIds: options.activeIds }),
        map((verdict): Output => {
          count(stats, metrics, verdict);
          return { kind: 'verdict', verdict };
        }),
      );
      return merge(verdicts$, deadLetters$, others$);
    }),
  );

  let stopRequested: (() => void) | undefined;
  const stopped$ = new Promise<void>((resolve) => (stopRequested = resolve));
  const done = new Promise<MonitorStats>((resolve, reject) => {
    const subscription = outputs$
      .pipe(
        bufferTime(options.sinkConfig.flushIntervalMs, null, options.sinkConfig.batchRows),
        filter((batch) => batch.length > 0),
        concatMap(async (batch) => {
          const verdicts: Verdict[] = [];
          const deadLetters: DeadLetter[] = [];
          for (const o of batch) {
            if (o.kind === 'verdict') verdicts.push(o.verdict);
            else deadLetters.push(o.deadLetter);
          }
          await options.sink.write({ verdicts, deadLetters });
          markDurable(ledger, verdicts, deadLetters);
          try {
            await options.source.commit(ledger.committable());
          } catch (err) {
            // The verdicts are durable; an offset not committed only means reading again after a
            // restart (writes are idempotent). A broker outage or a rebalance must not stop the
            // monitor: the next batch commits these offsets too.
            logger.warn({ err: String(err) }, 'committing offsets failed; the next batch commits them');
          }
          stats.batchesWritten += 1;
          options.onProgress?.({ ...stats });
        }),
      )
      .subscribe({ error: reject, complete: () => resolve({ ...stats }) });
    void stopped$.then(() => {
      // Live stop: open runs are not judged (they are in progress); the process exits after this.
      subscription.unsubscribe();
      resolve({ ...stats });
    });
  });
  return { done, stop: () => stopRequested?.() };
}

function markDurable(ledger: OffsetLedger, verdicts: readonly Verdict[], deadLetters: readonly DeadLetter[]): void {
  for (const d of deadLetters) ledger.done(d.source.partition, d.source.offset);
  // Every lifecycle record ends up in a run summary, or (dropped duplicates, suspicious or
  // post-completion events) in a violation of its own, or in a late-event row.
  for (const v of verdicts) {
    if (v.kind === 'run_summary') v.summary.source.partitions.forEach((partition, i) => ledger.done(partition, v.summary.source.offsets[i] as number));
    else if (v.kind === 'violation') v.violation.source.partitions.forEach((partition, i) => ledger.done(partition, v.violation.source.offsets[i] as number));
    else if (v.kind === 'late_event') ledger.done(v.source.partition, v.source.offset);
  }
}

function count(stats: MonitorStats, metrics: Metrics, verdict: Verdict): void {
  if (verdict.kind === 'violation') {
    stats.violations += 1;
    metrics.violations.inc({ rule: verdict.violation.rule, severity: verdict.violation.severity });
  } else if (verdict.kind === 'run_summary') {
    stats.runSummaries += 1;
    metrics.runsClosed.inc({ outcome: verdict.summary.outcome });
  } else if (verdict.kind === 'late_event') {
    stats.lateEvents += 1;
    metrics.lateEvents.inc();
  } else if (verdict.kind === 'revision') {
    stats.revisions += 1;
  } else {
    stats.userGrades += 1;
  }
}

/** Low-cardinality label for a dead-letter reason ("invalid JSON: Unexpected token…" → "invalid JSON"). */
function reasonClass(reason: string): string {
  return reason.split(':')[0]?.slice(0, 40) ?? 'unknown';
}
