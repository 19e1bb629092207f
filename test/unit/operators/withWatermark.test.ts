import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../../src/contract/event.js';
import type { ChainInput, EventTimeHeartbeat, PartitionIdle } from '../../../src/operators/stream-item.js';
import { withWatermark } from '../../../src/operators/withWatermark.js';
import { agentEvent, ev, wm } from '../../support/events.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('withWatermark', () => {
  const e5 = agentEvent('agent_started', 'r1', 5);
  const e3 = agentEvent('agent_thinking', 'r1', 3);
  const e9 = agentEvent('agent_completed', 'r1', 9);

  it('forwards events and emits a watermark each time (highest event time − bound) advances; an event behind it is late', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-----b-----c-----|', { a: e5, b: e3, c: e9 });
      const expected = '  -(xy)--l-----(uv)--|';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 2 }))).toBe(expected, {
        x: ev(e5),
        y: wm(3),
        l: { kind: 'late', event: e3, watermarkMs: 3 }, // 3 <= 5 - 2: behind its partition's watermark
        u: ev(e9),
        v: wm(7),
      });
      expectSubscriptions(source.subscriptions).toBe('^------------------!');
    });
  });

  it('advances on heartbeats without forwarding them, and never moves backwards', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const heartbeat = (eventTimeMs: number): EventTimeHeartbeat => ({ kind: 'heartbeat', eventTimeMs });
      const source = hot<AgentEvent | EventTimeHeartbeat>('-a-----h-----g-|', { a: e5, h: heartbeat(12), g: heartbeat(4) });
      const expected = '  -(xy)--w-------|';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 2 }))).toBe(expected, { x: ev(e5), y: wm(3), w: wm(10) });
    });
  });

  it('propagates errors', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a----#', { a: e5 });
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0 }))).toBe('-(xy)-#', { x: ev(e5), y: wm(5) });
      expectSubscriptions(source.subscriptions).toBe('^-----!');
    });
  });

  it('releases the source on unsubscribe', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a---b-', { a: e5, b: e9 });
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0 })), '^--!').toBe('-(xy)', { x: ev(e5), y: wm(5) });
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('rejects a negative bound when the operator is created', () => {
    expect(() => withWatermark({ maxOutOfOrdernessMs: -1 })).toThrow(RangeError);
  });
});

describe('withWatermark (partitions)', () => {
  const on = (partition: number, t: number) => agentEvent('agent_thinking', `r${partition}`, t, { source: { topic: 't', partition, offset: t } });

  it('holds the watermark at the slowest partition', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const [a, c, b, d] = [on(0, 10), on(1, 5), on(0, 20), on(1, 30)];
      const source = hot('-a-----c-----b-----d-----|', { a, c, b, d });
      const expected = '  -(xy)--c-----b-----(dw)--|';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0 }))).toBe(expected, {
        x: ev(a),
        y: wm(10),
        c: ev(c), // partition 1 is behind: min is 5, the watermark cannot go back
        b: ev(b), // partition 0 ahead alone does not move it
        d: ev(d),
        w: wm(20), // now both partitions are past 20
      });
    });
  });

  it('waits for every announced partition before the first watermark', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const [a, c] = [on(0, 10), on(1, 7)];
      const source = hot('-a-----c-----|', { a, c });
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 1, partitions: [0, 1] }))).toBe('-a-----(cx)--|', { a: ev(a), c: ev(c), x: wm(6) });
    });
  });

  it('leaves an idle partition out of the minimum until it delivers again (live mode)', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const idle = (partition: number): PartitionIdle => ({ kind: 'partition_idle', partition });
      const [a, b, c, d, e] = [on(0, 5), on(1, 2), on(0, 9), on(1, 4), on(0, 12)];
      const source = hot<ChainInput>('-a---b---c---i---d---e---|', { a, b, c, i: idle(1), d, e });
      const expected = '              -(ax)b---c---y---d---e---|';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0 }))).toBe(expected, {
        a: ev(a),
        x: wm(5), // only partition 0 seen so far
        b: ev(b), // partition 1 is behind: held at 5
        c: ev(c), // still held by partition 1 (max 2)
        y: wm(9), // partition 1 idle: the watermark follows partition 0 alone
        d: ev(d), // partition 1 is back (behind the watermark: ordering calls it late) and counts again
        e: ev(e), // so partition 0 alone cannot move it: min(12, 4) = 4 < 9
      });
    });
  });

  it('ignores an idle hint for the only partition (nothing left to follow)', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot<ChainInput>('-a---i---|', { a: on(0, 5), i: { kind: 'partition_idle', partition: 0 } });
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0 }))).toBe('-(ax)----|', { a: ev(on(0, 5)), x: wm(5) });
    });
  });
});
