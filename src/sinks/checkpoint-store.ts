import type { ClickHouseClient } from '@clickhouse/client';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import { ledgerRowSchema, type LedgerHead, type LedgerRow } from './completeness-ledger.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Base64 characters per row: large states are split so no single JSON value gets huge. */
const CHUNK_CHARS = 8 * 1024 * 1024;
/** Checkpoints kept per group and topic: the newest may be ahead of the committed offsets (crash before the commit). */
const KEEP = 3;

export type CheckpointReason = 'interval' | 'shutdown' | 'end_of_input' | 'assignment';

/** The chain's state after exactly the records before `nextOffsets` (per partition, Kafka's next-to-read convention). */
export interface Checkpoint {
  readonly seq: number;
  readonly nextOffsets: ReadonlyMap<number, number>;
  readonly state: Buffer;
  readonly reason: CheckpointReason;
  /** The completeness ledger's head once this checkpoint's rows are in (undefined: no ledger, or a checkpoint from before it). */
  readonly ledgerHead?: LedgerHead;
  /** The ledger rows sealed with this checkpoint's snapshot. */
  readonly ledgerRows?: readonly LedgerRow[];
  /**
   * Saved with the checkpoint: the ledger rows not yet written (this checkpoint's, and those of
   * earlier ones whose commit failed). They are written once its offsets are committed, or when it
   * is restored (a crash came in between).
   */
  readonly ledgerPending?: readonly LedgerRow[];
}

export interface CheckpointStoreOptions {
  readonly database: string;
  readonly groupId: string;
  readonly topic: string;
  readonly logger: Logger;
}

const headerSchema = z.object({
  checkpoint_seq: z.coerce.number().int().nonnegative(),
  partitions: z.array(z.coerce.number().int().nonnegative()),
  next_offsets: z.array(z.coerce.number().int().nonnegative()),
  chunk_count: z.coerce.number().int().positive(),
  chunks: z.coerce.number().int().nonnegative(),
  ledger_version: z.coerce.number().int().nonnegative(),
  ledger_seq: z.coerce.number().int().nonnegative(),
  ledger_hash: z.string(),
  ledger_pending: z.string(),
});
const chunkSchema = z.object({ chunk_no: z.coerce.number().int().nonnegative(), chunk: z.string() });

/**
 * Checkpoints in ClickHouse, next to the results they are aligned with (reasons in
 * docs/architecture.md): the store that must already be durable for results, one insert per
 * checkpoint, shared by every instance that talks to the same server.
 */
export class CheckpointStore {
  private nextSeq: number | undefined;
  private saves = 0;

  constructor(
    private readonly client: ClickHouseClient,
    private readonly options: CheckpointStoreOptions,
  ) {}

  private get table(): string {
    return `${this.options.database}.checkpoints`;
  }

  /**
   * The newest complete checkpoint whose offsets equal the group's committed offsets (the last
   * checkpoint whose commit went through), or undefined: no checkpoint (a first start), or none
   * that matches (offsets reset by hand: the state would not fit them, so it starts empty).
   */
  async loadMatching(committed: ReadonlyMap<number, number>): Promise<Checkpoint | undefined> {
    const { groupId, topic, logger } = this.options;
    const result = await this.client.query({
      query: `SELECT checkpoint_seq, partitions, next_offsets, any(chunk_count) AS chunk_count, count() AS chunks,
                     any(ledger_version) AS ledger_version, any(ledger_seq) AS ledger_seq, any(ledger_hash) AS ledger_hash, anyIf(ledger_pending, chunk_no = 0) AS ledger_pending
              FROM ${this.table} WHERE group_id = {groupId:String} AND topic = {topic:String}
              GROUP BY checkpoint_seq, partitions, next_offsets ORDER BY checkpoint_seq DESC LIMIT 20`,
      query_params: { groupId, topic },
      format: 'JSONEachRow',
    });
    const headers = z.array(headerSchema).parse(await result.json());
    this.nextSeq = (headers[0]?.checkpoint_seq ?? 0) + 1;
    if (headers.length === 0) return undefined;
    const committedText = describe(committed);
    for (const header of headers) {
      if (header.chunks !== header.chunk_count) continue;
      const offsets = new Map(header.partitions.map((p, i) => [p, header.next_offsets[i] as number]));
      if (!sameOffsets(offsets, committed)) continue;
      const rows = await this.client.query({
        // Seq and offsets: a member that lost its role may have written the same seq at other offsets.
        query: `SELECT chunk_no, chunk FROM ${this.table} WHERE group_id = {groupId:String} AND topic = {topic:String} AND checkpoint_seq = {seq:UInt64} AND partitions = {partitions:Array(UInt32)} AND next_offsets = {nextOffsets:Array(UInt64)} ORDER BY chunk_no`,
        query_params: { groupId, topic, seq: header.checkpoint_seq, partitions: header.partitions, nextOffsets: header.next_offsets },
        format: 'JSONEachRow',
      });
      const chunks = z.array(chunkSchema).parse(await rows.json());
      const state = await gunzipAsync(Buffer.from(chunks.map((c) => c.chunk).join(''), 'base64'));
      logger.info({ groupId, topic, seq: header.checkpoint_seq, nextOffsets: describe(offsets), stateBytes: state.length }, 'restoring the checkpoint that matches the committed offsets');
      const ledger = header.ledger_version === 0 ? {} : { ledgerHead: { seq: header.ledger_seq, hash: header.ledger_hash }, ledgerPending: pendingRows(header.ledger_pending) };
      return { seq: header.checkpoint_seq, nextOffsets: offsets, state, reason: 'interval', ...ledger };
    }
    logger.warn(
      { groupId, topic, committed: committedText, newest: headers.slice(0, KEEP).map((h) => ({ seq: h.checkpoint_seq, complete: h.chunks === h.chunk_count, nextOffsets: describe(new Map(h.partitions.map((p, i) => [p, h.next_offsets[i] as number]))) })) },
      'no checkpoint matches the committed offsets (reset by hand?): starting with empty state at the committed offsets',
    );
    return undefined;
  }

  /** The sequence number for the next checkpoint (call loadMatching first). */
  takeSeq(): number {
    const seq = this.nextSeq ?? 1;
    this.nextSeq = seq + 1;
    return seq;
  }

  /** Writes a checkpoint (one insert: all chunks or, after a crash, an incomplete one that is never restored). */
  async save(checkpoint: Checkpoint): Promise<{ readonly compressedBytes: number }> {
    const { groupId, topic } = this.options;
    const compressed = (await gzipAsync(checkpoint.state, { level: 1 })).toString('base64');
    const chunkCount = Math.max(1, Math.ceil(compressed.length / CHUNK_CHARS));
    const partitions = [...checkpoint.nextOffsets.keys()].sort((a, b) => a - b);
    const nextOffsets = partitions.map((p) => checkpoint.nextOffsets.get(p) as number);
    const createdAt = Date.now();
    const values = Array.from({ length: chunkCount }, (_, i) => ({
      group_id: groupId,
      topic,
      checkpoint_seq: checkpoint.seq,
      partitions,
      next_offsets: nextOffsets,
      reason: checkpoint.reason,
      state_bytes: checkpoint.state.length,
      chunk_count: chunkCount,
      chunk_no: i,
      chunk: compressed.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS),
      created_at: createdAt,
      ledger_version: checkpoint.ledgerHead === undefined ? 0 : LEDGER_VERSION,
      ledger_seq: checkpoint.ledgerHead?.seq ?? 0,
      ledger_hash: checkpoint.ledgerHead?.hash ?? '',
      ledger_pending: i === 0 && checkpoint.ledgerPending !== undefined ? JSON.stringify(checkpoint.ledgerPending) : '',
    }));
    await this.client.insert({ table: this.table, values, format: 'JSONEachRow' });
    this.saves += 1;
    if (this.saves % 10 === 0) await this.prune(checkpoint.seq);
    return { compressedBytes: compressed.length };
  }

  /** Deletes all but the newest KEEP checkpoints of this group and topic. */
  private async prune(newestSeq: number): Promise<void> {
    const { groupId, topic, logger } = this.options;
    try {
      await this.client.command({
        query: `ALTER TABLE ${this.table} DELETE WHERE group_id = {groupId:String} AND topic = {topic:String} AND checkpoint_seq <= {upTo:UInt64}`,
        query_params: { groupId, topic, upTo: Math.max(0, newestSeq - KEEP) },
      });
    } catch (err) {
      // Old checkpoints only cost space; the next prune tries again.
      logger.warn({ err: String(err) }, 'deleting old checkpoints failed');
    }
  }
}

/** Checkpoints written by a build with the completeness ledger. */
const LEDGER_VERSION = 1;

function pendingRows(text: string): LedgerRow[] {
  if (text === '') return [];
  return z.array(ledgerRowSchema).parse(JSON.parse(text));
}

function sameOffsets(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [partition, offset] of a) if (b.get(partition) !== offset) return false;
  return true;
}

export function describe(offsets: ReadonlyMap<number, number>): Record<string, number> {
  return Object.fromEntries([...offsets].sort(([a], [b]) => a - b).map(([p, o]) => [String(p), o]));
}
