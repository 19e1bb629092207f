import { describe, it } from 'vitest';
import type { LifecycleType } from '../../../src/contract/event.js';
import { detectGaps } from '../../../src/operators/detectGaps.js';
import { verdictId } from '../../../src/operators/engine/verdict-id.js';
import { lateEvent, ordered, redelivered, scheduler, SMALL_CONTRACT, violation } from '../../support/detectors.js';
import { agentEvent, ev, wm } from '../../support/events.js';

/** SMALL_CONTRACT: a gap > 2 is a WARNING, > 5 CRITICAL; silence is CRITICAL once event time passes last event + 5. */
const detect = () => ordered(detectGaps(SMALL_CONTRACT));

const at = (type: LifecycleType, t: number, runId = 'r1', userId?: string) => agentEvent(type, runId, t, userId === undefined ? {} : { userId });

describe('detectGaps', () => {
  it('reports a slow gap when the event that ends it arrives, and silence from the watermark alone (doc example)', () => {
    const [a, b] = [at('agent_started', 0), at('agent_thinking', 3)];
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-w-x-y-|', { a: ev(a), b: ev(b), w: wm(4), x: wm(7), y: wm(8) });
      const expected = '  -----g---s-|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        g: violation({
          violationId: verdictId('event_gap', 'r1', `0:${b.source.offset}`),
          rule: 'event_gap',
          severity: 'WARNING',
          subject: 'agent_thinking',
          detail: '3 ms without an event before agent_thinking',
          runId: 'r1',
          eventTimeMs: 3,
        }),
        s: violation({
          violationId: verdictId('event_gap', 'r1', 'silence:3'),
          rule: 'event_gap',
          severity: 'CRITICAL',
          subject: 'silence',
          runId: 'r1',
          eventTimeMs: 8,
          decidedAtWatermarkMs: 8,
          source: { topic: 'agent-events', partitions: [0, 0], offsets: [a.source.offset, b.source.offset] },
        }),
      });
      expectSubscriptions(source.subscriptions).toBe('^----------!');
    });
  });

  it('compares strictly: a gap of exactly the warning level is fine, one of exactly the critical level a WARNING', () => {
    const run = [at('agent_started', 0), at('agent_thinking', 2), at('tool_executing', 7), at('tool_completed', 8), at('agent_completed', 9)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-w-|', { a: ev(run[0]!), b: ev(run[1]!), c: ev(run[2]!), d: ev(run[3]!), e: ev(run[4]!), w: wm(9) });
      expectObservable(source.pipe(detect())).toBe('---------g-|', { g: violation({ rule: 'event_gap', severity: 'WARNING', subject: 'tool_executing', eventTimeMs: 7 }) });
    });
  });

  it('fires silence as soon as the watermark reaches last event + critical, not before, with no further event', () => {
    const s = at('agent_started', 10);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-x-y-z-|', { a: ev(s), w: wm(10), x: wm(14), y: wm(15), z: wm(39) });
      expectObservable(source.pipe(detect())).toBe('-------s---|', {
        s: violation({ rule: 'event_gap', severity: 'CRITICAL', subject: 'silence', runId: 'r1', eventTimeMs: 15, decidedAtWatermarkMs: 15 }),
      });
    });
  });

  it('does not report a silence twice: the event that ends it is not a second verdict, and the next silence is', () => {
    const [s, t] = [at('agent_started', 0), at('agent_thinking', 8)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-x-y-|', { a: ev(s), w: wm(6), b: ev(t), x: wm(8), y: wm(13) });
      expectObservable(source.pipe(detect())).toBe('---s-----t-|', {
        s: violation({ rule: 'event_gap', severity: 'CRITICAL', subject: 'silence', eventTimeMs: 5 }),
        t: violation({ rule: 'event_gap', severity: 'CRITICAL', subject: 'silence', eventTimeMs: 13, violationId: verdictId('event_gap', 'r1', 'silence:8') }),
      });
    });
  });

  it('reports a long gap closed by an event in the same batch once, as silence', () => {
    const [s, t] = [at('agent_started', 0), at('agent_thinking', 7)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-|', { a: ev(s), b: ev(t), w: wm(7) });
      expectObservable(source.pipe(detect())).toBe('-----s-|', { s: violation({ rule: 'event_gap', severity: 'CRITICAL', subject: 'silence', eventTimeMs: 5 }) });
    });
  });

  it('is silent for a run without slow gaps, and for a completed run however long the watermark runs on', () => {
    const run = [at('agent_started', 0), at('agent_thinking', 2), at('tool_executing', 4), at('tool_completed', 6), at('agent_completed', 8)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-w-x-|', { a: ev(run[0]!), b: ev(run[1]!), c: ev(run[2]!), d: ev(run[3]!), e: ev(run[4]!), w: wm(8), x: wm(100) });
      expectObservable(source.pipe(detect())).toBe('-------------|');
    });
  });

  it('ignores a redelivered copy (a gap of zero)', () => {
    const [s, t] = [at('agent_started', 0), at('agent_thinking', 2)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-|', { a: ev(s), b: ev(t), c: ev(redelivered(t, 444)), w: wm(4) });
      expectObservable(source.pipe(detect())).toBe('---------|');
    });
  });

  it('measures gaps per run, not between interleaved runs of different users', () => {
    const alice = [at('agent_started', 0, 'run_alice', 'user_alice'), at('agent_thinking', 2, 'run_alice', 'user_alice'), at('tool_executing', 4, 'run_alice', 'user_alice')];
    const bob = [at('agent_started', 1, 'run_bob', 'user_bob'), at('agent_thinking', 3, 'run_bob', 'user_bob'), at('tool_executing', 7, 'run_bob', 'user_bob')];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcdef)-w-|', { a: ev(alice[0]!), b: ev(bob[0]!), c: ev(alice[1]!), d: ev(bob[1]!), e: ev(alice[2]!), f: ev(bob[2]!), w: wm(7) });
      const expected = '  ----------g-|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        g: violation({ rule: 'event_gap', severity: 'WARNING', subject: 'tool_executing', runId: 'run_bob', userId: 'user_bob', eventTimeMs: 7 }),
      });
    });
  });

  it('reports an event that arrives after the watermark as a late event', () => {
    const s = at('agent_started', 0);
    const late = at('agent_thinking', 1);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-|', { a: ev(s), w: wm(2), b: ev(late) });
      expectObservable(source.pipe(detect())).toBe('-----l-|', { l: lateEvent(late, 2, 'open') });
    });
  });

  it('propagates errors and releases the source', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-w-#', { a: ev(at('agent_started', 0)), w: wm(5) });
      expectObservable(source.pipe(detect())).toBe('---s-#', { s: violation({ rule: 'event_gap', subject: 'silence' }) });
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('releases the source on unsubscribe', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a---w-|', { a: ev(at('agent_started', 0)), w: wm(5) });
      expectObservable(source.pipe(detect()), '^--!').toBe('---');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});
