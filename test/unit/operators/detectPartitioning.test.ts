import { describe, it } from 'vitest';
import type { LifecycleType } from '../../../src/contract/event.js';
import { detectPartitioning } from '../../../src/operators/detectPartitioning.js';
import { verdictId } from '../../../src/operators/engine/verdict-id.js';
import { lateEvent, ordered, redelivered, scheduler, SMALL_CONTRACT, violation } from '../../support/detectors.js';
import { agentEvent, ev, wm } from '../../support/events.js';

const detect = () => ordered(detectPartitioning(SMALL_CONTRACT));

let offset = 1_000;
/** An event of `runId` (thread `threadId`, user `userId`) read from `partition`. */
const on = (partition: number, type: LifecycleType, runId: string, t: number, threadId = `thread_of_${runId}`, userId = `user_of_${runId}`) =>
  agentEvent(type, runId, t, { threadId, userId, source: { topic: 'agent-events', partition, offset: offset++ } });

describe('detectPartitioning', () => {
  it('reports a run whose events come from two partitions, once, at the first event from the other partition (doc example)', () => {
    const [a, b, c] = [on(0, 'agent_started', 'r1', 0), on(1, 'agent_thinking', 'r1', 1), on(2, 'tool_executing', 'r1', 2)];
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-w-c-x-|', { a: ev(a), b: ev(b), w: wm(1), c: ev(c), x: wm(2) });
      const expected = '  -----w-----|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        w: violation({
          violationId: verdictId('partitioning_broken', 'r1', `1:${b.source.offset}`),
          rule: 'partitioning_broken',
          severity: 'WARNING',
          subject: 'partition',
          detail: 'run r1 has events in partitions 0 and 1',
          runId: 'r1',
          eventTimeMs: 1,
          source: { topic: 'agent-events', partitions: [1], offsets: [b.source.offset] },
        }),
      });
      expectSubscriptions(source.subscriptions).toBe('^----------!');
    });
  });

  it('reports a thread whose runs come from two partitions', () => {
    const first = on(0, 'agent_started', 'r1', 0, 'thread_9', 'user_42');
    const second = on(1, 'agent_started', 'r2', 3, 'thread_9', 'user_42');
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-|', { a: ev(first), b: ev(second), w: wm(3) });
      expectObservable(source.pipe(detect())).toBe('-----w-|', {
        w: violation({ rule: 'partitioning_broken', severity: 'WARNING', subject: 'partition', detail: 'thread thread_9 has runs in partitions 0 and 1', runId: 'r2', eventTimeMs: 3 }),
      });
    });
  });

  it('is silent when each run and each thread stays in its partition, whatever the interleaving of users', () => {
    const events = [
      on(0, 'agent_started', 'run_alice', 0, 'thread_alice', 'user_alice'),
      on(1, 'agent_started', 'run_bob', 0, 'thread_bob', 'user_bob'),
      on(0, 'agent_thinking', 'run_alice', 1, 'thread_alice', 'user_alice'),
      on(1, 'agent_thinking', 'run_bob', 1, 'thread_bob', 'user_bob'),
      on(0, 'agent_started', 'run_alice_2', 2, 'thread_alice', 'user_alice'),
      on(1, 'agent_completed', 'run_bob', 2, 'thread_bob', 'user_bob'),
    ];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(fedcba)-w-|', { a: ev(events[0]!), b: ev(events[1]!), c: ev(events[2]!), d: ev(events[3]!), e: ev(events[4]!), f: ev(events[5]!), w: wm(2) });
      expectObservable(source.pipe(detect())).toBe('------------|');
    });
  });

  it('keeps interleaved runs of different users apart: only the split run is reported', () => {
    const alice = [on(0, 'agent_started', 'run_alice', 0, 'thread_alice', 'user_alice'), on(0, 'agent_thinking', 'run_alice', 2, 'thread_alice', 'user_alice')];
    const bob = [on(1, 'agent_started', 'run_bob', 1, 'thread_bob', 'user_bob'), on(0, 'agent_thinking', 'run_bob', 3, 'thread_bob', 'user_bob')];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-w-|', { a: ev(bob[1]!), b: ev(alice[1]!), c: ev(alice[0]!), d: ev(bob[0]!), w: wm(3) });
      expectObservable(source.pipe(detect())).toBe('---------w-|', {
        w: violation({ rule: 'partitioning_broken', runId: 'run_bob', userId: 'user_bob', threadId: 'thread_bob', eventTimeMs: 3, detail: 'run run_bob has events in partitions 1 and 0' }),
      });
    });
  });

  it('reports a redelivery from another partition as a split run', () => {
    const s = on(0, 'agent_started', 'r1', 0);
    const copy = { ...redelivered(s, 5), source: { topic: 'agent-events', partition: 3, offset: 5 } };
    const t = on(0, 'agent_thinking', 'r1', 1);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-|', { a: ev(s), b: ev(copy), c: ev(t), w: wm(1) });
      expectObservable(source.pipe(detect())).toBe('-------w-|', {
        w: violation({ rule: 'partitioning_broken', runId: 'r1', eventTimeMs: 0, source: { topic: 'agent-events', partitions: [3], offsets: [5] } }),
      });
    });
  });

  it('reports an event that arrives after the watermark as a late event', () => {
    const s = on(0, 'agent_started', 'r1', 0);
    const late = on(1, 'agent_thinking', 'r1', 1);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-|', { a: ev(s), w: wm(4), b: ev(late) });
      expectObservable(source.pipe(detect())).toBe('-----l-|', { l: lateEvent(late, 4, 'open') });
    });
  });

  it('propagates errors and releases the source', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-w-#', { a: ev(on(0, 'agent_started', 'r1', 0)), b: ev(on(1, 'agent_thinking', 'r1', 1)), w: wm(1) });
      expectObservable(source.pipe(detect())).toBe('-----w-#', { w: violation({ rule: 'partitioning_broken', runId: 'r1' }) });
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
  });

  it('releases the source on unsubscribe', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b---w-|', { a: ev(on(0, 'agent_started', 'r1', 0)), b: ev(on(1, 'agent_thinking', 'r1', 1)), w: wm(1) });
      expectObservable(source.pipe(detect()), '^----!').toBe('------');
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });
});
