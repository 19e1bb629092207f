/**
 * `runwatch canary`: publishes a canary run every interval into the live topic, cycling through
 * the plans, each event sent when it happens. The monitor checks their verdicts (checker.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { logLevel, Partitioners } from 'kafkajs';
import { createKafka } from '../consumers/kafka-client.js';
import type { KafkaConfig } from '../config/config.js';
import type { CanaryPlan } from '../contract/canary.js';
import type { Logger } from '../observability/logger.js';
import { canaryRun } from './plans.js';

export interface CanaryPublisherOptions {
  readonly kafka: KafkaConfig;
  readonly plans: readonly CanaryPlan[];
  /** Wall-clock time from one canary's start to the next. */
  readonly intervalMs: number;
  /** Stop after this many canaries (default: until the signal). */
  readonly count?: number;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
}

export async function publishCanaries(options: CanaryPublisherOptions): Promise<{ readonly published: number }> {
  const { kafka: config, logger, signal } = options;
  const kafka = createKafka(config, { clientId: 'runwatch-canary', logLevel: logLevel.WARN });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  // One stamp per process: run ids of two canary processes (or restarts) never collide.
  const stamp = new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 17);
  let published = 0;
  try {
    for (let n = 1; options.count === undefined || n <= options.count; n += 1) {
      if (signal?.aborted === true) break;
      const plan = options.plans[(n - 1) % options.plans.length] ?? 'clean';
      const startedAt = Date.now();
      const run = canaryRun(plan, startedAt, stamp, n);
      // A run once started is sent whole, even when asked to stop: half a canary would be judged
      // missing events and fail the check after every deploy.
      for (const record of run.records) {
        const waitMs = record.sendAtMs - Date.now();
        if (waitMs > 0) await pause(waitMs, undefined);
        await producer.send({ topic: config.topic, acks: -1, messages: [{ key: record.key, value: record.value, timestamp: String(record.timestampMs) }] });
      }
      published += 1;
      logger.info({ runId: run.runId, plan, published }, 'canary run published');
      if (options.count !== undefined && n >= options.count) break;
      const nextInMs = startedAt + options.intervalMs - Date.now();
      if (nextInMs > 0 && !(await pause(nextInMs, signal))) break;
    }
  } finally {
    await producer.disconnect();
  }
  return { published };
}

/** Sleeps `ms`; false when the signal stopped it. */
async function pause(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await sleep(ms, undefined, signal === undefined ? undefined : { signal });
    return true;
  } catch {
    return false;
  }
}
