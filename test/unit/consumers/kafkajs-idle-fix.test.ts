import { afterEach, describe, expect, it } from 'vitest';
import { fixKafkaJsIdleLoop, kafkaJsRequestQueue } from '../../../src/consumers/kafkajs-idle-fix.js';

const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
type Queue = InstanceType<ReturnType<typeof kafkaJsRequestQueue>> & { throttleCheckTimeoutId: NodeJS.Timeout | null; pending: unknown[]; destroy(): void };
const queues: Queue[] = [];
const newQueue = (): Queue => {
  const RequestQueue = kafkaJsRequestQueue();
  const queue = new RequestQueue({ maxInFlightRequests: 1, requestTimeout: 30_000, enforceRequestTimeout: true, clientId: 'test', broker: 'b:1', logger }) as Queue;
  queues.push(queue);
  return queue;
};
afterEach(() => queues.splice(0).forEach((q) => q.destroy()));

describe('KafkaJS idle loop fix (issues #1556, #1704)', () => {
  it('an idle queue (nothing pending, not throttled) arms no timer; a queue with work, or throttled, still does', () => {
    fixKafkaJsIdleLoop();
    fixKafkaJsIdleLoop(); // once per process, however often called
    const idle = newQueue();
    idle.scheduleCheckPendingRequests();
    expect(idle.throttleCheckTimeoutId).toBeNull();

    const busy = newQueue();
    busy.pending.push({});
    busy.scheduleCheckPendingRequests();
    expect(busy.throttleCheckTimeoutId).not.toBeNull();

    const throttled = newQueue();
    throttled.throttledUntil = Date.now() + 1_000;
    throttled.scheduleCheckPendingRequests();
    expect(throttled.throttleCheckTimeoutId).not.toBeNull();
  });
});
