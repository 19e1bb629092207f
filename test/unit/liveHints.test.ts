import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../src/contract/event.js';
import type { ChainInput, SourceHint } from '../../src/operators/stream-item.js';
import { liveHints } from '../../src/pipeline/live-hints.js';
import { agentEvent } from '../support/events.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
const assignment = (...partitions: number[]): SourceHint => ({ kind: 'assignment', partitions });
const caughtUp = (atMs: number, ...partitions: number[]): SourceHint => ({ kind: 'caught_up', atMs, partitions });
const idle = (atMs: number, ...partitions: number[]): ChainInput => ({ kind: 'idle', atMs, partitions });
const on = (partition: number, t: number): AgentEvent => agentEvent('agent_thinking', `r${partition}`, t, { source: { topic: 't', partition, offset: t } });

describe('liveHints', () => {
  it('passes events and the assignment on; a partition caught up for idleMs is idle, with the source’s clock', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const e = on(0, 5);
      const source = hot<AgentEvent | SourceHint>('-s-----e-----a-----b-----c-----d-----|', {
        s: assignment(0, 1),
        e,
        a: caughtUp(1_000, 0, 1),
        b: caughtUp(1_050, 0, 1),
        c: caughtUp(1_100, 0, 1),
        d: caughtUp(1_150, 0, 1),
      });
      expectObservable(source.pipe(liveHints({ idleMs: 100 }))).toBe('-s-----e-----------------i-----j-----|', {
        s: assignment(0, 1),
        e,
        i: idle(1_100, 0, 1), // both caught up since 1000
        j: idle(1_150, 0, 1), // the clock goes on while they are idle
      });
    });
  });

  it('counts idle time only while the source is caught up with fresh answers: a lagging or unreachable stretch starts it again', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot<AgentEvent | SourceHint>('-s-----a-----b-----c-----d-----e-----|', {
        s: assignment(0),
        a: caughtUp(1_000, 0),
        b: caughtUp(1_100, 0),
        c: caughtUp(1_200), // the broker did not answer lately (or partition 0 lags): nothing is caught up
        d: caughtUp(11_200, 0), // back ten seconds later: idle time starts again here, the outage does not count
        e: caughtUp(11_300, 0),
      });
      expectObservable(source.pipe(liveHints({ idleMs: 100 }))).toBe('-s-----------i-----j-----------k-----|', {
        s: assignment(0),
        i: idle(1_100, 0),
        j: idle(1_200),
        k: idle(11_300, 0),
      });
    });
  });

  it('an event of a partition starts its idle time again; a partition that lags is never idle', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const e = on(1, 7);
      const source = hot<AgentEvent | SourceHint>('-s-----a-----b-----e-----c-----d-----|', {
        s: assignment(0, 1),
        a: caughtUp(1_000, 0, 1),
        b: caughtUp(1_100, 0, 1),
        e,
        c: caughtUp(1_150, 0, 1),
        d: caughtUp(1_250, 0), // partition 1 has records the consumer has not read yet
      });
      expectObservable(source.pipe(liveHints({ idleMs: 100 }))).toBe('-s-----------i-----e-----j-----k-----|', {
        s: assignment(0, 1),
        i: idle(1_100, 0, 1),
        e,
        j: idle(1_150, 0), // partition 1 delivered since 1100
        k: idle(1_250, 0), // and at 1250 it lags
      });
    });
  });

  it('forgets revoked partitions and waits for newly assigned ones', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot<AgentEvent | SourceHint>('-s-----a-----b-----r-----c-----d-----|', {
        s: assignment(0),
        a: caughtUp(1_000, 0),
        b: caughtUp(1_100, 0),
        r: assignment(0, 1),
        c: caughtUp(1_200, 0, 1),
        d: caughtUp(1_300, 0, 1),
      });
      expectObservable(source.pipe(liveHints({ idleMs: 100 }))).toBe('-s-----------i-----r-----j-----k-----|', {
        s: assignment(0),
        i: idle(1_100, 0),
        r: assignment(0, 1),
        j: idle(1_200, 0), // partition 1 caught up only since 1200
        k: idle(1_300, 0, 1),
      });
    });
  });

  it('gives no hints without idleMs (replay) or before the first assignment', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot<AgentEvent | SourceHint>('-a-----b-----s-----|', { a: caughtUp(1_000), b: caughtUp(9_000), s: assignment(0) });
      expectObservable(source.pipe(liveHints({ idleMs: 100 }))).toBe('-------------s-----|', { s: assignment(0) });
      expectObservable(source.pipe(liveHints({}))).toBe('-------------s-----|', { s: assignment(0) });
    });
  });
});
