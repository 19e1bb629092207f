import { connect, filter, finalize, identity, ignoreElements, map, merge, Observable, type OperatorFunction, Subject, tap } from 'rxjs';
import type { DetectionConfig, SinkConfig } from '../config/config.js';
import type { AgentEvent, DeadLetter, NormalizeResult, SourceRecord } from '../contract/event.js';
import { normalizeRecord } from '../contract/normalize.js';
import type { FramedValueDecoder } from '../contract/framing.js';
import type { Verdict } from '../contract/verdict.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { EngineProbe } from '../operators/engine/engine-probe.js';
import { StateRegistry } from '../operators/state-registry.js';
import type { SourceHint } from '../operators/stream-item.js';
import type { ActiveIdSeed } from '../operators/rules/contamination.js';
import type { Checkpoint, CheckpointReason } from '../sinks/checkpoint-store.js';
import { LedgerTally, type LedgerHead, type LedgerRow, type SealInput } from '../sinks/completeness-ledger.js';
import type { SinkBatch } from '../sinks/clickhouse-sink.js';
import { retryThroughOutage, type OutagePolicy } from '../sinks/store-outage.js';
import { detectVerdicts } from './detect.js';
import { faultPoint } from './fault-points.js';
import { liveHints } from './live-hints.js';

/** Where records come from (Kafka in production; anything Observable in tests). */
export interface RecordSource {
  records$(): Observable<SourceRecord>;
  /**
   * Live sources: records and, in the same order, where the source stands (the group assignment,
   * the partitions caught up with the broker). Used instead of records$() when present.
   */
  items$?(): Observable<SourceRecord | SourceHint>;
  /** Commits, per partition, the next offset to read; called once the checkpoint at those offsets is saved. */
  commit(nextOffsets: ReadonlyMap<number, number>): Promise<void>;
  /** Stops fetching (backpressure, shutdown); records already fetched may still arrive. */
  pause?(): void;
  resume?(): void;
}

export interface VerdictSink {
  write(batch: SinkBatch): Promise<void>;
}

/** Where checkpoints go (src/sinks/checkpoint-store.ts); without one, offsets are committed at each barrier and state is not kept. */
export interface CheckpointSink {
  takeSeq(): number;
  save(checkpoint: Checkpoint): Promise<{ readonly compressedBytes: number }>;
}

/** The completeness ledger (src/sinks/completeness-ledger.ts): rows sealed with each checkpoint, written before its commit. */
export interface LedgerSink {
  seal(input: SealInput): LedgerRow[];
  readonly current: LedgerHead;
  write(rows: readonly LedgerRow[]): Promise<void>;
}

export interface MonitorOptions {
  readonly source: RecordSource;
  readonly sink: VerdictSink;
  readonly detection: DetectionConfig;
  readonly sinkConfig: Pick<SinkConfig, 'batchRows' | 'flushIntervalMs'>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /**
   * Live mode: a partition the source reports caught up with the broker (fresh end offsets), with
   * no event arriving, for this long (wall clock) is idle: the watermark stops waiting for it; when
   * every assigned partition is, event time advances by the time since (src/pipeline/live-hints.ts).
   * Never from wall-clock silence alone: a lagging partition or an unreachable broker stops both.
   */
  readonly idleHeartbeatMs?: number;
  /** Filters the judged verdicts before they are counted and written (a replay keeps the runs of its range: keepRuns). */
  readonly keepVerdicts?: OperatorFunction<Verdict, Verdict>;
  /**
   * Early firing (live mode): findings are also stored before they are final, as provisional
   * violations flushed within `earlyFlushMs` (docs/detection.md, "Early firing"). A bounded read
   * does not: its verdicts are final when written.
   */
  readonly earlyFiring?: boolean;
  /** Longest wait before a batch holding a provisional verdict is written (default 100 ms). */
  readonly earlyFlushMs?: number;
  /** Also store every lifecycle event with where the engine placed it (the events table, for SQL re-verification). */
  readonly storeEvents?: boolean;
  /** Decodes schema-registry framed records (their schemas looked up by the source before each batch). */
  readonly framedDecoder?: FramedValueDecoder;
  /** Partitions that will deliver events (bounded mode): the watermark waits for all of them. */
  readonly partitions?: readonly number[];
  /** Ids active before this start, restored from the store (isolation checks are not blind at first). */
  readonly activeIds?: ActiveIdSeed;
  /** The chain's state: fresh, or restored from a checkpoint (then `startOffsets` are its offsets). */
  readonly state?: StateRegistry;
  /** The offsets the restored state stands at (the source reads on from there). */
  readonly startOffsets?: ReadonlyMap<number, number>;
  readonly checkpoints?: CheckpointSink;
  /** Where each checkpoint's processed offset ranges and counts are recorded (with `committedOffsets`: where reading starts). */
  readonly ledger?: LedgerSink;
  /** The group's committed offsets at start: the first ledger range of each partition starts there. */
  readonly committedOffsets?: ReadonlyMap<number, number>;
  /** How saving a checkpoint waits out a store outage (as the sink does; default: forever). */
  readonly outagePolicy?: Pick<OutagePolicy, 'giveUpAfterMs' | 'maxBackoffMs'>;
  /** Wall-clock time between checkpoints (default 5 s); after each one, at least as long as it took. */
  readonly checkpointIntervalMs?: number;
  /** Results not yet written above which the source pauses (default 50 000). */
  readonly maxPendingRows?: number;
  /** How long `stop()` waits for the last checkpoint (default 10 s). */
  readonly shutdownTimeoutMs?: number;
  readonly onProgress?: (stats: MonitorStats) => void;
  /**
   * Who reads on after a bounded read (the consumer group): the verdicts judged at its end are
   * written as provisional rows of this reader, replaced when it reads on (default 'unknown').
   */
  readonly readerId?: string;
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
  checkpoints: number;
}

export interface MonitorHandle {
  /** Resolves with counts when a bounded read is done (after its last checkpoint) or after `stop()`; rejects on failure. */
  readonly done: Promise<MonitorStats>;
  /** Graceful stop: pauses the source, saves a last checkpoint (bounded by `shutdownTimeoutMs`), then ends `done`. */
  stop(): void;
}

type Output = { readonly kind: 'verdict'; readonly verdict: Verdict } | { readonly kind: 'dead_letter'; readonly deadLetter: DeadLetter };
type CheckpointOutput = { readonly kind: 'checkpoint'; readonly checkpoint: Checkpoint };
type BarrierRequest = { readonly kind: 'barrier'; readonly reason: CheckpointReason };

/** What the sink stage writes at once: result rows, then (if any) the checkpoint that covers them. */
export interface SinkWork {
  readonly verdicts: Verdict[];
  readonly deadLetters: DeadLetter[];
  readonly checkpoint: Checkpoint | undefined;
  /** Judged at the end of a bounded input (the operators' flush): provisional rows. */
  readonly provisional: boolean;
}

export function emptyStats(): MonitorStats {
  return { records: 0, lifecycleEvents: 0, otherEvents: 0, deadLetters: 0, violations: 0, runSummaries: 0, lateEvents: 0, revisions: 0, userGrades: 0, batchesWritten: 0, checkpoints: 0 };
}

const DEFAULT_CHECKPOINT_INTERVAL_MS = 5_000;
const DEFAULT_MAX_PENDING_ROWS = 50_000;
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;
const DEFAULT_EARLY_FLUSH_MS = 100;

/**
 * The monitor: records → normalize → (dead letters | events → detectors → verdicts) → batches →
 * ClickHouse; every `checkpointIntervalMs`, at the end of a bounded read and on stop, a checkpoint.
 *
 * Checkpoints (docs/architecture.md): a barrier enters the stream between two records; there the
 * chain is idle (it is synchronous), so a snapshot of its state reflects exactly the records
 * passed in so far — `nextOffsets` per partition. The barrier then travels behind every result
 * those records produced; the sink stage writes those results, then saves the checkpoint and
 * commits `nextOffsets`, while the results after the barrier are written (groupCommit). A restart
 * restores the checkpoint matching the committed offsets and reads on from there: nothing is judged twice from partial input, and results written after the last
 * checkpoint are written again identically (deterministic ids and contents).
 *
 * Backpressure: results not yet written beyond `maxPendingRows` pause the source until the sink
 * has caught up to half of that.
 */
export function runMonitor(options: MonitorOptions): MonitorHandle {
  const { metrics, logger } = options;
  const stats = emptyStats();
  const state = options.state ?? new StateRegistry();
  const deadLetterLog = new DeadLetterLog(logger);
  const probe = new EngineProbe();
  metrics.live.engine = () => probe.read();
  const checkpointIntervalMs = options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
  const maxPendingRows = options.maxPendingRows ?? DEFAULT_MAX_PENDING_ROWS;
  /** Per partition, the next offset to read: where a checkpoint taken now stands. */
  const positions = new Map<number, number>(options.startOffsets ?? []);
  const tally = new LedgerTally(options.startOffsets ?? options.committedOffsets);
  let localSeq = 0;
  const takeSeq = (): number => options.checkpoints?.takeSeq() ?? (localSeq += 1);

  const barriers = new Subject<BarrierRequest>();
  const items$ = options.source.items$?.() ?? options.source.records$();
  // Barrier requests come in between records. The end of a bounded input is a barrier too: its
  // snapshot is the state before the operators flush what is still open, so re-running a finished
  // replay (nothing more to read) flushes the same verdicts again, and new records appended to the
  // topic later continue those runs instead of finding them closed.
  const input$ = new Observable<SourceRecord | SourceHint | BarrierRequest>((subscriber) => {
    const fromBarriers = barriers.subscribe((barrier) => subscriber.next(barrier));
    const fromSource = items$.subscribe({
      next: (item) => subscriber.next(item),
      error: (err: unknown) => subscriber.error(err),
      complete: () => {
        subscriber.next({ kind: 'barrier', reason: 'end_of_input' });
        subscriber.complete();
      },
    });
    return () => {
      fromBarriers.unsubscribe();
      fromSource.unsubscribe();
    };
  });
  /** Records and hints since the last snapshot: an interval with none of them needs no checkpoint. */
  let itemsSinceSnapshot = 0;
  const snapshotNow = (reason: CheckpointReason): CheckpointOutput => {
    itemsSinceSnapshot = 0;
    const seq = takeSeq();
    const ledger = options.ledger;
    const ledgerRows = ledger?.seal({ checkpointSeq: seq, reason, partitions: tally.drain(), watermarkMs: probe.read()?.eventTimeMs ?? Number.NEGATIVE_INFINITY });
    const ledgerPart = ledger === undefined ? {} : { ledgerHead: ledger.current, ledgerRows: ledgerRows ?? [] };
    return { kind: 'checkpoint', checkpoint: { seq, nextOffsets: new Map(positions), state: state.snapshot(), reason, ...ledgerPart } };
  };

  const outputs$ = input$.pipe(
    map((item): NormalizeResult | SourceHint | CheckpointOutput => {
      if ('kind' in item && item.kind === 'barrier') return snapshotNow(item.reason);
      itemsSinceSnapshot += 1;
      if ('kind' in item) return item;
      stats.records += 1;
      metrics.countRecord();
      positions.set(item.partition, item.offset + 1);
      const normalized = normalizeRecord(item, options.framedDecoder);
      tally.record(item.partition, item.offset, item.timestampMs, normalized.kind);
      return normalized;
    }),
    connect((normalized) => {
      const deadLetters$ = normalized.pipe(
        filter((r) => r.kind === 'dead_letter'),
        map((r): Output => {
          stats.deadLetters += 1;
          metrics.deadLetters.inc({ reason: reasonClass(r.deadLetter.reason) });
          deadLetterLog.record(r.deadLetter);
          return { kind: 'dead_letter', deadLetter: r.deadLetter };
        }),
      );
      const others$ = normalized.pipe(
        filter((r) => r.kind === 'other'),
        tap((r) => {
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
          metrics.countLifecycleEvent(r.event.type, r.event.shape);
          metrics.deliveryLatencyOf(r.event.agentName).observe(Math.max(0, r.event.deliveredAtMs - r.event.emittedAtMs) / 1_000);
          return r.event;
        }),
        liveHints(options.idleHeartbeatMs === undefined ? {} : { idleMs: options.idleHeartbeatMs }),
      );
      const verdicts$ = detectorInput$.pipe(
        detectVerdicts(options.detection, options.partitions, { state, probe, ...(options.activeIds === undefined ? {} : { activeIds: options.activeIds }), ...(options.storeEvents === true ? { placements: true } : {}), ...(options.earlyFiring === true ? { earlyFiring: true } : {}) }),
        options.keepVerdicts ?? identity,
        map((verdict): Output => {
          count(stats, metrics, verdict);
          if (verdict.kind === 'late_event') tally.late(verdict.source.partition, verdict.source.offset);
          return { kind: 'verdict', verdict };
        }),
      );
      // Subscribed last: a barrier leaves after every result of the records before it.
      const checkpoints$ = normalized.pipe(filter((r): r is CheckpointOutput => r.kind === 'checkpoint'));
      return merge(verdicts$, deadLetters$, others$, checkpoints$);
    }),
  );

  // Backpressure: rows handed to the sink stage and not yet acknowledged.
  let pendingRows = 0;
  let paused = false;
  /** Set by stop(): fetching stays paused whatever the sink does. */
  let stopping = false;
  const rowEntered = (): void => {
    pendingRows += 1;
    if (!paused && pendingRows >= maxPendingRows && options.source.pause !== undefined) {
      paused = true;
      metrics.sourcePaused.set(1);
      options.source.pause();
      logger.info({ pendingRows, maxPendingRows }, 'backpressure: results not yet written passed the bound; fetching paused');
    }
  };
  const rowsWritten = (rows: number): void => {
    pendingRows -= rows;
    if (paused && !stopping && pendingRows <= maxPendingRows / 2) {
      paused = false;
      metrics.sourcePaused.set(0);
      options.source.resume?.();
      logger.info({ pendingRows }, 'backpressure: the sink caught up; fetching resumed');
    }
  };

  let checkpointInFlight = false;
  /** The last checkpoint: when it was requested, when it completed (offsets committed), how long it took. */
  const lastCheckpoint = { requestedAt: 0, completedAt: 0, tookMs: 0 };
  let shutdownDone: (() => void) | undefined;
  /** Ledger rows sealed but not yet written: their checkpoint's commit has not succeeded yet. */
  let unwrittenLedgerRows: LedgerRow[] = [];
  const completeCheckpoint = async (checkpoint: Checkpoint): Promise<void> => {
    const startedAt = Date.now();
    unwrittenLedgerRows = [...unwrittenLedgerRows, ...(checkpoint.ledgerRows ?? [])];
    if (options.checkpoints !== undefined) {
      faultPoint('checkpoint-before-save');
      const store = options.checkpoints;
      const toSave: Checkpoint = options.ledger === undefined ? checkpoint : { ...checkpoint, ledgerPending: unwrittenLedgerRows };
      const saved = await retryThroughOutage(`saving checkpoint ${checkpoint.seq}`, () => store.save(toSave), { logger, metrics, ...options.outagePolicy });
      faultPoint('checkpoint-after-save');
      logger.debug({ seq: checkpoint.seq, reason: checkpoint.reason, stateBytes: checkpoint.state.length, ...saved, ms: Date.now() - startedAt }, 'checkpoint saved');
    }
    let committed = false;
    try {
      await options.source.commit(checkpoint.nextOffsets);
      committed = true;
    } catch (err) {
      // The checkpoint is saved; an offset not committed only means a restart restores an earlier
      // checkpoint (kept) and reads again from there. A rebalance or a broker outage must not stop the monitor.
      logger.warn({ err: String(err), seq: checkpoint.seq }, 'committing offsets failed; the next checkpoint commits again');
    }
    faultPoint('after-commit');
    // The ledger records committed work only: a member that lost its role cannot commit, so it
    // writes no row its successor would also write. Rows of a failed commit wait for the next one.
    const ledger = options.ledger;
    if (committed && ledger !== undefined && unwrittenLedgerRows.length > 0) {
      const rows = unwrittenLedgerRows;
      await retryThroughOutage(`writing the completeness ledger of checkpoint ${checkpoint.seq}`, () => ledger.write(rows), { logger, metrics, ...options.outagePolicy });
      unwrittenLedgerRows = [];
      faultPoint('ledger-after-write');
    }
    stats.checkpoints += 1;
    metrics.checkpoints.inc({ reason: checkpoint.reason });
    metrics.checkpointBytes.set(checkpoint.state.length);
    metrics.lastCheckpointAt.set(Date.now() / 1_000);
    metrics.checkpointCompleted(Date.now() / 1_000);
    lastCheckpoint.completedAt = Date.now();
    lastCheckpoint.tookMs = lastCheckpoint.completedAt - lastCheckpoint.requestedAt;
    checkpointInFlight = false;
    if (checkpoint.reason === 'shutdown') shutdownDone?.();
  };

  const requestCheckpoint = (reason: CheckpointReason): void => {
    checkpointInFlight = true;
    lastCheckpoint.requestedAt = Date.now();
    barriers.next({ kind: 'barrier', reason });
  };
  const interval = setInterval(() => {
    // One at a time: a slow sink must not pile up snapshots. And a minimum pause, as long as the
    // last checkpoint took (Flink's min-pause, set from measurement): a state of tens of MB under
    // load can take longer to save than the interval, and checkpoints back to back would then take
    // their CPU (serialize, gzip, insert) from the records all the time.
    const pausedLongEnough = Date.now() - lastCheckpoint.completedAt >= lastCheckpoint.tookMs;
    if (!checkpointInFlight && itemsSinceSnapshot > 0 && pausedLongEnough) requestCheckpoint('interval');
  }, checkpointIntervalMs);
  interval.unref();

  let stopRequested: (() => void) | undefined;
  const stopped$ = new Promise<void>((resolve) => (stopRequested = resolve));
  const done = new Promise<MonitorStats>((resolve, reject) => {
    const subscription = outputs$
      .pipe(
        tap((o) => {
          if (o.kind !== 'checkpoint') rowEntered();
        }),
        batchForSink(options.sinkConfig.batchRows, options.sinkConfig.flushIntervalMs, options.earlyFlushMs ?? DEFAULT_EARLY_FLUSH_MS),
        groupCommit(
          options.sinkConfig.batchRows,
          async (work) => {
            const rows = work.verdicts.length + work.deadLetters.length;
            if (rows === 0) return;
            await options.sink.write({ verdicts: work.verdicts, deadLetters: work.deadLetters, ...(work.provisional ? { provisionalOf: options.readerId ?? 'unknown' } : {}) });
            rowsWritten(rows);
            stats.batchesWritten += 1;
            options.onProgress?.({ ...stats });
          },
          completeCheckpoint,
        ),
        finalize(() => {
          clearInterval(interval);
          deadLetterLog.flush();
        }),
      )
      .subscribe({ error: reject, complete: () => resolve({ ...stats }) });
    void stopped$.then(async () => {
      // Graceful stop: no new records, one last checkpoint (results, state, offsets), then out.
      stopping = true;
      options.source.pause?.();
      const shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
      const checkpointed = new Promise<boolean>((resolveShutdown) => {
        shutdownDone = () => resolveShutdown(true);
        setTimeout(() => resolveShutdown(false), shutdownTimeoutMs).unref();
      });
      requestCheckpoint('shutdown');
      const ok = await checkpointed;
      if (ok) logger.info({ checkpoints: stats.checkpoints }, 'stopped: state and offsets saved; a restart continues from here');
      else logger.warn({ shutdownTimeoutMs }, 'stopped before the last checkpoint was saved; a restart continues from the previous one');
      subscription.unsubscribe();
      clearInterval(interval);
      resolve({ ...stats });
    });
  });
  return { done, stop: () => stopRequested?.() };
}

/**
 * Writes sink work one piece at a time, in order, as `concatMap` would, but what waits behind a
 * write in progress goes out as one write when it ends (a group commit), up to `maxRows` rows: a
 * store that slowed down drains its queue in a few inserts instead of one per small batch (early
 * firing cuts a batch 100 ms after its first provisional row). A piece with a checkpoint ends its
 * group; pieces of the end-of-input flush (provisional) are never merged with others.
 *
 * A group's checkpoint is completed (`completeCheckpoint`: state saved, offsets committed) once
 * the group's rows are written, beside the rows of the groups after it: saving tens of MB of state
 * must not stall the rows behind it (that paused the source in replays). Checkpoints still complete
 * one after another, in order, each after every row before its barrier; rows after a barrier
 * written before its checkpoint completes are written again, identically, if a restart goes back
 * to the checkpoint before it (as rows after any checkpoint are). The output completes when every
 * write and checkpoint has; the first failure of either is its error.
 */
export function groupCommit(maxRows: number, writeRows: (work: SinkWork) => Promise<void>, completeCheckpoint: (checkpoint: Checkpoint) => Promise<void>): OperatorFunction<SinkWork, never> {
  return (source) =>
    new Observable<never>((subscriber) => {
      const queue: SinkWork[] = [];
      let writing = false;
      let sourceDone = false;
      let stopped = false;
      /** Checkpoints completing, in order, beside later writes. */
      let checkpoints: Promise<void> = Promise.resolve();
      let checkpointsPending = 0;
      const rowsOf = (work: SinkWork): number => work.verdicts.length + work.deadLetters.length;
      const fail = (err: unknown): void => {
        if (stopped) return;
        stopped = true;
        subscriber.error(err);
      };
      const completeIfDone = (): void => {
        if (sourceDone && !stopped && !writing && queue.length === 0 && checkpointsPending === 0) subscriber.complete();
      };
      /** The next group: pieces from the head of the queue, merged. */
      const takeGroup = (): SinkWork => {
        const pieces = [queue.shift() as SinkWork];
        const first = pieces[0] as SinkWork;
        let rows = rowsOf(first);
        while ((pieces.at(-1) as SinkWork).checkpoint === undefined && queue.length > 0) {
          const next = queue[0] as SinkWork;
          if (next.provisional !== first.provisional || rows + rowsOf(next) > maxRows) break;
          pieces.push(queue.shift() as SinkWork);
          rows += rowsOf(next);
        }
        if (pieces.length === 1) return first;
        // One copy of the rows, not one per piece merged.
        return { verdicts: pieces.flatMap((w) => w.verdicts), deadLetters: pieces.flatMap((w) => w.deadLetters), checkpoint: (pieces.at(-1) as SinkWork).checkpoint, provisional: first.provisional };
      };
      const startCheckpoint = (checkpoint: Checkpoint): void => {
        checkpointsPending += 1;
        checkpoints = checkpoints.then(async () => {
          try {
            if (!stopped) await completeCheckpoint(checkpoint);
          } catch (err) {
            fail(err);
          } finally {
            checkpointsPending -= 1;
          }
          completeIfDone();
        });
      };
      const drain = async (): Promise<void> => {
        writing = true;
        try {
          while (queue.length > 0 && !stopped) {
            const group = takeGroup();
            await writeRows(group);
            if (group.checkpoint !== undefined && !stopped) startCheckpoint(group.checkpoint);
          }
        } catch (err) {
          fail(err);
          return;
        } finally {
          writing = false;
        }
        completeIfDone();
      };
      const subscription = source.subscribe({
        next: (work) => {
          queue.push(work);
          if (!writing) void drain();
        },
        error: fail,
        complete: () => {
          sourceDone = true;
          completeIfDone();
        },
      });
      return () => {
        stopped = true;
        subscription.unsubscribe();
      };
    });
}

/**
 * Collects results into sink work: a batch is cut at `maxRows`, `flushMs` after its first row
 * (`earlyFlushMs` after its first provisional verdict: early firing is about being queryable soon), at
 * each checkpoint (which rides with the rows before it) and at the end of input. The end-of-input
 * checkpoint waits for the rows the operators flush at completion: its offsets are committed only
 * once they are written. Those rows (judged with what the input had) are provisional.
 */
function batchForSink(maxRows: number, flushMs: number, earlyFlushMs: number): OperatorFunction<Output | CheckpointOutput, SinkWork> {
  return (source) =>
    new Observable<SinkWork>((subscriber) => {
      let verdicts: Verdict[] = [];
      let deadLetters: DeadLetter[] = [];
      let timer: NodeJS.Timeout | undefined;
      /** The current timer is the short one: a provisional verdict waits in the batch. */
      let timerIsEarly = false;
      /** Set at the end-of-input barrier: what follows is the operators' flush. */
      let endOfInput: Checkpoint | undefined;
      const cut = (checkpoint?: Checkpoint): void => {
        clearTimeout(timer);
        timer = undefined;
        timerIsEarly = false;
        if (verdicts.length + deadLetters.length === 0 && checkpoint === undefined) return;
        subscriber.next({ verdicts, deadLetters, checkpoint, provisional: endOfInput !== undefined });
        verdicts = [];
        deadLetters = [];
      };
      const subscription = source.subscribe({
        next: (o) => {
          if (o.kind === 'checkpoint') {
            if (o.checkpoint.reason !== 'end_of_input') return cut(o.checkpoint);
            cut(); // the rows before the barrier are final
            endOfInput = o.checkpoint;
            return;
          }
          if (o.kind === 'verdict') verdicts.push(o.verdict);
          else deadLetters.push(o.deadLetter);
          if (verdicts.length + deadLetters.length >= maxRows) cut();
          else if (o.kind === 'verdict' && o.verdict.kind === 'violation' && o.verdict.violation.status === 'provisional' && !timerIsEarly) {
            clearTimeout(timer);
            timer = setTimeout(() => cut(), earlyFlushMs);
            timerIsEarly = true;
          } else timer ??= setTimeout(() => cut(), flushMs);
        },
        error: (err: unknown) => {
          clearTimeout(timer);
          subscriber.error(err);
        },
        complete: () => {
          cut(endOfInput);
          subscriber.complete();
        },
      });
      return () => {
        clearTimeout(timer);
        subscription.unsubscribe();
      };
    });
}

function count(stats: MonitorStats, metrics: Metrics, verdict: Verdict): void {
  if (verdict.kind === 'violation' && verdict.violation.status !== undefined) {
    metrics.earlyVerdicts.inc({ rule: verdict.violation.rule, status: verdict.violation.status });
  } else if (verdict.kind === 'violation') {
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
  } else if (verdict.kind === 'user_grade') {
    stats.userGrades += 1;
  }
}

/** Low-cardinality label for a dead-letter reason ("invalid JSON: Unexpected token…" → "invalid JSON"). */
/** The metric label of a reason: its words before the first colon, numbers (ids) masked to keep the label set small. */
function reasonClass(reason: string): string {
  return reason.split(':')[0]?.replace(/\d+/g, 'N').slice(0, 40) ?? 'unknown';
}

/**
 * Dead letters in the log without drowning it: the first few each get a warning with where they
 * came from; after that, one line at most every 10 s (and at the end) with counts by reason and
 * the latest example. Every one is still a `dead_letters` row and counted in the metric.
 */
class DeadLetterLog {
  private logged = 0;
  private pending = new Map<string, number>();
  private example: DeadLetter | undefined;
  private lastSummaryAt = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly logger: Logger) {}

  record(d: DeadLetter): void {
    if (this.logged < DEAD_LETTERS_LOGGED_IN_FULL) {
      this.logged += 1;
      this.logger.warn({ reason: d.reason, topic: d.source.topic, partition: d.source.partition, offset: d.source.offset }, this.logged === DEAD_LETTERS_LOGGED_IN_FULL ? 'dead letter (further ones are summarized)' : 'dead letter');
      return;
    }
    const reason = reasonClass(d.reason);
    this.pending.set(reason, (this.pending.get(reason) ?? 0) + 1);
    this.example = d;
    if (Date.now() - this.lastSummaryAt >= 10_000) this.flush();
    // A burst followed by quiet is still summarized within 10 s.
    else this.timer ??= setTimeout(() => this.flush(), 10_000).unref();
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.lastSummaryAt = Date.now();
    if (this.pending.size === 0 || this.example === undefined) return;
    const byReason = Object.fromEntries(this.pending);
    const { source, reason } = this.example;
    this.logger.warn({ byReason, example: { reason, topic: source.topic, partition: source.partition, offset: source.offset } }, 'dead letters since the last summary');
    this.pending = new Map();
    this.example = undefined;
  }
}

const DEAD_LETTERS_LOGGED_IN_FULL = 5;
