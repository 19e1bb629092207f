import { describe, expect, it } from 'vitest';
import type { LifecycleType } from '../../../src/contract/event.js';
import { detectDeliveryLatency } from '../../../src/operators/detectDeliveryLatency.js';
import { verdictId } from '../../../src/operators/engine/verdict-id.js';
import { lateEvent, ordered, redelivered, replay, scheduler, SMALL_CONTRACT, violation } from '../../support/detectors.js';
import { agentEvent, ev, wm } from '../../support/events.js';

const detect = () => ordered(detectDeliveryLatency(SMALL_CONTRACT));

/** An event of `runId` emitted at `t` and delivered `latency` ms later (SMALL_CONTRACT: > 5 WARNING, > 20 CRITICAL). */
const sent = (type: LifecycleType, runId: string, t: number, latency: number, userId?: string) =>
  agentEvent(type, runId, t, { deliveredAtMs: t + latency, ...(userId === undefined ? {} : { userId }) });

describe('detectDeliveryLatency', () => {
  it('reports a WARNING above the warning level and a CRITICAL above the critical level (doc example)', () => {
    const [a, b] = [sent('agent_started', 'r1', 0, 6), sent('agent_thinking', 'r1', 1, 21)];
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-w-b-x-|', { a: ev(a), w: wm(0), b: ev(b), x: wm(1) });
      const expected = '  ---w---c-|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        w: violation({
          violationId: verdictId('delivery_latency', 'r1', `0:${a.source.offset}`),
          rule: 'delivery_latency',
          severity: 'WARNING',
          subject: 'agent_started',
          detail: 'agent_started delivered 6 ms after it was emitted (limit 5 ms)',
          runId: 'r1',
          eventTimeMs: 0,
          source: { topic: 'agent-events', partitions: [0], offsets: [a.source.offset] },
        }),
        c: violation({
          rule: 'delivery_latency',
          severity: 'CRITICAL',
          subject: 'agent_thinking',
          detail: 'agent_thinking delivered 21 ms after it was emitted (limit 20 ms)',
          runId: 'r1',
          eventTimeMs: 1,
        }),
      });
      expectSubscriptions(source.subscriptions).toBe('^--------!');
    });
  });

  it('compares strictly: exactly the warning level is fine, exactly the critical level is a WARNING', () => {
    const [atWarning, atCritical, fast] = [sent('agent_started', 'r1', 0, 5), sent('agent_thinking', 'r1', 1, 20), sent('tool_executing', 'r1', 2, 0)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-|', { a: ev(atWarning), b: ev(atCritical), c: ev(fast), w: wm(2) });
      expectObservable(source.pipe(detect())).toBe('-------w-|', { w: violation({ rule: 'delivery_latency', severity: 'WARNING', subject: 'agent_thinking', eventTimeMs: 1 }) });
    });
  });

  it('is silent for a run delivered in time', () => {
    const run = (['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const).map((type, i) => sent(type, 'r1', i, i));
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-w-|', { a: ev(run[4]!), b: ev(run[3]!), c: ev(run[2]!), d: ev(run[1]!), e: ev(run[0]!), w: wm(4) });
      expectObservable(source.pipe(detect())).toBe('-----------|');
    });
  });

  it('judges each delivery of a redelivered event by its own delivery time', () => {
    const original = sent('tool_completed', 'r1', 3, 1);
    const retry = redelivered(original, 650, { deliveredAtMs: 3 + 30, recovered: true });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-|', { a: ev(original), b: ev(retry), w: wm(3) });
      expectObservable(source.pipe(detect())).toBe('-----c-|', {
        c: violation({ rule: 'delivery_latency', severity: 'CRITICAL', subject: 'tool_completed', runId: 'r1', eventTimeMs: 3, source: { topic: 'agent-events', partitions: [0], offsets: [650] } }),
      });
    });
  });

  it('keeps interleaved runs of different users apart', () => {
    const alice = [sent('agent_started', 'run_alice', 0, 1, 'user_alice'), sent('agent_thinking', 'run_alice', 2, 9, 'user_alice')];
    const bob = [sent('agent_started', 'run_bob', 1, 25, 'user_bob'), sent('agent_thinking', 'run_bob', 3, 2, 'user_bob')];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-w------|', { a: ev(bob[1]!), b: ev(alice[1]!), c: ev(bob[0]!), d: ev(alice[0]!), w: wm(3) });
      const expected = '  ---------(xy)---|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        x: violation({ rule: 'delivery_latency', severity: 'CRITICAL', runId: 'run_bob', userId: 'user_bob', eventTimeMs: 1 }),
        y: violation({ rule: 'delivery_latency', severity: 'WARNING', runId: 'run_alice', userId: 'user_alice', eventTimeMs: 2 }),
      });
    });
  });

  it('reports an event that arrives after the watermark as a late event (of an open run, then of a closed one)', () => {
    const [s, f] = [sent('agent_started', 'r1', 0, 0), sent('agent_completed', 'r1', 2, 0)];
    const [late1, late2] = [sent('agent_thinking', 'r1', 1, 0), sent('tool_executing', 'r1', 1, 0)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-c-x-d-|', { a: ev(s), w: wm(1), b: ev(late1), c: ev(f), x: wm(2), d: ev(late2) });
      expectObservable(source.pipe(detect())).toBe('-----l-----m-|', { l: lateEvent(late1, 1, 'open'), m: lateEvent(late2, 2, 'closed') });
    });
  });

  it('still judges the delivery latency of a late event (a slow delivery is what makes an event late)', async () => {
    const s = sent('agent_started', 'r1', 0, 0);
    const slow = sent('agent_thinking', 'r1', 1, 40);
    const verdicts = await replay([ev(s), wm(10), ev(slow)], detectDeliveryLatency(SMALL_CONTRACT));
    expect(verdicts).toEqual(expect.arrayContaining([lateEvent(slow, 10, 'open'), violation({ rule: 'delivery_latency', severity: 'CRITICAL', subject: 'agent_thinking', runId: 'r1', eventTimeMs: 1 })]));
  });

  it('propagates errors and releases the source', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-w-#', { a: ev(sent('agent_started', 'r1', 0, 7)), w: wm(0) });
      expectObservable(source.pipe(detect())).toBe('---w-#', { w: violation({ rule: 'delivery_latency', severity: 'WARNING' }) });
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('releases the source on unsubscribe', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a---w-|', { a: ev(sent('agent_started', 'r1', 0, 50)), w: wm(0) });
      expectObservable(source.pipe(detect()), '^--!').toBe('---');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});
