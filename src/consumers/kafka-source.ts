import { logLevel, type Admin, type Consumer, type Kafka, type KafkaMessage } from 'kafkajs';
import { filter, Observable, type Subscriber } from 'rxjs';
import type { KafkaConfig } from '../config/config.js';
import type { SourceRecord } from '../contract/event.js';
import { RunwatchError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SourceHint } from '../operators/stream-item.js';
import { CatchUpTracker } from './catch-up.js';
import { createKafka } from './kafka-client.js';
import { singleActiveAssigner } from './single-active-assigner.js';
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
  /** Awaited after each fetched batch (tests hold the consumer with it; the pipeline pauses instead: pause()). */
  readonly afterBatch?: () => Promise<void>;
  /** Counts offsets the read jumped over (runwatch_source_offsets_skipped_total). */
  readonly metrics?: Metrics;
  /**
   * Live mode: how often (wall-clock ms) the source asks the broker for the end offsets and says
   * which assigned partitions are caught up (`caught_up` items). An answer counts for twice this
   * long. Default 500.
   */
  readonly progressEveryMs?: number;
  /** The KafkaJS client to use (tests fake it at this boundary); by default one built from `kafka`. */
  readonly client?: KafkaClient;
  /**
   * The consumer's group session timeout (KafkaJS default 30 s). After a broker restart the
   * consumer rejoins as a new member and the group waits this long for the old one to expire.
   */
  readonly sessionTimeoutMs?: number;
  /**
   * Bounded mode: read each listed partition up to (not including) this offset, or its end offset
   * at start if that comes first; partitions not listed are not read. Default: every partition to
   * its end offset at start. Where a read starts is the group's committed offset.
   */
  readonly endOffsets?: ReadonlyMap<number, bigint>;
  /**
   * Awaited before a batch's records are passed on: looks up the schemas of registry-framed
   * records, so that decoding them later is synchronous. While it waits out a registry outage the
   * batch is held (nothing is skipped) and the consumer heartbeats.
   */
  readonly prepareBatch?: (values: readonly (Buffer | null)[], context: { readonly heartbeat: () => Promise<void>; readonly isStopping: () => boolean }) => Promise<void>;
}

/** The part of KafkaJS the source uses. */
export type KafkaClient = Pick<Kafka, 'consumer' | 'admin'>;

/** What the source hands over: records, and in live mode where it stands (see SourceHint). */
export type SourceItem = SourceRecord | SourceHint;

export function isSourceRecord(item: SourceItem): item is SourceRecord {
  return !('kind' in item);
}

const DEFAULT_PROGRESS_EVERY_MS = 500;
/** How often a standby of a bounded read asks whether the active member has finished it. */
const STANDBY_POLL_MS = 1_000;
/** `context.reason` of the error a member gets when another member took its partitions over. */
export const ACTIVE_ROLE_LOST = 'active_role_lost';

/** Whether a failure is this member losing the active role (the job joins again as a standby). */
export function isActiveRoleLost(err: unknown): boolean {
  return err instanceof RunwatchError && err.context['reason'] === ACTIVE_ROLE_LOST;
}

/** What `activation()` resolves with: this member holds the partitions, or (bounded read) another one has read them all. */
export type Activation = { readonly kind: 'active'; readonly partitions: readonly number[] } | { readonly kind: 'finished' };

/** Where the consumer hands its items: held until a subscriber attaches (the job restores its state first). */
interface ItemSink {
  next(item: SourceItem): void;
  readonly closed: boolean;
}

/** A subscriber that attaches after the consumer started: what comes before (hints, the end) waits for it. */
class Downstream<T> {
  private target: Subscriber<T> | undefined;
  private held: T[] = [];
  private end: { readonly error: unknown } | 'complete' | undefined;
  private onAttached: (() => void) | undefined;
  readonly attached = new Promise<void>((resolve) => (this.onAttached = resolve));

  get closed(): boolean {
    return this.target?.closed ?? this.end !== undefined;
  }

  attach(subscriber: Subscriber<T>): void {
    this.target = subscriber;
    for (const item of this.held.splice(0)) subscriber.next(item);
    if (this.end === 'complete') subscriber.complete();
    else if (this.end !== undefined) subscriber.error(this.end.error);
    this.onAttached?.();
  }

  next(item: T): void {
    if (this.target !== undefined) this.target.next(item);
    else if (this.end === undefined) this.held.push(item);
  }

  error(error: unknown): void {
    if (this.target !== undefined) this.target.error(error);
    else this.end ??= { error };
  }

  complete(): void {
    if (this.target !== undefined) this.target.complete();
    else this.end ??= 'complete';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** A batch's records go downstream in slices of about this much processing time (see eachBatch). */
const YIELD_AFTER_MS = 10;
/** How often (in records) the time of the current slice is looked at. */
const YIELD_CHECK_EVERY = 64;
/** Live mode, topic not created yet: how often it is looked for, and every how many looks a warning is logged. */
const TOPIC_CHECK_MS = 2_000;
const TOPIC_WAIT_WARN_EVERY = 15;

/**
 * The only file that knows KafkaJS: Kafka records as an Observable<SourceRecord>.
 * Offsets are not auto-committed: the pipeline commits through `commit()` the offsets of each
 * checkpoint once it is saved (src/pipeline/monitor.ts), and only for partitions this member owns.
 *
 * Live mode also says where the consumer stands (`items$()`): the group assignment at start and
 * after each rebalance, and every `progressEveryMs` the assigned partitions that are caught up
 * (consumed position at the end offset of a fresh broker answer; src/consumers/catch-up.ts).
 * Records KafkaJS hands over again after a rejoin (it restarts from the committed offset) are
 * dropped: this process has already passed them on.
 */
export class KafkaSource {
  private readonly kafka: KafkaClient;
  private consumer: Consumer | undefined;
  /** The partitions of the topic this member owns (latest group join). */
  private assigned: ReadonlySet<number> = new Set();
  /** When this member became active (announced to the group: the latest takeover wins a tie). */
  private activeSinceMs: number | undefined;
  private paused = false;
  private progress: ReadProgress | undefined;
  private rangesAtStart: Map<number, PartitionRange> | undefined;

  constructor(private readonly options: KafkaSourceOptions) {
    this.kafka = options.client ?? createKafka(options.kafka, {
      clientId: options.kafka.clientId,
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

  /** The records alone (what a bounded read and most tests want). */
  records$(): Observable<SourceRecord> {
    return this.items$().pipe(filter(isSourceRecord));
  }

  /** Records and, in live mode, where the consumer stands (assignment, caught-up partitions), in one ordered stream. */
  items$(): Observable<SourceItem> {
    return new Observable<SourceItem>((subscriber) => {
      this.start();
      this.downstream.attach(subscriber);
      return () => this.stopConsumer();
    });
  }

  /**
   * Joins the group and waits until this member is the active one (src/consumers/single-active-assigner.ts):
   * `active` with the partitions it now holds (fetching waits for `items$()`: the caller restores
   * its state first, from the offsets committed at this moment); or, for a bounded read, `finished`
   * when another member read every partition to the end offsets seen when this one joined.
   */
  activation(): Promise<Activation> {
    this.start();
    return this.activated;
  }

  private readonly downstream: Downstream<SourceItem> & ItemSink = new Downstream<SourceItem>();
  private resolveActivation: ((activation: Activation) => void) | undefined;
  private rejectActivation: ((cause: unknown) => void) | undefined;
  private readonly activated = new Promise<Activation>((resolve, reject) => {
    this.resolveActivation = resolve;
    this.rejectActivation = reject;
  });
  private stopConsumer: () => void = () => undefined;

  private start(): void {
    if (this.consumer !== undefined) return;
    // A caller that subscribes without asking for the activation gets failures through items$() alone.
    this.activated.catch(() => undefined);
    const { kafka: config, logger, mode } = this.options;
    const out = this.downstream;
    // A short fetch wait: an idle fetch otherwise delays disconnect (end of a replay) by up to 5 s.
    const session = this.options.sessionTimeoutMs ?? config.sessionTimeoutMs;
    const consumer = this.kafka.consumer({
      groupId: config.groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 500,
      partitionAssigners: [singleActiveAssigner(() => (this.assigned.size > 0 ? this.activeSinceMs : undefined))],
      ...(config.maxBytesPerPartition === undefined ? {} : { maxBytesPerPartition: config.maxBytesPerPartition }),
      ...(session === undefined ? {} : { sessionTimeout: session, heartbeatInterval: Math.min(3_000, Math.floor(session / 3)) }),
    });
    this.consumer = consumer;
    let closing = false;
    /** Bounded mode: partitions not yet read to their end offset (set once this member is active). */
    let remaining: Map<number, bigint> | undefined;
    /** Bounded mode: where each partition's read ends; records at or past it are not passed on. */
    let endOffsets: ReadonlyMap<number, bigint> | undefined;
    let watchdog: NodeJS.Timeout | undefined;
    let standbyPoll: NodeJS.Timeout | undefined;
    let active = false;
    /** Opens when this member is active, its bounded ranges are known and a subscriber is attached: records wait for it. */
    let ready: Promise<void> | undefined;
    const progress = new ReadProgress();
    this.progress = progress;
    const continuity = new OffsetContinuity();
    const progressEveryMs = this.options.progressEveryMs ?? DEFAULT_PROGRESS_EVERY_MS;
    const tracker = new CatchUpTracker({ fromBeginning: config.fromBeginning, freshForMs: 2 * progressEveryMs });
    let liveProgress: LiveProgress | undefined;
    const fail = (cause: unknown): void => {
      if (closing) return;
      closing = true;
      clearInterval(watchdog);
      clearInterval(standbyPoll);
      liveProgress?.stop();
      const error = cause instanceof RunwatchError ? cause : new RunwatchError('SOURCE_FAILED', `Kafka source failed: ${String(cause)}`, { cause, retriable: true });
      this.rejectActivation?.(error);
      out.error(error);
    };
    const finish = (): void => {
      closing = true;
      clearInterval(watchdog);
      clearInterval(standbyPoll);
      out.complete();
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
      logger.info({ topic: config.topic }, 'reached the end offsets seen at start');
      finish();
    };
    /** Idempotent per batch: eachBatch checks before emitting; END_BATCH_PROCESS covers batches eachBatch never sees. */
    const checkContinuity = (partition: number, firstOffset: string | null, last: bigint): void => {
      const skipped = continuity.batch(partition, firstOffset === null ? null : BigInt(firstOffset), last);
      if (skipped !== undefined) this.reportSkipped(skipped);
    };
    /** Bounded mode: where this member's read ends (the end offsets now, from the offsets committed now). */
    const becomeActiveBounded = async (): Promise<void> => {
      const ranges = await this.rangesOnce();
      remaining = new Map([...ranges].map(([partition, range]) => [partition, range.end]));
      endOffsets = new Map(remaining);
      for (const [partition, range] of ranges) continuity.startsAt(partition, range.start);
      if (closing) return;
      if (remaining.size === 0) return finish();
      // Batches of transaction markers alone may have been reported already (END_BATCH_PROCESS,
      // never held): a partition they took to its end offset is read.
      for (const [partition, readUpTo] of progress.readUpTo) reached(partition, readUpTo);
      if (closing) return;
      watchdog = this.watchBoundedRead(remaining, progress, fail);
    };
    /** Bounded mode, standby: done once the group's committed offsets reach the end offsets seen now (another member read them). */
    const watchOthersFinish = (): void => {
      let ends: Map<number, PartitionRange> | undefined;
      let polling = false;
      standbyPoll = setInterval(() => {
        if (polling || closing || active) return;
        polling = true;
        void (async () => {
          ends ??= await this.rangesToRead(config.topic);
          const committed = await this.committedOffsets();
          const left = [...ends].filter(([partition, range]) => BigInt(committed.get(partition) ?? -1) < range.end);
          if (left.length > 0 || active || closing) return;
          logger.info({ topic: config.topic, groupId: config.groupId }, 'standby: another member finished the bounded read');
          this.resolveActivation?.({ kind: 'finished' });
          finish();
        })()
          .catch((err: unknown) => logger.debug({ err: String(err) }, 'standby: reading the group offsets failed; asking again'))
          .finally(() => (polling = false));
      }, STANDBY_POLL_MS);
      standbyPoll.unref();
    };
    const onJoin = (partitions: readonly number[]): void => {
      if (closing) return;
      this.options.metrics?.sourceRestarting.set(0);
      if (partitions.length === 0) {
        if (active) {
          // Another member holds the partitions now: what this one would still write or commit belongs to it.
          return fail(new RunwatchError('SOURCE_FAILED', `consumer group ${config.groupId}: another member took over the partitions of ${config.topic} (this member was presumed dead); this instance stops its job and joins again as a standby`, { retriable: true, context: { reason: ACTIVE_ROLE_LOST } }));
        }
        this.assigned = new Set();
        logger.info({ groupId: config.groupId, topic: config.topic }, 'standby: another member of the group is active; this one takes over if it leaves or dies');
        if (mode === 'bounded' && standbyPoll === undefined) watchOthersFinish();
        return;
      }
      tracker.assign(partitions);
      this.assigned = new Set(partitions);
      // Every owned partition has a series from the start (0 until something is skipped).
      for (const partition of partitions) this.options.metrics?.skippedOffsets.inc({ partition: String(partition) }, 0);
      // A rejoin starts a new fetch session: the pause must carry over.
      if (this.paused) consumer.pause([{ topic: config.topic }]);
      this.describeGroupMembers(consumer);
      restarts = 0;
      this.options.metrics?.sourceRestarting.set(0);
      if (!active) {
        active = true;
        this.activeSinceMs = Date.now();
        clearInterval(standbyPoll);
        logger.info({ groupId: config.groupId, topic: config.topic, partitions }, 'active: this member holds every partition of the topic');
        const prepared = mode === 'bounded' ? becomeActiveBounded() : Promise.resolve();
        ready = prepared.then(() => this.downstream.attached).catch(() => undefined);
        prepared.then(() => this.resolveActivation?.({ kind: 'active', partitions: [...partitions].sort((a, b) => a - b) }), fail);
      }
      if (liveProgress === undefined) return;
      out.next({ kind: 'assignment', partitions: [...partitions].sort((a, b) => a - b) });
      liveProgress.askNow();
    };
    /**
     * Live mode: KafkaJS gives up on some errors of a broker outage ("Failed to find group
     * coordinator" is not retriable to it). A live monitor outlives outages: the consumer is
     * started again, with a growing pause, until it rejoins its group. Bounded mode fails instead.
     */
    let restarts = 0;
    let restartTimer: NodeJS.Timeout | undefined;
    const restartOrFail = (cause: unknown): void => {
      if (mode !== 'live') return fail(cause);
      if (closing) return;
      restarts += 1;
      this.options.metrics?.sourceRestarting.set(1);
      const delayMs = Math.min(10_000, 500 * 2 ** Math.min(restarts - 1, 5));
      logger.warn({ topic: config.topic, err: String(cause), restarts, delayMs }, 'live read: KafkaJS gave up on the consumer; starting it again');
      clearTimeout(restartTimer);
      restartTimer = setTimeout(() => {
        if (closing) return;
        consumer
          .connect()
          .then(() => (closing ? undefined : runConsumer()))
          .catch(restartOrFail);
      }, delayMs);
    };
    // Listeners first: an unsubscribe during start-up must find everything it has to remove.
    const teardown = [
      this.logGroupEvents(consumer, progress, {
        onJoin,
        onCrash: () => {
          tracker.invalidate(Date.now());
          // KafkaJS rejoins as a new member: it must not claim partitions another member may have taken over meanwhile.
          this.assigned = new Set();
        },
        onFatal: restartOrFail,
      }),
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        const last = BigInt(payload.lastOffset);
        this.options.metrics?.consumerLag.set({ partition: String(payload.partition) }, Math.max(0, Number(BigInt(payload.highWatermark) - last - 1n)));
        checkContinuity(payload.partition, payload.firstOffset, last);
        progress.read(payload.partition, last);
        tracker.passed(payload.partition, last);
        tracker.fetched(payload.partition, BigInt(payload.highWatermark), Date.now());
        reached(payload.partition, last);
      }),
    ];
    /** Records wait until the job is ready for them; KafkaJS is kept told the member is alive meanwhile. */
    const waitUntilReady = async (heartbeat: () => Promise<void>): Promise<void> => {
      for (;;) {
        const gate = ready;
        if (gate !== undefined && (await Promise.race([gate.then(() => true), sleep(1_000).then(() => false)]))) return;
        if (closing) return;
        await heartbeat();
      }
    };
    const startConsumer = async (): Promise<void> => {
      if (mode === 'live') {
        // A monitor deployed before its topic is created waits for it (a replay of a missing topic
        // fails); where the consumer stands is asked only once there is a topic to ask about.
        await this.untilTopicExists(config.topic, () => closing);
        if (closing) return;
        liveProgress = new LiveProgress(this.kafka.admin(), config, logger, tracker, out, progressEveryMs);
      }
      await consumer.connect();
      if (closing) return;
      await consumer.subscribe({ topic: config.topic, fromBeginning: config.fromBeginning });
      if (closing) return;
      await runConsumer();
    };
    const runConsumer = (): Promise<void> =>
      consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch, heartbeat }) => {
          await waitUntilReady(heartbeat);
          if (closing) return;
          const last = BigInt(batch.lastOffset());
          checkContinuity(batch.partition, batch.firstOffset(), last);
          if (this.options.prepareBatch !== undefined) {
            // Waiting out a registry outage is not a stalled read (the bounded-read watchdog).
            const waiting = setInterval(() => (progress.lastProgressAt = Date.now()), 1_000);
            try {
              await this.options.prepareBatch(batch.messages.map((m) => m.value), { heartbeat, isStopping: () => closing });
            } finally {
              clearInterval(waiting);
            }
            if (closing) return;
          }
          let again = 0;
          const end = endOffsets?.get(batch.partition) ?? (endOffsets === undefined ? undefined : -1n);
          let sliceStartedAt = performance.now();
          for (let i = 0; i < batch.messages.length; i += 1) {
            const message = batch.messages[i] as KafkaMessage;
            // The chain runs synchronously inside out.next: a batch of thousands of records would
            // hold the event loop for a long stretch, and the sink (whose inserts run on the
            // engine's threads) could only take its next step between batches. Yielding now and
            // then lets writes proceed beside detection. Order is unchanged: nothing else emits
            // records meanwhile.
            if (i % YIELD_CHECK_EVERY === 0 && performance.now() - sliceStartedAt >= YIELD_AFTER_MS) {
              await yieldToEventLoop();
              if (closing) return;
              sliceStartedAt = performance.now();
            }
            // A bounded read stops at its end offsets, also inside a batch that goes further.
            if (end !== undefined && BigInt(message.offset) >= end) continue;
            // After a rejoin KafkaJS starts again from the committed offset: those records were passed on already.
            if (tracker.isNew(batch.partition, BigInt(message.offset))) out.next(toSourceRecord(batch.topic, batch.partition, message));
            else again += 1;
          }
          if (again > 0) logger.info({ topic: batch.topic, partition: batch.partition, records: again }, 'Kafka source: records delivered again after a rejoin, already passed on: dropped');
          tracker.passed(batch.partition, last);
          tracker.fetched(batch.partition, BigInt(batch.highWatermark), Date.now());
          await heartbeat();
          if (this.options.afterBatch) await this.options.afterBatch();
          reached(batch.partition, BigInt(batch.lastOffset()));
        },
      });
    startConsumer().catch(fail);
    this.stopConsumer = () => {
      closing = true;
      clearInterval(watchdog);
      clearInterval(standbyPoll);
      clearTimeout(restartTimer);
      liveProgress?.stop();
      teardown.forEach((remove) => remove());
    };
  }

  /**
   * Bounded mode: a read that stops making progress short of its end offsets is reported (what
   * is left, where each partition stands), and after `stallTimeoutMs` fails instead of hanging.
   */
  private watchBoundedRead(remaining: ReadonlyMap<number, bigint>, progress: ReadProgress, fail: (cause: unknown) => void): NodeJS.Timeout {
    const { kafka: config, logger } = this.options;
    const checkEveryMs = Math.min(5_000, config.stallTimeoutMs);
    const timer = setInterval(() => {
      // Paused by the pipeline (a slow or unreachable sink): not a stalled read.
      if (this.paused) progress.lastProgressAt = Date.now();
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
  private logGroupEvents(consumer: Consumer, progress: ReadProgress, on: GroupEventHandlers): () => void {
    const { logger } = this.options;
    const { onFatal } = on;
    const removers = [
      consumer.on(consumer.events.GROUP_JOIN, (event) => {
        progress.joined(event.payload.memberAssignment);
        logger.info({ groupId: event.payload.groupId, assignment: event.payload.memberAssignment, durationMs: event.payload.duration }, 'Kafka consumer joined its group');
        on.onJoin(event.payload.memberAssignment[this.options.kafka.topic] ?? []);
      }),
      consumer.on(consumer.events.REBALANCING, (event) => logger.info({ groupId: event.payload.groupId, memberId: event.payload.memberId }, 'Kafka consumer group rebalancing')),
      consumer.on(consumer.events.CRASH, (event) => {
        const { groupId, error, restart } = event.payload;
        on.onCrash();
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

  /**
   * Commits, per partition, the next offset to read (call once the checkpoint at those offsets is
   * saved). Only partitions this member owns: after a rebalance another member may own the rest.
   */
  async commit(nextOffsets: ReadonlyMap<number, number>): Promise<void> {
    if (this.consumer === undefined) return;
    const offsets = [...nextOffsets].filter(([partition]) => this.assigned.has(partition)).map(([partition, offset]) => ({ topic: this.options.kafka.topic, partition, offset: String(offset) }));
    if (offsets.length === 0) return;
    await this.consumer.commitOffsets(offsets);
  }

  /**
   * The active member says which other members wait as standbys (src/consumers/single-active-assigner.ts):
   * one line at every join, so an operator sees the failover capacity.
   */
  private describeGroupMembers(consumer: Consumer): void {
    const { kafka: config, logger } = this.options;
    // Never from the join handler's own stack: a failing description must not disturb the join.
    Promise.resolve()
      .then(() => consumer.describeGroup())
      .then(({ members }) => {
        logger.info(
          { groupId: config.groupId, members: members.map((m) => ({ memberId: m.memberId, clientHost: m.clientHost })), standbys: Math.max(0, members.length - 1) },
          members.length > 1 ? 'active member of a group with standbys: one of them takes over if this one leaves or dies' : 'active member, no standby in the group',
        );
      })
      .catch((err: unknown) => logger.debug({ err: String(err) }, 'describing the consumer group failed'));
  }

  /** Stops fetching (backpressure, shutdown): KafkaJS keeps the group membership alive meanwhile. */
  pause(): void {
    this.paused = true;
    this.consumer?.pause([{ topic: this.options.kafka.topic }]);
  }

  resume(): void {
    this.paused = false;
    if (this.progress !== undefined) this.progress.lastProgressAt = Date.now();
    this.consumer?.resume([{ topic: this.options.kafka.topic }]);
  }

  /** The group's committed offsets for the topic (partitions without one are left out). */
  async committedOffsets(): Promise<Map<number, number>> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const answer = await admin.fetchOffsets({ groupId: this.options.kafka.groupId, topics: [this.options.kafka.topic] });
      const partitions = answer.find((t) => t.topic === this.options.kafka.topic)?.partitions ?? [];
      return new Map(partitions.map((p) => [p.partition, Number(p.offset)] as const).filter(([, offset]) => offset >= 0));
    } finally {
      await admin.disconnect();
    }
  }

  async close(): Promise<void> {
    this.stopConsumer();
    await this.consumer?.disconnect();
  }

  /** Live mode: returns once the topic exists (checked every 2 s; a warning now and then), or when `stopped()`. */
  private async untilTopicExists(topic: string, stopped: () => boolean): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      for (let check = 0; !stopped(); check += 1) {
        if ((await admin.listTopics()).includes(topic)) {
          if (check > 0) this.options.logger.info({ topic }, 'live read: the topic exists now; joining the group');
          return;
        }
        if (check % TOPIC_WAIT_WARN_EVERY === 0) this.options.logger.warn({ topic, checkEveryMs: TOPIC_CHECK_MS }, 'live read: the topic does not exist yet; waiting for it to be created');
        await sleep(TOPIC_CHECK_MS);
      }
    } finally {
      await admin.disconnect();
    }
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
          const limit = this.options.endOffsets;
          const endOf = (partition: number, high: bigint): bigint => {
            if (limit === undefined) return high;
            const end = limit.get(partition);
            return end === undefined ? -1n : end < high ? end : high;
          };
          const ranges = answer.map((p) => ({ partition: p.partition, start: p.committed >= 0n ? p.committed : fromBeginning ? p.low : p.high, end: endOf(p.partition, p.high) }));
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

/** Live mode: an offsets query still running after this long is given up on (a new one is asked). */
const ASK_GIVE_UP_MS = 10_000;

interface GroupEventHandlers {
  /** The group assignment for the topic (at start and after each rebalance). */
  readonly onJoin: (partitions: readonly number[]) => void;
  /** KafkaJS lost the broker or the group; it may restart. */
  readonly onCrash: () => void;
  /** A crash KafkaJS will not restart after. */
  readonly onFatal: (cause: unknown) => void;
}

/**
 * Live mode: asks the broker every `everyMs` for the topic's end offsets and the group's committed
 * offsets, and after each tick and each answer hands the chain a `caught_up` item (the assigned
 * partitions at their end offset per a fresh answer). While the broker cannot be reached the
 * answers age and the list empties: nothing counts as caught up, so event time stops.
 */
class LiveProgress {
  private readonly timer: NodeJS.Timeout;
  /** The ask in progress, if any: its number and when it started. */
  private asking: { readonly id: number; readonly sinceMs: number } | undefined;
  private asks = 0;
  private connected = false;
  private stopped = false;
  private failures = 0;
  private allCaughtUp: boolean | undefined;

  constructor(
    private readonly admin: Admin,
    private readonly config: KafkaConfig,
    private readonly logger: Logger,
    private readonly tracker: CatchUpTracker,
    private readonly subscriber: ItemSink,
    private readonly everyMs: number,
  ) {
    this.timer = setInterval(() => {
      this.tell();
      this.askNow();
    }, everyMs);
    this.timer.unref();
  }

  askNow(): void {
    if (this.stopped) return;
    // A KafkaJS call can hang for a long time on a broker that went away (request timeouts,
    // retries): past a limit it is given up on, and its answer, should it come, is dated when it
    // was asked, so it cannot pass for news.
    if (this.asking !== undefined && Date.now() - this.asking.sinceMs < Math.max(ASK_GIVE_UP_MS, 4 * this.everyMs)) return;
    const id = (this.asks += 1);
    this.asking = { id, sinceMs: Date.now() };
    void this.ask().finally(() => {
      if (this.asking?.id !== id) return;
      this.asking = undefined;
      this.tell();
    });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    if (this.connected) void this.admin.disconnect().catch(() => undefined);
  }

  private async ask(): Promise<void> {
    const { topic, groupId } = this.config;
    const askedAtMs = Date.now();
    try {
      if (!this.connected) {
        await this.admin.connect();
        this.connected = true;
      }
      const requests = [this.admin.fetchTopicOffsets(topic), this.admin.fetchOffsets({ groupId, topics: [topic] })] as const;
      // Both requests settle before a failure is handled: the admin client is not disturbed under one still running.
      await Promise.allSettled(requests);
      const [ends, committed] = await Promise.all(requests);
      const committedOf = new Map((committed.find((t) => t.topic === topic)?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
      if (this.stopped) return;
      this.tracker.answered(
        askedAtMs,
        ends.map((p) => ({ partition: p.partition, low: BigInt(p.low), high: BigInt(p.high), committed: committedOf.get(p.partition) ?? -1n })),
      );
      if (this.failures > 0) this.logger.info({ topic, failedAnswers: this.failures }, 'Kafka source: the broker answers again');
      this.failures = 0;
    } catch (err) {
      this.failures += 1;
      if (this.failures === 1 || this.failures % 20 === 0) {
        this.logger.warn({ topic, failedAnswers: this.failures, err: String(err) }, 'Kafka source: no end offsets from the broker; no partition counts as caught up, event time waits');
      }
      // The admin client reconnects by itself on the next request once the broker is back.
    }
  }

  private tell(): void {
    const assigned = this.tracker.assignedPartitions();
    if (this.stopped || this.subscriber.closed || assigned === undefined) return;
    const atMs = Date.now();
    const partitions = this.tracker.caughtUp(atMs);
    const all = partitions.length === assigned.length;
    if (all !== this.allCaughtUp) {
      this.allCaughtUp = all;
      this.logger.info({ topic: this.config.topic, partitions: this.tracker.describe(atMs) }, all ? 'Kafka source: every assigned partition caught up' : 'Kafka source: not every assigned partition caught up');
    }
    this.subscriber.next({ kind: 'caught_up', atMs, partitions });
  }
}

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
    ...(message.headers === undefined ? {} : { headers: message.headers }),
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
