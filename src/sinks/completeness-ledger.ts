/**
 * The completeness ledger (schemas/clickhouse/006_completeness_ledger.sql, docs/audit.md): what
 * each checkpoint processed, per partition, as a hash chain. Rows are sealed (numbered and hashed)
 * when the checkpoint's snapshot is taken, saved inside the checkpoint, and written only once its
 * offsets are committed (as a two-phase-commit sink pre-commits in the checkpoint and commits when
 * it completes): the ledger holds only committed work. Restoring a checkpoint writes what it still
 * had pending (a crash between the commit and the write).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import type { CheckpointReason } from './checkpoint-store.js';
import type { Provenance } from './clickhouse-sink.js';

/** The chain's last row: its sequence number and hash (seq 0, hash '': the chain is empty). */
export interface LedgerHead {
  readonly seq: number;
  readonly hash: string;
}

export const GENESIS: LedgerHead = { seq: 0, hash: '' };

/** What one partition went through between two checkpoints. */
export interface PartitionTally {
  /** First offset of the range (the previous checkpoint's next offset, or where reading started). */
  firstOffset: number;
  /** Kafka's next-to-read offset at the checkpoint. */
  nextOffset: number;
  records: number;
  lifecycleEvents: number;
  otherEvents: number;
  deadLetters: number;
  lateEvents: number;
  /** Kafka record timestamps, ms (0 when no record). */
  minRecordTimeMs: number;
  maxRecordTimeMs: number;
}

const count = z.number().int().nonnegative();
/** A ledger row (times in ms since the epoch), as sealed and as saved in a checkpoint's pending rows. */
export const ledgerRowSchema = z.object({
  group_id: z.string(),
  topic: z.string(),
  replay_id: z.string(),
  ledger_seq: count,
  checkpoint_seq: count,
  checkpoint_reason: z.string(),
  partition: count,
  first_offset: count,
  next_offset: count,
  records: count,
  lifecycle_events: count,
  other_events: count,
  dead_letters: count,
  late_events: count,
  min_record_time: count,
  max_record_time: count,
  watermark: count,
  contract_hash: z.string(),
  config_hash: z.string(),
  build: z.string(),
  committed_at: count,
  prev_hash: z.string(),
  row_hash: z.string(),
});
export type LedgerRow = Readonly<z.infer<typeof ledgerRowSchema>>;

/** The last ms DateTime64(3) holds (2299-12-31T23:59:59.999Z): record times beyond it are stored as it. */
const MAX_STORABLE_MS = Date.UTC(2299, 11, 31, 23, 59, 59, 999);

/** A time as the ledger stores and hashes it: whole ms within DateTime64's range (0 when unknown). */
export function storableMs(ms: number): number {
  return Number.isFinite(ms) ? Math.min(MAX_STORABLE_MS, Math.max(0, Math.floor(ms))) : 0;
}

const CANONICAL_VERSION = 'runwatch-ledger-v1';

/**
 * The text a row's hash covers. Strings are length-prefixed (bytes) so no separator inside one can
 * shift the fields; numbers are decimal, times ms. schemas/audit/ledger_verify.sql builds the same
 * text in SQL: change both together (and the version).
 */
export function canonicalLedgerText(row: Omit<LedgerRow, 'row_hash'>): string {
  const text = (s: string): string => `${Buffer.byteLength(s, 'utf8')}:${s}`;
  return [
    CANONICAL_VERSION,
    text(row.group_id),
    text(row.topic),
    text(row.replay_id),
    row.ledger_seq,
    row.checkpoint_seq,
    text(row.checkpoint_reason),
    row.partition,
    row.first_offset,
    row.next_offset,
    row.records,
    row.lifecycle_events,
    row.other_events,
    row.dead_letters,
    row.late_events,
    row.min_record_time,
    row.max_record_time,
    row.watermark,
    text(row.contract_hash),
    text(row.config_hash),
    text(row.build),
    row.committed_at,
    text(row.prev_hash),
  ].join('|');
}

export function ledgerRowHash(row: Omit<LedgerRow, 'row_hash'>): string {
  return createHash('sha256').update(canonicalLedgerText(row), 'utf8').digest('hex');
}

export interface CompletenessLedgerOptions {
  readonly database: string;
  readonly groupId: string;
  readonly topic: string;
  readonly replayId: string;
  readonly provenance: Provenance;
  readonly logger: Logger;
  /** Wall clock for committed_at only. */
  readonly now?: () => number;
}

export interface SealInput {
  readonly checkpointSeq: number;
  readonly reason: CheckpointReason;
  readonly partitions: ReadonlyMap<number, PartitionTally>;
  /** The engine's watermark at the checkpoint (ms; not finite before the first event). */
  readonly watermarkMs: number;
}

const headRow = z.object({ ledger_seq: z.coerce.number().int().nonnegative(), row_hash: z.string() });

export class CompletenessLedger {
  private head: LedgerHead = GENESIS;

  constructor(
    private readonly client: ClickHouseClient,
    private readonly options: CompletenessLedgerOptions,
  ) {}

  private get table(): string {
    return `${this.options.database}.completeness_ledger`;
  }

  /**
   * Where the chain goes on from: its last row, once the restored checkpoint's pending rows (those
   * it had sealed but not yet written when the process ended) are in. The ledger holds committed
   * work only, so nothing is ever deleted; offsets read from here on that leave a gap or overlap
   * the chain's ranges (offsets reset by hand) are what the completeness report must show.
   * Returns how many pending rows were written.
   */
  async restore(pending: readonly LedgerRow[] = []): Promise<number> {
    const { groupId, topic, logger } = this.options;
    const last = await this.lastRow();
    const missing = pending.filter((row) => row.ledger_seq > (last?.seq ?? 0)).sort((a, b) => a.ledger_seq - b.ledger_seq);
    if (missing.length > 0) {
      const first = missing[0] as LedgerRow;
      if (first.prev_hash !== (last?.hash ?? '')) logger.warn({ groupId, topic, ledgerSeq: first.ledger_seq }, 'completeness ledger: the pending rows do not follow the chain\'s last row (changed meanwhile?); written as they are, `runwatch audit verify` will name the break');
      await this.write(missing);
      logger.info({ groupId, topic, rows: missing.length, upToLedgerSeq: (missing.at(-1) as LedgerRow).ledger_seq }, 'completeness ledger: rows of the restored checkpoint, committed but not yet written, written now');
    }
    this.head = (await this.lastRow()) ?? GENESIS;
    return missing.length;
  }

  private async lastRow(): Promise<LedgerHead | undefined> {
    const { groupId, topic } = this.options;
    const last = await this.client.query({
      query: `SELECT ledger_seq, row_hash FROM ${this.table} WHERE group_id = {groupId:String} AND topic = {topic:String} ORDER BY ledger_seq DESC, row_hash LIMIT 1`,
      query_params: { groupId, topic },
      format: 'JSONEachRow',
    });
    const row = z.array(headRow).parse(await last.json())[0];
    return row === undefined ? undefined : { seq: row.ledger_seq, hash: row.row_hash };
  }

  /** The chain's head after the rows sealed so far (saved with the checkpoint being taken). */
  get current(): LedgerHead {
    return this.head;
  }

  /**
   * Numbers and hashes the rows of one checkpoint (one per partition it advanced or read from)
   * and moves the head past them. Synchronous: called while the checkpoint's snapshot is taken.
   */
  seal(input: SealInput): LedgerRow[] {
    const { groupId, topic, replayId, provenance } = this.options;
    const committedAt = storableMs((this.options.now ?? Date.now)());
    const watermark = storableMs(input.watermarkMs);
    const rows: LedgerRow[] = [];
    for (const partition of [...input.partitions.keys()].sort((a, b) => a - b)) {
      const tally = input.partitions.get(partition) as PartitionTally;
      // A partition with nothing read but late events judged meanwhile still gets its row (an empty range).
      if (tally.records === 0 && tally.lateEvents === 0 && tally.nextOffset <= tally.firstOffset) continue;
      const content = {
        group_id: groupId,
        topic,
        replay_id: replayId,
        ledger_seq: this.head.seq + 1,
        checkpoint_seq: input.checkpointSeq,
        checkpoint_reason: input.reason,
        partition,
        first_offset: tally.firstOffset,
        next_offset: tally.nextOffset,
        records: tally.records,
        lifecycle_events: tally.lifecycleEvents,
        other_events: tally.otherEvents,
        dead_letters: tally.deadLetters,
        late_events: tally.lateEvents,
        min_record_time: tally.minRecordTimeMs,
        max_record_time: tally.maxRecordTimeMs,
        watermark,
        contract_hash: provenance.contractHash,
        config_hash: provenance.configHash,
        build: provenance.build,
        committed_at: committedAt,
        prev_hash: this.head.hash,
      };
      const row = { ...content, row_hash: ledgerRowHash(content) };
      rows.push(row);
      this.head = { seq: row.ledger_seq, hash: row.row_hash };
    }
    return rows;
  }

  /** Writes sealed rows (one insert; a retry of the same rows is deduplicated by the server). */
  async write(rows: readonly LedgerRow[]): Promise<void> {
    if (rows.length === 0) return;
    const first = rows[0] as LedgerRow;
    const last = rows.at(-1) as LedgerRow;
    await this.client.insert({
      table: this.table,
      values: rows.map(toStored),
      format: 'JSONEachRow',
      clickhouse_settings: { insert_deduplication_token: `${first.group_id}\u0000${first.topic}\u0000${first.ledger_seq}-${last.ledger_seq}\u0000${last.row_hash}` },
    });
  }
}

/** The row as inserted: DateTime64(3) takes the epoch ms (sealed within its range: storableMs). */
function toStored(row: LedgerRow): Record<string, string | number> {
  return { ...row };
}

/** Per partition, what came through since the last checkpoint (the pipeline's side of the ledger). */
export class LedgerTally {
  private readonly partitions = new Map<number, PartitionTally>();
  /** Where each partition's next range starts: the last checkpoint's next offsets. */
  private readonly rangeStart = new Map<number, number>();

  /** @param startOffsets where reading starts (the committed offsets), per partition. */
  constructor(startOffsets: ReadonlyMap<number, number> = new Map()) {
    for (const [partition, offset] of startOffsets) this.rangeStart.set(partition, offset);
  }

  private of(partition: number, offset: number): PartitionTally {
    let tally = this.partitions.get(partition);
    if (tally === undefined) {
      const firstOffset = this.rangeStart.get(partition) ?? offset;
      tally = { firstOffset, nextOffset: firstOffset, records: 0, lifecycleEvents: 0, otherEvents: 0, deadLetters: 0, lateEvents: 0, minRecordTimeMs: 0, maxRecordTimeMs: 0 };
      this.partitions.set(partition, tally);
    }
    return tally;
  }

  record(partition: number, offset: number, timestampMs: number, kind: 'lifecycle' | 'other' | 'dead_letter'): void {
    const tally = this.of(partition, offset);
    tally.records += 1;
    tally.nextOffset = Math.max(tally.nextOffset, offset + 1);
    if (kind === 'lifecycle') tally.lifecycleEvents += 1;
    else if (kind === 'other') tally.otherEvents += 1;
    else tally.deadLetters += 1;
    const time = storableMs(timestampMs);
    tally.minRecordTimeMs = tally.records === 1 ? time : Math.min(tally.minRecordTimeMs, time);
    tally.maxRecordTimeMs = Math.max(tally.maxRecordTimeMs, time);
  }

  late(partition: number, offset: number): void {
    this.of(partition, offset).lateEvents += 1;
  }

  /** The tallies since the last checkpoint; the next ranges start where these end. */
  drain(): Map<number, PartitionTally> {
    const drained = new Map(this.partitions);
    for (const [partition, tally] of drained) this.rangeStart.set(partition, tally.nextOffset);
    this.partitions.clear();
    return drained;
  }
}
