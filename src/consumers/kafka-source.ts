import { Kafka, logLevel, type Consumer, type KafkaMessage } from 'kafkajs';
import { Observable } from 'rxjs';
import type { KafkaConfig } from '../config/config.js';
import type { SourceRecord } from '../contract/event.js';
import { RunwatchError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { OffsetContinuity, type SkippedOffsets } from './offset-continuity.js';

/** Optional publisher-provided delivery timestamp, in epoch ms or ISO-8601 (header name). */
export const DELIVERED_AT_HEADER = 'delivered_at';

export interface KafkaSourceOptions {
  readonly kafka: KafkaConfig;
  readonly logger: Logger;
  /**
   * bounded: read up to the end offsets seen at start, then complete (replay, demo, tests).
   * live: read until unsubscribed.
   */
  readonly mode: 'bounded' | 'live';
  /** Awaited after each fetched batch: lets a slow sink hold the consumer back. */
  readonly afterBatch?: () => Promise<void>;
  /** Counts offsets the read jumped over (runwatch_source_offsets_skipped_total). */
  readonly metrics?: Metrics;
}

/**
 * The only file that knows KafkaJS: Kafka records as an Observable<SourceRecord>.
 * Offsets are not auto-committed: the pipeline commits through `commit()` what its offset ledger
 * says is durable (see src/pipeline/offset-ledger.ts).
 */
export class KafkaSource {
  private readonly kafka: Kafka;
  private consumer: Consumer | undefined;
  private rangesAtStart: Map<number, PartitionRange> | undefined;

  constructor(private readonly options: KafkaSourceOptions) {
    this.kafka = new Kafka({
      clientId: options.kafka.clientId,
      brokers: options.kafka.brokers,
      logLevel: process.env['RUNWATCH_KAFKAJS_DEBUG'] === '1' ? logLevel.DEBUG : logLevel.WARN,
      // KafkaJS errors and warnings show at warn: it retries most of them itself (coordinator
      // moves, leader changes). What it gives up on reaches us as a crash or a failed call, and
      // that fails the source. RUNWATCH_KAFKAJS_DEBUG=1 adds its debug log (very verbose).
      logCreator: () => (entry) => {
        const fields = { kafkajs: entry.log, namespace: entry.namespace };
        if (entry.level === logLevel.ERROR || entry.level === logLevel.WARN) options.logger.warn(fields, entry.log.message);
        else options.logger.debug(fields, entry.log.message);
      },
      retry: { retries: 8 },
    });
  }

  records$(): Observable<SourceRecord> {
    const { kafka: config, logger, mode } = this.options;
    return new Observable<SourceRecord>((subscriber) => {
      // A short fetch wait: an idle fetch otherwise delays disconnect (end of a replay) by up to 5 s.
      const consumer = this.kafka.consumer({ groupId: config.groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 500 });
      this.consumer = consumer;
      let closing = false;
      /** Bounded mode: partitions not yet read to their end offset (set once the offsets are known). */
      let remaining: Map<number, bigint> | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      const progress = new ReadProgress();
      const continuity = new OffsetContinuity();
      const fail = (cause: unknown): void => {
        if (closing) return;
        closing = true;
        clearInterval(watchdog);
        subscriber.error(cause instanceof RunwatchError ? cause : new RunwatchError('SOURCE_FAILED', `Kafka source failed: ${String(cause)}`, { cause, retriable: true }));
      };
      // A partition is read to its end when a fetched batch reaches the end offset. KafkaJS
      // reports batches that hold only transaction markers or aborted records (the tail of a
      // transactional topic) through END_BATCH_PROCESS alone: eachBatch never sees them.
      const reached = (partition: number, lastOffset: bigint): void => {
        if (remaining === undefined || closing) return;
        const end = remaining.get(partition);
        if (end === undefined || lastOffset < end - 1n) return;
        remaining.delete(partition);
        logger.info({ topic: config.topic, partition, endOffset: String(end), partitionsLeft: remaining.size }, 'bounded read: partition read to its end offset');
        if (remaining.size > 0) return;
        closing = true;
        clearInterval(watchdog);
        logger.info({ topic: config.topic }, 'reached the end offsets seen at start');
        subscriber.complete();
      };
      /** Idempotent per batch: eachBatch checks before emitting; END_BATCH_PROCESS covers batches eachBatch never sees. */
      const checkContinuity = (partition: number, firstOffset: string | null, last: bigint): void => {
        const skipped = continuity.batch(partition, firstOffset === null ? null : BigInt(firstOffset), last);
        if (skipped !== undefined) this.reportSkipped(skipped);
      };
      // Listeners first: an unsubscribe during start-up must find everything it has to remove.
      const teardown = [
        this.logGroupEvents(consumer, progress, fail),
        consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
          const last = BigInt(payload.lastOffset);
          checkContinuity(payload.partition, payload.firstOffset, last);
          progress.read(payload.partition, last);
          reached(payload.partition, last);
        }),
      ];
      const start = async (): Promise<void> => {
        await consumer.connect();
        if (mode === 'bounded') {
          const ranges = await this.rangesOnce();
          remaining = new Map([...ranges].map(([partition, range]) => [partition, range.end]));
          for (const [partition, range] of ranges) continuity.startsAt(partition, range.start);
          if (closing) return;
          if (remaining.size === 0) return subscriber.complete();
          watchdog = this.watchBoundedRead(remaining, progress, fail);
        }
        if (closing) return;
        await consumer.subscribe({ topic: config.topic, fromBeginning: config.fromBeginning });
        if (closing) return;
        await consumer.run({
          autoCommit: false,
          eachBatch: async ({ batch, heartbeat }) => {
            checkContinuity(batch.partition, batch.firstOffset(), BigInt(batch.lastOffset()));
            for (const message of batch.messages) {
              subscriber.next(toSourceRecord(batch.topic, batch.partition, message));
            }
            await heartbeat();
            if (this.options.afterBatch) await this.options.afterBatch();
            reached(batch.partition, BigInt(batch.lastOffset()));
          },
        });
      };
      start().catch(fail);
      return () => {
        closing = true;
        clearInterval(watchdog);
        teardown.forEach((remove) => remove());
      };
    });
  }

  /**
   * Bounded mode: a read that stops making progress short of its end offsets is reported (what
   * is left, where each partition stands), and after `stallTimeoutMs` fails instead of hanging.
   */
  private watchBoundedRead(remaining: ReadonlyMap<number, bigint>, progress: ReadProgress, fail: (cause: unknown) => void): NodeJS.Timeout {
    const { kafka: config, logger } = this.options;
    const checkEveryMs = Math.min(5_000, config.stallTimeoutMs);
    const timer = setInterval(() => {
      const idleMs = Date.now() - progress.lastProgressAt;
      if (idleMs < checkEveryMs || remaining.size === 0) return;
      const left = [...remaining].map(([partition, end]) => ({ partition, endOffset: String(end), readUpTo: String(progress.readUpTo.get(partition) ?? -1n) }));
      const state = { topic: config.topic, groupId: config.groupId, idleMs, assigned: progress.assigned, left };
      if (idleMs < config.stallTimeoutMs) return logger.warn(state, 'bounded read: no new records for a while');
      clearInterval(timer);
      logger.error(state, 'bounded read: stalled, giving up');
      fail(new RunwatchError('SOURCE_FAILED', `bounded read of ${config.topic} stalled: no record for ${idleMs} ms with ${left.length} partition(s) short of their end offsets (${JSON.stringify(left)}); a sink that stopped accepting, or records deleted by retention under the read, stop a read like this`, { retriable: true }));
    }, checkEveryMs);
    timer.unref();
    return timer;
  }

  /** Group membership changes and consumer crashes, logged: they are what a stuck read is made of. */
  private logGroupEvents(consumer: Consumer, progress: ReadProgress, onFatal: (cause: unknown) => void): () => void {
    const { logger } = this.options;
    const removers = [
      consumer.on(consumer.events.GROUP_JOIN, (event) => {
        progress.joined(event.payload.memberAssignment);
        logger.info({ groupId: event.payload.groupId, assignment: event.payload.memberAssignment, durationMs: event.payload.duration }, 'Kafka consumer joined its group');
      }),
      consumer.on(consumer.events.REBALANCING, (event) => logger.info({ groupId: event.payload.groupId, memberId: event.payload.memberId }, 'Kafka consumer group rebalancing')),
      consumer.on(consumer.events.CRASH, (event) => {
        const { groupId, error, restart } = event.payload;
        logger.warn({ groupId, error: String(error), restart }, restart ? 'Kafka consumer crashed, restarting' : 'Kafka consumer crashed and gave up');
        // KafkaJS restarts itself after retriable errors; otherwise nothing would ever arrive again.
        if (!restart) onFatal(error);
      }),
    ];
    return () => removers.forEach((remove) => remove());
  }

  /**
   * Bounded mode: the partitions that hold records to read (fixed at the first call). The
   * watermark waits for each of them, since KafkaJS may deliver one partition well ahead of another.
   */
  async boundedPartitions(): Promise<number[]> {
    return [...(await this.rangesOnce()).keys()].sort((a, b) => a - b);
  }

  private async rangesOnce(): Promise<Map<number, PartitionRange>> {
    this.rangesAtStart ??= await this.rangesToRead(this.options.kafka.topic);
    return this.rangesAtStart;
  }

  private reportSkipped(skipped: SkippedOffsets): void {
    const count = skipped.to - skipped.from + 1n;
    this.options.metrics?.skippedOffsets.inc({ partition: String(skipped.partition) }, Number(count));
    this.options.logger.warn(
      { topic: this.options.kafka.topic, partition: skipped.partition, from: String(skipped.from), to: String(skipped.to), count: String(count) },
      'Kafka source skipped offsets: records deleted by retention under the read, or compacted away; they were not judged',
    );
  }

  /** Commits, per partition, the next offset to read (call only with offsets whose results are durable). */
  async commit(nextOffsets: ReadonlyMap<number, number>): Promise<void> {
    if (this.consumer === undefined || nextOffsets.size === 0) return;
    const offsets = [...nextOffsets].map(([partition, offset]) => ({ topic: this.options.kafka.topic, partition, offset: String(offset) }));
    await this.consumer.commitOffsets(offsets);
  }

  async close(): Promise<void> {
    await this.consumer?.disconnect();
  }

  /**
   * Partitions that still have records for this group: where this group's read starts (its
   * committed offset, else the earliest or the latest offset) and the end offset now. A partition
   * whose committed offset already reached the end has nothing to wait for.
   *
   * The broker's answer is checked before it is trusted: a bounded read that believed "no
   * partitions" or a negative offset would end at once having read nothing, so such an answer is
   * asked again, and after a few tries the read fails loudly.
   */
  private async rangesToRead(topic: string): Promise<Map<number, PartitionRange>> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      for (let attempt = 1; ; attempt += 1) {
        const requests = [
          admin.fetchTopicOffsets(topic),
          admin.fetchOffsets({ groupId: this.options.kafka.groupId, topics: [topic] }),
          admin.fetchTopicMetadata({ topics: [topic] }),
        ] as const;
        // Let every request finish before a failure disconnects the admin client under the others.
        await Promise.allSettled(requests);
        const [offsets, committedAnswer, metadata] = await Promise.all(requests);
        const partitionCount = metadata.topics[0]?.partitions.length ?? 0;
        const committedOf = new Map((committedAnswer[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
        const answer = offsets.map((p) => ({ partition: p.partition, low: BigInt(p.low), high: BigInt(p.high), committed: committedOf.get(p.partition) ?? -1n }));
        const consistent = partitionCount > 0 && answer.length === partitionCount && answer.every((p) => p.low >= 0n && p.high >= p.low);
        this.options.logger.info(
          { topic, groupId: this.options.kafka.groupId, attempt, partitionCount, partitions: answer.map((p) => ({ partition: p.partition, low: String(p.low), high: String(p.high), committed: String(p.committed) })) },
          consistent ? 'bounded read: end offsets at start' : 'bounded read: inconsistent end offsets, asking again',
        );
        if (consistent) {
          const fromBeginning = this.options.kafka.fromBeginning;
          const ranges = answer.map((p) => ({ partition: p.partition, start: p.committed >= 0n ? p.committed : fromBeginning ? p.low : p.high, end: p.high }));
          return new Map(ranges.filter((r) => r.end > r.start).map((r) => [r.partition, { start: r.start, end: r.end }]));
        }
        if (attempt >= END_OFFSET_ATTEMPTS) {
          throw new RunwatchError('SOURCE_FAILED', `Kafka gave no consistent end offsets for topic ${topic} after ${attempt} tries (${partitionCount} partitions in metadata, ${answer.length} in the offsets answer)`, { retriable: true });
        }
        await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
      }
    } finally {
      await admin.disconnect();
    }
  }
}

const END_OFFSET_ATTEMPTS = 5;

/** A partition's share of a bounded read: offsets [start, end). */
interface PartitionRange {
  readonly start: bigint;
  readonly end: bigint;
}

/** Where a read stands: the last offset delivered per partition, and when anything last happened. */
class ReadProgress {
  readonly readUpTo = new Map<number, bigint>();
  lastProgressAt = Date.now();
  assigned: Record<string, number[]> = {};

  read(partition: number, offset: bigint): void {
    this.readUpTo.set(partition, offset);
    this.lastProgressAt = Date.now();
  }

  joined(assignment: Record<string, number[]>): void {
    this.assigned = assignment;
    this.lastProgressAt = Date.now();
  }
}

function toSourceRecord(topic: string, partition: number, message: KafkaMessage): SourceRecord {
  const header = message.headers?.[DELIVERED_AT_HEADER];
  const deliveredAtHeaderMs = header === undefined ? undefined : parseDeliveredAt(Array.isArray(header) ? header[0] : header);
  return {
    topic,
    partition,
    offset: Number(message.offset),
    key: message.key === null ? null : message.key.toString('utf8'),
    value: message.value,
    timestampMs: Number(message.timestamp),
    ...(deliveredAtHeaderMs === undefined ? {} : { deliveredAtHeaderMs }),
  };
}

function parseDeliveredAt(value: Buffer | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.toString();
  const asNumber = Number(text);
  const ms = Number.isFinite(asNumber) && text.trim() !== '' ? asNumber : Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}
