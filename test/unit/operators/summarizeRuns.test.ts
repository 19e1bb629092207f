import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { summarizeRuns } from '../../../src/operators/summarizeRuns.js';
import { agentEvent, completeRun, ev, wm } from '../../support/events.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('summarizeRuns', () => {
  it('summarizes a completed run once the watermark passes agent_completed', () => {
    const run = completeRun('r1', 100, 10);
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-abcde-w-x-|', { a: ev(run[0]!), b: ev(run[1]!), c: ev(run[2]!), d: ev(run[3]!), e: ev(run[4]!), w: wm(139), x: wm(140) });
      expectObservable(source.pipe(summarizeRuns({ runDeadlineMs: 1_000 }))).toBe('---------s-|', {
        s: {
          kind: 'run_summary',
          summary: expect.objectContaining({
            runId: 'r1',
            eventCount: 5,
            firstEventMs: 100,
            lastEventMs: 140,
            startedAtMs: 100,
            completedAtMs: 140,
            outcome: 'completed',
            decidedAtWatermarkMs: 140,
            typesSeen: ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'],
          }),
        },
      });
      expectSubscriptions(source.subscriptions).toBe('^----------!');
    });
  });

  it('closes a silent run at its deadline and reports a later event of it as late, with its offset', () => {
    const started = agentEvent('agent_started', 'r2', 0);
    const late = agentEvent('agent_thinking', 'r2', 5);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-|', { a: ev(started), w: wm(10), b: ev(late) });
      expectObservable(source.pipe(summarizeRuns({ runDeadlineMs: 10 }))).toBe('---s-l-|', {
        s: { kind: 'run_summary', summary: expect.objectContaining({ runId: 'r2', outcome: 'deadline', eventCount: 1, completedAtMs: undefined }) },
        l: { kind: 'late_event', runId: 'r2', eventTimeMs: 5, watermarkMs: 10, source: late.source },
      });
    });
  });

  it('forgets a closed run after one more deadline of event time, bounding memory', () => {
    const first = agentEvent('agent_started', 'r3', 0);
    const reused = agentEvent('agent_started', 'r3', 25);
    scheduler().run(({ hot, expectObservable }) => {
      // closed at W=10, forgotten once W passes 20: the same id then opens a new run
      const source = hot('-a-w-x-b-|', { a: ev(first), w: wm(10), x: wm(21), b: ev(reused) });
      expectObservable(source.pipe(summarizeRuns({ runDeadlineMs: 10 }))).toBe('---s-----(t|)', {
        s: { kind: 'run_summary', summary: expect.objectContaining({ runId: 'r3', firstEventMs: 0, outcome: 'deadline' }) },
        t: { kind: 'run_summary', summary: expect.objectContaining({ runId: 'r3', firstEventMs: 25, outcome: 'end_of_input' }) },
      });
    });
  });
});
