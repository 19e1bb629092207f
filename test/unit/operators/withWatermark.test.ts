import fc from 'fast-check';
import { from, lastValueFrom, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { AgentEvent, LifecycleType } from '../../../src/contract/event.js';
import { orderByEventTime } from '../../../src/operators/orderByEventTime.js';
import type { ChainInput, EventTimeHeartbeat, ProcessingTimeHint, StreamItem } from '../../../src/operators/stream-item.js';
import { withWatermark } from '../../../src/operators/withWatermark.js';
import { agentEvent, ev, wm } from '../../support/events.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
const NEG_INF = Number.NEGATIVE_INFINITY;
const YEAR_9999 = Date.UTC(9999, 0, 1);

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

  it('rejects a negative bound or a negative maxAheadMs when the operator is created', () => {
    expect(() => withWatermark({ maxOutOfOrdernessMs: -1 })).toThrow(RangeError);
    expect(() => withWatermark({ maxOutOfOrdernessMs: 0, maxAheadMs: -1 })).toThrow(RangeError);
  });
});

const on = (partition: number, t: number, overrides: Partial<AgentEvent> = {}) =>
  agentEvent('agent_thinking', `r${partition}`, t, { source: { topic: 't', partition, offset: t }, ...overrides });
const suspicious = (event: AgentEvent, watermarkMs: number): StreamItem => ({ kind: 'suspicious', event, watermarkMs });

describe('withWatermark (partitions)', () => {
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
});

describe('withWatermark (live mode: assignment, idle partitions)', () => {
  const assignment = (...partitions: number[]): ProcessingTimeHint => ({ kind: 'assignment', partitions });
  const idle = (atMs: number, ...partitions: number[]): ProcessingTimeHint => ({ kind: 'idle', atMs, partitions });

  it('waits for every ASSIGNED partition, not only those that have delivered', () => {
    scheduler().run(({ hot, expectObservable }) => {
      // Partition 2 is assigned but delivers nothing yet (a backlog KafkaJS has not fetched).
      const [a, b, c, d] = [on(0, 10), on(1, 12), on(0, 20), on(2, 15)];
      const source = hot<ChainInput>('-s-----a-----b-----c-----d-----|', { s: assignment(0, 1, 2), a, b, c, d });
      const expected = '              -------a-----b-----c-----(dw)--|';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0 }))).toBe(expected, { a: ev(a), b: ev(b), c: ev(c), d: ev(d), w: wm(12) });
    });
  });

  it('lets a revoked partition leave the minimum, and puts a newly assigned one in at −∞', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const [a, b, c, e, d] = [on(0, 10), on(1, 4), on(0, 20), on(0, 40), on(2, 30)];
      const source = hot<ChainInput>('-s-----a-----b-----r-----c-----n-----e-----d-----|', { s: assignment(0, 1), a, b, r: assignment(0), c, n: assignment(0, 2), e, d });
      const expected = '              -------a-----(bx)--y-----(cz)--------e-----(dw)--|';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0 }))).toBe(expected, {
        a: ev(a),
        b: ev(b),
        x: wm(4), // both assigned partitions have delivered
        y: wm(10), // partition 1 revoked: partition 0 alone
        c: ev(c),
        z: wm(20),
        e: ev(e), // partition 2 assigned: −∞ until it delivers, so partition 0 alone moves nothing
        d: ev(d),
        w: wm(30), // min(40, 30)
      });
    });
  });

  it('stops an idle (caught-up) partition from holding the watermark back, until it delivers again or the next set drops it', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const [a, b, c, d, e, f] = [on(0, 5), on(1, 2), on(0, 9), on(1, 4), on(0, 12), on(0, 20)];
      const source = hot<ChainInput>('-s-----a-----b-----c-----i-----d-----e-----j-----k-----f-----|', {
        s: assignment(0, 1),
        a,
        b,
        c,
        i: idle(1_000, 1),
        d,
        e,
        j: idle(1_000, 1),
        k: idle(1_000),
        f,
      });
      const expected = '              -------a-----(bx)--c-----y-----d-----e-----z-----------f-----|';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0 }))).toBe(expected, {
        a: ev(a),
        b: ev(b),
        x: wm(2),
        c: ev(c), // held by partition 1 (max 2)
        y: wm(9), // partition 1 idle: it counts with partition 0's progress
        d: ev(d), // partition 1 is back (ordering calls it late) and counts with its own time: min(9, 4) cannot move it
        e: ev(e),
        z: wm(12), // partition 1 idle again
        // k: the next set no longer names partition 1 (it lags): it counts again, min(20, 4)
        f: ev(f),
      });
    });
  });

  it('never skips an assigned partition that delivered nothing unless an idle hint names it', () => {
    scheduler().run(({ hot, expectObservable }) => {
      // Partition 1 is lagging (never named idle); partition 0 is idle for a long time: no watermark at all.
      const a = on(0, 50);
      const source = hot<ChainInput>('-s-----a-----i-----h-----|', { s: assignment(0, 1), a, i: idle(1_000, 0), h: idle(60_000, 0) });
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0 }))).toBe('-------a-----------------|', { a: ev(a) });
    });
  });

  it('advances event time with the clock while every partition is idle; a partition that delivers counts with its own time again', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const [a, b, c] = [on(0, 10), on(1, 20), on(0, 30)];
      const source = hot<ChainInput>('-s-----a-----b-----i-----h-----c-----g-----|', { s: assignment(0, 1), a, b, i: idle(1_000, 0, 1), h: idle(1_005, 0, 1), c, g: idle(1_010, 1) });
      const expected = '              -------a-----(bx)--y-----z-----c-----w-----|';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 2 }))).toBe(expected, {
        a: ev(a),
        b: ev(b),
        x: wm(8),
        y: wm(18), // both idle: both count from the stream's progress (20)
        z: wm(23), // 5 ms of clock later
        c: ev(c), // partition 0 delivers: it counts with 30, partition 1 with 20 + 5
        w: wm(28), // partition 1 idle 10 ms: 30; min(30, 30) − 2
      });
    });
  });

  it('gives a partition idle since before the stream had any event time the stream\'s progress once there is some', () => {
    scheduler().run(({ hot, expectObservable }) => {
      // A live monitor started on an empty topic: all three partitions are idle before any event;
      // then only partition 0 ever delivers. Partitions 1 and 2 must not hold event time at −∞.
      const [a, b] = [on(0, 10), on(0, 30)];
      const source = hot<ChainInput>('-s-----i-----a-----j-----b-----k-----|', { s: assignment(0, 1, 2), i: idle(1_000, 0, 1, 2), a, j: idle(1_002, 1, 2), b, k: idle(1_010, 0, 1, 2) });
      const expected = '              -------------a-----x-----b-----y-----|';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0 }))).toBe(expected, {
        a: ev(a), // partitions 1 and 2 idle from −∞: nothing to count from yet
        x: wm(10), // they take partition 0's progress (10) at the next idle hint
        b: ev(b), // partitions 1 and 2 count with 10 + 0 ms of clock: the watermark stays
        y: wm(18), // all idle: partition 0 from max(30, 10 + 8), the others at 10 + 8
      });
    });
  });

  it('cannot be run ahead by a burst of old records from one partition while the others, idle a moment ago, have theirs still to deliver', () => {
    scheduler().run(({ hot, expectObservable }) => {
      // After an outage: every partition was caught up (idle); then the backlog arrives, partition 0's first.
      const [a, b, burst, backlog] = [on(0, 100), on(1, 100), on(0, 5_000), on(1, 200)];
      const source = hot<ChainInput>('-s-----a-----b-----i-----c-----d-----|', { s: assignment(0, 1), a, b, i: idle(1_000, 0, 1), c: burst, d: backlog });
      const expected = '              -------a-----(bx)--------c-----(dy)--|';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0 }))).toBe(expected, {
        a: ev(a),
        b: ev(b),
        x: wm(100),
        c: ev(burst), // partition 1 counts with 100 + 0 ms of clock: the watermark stays
        d: ev(backlog), // so partition 1's backlog is not late
        y: wm(200),
      });
    });
  });
});

describe('withWatermark (timestamps no one should trust)', () => {
  it('passes on as suspicious an event whose emitted time is far from its Kafka record timestamp, even when its delivered_at agrees with it', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const a = on(0, 10);
      // Body and delivered_at header both say year 9999; the broker's record timestamp does not.
      const forged = on(0, YEAR_9999, { deliveredAtMs: YEAR_9999, recordTimestampMs: 20 });
      const b = on(0, 15);
      const source = hot('-a-----f-----b-----|', { a, f: forged, b });
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 2, suspiciousSkewMs: 100 }))).toBe('-(ax)--s-----(by)--|', {
        a: ev(a),
        x: wm(8),
        s: suspicious(forged, 8),
        b: ev(b), // not late: the forged time never reached the watermark
        y: wm(13),
      });
    });
  });

  it('keeps checking emitted against delivered time', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const odd = on(0, 10, { deliveredAtMs: 10 + 101 });
      expectObservable(hot('-a-|', { a: odd }).pipe(withWatermark({ maxOutOfOrdernessMs: 0, suspiciousSkewMs: 100 }))).toBe('-s-|', { s: suspicious(odd, NEG_INF) });
    });
  });

  it('holds a partition’s first event until the next one confirms it', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const [a, b] = [on(0, 5), on(0, 6)];
      expectObservable(hot('-a-----b-----|', { a, b }).pipe(withWatermark({ maxOutOfOrdernessMs: 0, maxAheadMs: 10 }))).toBe('-------(axby)|', { a: ev(a), x: wm(5), b: ev(b), y: wm(6) });
    });
  });

  it('exposes an event far ahead of its partition when every time field agrees on it, and the next event is not late', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const [a, b, c] = [on(0, 5), on(0, 6), on(0, 7)];
      const forged = on(0, YEAR_9999, { deliveredAtMs: YEAR_9999, recordTimestampMs: YEAR_9999 });
      const source = hot('-a-----b-----f-----c-----|', { a, b, f: forged, c });
      const expected = '  -------(axby)------(scz)-|';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0, maxAheadMs: 10, suspiciousSkewMs: 3_600_000 }))).toBe(expected, {
        a: ev(a),
        x: wm(5),
        b: ev(b),
        y: wm(6),
        s: suspicious(forged, 6), // the partition's watermark when it arrived
        c: ev(c),
        z: wm(7),
      });
    });
  });

  it('exposes a forged first event of a partition (watermark −∞)', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const [forged, a, b] = [on(0, YEAR_9999), on(0, 6), on(0, 7)];
      // a becomes the partition's first candidate in turn, and b confirms it.
      const source = hot('-f-----a-----b-----|', { f: forged, a, b });
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0, maxAheadMs: 10 }))).toBe('-------s-----(axby)|', { s: suspicious(forged, NEG_INF), a: ev(a), x: wm(6), b: ev(b), y: wm(7) });
    });
  });

  it('does not trust a lone record that nothing can vouch for: suspicious at end of input', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const lone = on(0, YEAR_9999, { deliveredAtMs: YEAR_9999, recordTimestampMs: YEAR_9999 });
      expectObservable(hot('-a-|', { a: lone }).pipe(withWatermark({ maxOutOfOrdernessMs: 0, maxAheadMs: 10 }))).toBe('---(s|)', { s: suspicious(lone, NEG_INF) });
    });
  });

  it('lets the first events of different partitions vouch for each other when nothing else was accepted', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const [a, b, forged] = [on(0, 100), on(1, 130), on(2, YEAR_9999)];
      const source = hot('-a-----b-----f-----|', { a, b, f: forged });
      // Evidence is fixed first (for a: 130, b: 100, forged: 100), then partitions are taken in order.
      // No watermark: partition 2 has delivered, but nothing it sent was placed in time.
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0, maxAheadMs: 60 }))).toBe('-------------------(abs|)', {
        a: ev(a),
        b: ev(b),
        s: suspicious(forged, NEG_INF),
      });
    });
  });

  it('does not flag a partition that resumes after a long quiet period: its next event confirms the first one', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const hour = 3_600_000;
      const [a, b, c, d] = [on(0, 5), on(0, 6), on(0, 6 + hour), on(0, 7 + hour)];
      const source = hot('-a-----b-----c-----d-----|', { a, b, c, d });
      const expected = '  -------(axby)------(czdw)|';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0, maxAheadMs: 60_000 }))).toBe(expected, {
        a: ev(a),
        x: wm(5),
        b: ev(b),
        y: wm(6),
        c: ev(c), // an hour ahead: held until d confirms it
        z: wm(6 + hour),
        d: ev(d),
        w: wm(7 + hour),
      });
    });
  });

  it('at end of input releases a candidate within maxAheadMs of the stream’s progress and exposes one beyond', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const [a, b, p1, far] = [on(0, 100), on(0, 101), on(1, 150), on(2, YEAR_9999)];
      const source = hot('-a-----b-----p-----f-----|', { a, b, p: p1, f: far });
      // Partitions 1 and 2 delivered one event each: no next event decides, the progress (101) does.
      const expected = '  -------(axby)------------(ps|)';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0, maxAheadMs: 60 }))).toBe(expected, {
        a: ev(a),
        x: wm(100),
        b: ev(b),
        y: wm(101),
        p: ev(p1),
        s: suspicious(far, NEG_INF),
      });
    });
  });

  it('decides on an idle partition’s candidate by the stream’s progress (live mode)', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const [a, b, c] = [on(0, 100), on(0, 101), on(1, 130)];
      const source = hot<ChainInput>('-s-----a-----b-----c-----i-----|', { s: { kind: 'assignment', partitions: [0, 1] }, a, b, c, i: { kind: 'idle', atMs: 1_000, partitions: [1] } });
      // c is partition 1's first event and its partition goes idle: 130 is within 60 of the progress (101).
      const expected = '              -------------(ab)--------(cx)--|';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0, maxAheadMs: 60 }))).toBe(expected, { a: ev(a), b: ev(b), c: ev(c), x: wm(101) });
    });
  });

  it('never moves event time (idle partitions, clock) from a suspicious or held event', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const [a, b] = [on(0, 100), on(0, 101)];
      const forged = on(0, YEAR_9999, { deliveredAtMs: YEAR_9999, recordTimestampMs: YEAR_9999 });
      const source = hot<ChainInput>('-s-----a-----b-----f-----i-----h-----|', {
        s: { kind: 'assignment', partitions: [0] },
        a,
        b,
        f: forged,
        i: { kind: 'idle', atMs: 1_000, partitions: [0] },
        h: { kind: 'idle', atMs: 1_010, partitions: [0] },
      });
      const expected = '              -------------(axby)------------z-----(s|)';
      expectObservable(source.pipe(withWatermark({ maxOutOfOrdernessMs: 0, maxAheadMs: 60 }))).toBe(expected, {
        a: ev(a),
        x: wm(100),
        b: ev(b),
        y: wm(101),
        z: wm(111), // 101 + 10 ms of clock: the held year-9999 event is not evidence
        s: suspicious(forged, 101),
      });
    });
  });
});

/** Items of one partition, in order, as comparable strings (watermarks dropped: they are global). */
function perPartition(items: readonly StreamItem[]): Map<number, string[]> {
  const result = new Map<number, string[]>();
  for (const item of items) {
    if (item.kind === 'watermark' || item.kind === 'completion_arrived') continue;
    const { partition, offset } = item.event.source;
    const line = item.kind === 'event' ? `event@${offset}` : `${item.kind}@${offset} wm=${item.watermarkMs}`;
    result.set(partition, [...(result.get(partition) ?? []), line]);
  }
  return result;
}

describe('withWatermark (properties)', () => {
  const PARTITIONS = [0, 1, 2];
  // Event times mostly close to the partition's progress, sometimes far ahead or behind, sometimes forged far off.
  const stepArb = fc.oneof(
    { weight: 20, arbitrary: fc.integer({ min: -3_000, max: 5_000 }) },
    { weight: 2, arbitrary: fc.integer({ min: 60_000, max: 7_200_000 }) }, // a quiet period, or a clock far ahead
    { weight: 1, arbitrary: fc.integer({ min: -7_200_000, max: -60_000 }) },
  );
  const recordArb = fc.record({
    step: stepArb,
    forged: fc.constantFrom<'no' | 'record' | 'all'>('no', 'no', 'no', 'no', 'no', 'no', 'record', 'all'),
  });
  const partitionsArb = fc.array(fc.array(recordArb, { maxLength: 25 }), { minLength: PARTITIONS.length, maxLength: PARTITIONS.length });
  const readsArb = fc.array(fc.record({ partition: fc.constantFrom(...PARTITIONS), records: fc.integer({ min: 1, max: 20 }) }), { maxLength: 40 });

  /**
   * Forged records say year 9999 in body and delivered_at; 'all' also in the record timestamp. Two
   * 'all' records in a row in one partition (records suspicious for their skew in between do not
   * count: their time is not used) would confirm each other: one record cannot move the watermark,
   * two agreeing ones can. So the second of such a pair is made 'record'.
   */
  const build = (partitions: Array<Array<{ step: number; forged: 'no' | 'record' | 'all' }>>): AgentEvent[][] =>
    partitions.map((records, partition) => {
      let t = 1_000_000_000;
      let previous: 'no' | 'record' | 'all' = 'no';
      return records.map((r, offset) => {
        t += r.step;
        // Only partition 0 gets 'all' forgeries: lone ones in two partitions would vouch for each other.
        const forged = r.forged === 'all' && (previous === 'all' || partition !== 0) ? 'record' : r.forged;
        if (forged !== 'record') previous = forged;
        const time = forged === 'no' ? t : YEAR_9999 + offset;
        return agentEvent('agent_thinking', `run_${partition}`, time, {
          source: { topic: 't', partition, offset },
          deliveredAtMs: time + 10,
          recordTimestampMs: forged === 'all' ? time + 10 : t + 10,
        });
      });
    });

  const interleave = (queues: AgentEvent[][], reads: Array<{ partition: number; records: number }>): AgentEvent[] => {
    const next = queues.map(() => 0);
    const out: AgentEvent[] = [];
    for (const read of reads) {
      const queue = queues[read.partition] as AgentEvent[];
      const start = next[read.partition] as number;
      out.push(...queue.slice(start, start + read.records));
      next[read.partition] = Math.min(queue.length, start + read.records);
    }
    queues.forEach((queue, p) => out.push(...queue.slice(next[p])));
    return out;
  };

  const run = (input: AgentEvent[]) =>
    lastValueFrom(from(input).pipe(withWatermark({ maxOutOfOrdernessMs: 3_000, suspiciousSkewMs: 3_600_000, maxAheadMs: 60_000, partitions: PARTITIONS }), toArray()));

  it('gives every partition the same items (event, late, suspicious, with their watermarks) whatever the interleaving of partitions', async () => {
    await fc.assert(
      fc.asyncProperty(partitionsArb, readsArb, async (partitions, reads) => {
        const queues = build(partitions);
        const sequential = perPartition(await run(queues.flat()));
        const interleaved = perPartition(await run(interleave(queues, reads)));
        expect(interleaved).toEqual(sequential);
        // Every record comes out exactly once, and every forged one as suspicious.
        expect([...interleaved.values()].flat()).toHaveLength(queues.flat().length);
        for (const forged of queues.flat().filter((e) => e.emittedAtMs >= YEAR_9999)) {
          expect(interleaved.get(forged.source.partition)?.find((line) => line.includes(`@${forged.source.offset} `) || line.endsWith(`@${forged.source.offset}`))).toMatch(/^suspicious/);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never lets a forged or far-off time reach the watermark: every emitted watermark is at most the highest honest time − bound', async () => {
    await fc.assert(
      fc.asyncProperty(partitionsArb, readsArb, async (partitions, reads) => {
        const queues = build(partitions);
        const honest = queues.flat().filter((e) => e.emittedAtMs < YEAR_9999);
        const highest = Math.max(NEG_INF, ...honest.map((e) => e.emittedAtMs));
        const items = await run(interleave(queues, reads));
        for (const item of items) if (item.kind === 'watermark') expect(item.watermarkMs).toBeLessThanOrEqual(highest - 3_000);
        for (const item of items) if (item.kind !== 'watermark' && item.event.emittedAtMs >= YEAR_9999) expect(item.kind).toBe('suspicious');
      }),
      { numRuns: 300 },
    );
  });
});

describe('withWatermark → orderByEventTime: one forged record among normal runs', () => {
  const TYPES: LifecycleType[] = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'];
  /** 60 runs over 3 partitions, 200 ms apart, events 300 ms apart, read partition by partition in chunks. */
  const traffic = (forge: (event: AgentEvent) => AgentEvent): { input: AgentEvent[]; forged: AgentEvent } => {
    const byPartition: AgentEvent[][] = [[], [], []];
    for (let run = 0; run < 60; run += 1) {
      const partition = run % 3;
      const queue = byPartition[partition] as AgentEvent[];
      TYPES.forEach((type, i) => {
        const t = 1_758_196_800_000 + run * 200 + i * 300;
        queue.push(agentEvent(type, `run_${run}`, t, { source: { topic: 't', partition, offset: 0 } }));
      });
    }
    for (const queue of byPartition) queue.sort((a, b) => a.emittedAtMs - b.emittedAtMs);
    // Partition 1's 10th record is a forged copy of a thinking event: year 9999 in its body and headers.
    const original = byPartition[1]?.[10] as AgentEvent;
    const forged = forge(original);
    byPartition[1]?.splice(10, 0, forged);
    const positioned = byPartition.map((queue, partition) => queue.map((e, offset) => ({ ...e, source: { topic: 't', partition, offset } })));
    const input: AgentEvent[] = [];
    for (let at = 0; at < 120; at += 7) for (const queue of positioned) input.push(...queue.slice(at, at + 7));
    return { input, forged: positioned[1]?.[10] as AgentEvent };
  };

  const chain = (input: AgentEvent[]) =>
    lastValueFrom(from(input).pipe(withWatermark({ maxOutOfOrdernessMs: 3_000, suspiciousSkewMs: 3_600_000, maxAheadMs: 60_000, partitions: [0, 1, 2] }), orderByEventTime(), toArray()));

  it.each([
    ['body and delivered_at header (record timestamp honest)', (e: AgentEvent): AgentEvent => ({ ...e, emittedAtMs: YEAR_9999, deliveredAtMs: YEAR_9999 })],
    ['body, delivered_at header and record timestamp', (e: AgentEvent): AgentEvent => ({ ...e, emittedAtMs: YEAR_9999, deliveredAtMs: YEAR_9999, recordTimestampMs: YEAR_9999 })],
  ])('forged in %s: it alone is suspicious, no other event is late', async (_, forge) => {
    const { input, forged } = traffic(forge);
    const items = await chain(input);
    expect(items.filter((i) => i.kind === 'late')).toEqual([]);
    expect(items.filter((i) => i.kind === 'suspicious').map((i) => (i.kind === 'suspicious' ? i.event.source : undefined))).toEqual([forged.source]);
    expect(items.filter((i) => i.kind === 'event')).toHaveLength(input.length - 1);
    const watermarks = items.flatMap((i) => (i.kind === 'watermark' ? [i.watermarkMs] : []));
    expect(Math.max(...watermarks)).toBeLessThan(YEAR_9999 - 1_000_000);
  });
});
