/**
 * KafkaSource in live mode, with KafkaJS faked at its API boundary (the consumer's events and
 * eachBatch, the admin client's offset queries): what it tells the chain about where it stands.
 * Time is vitest's fake clock, so freshness and polling are exact.
 */
import type { Admin, Batch, Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { Subscription } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { kafkaConfigSchema } from '../../src/config/config.js';
import { isSourceRecord, KafkaSource, type KafkaClient, type SourceItem } from '../../src/consumers/kafka-source.js';
import { createLogger } from '../../src/observability/logger.js';

const TOPIC = 'live-topic';
const EVENT_NAMES = {
  GROUP_JOIN: 'consumer.group_join',
  END_BATCH_PROCESS: 'consumer.end_batch_process',
  REBALANCING: 'consumer.rebalancing',
  CRASH: 'consumer.crash',
} as const;

type Listener = (event: { payload: unknown }) => void;

class FakeConsumer {
  readonly events = EVENT_NAMES;
  private readonly listeners = new Map<string, Listener[]>();
  eachBatch: ((payload: EachBatchPayload) => Promise<void>) | undefined;
  runs = 0;

  on(name: string, listener: Listener): () => void {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
    return () => this.listeners.set(name, (this.listeners.get(name) ?? []).filter((l) => l !== listener));
  }
  emit(name: string, payload: unknown): void {
    for (const listener of this.listeners.get(name) ?? []) listener({ payload });
  }
  async connect(): Promise<void> {}
  async subscribe(): Promise<void> {}
  async run(config: { eachBatch: (payload: EachBatchPayload) => Promise<void> }): Promise<void> {
    this.runs += 1;
    this.eachBatch = config.eachBatch;
  }
  async disconnect(): Promise<void> {}
  async commitOffsets(): Promise<void> {}
  /** The group as the broker describes it: this consumer alone. */
  async describeGroup(): Promise<{ members: Array<{ memberId: string; clientHost: string }> }> {
    return { members: [{ memberId: 'm1', clientHost: '/127.0.0.1' }] };
  }

  join(assignment: Record<string, number[]>): void {
    this.emit(EVENT_NAMES.GROUP_JOIN, { groupId: 'g', memberAssignment: assignment, duration: 1 });
  }
  /** Hands over a fetched batch of `partition` with these offsets, as KafkaJS does (then END_BATCH_PROCESS). */
  async deliver(partition: number, offsets: number[], highWatermark: number): Promise<void> {
    const messages: KafkaMessage[] = offsets.map((offset) => ({ key: null, value: Buffer.from(`v${offset}`), timestamp: '1000', attributes: 0, offset: String(offset), headers: {} }));
    const batch = {
      topic: TOPIC,
      partition,
      highWatermark: String(highWatermark),
      messages,
      isEmpty: () => messages.length === 0,
      firstOffset: () => String(offsets[0]),
      lastOffset: () => String(offsets.at(-1)),
      offsetLag: () => '0',
      offsetLagLow: () => '0',
    } satisfies Batch;
    await this.eachBatch?.({ batch, heartbeat: async () => undefined } as unknown as EachBatchPayload);
    this.emit(EVENT_NAMES.END_BATCH_PROCESS, { topic: TOPIC, partition, highWatermark: String(highWatermark), firstOffset: String(offsets[0]), lastOffset: String(offsets.at(-1)), batchSize: offsets.length, offsetLag: '0', offsetLagLow: '0', duration: 1 });
  }
}

class FakeAdmin {
  reachable = true;
  /** Per partition: [low, high, committed]. */
  offsets = new Map<number, [number, number, number]>();
  async connect(): Promise<void> {
    if (!this.reachable) throw new Error('Connection error: connect ECONNREFUSED');
  }
  async disconnect(): Promise<void> {}
  async fetchTopicOffsets(): Promise<Array<{ partition: number; offset: string; high: string; low: string }>> {
    if (!this.reachable) throw new Error('Connection error: connect ECONNREFUSED');
    return [...this.offsets].map(([partition, [low, high]]) => ({ partition, offset: String(high), high: String(high), low: String(low) }));
  }
  async listTopics(): Promise<string[]> {
    if (!this.reachable) throw new Error('Connection error: connect ECONNREFUSED');
    return [TOPIC];
  }
  async fetchTopicMetadata(): Promise<{ topics: Array<{ name: string; partitions: Array<{ partitionId: number }> }> }> {
    return { topics: [{ name: TOPIC, partitions: [...this.offsets.keys()].map((partitionId) => ({ partitionId })) }] };
  }
  async fetchOffsets(): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>> {
    if (!this.reachable) throw new Error('Connection error: connect ECONNREFUSED');
    return [{ topic: TOPIC, partitions: [...this.offsets].map(([partition, [, , committed]]) => ({ partition, offset: String(committed) })) }];
  }
}

function start(mode: 'live' | 'bounded' = 'live', errors: unknown[] = []) {
  const consumer = new FakeConsumer();
  const admin = new FakeAdmin();
  const client: KafkaClient = { consumer: () => consumer as unknown as Consumer, admin: () => admin as unknown as Admin };
  const source = new KafkaSource({
    kafka: kafkaConfigSchema.parse({ brokers: ['127.0.0.1:1'], topic: TOPIC, groupId: 'g' }),
    logger: createLogger('silent'),
    mode,
    progressEveryMs: 100,
    client,
  });
  const items: SourceItem[] = [];
  const subscription: Subscription = source.items$().subscribe({ next: (item) => items.push(item), error: (err: unknown) => errors.push(err) });
  return { consumer, admin, items, subscription };
}

/** The last `caught_up` item's partitions. */
const lastCaughtUp = (items: SourceItem[]): readonly number[] | undefined => {
  for (let i = items.length - 1; i >= 0; i -= 1) {
    const item = items[i] as SourceItem;
    if (!isSourceRecord(item) && item.kind === 'caught_up') return item.partitions;
  }
  return undefined;
};
const hints = (items: SourceItem[]) => items.filter((i) => !isSourceRecord(i));

describe('KafkaSource (live mode, KafkaJS faked)', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it('tells the assignment from the group join, including partitions that have delivered nothing', async () => {
    const { consumer, items, subscription } = start();
    await vi.advanceTimersByTimeAsync(0);
    consumer.join({ [TOPIC]: [2, 0, 1], 'other-topic': [5] });
    expect(hints(items)).toEqual([{ kind: 'assignment', partitions: [0, 1, 2] }]);
    subscription.unsubscribe();
  });

  it('says a partition is caught up only when its position reaches the broker’s end offset, never from silence alone', async () => {
    const { consumer, admin, items, subscription } = start();
    await vi.advanceTimersByTimeAsync(0);
    // Partition 0 is empty; partition 1 holds a backlog of 5 records nobody has read.
    admin.offsets.set(0, [0, 0, -1]);
    admin.offsets.set(1, [0, 5, -1]);
    consumer.join({ [TOPIC]: [0, 1] });
    await vi.advanceTimersByTimeAsync(1_000); // a long quiet second: partition 1 still lags
    expect(lastCaughtUp(items)).toEqual([0]);
    await consumer.deliver(1, [0, 1, 2], 5);
    await vi.advanceTimersByTimeAsync(100);
    expect(lastCaughtUp(items)).toEqual([0]);
    await consumer.deliver(1, [3, 4], 5);
    await vi.advanceTimersByTimeAsync(100);
    expect(lastCaughtUp(items)).toEqual([0, 1]);
    expect(items.filter(isSourceRecord).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
    subscription.unsubscribe();
  });

  it('counts nothing caught up while the broker cannot be reached, and again once it answers', async () => {
    const { consumer, admin, items, subscription } = start();
    await vi.advanceTimersByTimeAsync(0);
    admin.offsets.set(0, [0, 3, 3]);
    consumer.join({ [TOPIC]: [0] });
    await vi.advanceTimersByTimeAsync(100);
    expect(lastCaughtUp(items)).toEqual([0]);
    admin.reachable = false;
    await vi.advanceTimersByTimeAsync(100);
    expect(lastCaughtUp(items)).toEqual([0]); // the last answer is 100 ms old: still fresh
    await vi.advanceTimersByTimeAsync(200);
    expect(lastCaughtUp(items)).toEqual([]); // no fresh answer: nothing is caught up
    await vi.advanceTimersByTimeAsync(10_000);
    expect(lastCaughtUp(items)).toEqual([]);
    admin.reachable = true;
    await vi.advanceTimersByTimeAsync(100);
    expect(lastCaughtUp(items)).toEqual([0]);
    subscription.unsubscribe();
  });

  it('trusts no earlier answer once the consumer crashed', async () => {
    const { consumer, admin, items, subscription } = start();
    await vi.advanceTimersByTimeAsync(0);
    admin.offsets.set(0, [0, 3, 3]);
    consumer.join({ [TOPIC]: [0] });
    await vi.advanceTimersByTimeAsync(100);
    expect(lastCaughtUp(items)).toEqual([0]);
    admin.reachable = false;
    consumer.emit(EVENT_NAMES.CRASH, { groupId: 'g', error: new Error('KafkaJSConnectionError'), restart: true });
    await vi.advanceTimersByTimeAsync(100);
    expect(lastCaughtUp(items)).toEqual([]);
    subscription.unsubscribe();
  });

  it('drops records KafkaJS hands over again after a rejoin (it restarts at the committed offset)', async () => {
    const { consumer, admin, items, subscription } = start();
    await vi.advanceTimersByTimeAsync(0);
    admin.offsets.set(0, [0, 6, -1]);
    consumer.join({ [TOPIC]: [0] });
    await consumer.deliver(0, [0, 1, 2, 3], 4);
    consumer.join({ [TOPIC]: [0] }); // broker restarted: rejoin, KafkaJS starts again at the committed offset (0)
    await consumer.deliver(0, [0, 1, 2, 3, 4, 5], 6);
    expect(items.filter(isSourceRecord).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5]);
    subscription.unsubscribe();
  });

  it('starts the consumer again when KafkaJS gives up on it during an outage (live mode), and fails a bounded read', async () => {
    const live = start('live');
    await vi.advanceTimersByTimeAsync(0);
    live.admin.offsets.set(0, [0, 4, -1]);
    live.consumer.join({ [TOPIC]: [0] });
    await live.consumer.deliver(0, [0, 1], 4);
    live.consumer.emit(EVENT_NAMES.CRASH, { groupId: 'g', error: new Error('KafkaJSNonRetriableError: Failed to find group coordinator'), restart: false });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(live.consumer.runs).toBe(2);
    live.consumer.join({ [TOPIC]: [0] });
    await live.consumer.deliver(0, [0, 1, 2, 3], 4);
    expect(live.items.filter(isSourceRecord).map((r) => r.offset)).toEqual([0, 1, 2, 3]);
    live.subscription.unsubscribe();

    const errors: unknown[] = [];
    const bounded = start('bounded', errors);
    bounded.admin.offsets.set(0, [0, 4, -1]);
    await vi.advanceTimersByTimeAsync(0);
    bounded.consumer.emit(EVENT_NAMES.CRASH, { groupId: 'g', error: new Error('KafkaJSNonRetriableError: Failed to find group coordinator'), restart: false });
    expect(errors).toMatchObject([{ code: 'SOURCE_FAILED' }]);
    bounded.subscription.unsubscribe();
  });

  it('tells nothing but records in bounded mode', async () => {
    const { consumer, admin, items, subscription } = start('bounded');
    admin.offsets.set(0, [0, 2, -1]);
    await vi.advanceTimersByTimeAsync(0);
    consumer.join({ [TOPIC]: [0] });
    await consumer.deliver(0, [0, 1], 2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(items.map((i) => (isSourceRecord(i) ? i.offset : i.kind))).toEqual([0, 1]);
    subscription.unsubscribe();
  });
});
