/**
 * Publishes simulated records to Kafka. The simulated delivery time travels as the Kafka record
 * timestamp (CreateTime), so the pipeline measures latency against it and not against the wall
 * clock of whoever runs the simulator. This is the one place where real time is used: the rate
 * limit paces the publisher; no operator ever reads the clock.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Producer } from 'kafkajs';
import type { SimRecord } from './generate.js';
import type { ValueFramer } from './registry-framing.js';

export interface PublishProgress {
  readonly sent: number;
  readonly total: number;
  readonly elapsedMs: number;
}

export interface PublishOptions {
  /** Records per second; undefined = as fast as the broker acknowledges. */
  readonly ratePerSecond?: number;
  /** Records per send() call (default 500). */
  readonly batchSize?: number;
  /** Called after every acknowledged batch. */
  readonly onProgress?: (progress: PublishProgress) => void;
  /** Stops between batches (Ctrl-C in the CLI); the batch in flight still completes. */
  readonly signal?: AbortSignal;
  /** Frames each value for a schema registry (src/simulator/registry-framing.ts); plain JSON without it. */
  readonly framer?: ValueFramer;
}

export interface PublishResult {
  readonly sent: number;
  readonly batches: number;
  readonly elapsedMs: number;
  readonly aborted: boolean;
  /** Records sent framed by the framer (the rest went as plain JSON). */
  readonly framed: number;
}

/** With a rate limit, batches are capped to ~50 ms worth of records so the flow is smooth, not bursty. */
const PACING_SLICES_PER_SECOND = 20;

export async function publishTraffic(
  producer: Pick<Producer, 'send'>,
  topic: string,
  records: readonly SimRecord[],
  options: PublishOptions = {},
): Promise<PublishResult> {
  const { ratePerSecond, onProgress, signal } = options;
  if (ratePerSecond !== undefined && !(ratePerSecond > 0 && Number.isFinite(ratePerSecond))) {
    throw new RangeError(`ratePerSecond must be a positive number, got ${ratePerSecond}`);
  }
  let batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  if (ratePerSecond !== undefined) batchSize = Math.min(batchSize, Math.max(1, Math.ceil(ratePerSecond / PACING_SLICES_PER_SECOND)));

  const startedAt = performance.now();
  let sent = 0;
  let batches = 0;
  let framed = 0;
  const valueOf = (value: string): Buffer | string => {
    if (options.framer === undefined) return value;
    const out = options.framer.frame(value);
    if (out.framed) framed += 1;
    return out.value;
  };
  while (sent < records.length) {
    if (signal?.aborted) break;
    const batch = records.slice(sent, sent + batchSize);
    if (ratePerSecond !== undefined) {
      // A batch leaves once the rate allows all of its records; scheduling against the start
      // time (not the previous batch) keeps send latency from accumulating as drift.
      const dueInMs = startedAt + ((sent + batch.length) / ratePerSecond) * 1000 - performance.now();
      if (dueInMs > 0) {
        try {
          await sleep(dueInMs, undefined, signal ? { signal } : undefined);
        } catch {
          break; // aborted while waiting
        }
      }
    }
    await producer.send({
      topic,
      acks: -1, // all in-sync replicas: a simulated event that is silently lost would look like a missing-event finding
      messages: batch.map((r) => ({ key: r.key, value: valueOf(r.value), timestamp: String(r.timestampMs) })),
    });
    sent += batch.length;
    batches += 1;
    onProgress?.({ sent, total: records.length, elapsedMs: performance.now() - startedAt });
  }
  return { sent, batches, elapsedMs: performance.now() - startedAt, aborted: sent < records.length, framed };
}
