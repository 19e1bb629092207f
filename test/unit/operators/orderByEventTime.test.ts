import fc from 'fast-check';
import { from, lastValueFrom, Subject, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../../src/contract/event.js';
import { orderByEventTime } from '../../../src/operators/orderByEventTime.js';
import { StateRegistry } from '../../../src/operators/state-registry.js';
import type { CompletionArrived, StreamItem } from '../../../src/operators/stream-item.js';
import { withWatermark } from '../../../src/operators/withWatermark.js';
import { scheduler } from '../../support/detectors.js';
import { agentEvent, ev, wm } from '../../support/events.js';

const at = (t: number, partition: number, offset: number, runId = 'r1'): AgentEvent =>
  agentEvent('agent_thinking', runId, t, { source: { topic: 'agent-events', partition, offset } });

describe('orderByEventTime', () => {
  it('holds events until the watermark is strictly past them, releases them sorted before the watermark; an event at the watermark waits for the next one, one below it is late (doc example)', () => {
    const [e3, e1, e2] = [agentEvent('agent_thinking', 'r1', 3), agentEvent('agent_started', 'r1', 1), agentEvent('tool_executing', 'r1', 2)];
    const behind = agentEvent('tool_completed', 'r1', 1);
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-w----c-d-x----|', { a: ev(e3), b: ev(e1), w: wm(2), c: ev(e2), d: ev(behind), x: wm(5) });
      const expected = '  -----(yw)---L-(zvx)|';
      expectObservable(source.pipe(orderByEventTime())).toBe(expected, {
        y: ev(e1),
        w: wm(2),
        L: { kind: 'late', event: behind, watermarkMs: 2 }, // 1 < watermark 2: cannot be ordered any more
        z: ev(e2), // 2 == watermark 2: still in order, released with the next watermark
        v: ev(e3),
        x: wm(5),
      });
      expectSubscriptions(source.subscriptions).toBe('^------------------!');
    });
  });

  it('breaks ties in event time on (partition, offset), whatever the arrival order', () => {
    const [p1o9, p0o7, p1o2, p0o8] = [at(4, 1, 9), at(4, 0, 7), at(4, 1, 2), at(4, 0, 8)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-w-------|', { a: ev(p1o9), b: ev(p0o7), c: ev(p1o2), d: ev(p0o8), w: wm(5) });
      const expected = '  ---------(abcdw)-|';
      expectObservable(source.pipe(orderByEventTime())).toBe(expected, { a: ev(p0o7), b: ev(p0o8), c: ev(p1o2), d: ev(p1o9), w: wm(5) });
    });
  });

  it('keeps an event at or just above the watermark and releases only what the watermark is strictly past', () => {
    const [e5, e6, e7] = [at(5, 0, 1), at(6, 0, 2), at(7, 0, 3)];
    scheduler().run(({ hot, expectObservable }) => {
      // wm(6) releases e5 and keeps e6 (at it) and e7 (above it); wm(7) releases e6; completion e7.
      const source = hot('-a-b-c-w-----x---|', { a: ev(e7), b: ev(e5), c: ev(e6), w: wm(6), x: wm(7) });
      const expected = '  -------(bw)--(cx)(a|)';
      expectObservable(source.pipe(orderByEventTime())).toBe(expected, { b: ev(e5), w: wm(6), c: ev(e6), x: wm(7), a: ev(e7) });
    });
  });

  it('passes suspicious items, and late items already behind the watermark, on at once', () => {
    const [late, odd, e9] = [at(1, 0, 1), at(99_999, 0, 2), at(9, 0, 3)];
    scheduler().run(({ hot, expectObservable }) => {
      // Placed at 3, strictly behind the overall watermark 4 (their partition's was 3 when they arrived).
      const source = hot<StreamItem>('-w-a-l-s-x-----|', { w: wm(4), a: ev(e9), l: { kind: 'late', event: late, watermarkMs: 3 }, s: { kind: 'suspicious', event: odd, watermarkMs: 3 }, x: wm(10) });
      const expected = '  -w---l-s-(ax)--|';
      expectObservable(source.pipe(orderByEventTime())).toBe(expected, {
        w: wm(4),
        l: { kind: 'late', event: late, watermarkMs: 3 },
        s: { kind: 'suspicious', event: odd, watermarkMs: 3 },
        a: ev(e9),
        x: wm(10),
      });
    });
  });

  it('holds a late item until the watermark passes the one it was found behind, then places it after the events up to there', () => {
    // Found behind its partition's watermark 5 while the overall watermark was still at 2. wm(5)
    // releases e4 only: e5 and the late item, both placed at 5, wait for a watermark past 5.
    const [e4, e5, e7, late] = [at(4, 1, 1), at(5, 1, 2), at(7, 1, 3), at(1, 0, 9)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot<StreamItem>('-w-a-b-c-l-x-----y-----|', { w: wm(2), a: ev(e7), b: ev(e5), c: ev(e4), l: { kind: 'late', event: late, watermarkMs: 5 }, x: wm(5), y: wm(8) });
      const expected = '  -w---------(cx)--(blay)|';
      expectObservable(source.pipe(orderByEventTime())).toBe(expected, {
        w: wm(2),
        c: ev(e4),
        x: wm(5),
        b: ev(e5),
        l: { kind: 'late', event: late, watermarkMs: 5 },
        a: ev(e7),
        y: wm(8),
      });
    });
  });

  it('releases a late item placed exactly at the watermark, arriving after it, together with the other items of that place, in canonical order whatever the arrival order', () => {
    // Both partitions stand at 5. After wm(5) still come: an event at 5 (not late: 5 is not below
    // the watermark) and two late items placed at 5, each found behind its partition's watermark 5.
    const [p1At5, p0At5, p0At5Next, p1At6] = [at(5, 1, 7), at(5, 0, 3), at(5, 0, 4), at(6, 1, 9)];
    const lateP1 = { kind: 'late', event: at(2, 1, 8), watermarkMs: 5 } as const; // delivered at 12
    const lateP0 = { kind: 'late', event: at(1, 0, 5), watermarkMs: 5 } as const; // delivered at 11
    const values = { a: ev(p1At5), b: ev(p0At5), w: wm(5), c: ev(p0At5Next), l: lateP1, m: lateP0, d: ev(p1At6), x: wm(6) };
    for (const arrival of ['-a-b-w-c-l-m-d-x----------|', '-b-a-w-c-m-l-d-x----------|']) {
      scheduler().run(({ hot, expectObservable }) => {
        const source = hot<StreamItem>(arrival, values);
        // Nothing at 5 leaves with wm(5). With wm(6) everything placed at 5 leaves at once: the events
        // by (delivery time, partition, offset), then the late items by (delivery time, partition,
        // offset); the event at 6 waits for completion.
        const expected = '-----w---------(bcamlx)---(d|)';
        expectObservable(source.pipe(orderByEventTime())).toBe(expected, values);
      });
    }
  });

  it('releases both deliveries of a redelivered event, next to each other (dropping copies is detectDuplicates’ job)', () => {
    const original = at(3, 0, 10);
    const copy = { ...original, source: { ...original.source, offset: 14 } };
    const other = at(2, 0, 12);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w------|', { a: ev(original), b: ev(other), c: ev(copy), w: wm(4) });
      const expected = '  -------(bacw)-|';
      expectObservable(source.pipe(orderByEventTime())).toBe(expected, { b: ev(other), a: ev(original), c: ev(copy), w: wm(4) });
    });
  });

  it('merges interleaved runs of different users into one event-time order', () => {
    const alice = [agentEvent('agent_started', 'run_alice', 1, { userId: 'user_alice' }), agentEvent('agent_thinking', 'run_alice', 4, { userId: 'user_alice' })];
    const bob = [agentEvent('agent_started', 'run_bob', 2, { userId: 'user_bob' }), agentEvent('agent_thinking', 'run_bob', 3, { userId: 'user_bob' })];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-w------|', { a: ev(alice[1]!), b: ev(bob[1]!), c: ev(bob[0]!), d: ev(alice[0]!), w: wm(5) });
      const expected = '  ---------(wxyzW)|';
      expectObservable(source.pipe(orderByEventTime())).toBe(expected, { w: ev(alice[0]!), x: ev(bob[0]!), y: ev(bob[1]!), z: ev(alice[1]!), W: wm(5) });
    });
  });

  it('flushes the buffer in order when the input completes', () => {
    const [e8, e6] = [at(8, 0, 1), at(6, 1, 2)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-|', { a: ev(e8), b: ev(e6) });
      expectObservable(source.pipe(orderByEventTime())).toBe('-----(ba|)', { a: ev(e8), b: ev(e6) });
    });
  });

  it('propagates an error (buffered events are not released) and releases the source', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-w-b-#', { a: ev(at(1, 0, 1)), w: wm(2), b: ev(at(5, 0, 2)) });
      expectObservable(source.pipe(orderByEventTime())).toBe('---(aw)#', { a: ev(at(1, 0, 1)), w: wm(2) });
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
  });

  it('releases the source on unsubscribe', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-w---b-x-|', { a: ev(at(1, 0, 1)), w: wm(2), b: ev(at(5, 0, 2)), x: wm(9) });
      expectObservable(source.pipe(orderByEventTime()), '^------!').toBe('---(aw)', { a: ev(at(1, 0, 1)), w: wm(2) });
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
  });
});

describe('orderByEventTime announcing completions (early firing)', () => {
  const done = (runId: string, t: number, partition = 0, offset = 0): AgentEvent => agentEvent('agent_completed', runId, t, { source: { topic: 'agent-events', partition, offset } });
  const arrived = (event: AgentEvent, pending: readonly StreamItem[]): StreamItem => ({ kind: 'completion_arrived', event, pending: pending as CompletionArrived['pending'] });

  it('announces a completion the moment it arrives, with the events of its run still waiting (itself included), and nothing of other runs', () => {
    const [a1, b1, a2] = [at(1, 0, 1, 'a'), at(2, 0, 2, 'b'), at(3, 0, 3, 'a')];
    const aDone = done('a', 4, 0, 4);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-c-d-x-', { a: ev(a1), w: wm(2), b: ev(b1), c: ev(a2), d: ev(aDone), x: wm(9) });
      const expected = '  ---(yw)--D-(bczx)';
      expectObservable(source.pipe(orderByEventTime({ announceArrivalsOf: 'agent_completed' }))).toBe(expected, {
        y: ev(a1), // released by wm(2): no longer waiting, so not in the notice
        w: wm(2),
        D: arrived(aDone, [ev(a2), ev(aDone)]),
        b: ev(b1),
        c: ev(a2),
        z: ev(aDone),
        x: wm(9),
      });
    });
  });

  it('announces a late completion too (held or passed on at once), with the late events of its run that wait; never a suspicious one', () => {
    const lateStart = at(1, 1, 1, 'r');
    const heldDone = done('r', 2, 1, 2);
    const oddDone = done('q', 99_999, 0, 9);
    const behindDone = done('s', 0, 0, 10);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot<StreamItem>('-w-l-m-s-n-----x-', {
        w: wm(3),
        l: { kind: 'late', event: lateStart, watermarkMs: 3 }, // placed at 3: waits for a watermark past 3
        m: { kind: 'late', event: heldDone, watermarkMs: 3 },
        s: { kind: 'suspicious', event: oddDone, watermarkMs: 3 },
        n: ev(behindDone), // below the watermark: late at once, already placed when announced
        x: wm(5),
      });
      const expected = '  -w---M---(NB)--(LHSx)';
      expectObservable(source.pipe(orderByEventTime({ announceArrivalsOf: 'agent_completed' }))).toBe(expected, {
        w: wm(3),
        M: arrived(heldDone, [{ kind: 'late', event: lateStart, watermarkMs: 3 }, { kind: 'late', event: heldDone, watermarkMs: 3 }]),
        N: { kind: 'late', event: behindDone, watermarkMs: 3 },
        B: arrived(behindDone, []),
        L: { kind: 'late', event: lateStart, watermarkMs: 3 },
        H: { kind: 'late', event: heldDone, watermarkMs: 3 },
        S: { kind: 'suspicious', event: oddDone, watermarkMs: 3 }, // held at its place too, never announced
        x: wm(5),
      });
    });
  });

  it('announces nothing without the option, and the same items either way', async () => {
    const events = [at(1, 0, 1, 'a'), done('a', 2, 0, 2), at(3, 0, 3, 'b'), done('b', 4, 0, 4)];
    const plain = await lastValueFrom(from(events.map(ev)).pipe(orderByEventTime(), toArray()));
    const announcing = await lastValueFrom(from(events.map(ev)).pipe(orderByEventTime({ announceArrivalsOf: 'agent_completed' }), toArray()));
    expect(plain.some((item) => item.kind === 'completion_arrived')).toBe(false);
    expect(announcing.filter((item) => item.kind === 'completion_arrived')).toHaveLength(2);
    expect(announcing.filter((item) => item.kind !== 'completion_arrived')).toEqual(plain);
  });

  it('with thousands of runs passing through (the index is swept as it grows), a notice lists exactly what of its run still waits', async () => {
    const items: StreamItem[] = [];
    for (let i = 0; i < 8_000; i += 1) {
      items.push(ev(at(i, 0, 2 * i, `run_${i}`)), ev(at(i + 1, 0, 2 * i + 1, `run_${i}`)));
      if (i % 10 === 0) items.push(wm(i - 2_000)); // events of the last ~2,000 ms of event time wait: many sweeps keep them
      if (i % 1_000 === 999 && i >= 2_999) items.push(ev(done(`run_${i - 1_500}`, i + 2, 1, i)), ev(done(`run_${i - 2_700}`, i + 2, 1, i + 1)));
    }
    const notices = (await lastValueFrom(from(items).pipe(orderByEventTime({ announceArrivalsOf: 'agent_completed' }), toArray()))).filter((item): item is CompletionArrived => item.kind === 'completion_arrived');
    expect(notices).toHaveLength(12);
    notices.forEach((notice, n) => {
      const run = Number(notice.event.runId.slice(4));
      const newest = 2_999 + 1_000 * Math.floor(n / 2);
      const waiting = notice.pending.map((item) => `${item.event.type}@${item.event.emittedAtMs}`).sort();
      const completion = `agent_completed@${newest + 2}`;
      // A run 1,500 behind the newest still has both of its events waiting; one 2,700 behind has none.
      if (newest - run === 1_500) expect(waiting).toEqual([completion, `agent_thinking@${run + 1}`, `agent_thinking@${run}`].sort());
      else expect(waiting).toEqual([completion]);
    });
  });

  it('after a restore, knows what was waiting before the checkpoint (the index is rebuilt from the restored buffers)', () => {
    const [a1, late] = [at(1, 0, 1, 'a'), at(0, 1, 1, 'a')];
    const aDone = done('a', 5, 0, 2);
    const first = new StateRegistry();
    const before: StreamItem[] = [];
    const input = new Subject<StreamItem>();
    input.pipe(orderByEventTime({ state: first, announceArrivalsOf: 'agent_completed' })).subscribe((item) => before.push(item));
    input.next(wm(1));
    input.next(ev(a1));
    input.next({ kind: 'late', event: late, watermarkMs: 1 });
    expect(before).toEqual([wm(1)]);
    const snapshot = StateRegistry.decode(first.snapshot());

    const after: StreamItem[] = [];
    const resumed = new Subject<StreamItem>();
    resumed.pipe(orderByEventTime({ state: new StateRegistry(snapshot), announceArrivalsOf: 'agent_completed' })).subscribe((item) => after.push(item));
    resumed.next(ev(aDone));
    expect(after).toHaveLength(1);
    const notice = after[0] as CompletionArrived;
    expect(notice.kind).toBe('completion_arrived');
    expect(notice.pending.map((item) => [item.kind, item.event.source.partition, item.event.source.offset]).sort()).toEqual([
      ['event', 0, 1],
      ['event', 0, 2],
      ['late', 1, 1],
    ]);
  });
});

describe('orderByEventTime (properties)', () => {
  /** One record as generated: event time, partition, how often it is delivered, and how late each delivery is. */
  const recordArb = fc.record({
    t: fc.integer({ min: 0, max: 60 }),
    partition: fc.integer({ min: 0, max: 1 }),
    deliveries: fc.array(fc.record({ delay: fc.nat(), tieBreak: fc.nat() }), { minLength: 1, maxLength: 3 }),
  });

  it('releases any arrival permutation within the watermark bound in (emittedAtMs, partition, offset) order, with nothing late', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(recordArb, { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 12 }), async (records, bound) => {
        // Arrival: sorted by t + delay with delay < bound. Every permutation in which no event arrives
        // `bound` or more behind the highest time already seen has this form (delay = that lag), so
        // this covers exactly the legal disorders. Duplicate deliveries make the input a multiset.
        const arrivals = records
          .flatMap((r, i) => r.deliveries.map((d) => ({ record: i, t: r.t, partition: r.partition, key: r.t + (d.delay % bound), tieBreak: d.tieBreak })))
          .sort((a, b) => a.key - b.key || a.tieBreak - b.tieBreak);
        // Kafka numbers each delivered copy in its partition in arrival order.
        const nextOffset = new Map<number, number>();
        const events = arrivals.map((a) => {
          const offset = nextOffset.get(a.partition) ?? 0;
          nextOffset.set(a.partition, offset + 1);
          return agentEvent('agent_thinking', `run_${a.record}`, a.t, { source: { topic: 'agent-events', partition: a.partition, offset } });
        });

        const out: StreamItem[] = await lastValueFrom(from(events).pipe(withWatermark({ maxOutOfOrdernessMs: bound }), orderByEventTime(), toArray()));

        expect(out.filter((item) => item.kind === 'late')).toEqual([]);
        const released = out.flatMap((item) => (item.kind === 'event' ? [item.event] : []));
        const expected = [...events].sort((a, b) => a.emittedAtMs - b.emittedAtMs || a.source.partition - b.source.partition || a.source.offset - b.source.offset);
        expect(released).toEqual(expected);
        // Each watermark follows every event it is strictly past, and precedes every other one (at
        // or after it: an event at the watermark waits for the next one).
        out.forEach((item, i) => {
          if (item.kind !== 'watermark') return;
          const before = out.slice(0, i).flatMap((x) => (x.kind === 'event' ? [x.event.emittedAtMs] : []));
          const after = out.slice(i + 1).flatMap((x) => (x.kind === 'event' ? [x.event.emittedAtMs] : []));
          expect(after.every((t) => t >= item.watermarkMs)).toBe(true);
          expect(before.every((t) => t < item.watermarkMs)).toBe(true);
        });
      }),
      { numRuns: 500 },
    );
  });
});
