import { describe, it } from 'vitest';
import type { LifecycleType } from '../../../src/contract/event.js';
import { detectRunDuration } from '../../../src/operators/detectRunDuration.js';
import { verdictId } from '../../../src/operators/engine/verdict-id.js';
import { lateEvent, ordered, redelivered, scheduler, SMALL_CONTRACT, violation } from '../../support/detectors.js';
import { agentEvent, ev, wm } from '../../support/events.js';

/** SMALL_CONTRACT: a run longer than 10 is a WARNING; one not completed 30 after its start is CRITICAL (and closes). */
const detect = () => ordered(detectRunDuration(SMALL_CONTRACT));

const at = (type: LifecycleType, t: number, runId = 'r1', userId?: string) => agentEvent(type, runId, t, userId === undefined ? {} : { userId });

describe('detectRunDuration', () => {
  it('reports a run past its deadline from watermarks alone, without waiting for it (doc example)', () => {
    const s = at('agent_started', 0);
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-w-x-y-|', { a: ev(s), w: wm(10), x: wm(29), y: wm(30) });
      const expected = '  -------D-|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        D: violation({
          violationId: verdictId('run_duration', 'r1', 'deadline'),
          rule: 'run_duration',
          severity: 'CRITICAL',
          subject: 'deadline',
          detail: 'not completed 30 ms after it started',
          runId: 'r1',
          eventTimeMs: 30,
          decidedAtWatermarkMs: 30,
          source: { topic: 'agent-events', partitions: [0], offsets: [s.source.offset] },
        }),
      });
      expectSubscriptions(source.subscriptions).toBe('^--------!');
    });
  });

  it('reports a run longer than the warning level when it completes, measured from agent_started', () => {
    const [t, s, f] = [at('agent_thinking', 0), at('agent_started', 2), at('agent_completed', 13)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-c-x-|', { a: ev(t), b: ev(s), w: wm(2), c: ev(f), x: wm(13) });
      expectObservable(source.pipe(detect())).toBe('---------w-|', {
        w: violation({
          violationId: verdictId('run_duration', 'r1', `0:${f.source.offset}`),
          rule: 'run_duration',
          severity: 'WARNING',
          subject: 'duration',
          detail: 'run took 11 ms (limit 10 ms)',
          runId: 'r1',
          eventTimeMs: 13,
        }),
      });
    });
  });

  it('compares strictly and is silent for runs within the levels', () => {
    const exactly = [at('agent_started', 0, 'r1'), at('agent_completed', 10, 'r1')];
    const quick = [at('agent_started', 1, 'r2'), at('agent_thinking', 2, 'r2'), at('agent_completed', 4, 'r2')];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-w-x-|', { a: ev(exactly[0]!), b: ev(quick[0]!), c: ev(quick[1]!), d: ev(quick[2]!), e: ev(exactly[1]!), w: wm(10), x: wm(80) });
      expectObservable(source.pipe(detect())).toBe('-------------|');
    });
  });

  it('judges a run once: a completion after its deadline is a late event of the closed run, not a second verdict', () => {
    const [s, f] = [at('agent_started', 0), at('agent_completed', 31)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-x-|', { a: ev(s), w: wm(30), b: ev(f), x: wm(31) });
      expectObservable(source.pipe(detect())).toBe('---D---l-|', {
        D: violation({ rule: 'run_duration', severity: 'CRITICAL', subject: 'deadline', eventTimeMs: 30 }),
        l: lateEvent(f, 31, 'closed'),
      });
    });
  });

  it('counts a redelivered agent_completed once', () => {
    const [s, f] = [at('agent_started', 0), at('agent_completed', 12)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-|', { a: ev(s), b: ev(f), c: ev(redelivered(f, 321)), w: wm(12) });
      expectObservable(source.pipe(detect())).toBe('-------w-|', { w: violation({ rule: 'run_duration', severity: 'WARNING', subject: 'duration', eventTimeMs: 12 }) });
    });
  });

  it('times interleaved runs of different users separately', () => {
    const alice = [at('agent_started', 0, 'run_alice', 'user_alice'), at('agent_completed', 5, 'run_alice', 'user_alice')];
    const bob = [at('agent_started', 3, 'run_bob', 'user_bob'), at('agent_thinking', 4, 'run_bob', 'user_bob'), at('agent_completed', 15, 'run_bob', 'user_bob')];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcde)-w-x-|', { a: ev(alice[0]!), b: ev(bob[0]!), c: ev(bob[1]!), d: ev(alice[1]!), e: ev(bob[2]!), w: wm(10), x: wm(20) });
      expectObservable(source.pipe(detect())).toBe('-----------w-|', {
        w: violation({ rule: 'run_duration', severity: 'WARNING', subject: 'duration', runId: 'run_bob', userId: 'user_bob', eventTimeMs: 15, detail: 'run took 12 ms (limit 10 ms)' }),
      });
    });
  });

  it('reports an event that arrives after the watermark as a late event', () => {
    const s = at('agent_started', 0);
    const late = at('agent_thinking', 3);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-|', { a: ev(s), w: wm(5), b: ev(late) });
      expectObservable(source.pipe(detect())).toBe('-----l-|', { l: lateEvent(late, 5, 'open') });
    });
  });

  it('propagates errors and releases the source', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-w-#', { a: ev(at('agent_started', 0)), w: wm(30) });
      expectObservable(source.pipe(detect())).toBe('---D-#', { D: violation({ rule: 'run_duration', subject: 'deadline' }) });
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('releases the source on unsubscribe', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a---w-|', { a: ev(at('agent_started', 0)), w: wm(30) });
      expectObservable(source.pipe(detect()), '^--!').toBe('---');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});
