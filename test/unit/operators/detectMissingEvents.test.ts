import fc from 'fast-check';
import { from, lastValueFrom, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { AgentEvent, LifecycleType } from '../../../src/contract/event.js';
import type { Verdict } from '../../../src/contract/verdict.js';
import { detectMissingEvents } from '../../../src/operators/detectMissingEvents.js';
import { verdictId } from '../../../src/operators/internal/verdict-id.js';
import { withWatermark } from '../../../src/operators/withWatermark.js';
import { agentEvent, completeRun, ev, wm } from '../../support/events.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
const detect = () => detectMissingEvents({ runDeadlineMs: 10 });

function missingViolation(runId: string, missing: LifecycleType[], extra: Record<string, unknown> = {}) {
  return {
    kind: 'violation',
    violation: expect.objectContaining({ violationId: verdictId('missing_events', runId), rule: 'missing_events', severity: 'CRITICAL', runId, missing, ...extra }),
  };
}

describe('detectMissingEvents', () => {
  it('fires at the deadline when a run goes silent, with no further events of that run', () => {
    const [s, t] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1)];
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-x---y-|', { a: ev(s), b: ev(t), x: wm(9), y: wm(10) });
      expectObservable(source.pipe(detect())).toBe('---------v-|', {
        v: missingViolation('r1', ['tool_executing', 'tool_completed', 'agent_completed'], { eventTimeMs: 0, decidedAtWatermarkMs: 10 }),
      });
      expectSubscriptions(source.subscriptions).toBe('^----------!');
    });
  });

  it('judges a run when the watermark passes its agent_completed, and is silent when all five came', () => {
    const good = completeRun('good', 0);
    const bad = [agentEvent('agent_started', 'bad', 0), agentEvent('agent_completed', 'bad', 2)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-abcdefg-w-|', { a: ev(good[0]!), b: ev(bad[0]!), c: ev(good[1]!), d: ev(good[2]!), e: ev(good[3]!), f: ev(bad[1]!), g: ev(good[4]!), w: wm(4) });
      expectObservable(source.pipe(detect())).toBe('---------v-|', {
        v: missingViolation('bad', ['agent_thinking', 'tool_executing', 'tool_completed'], { decidedAtWatermarkMs: 4 }),
      });
    });
  });

  it('waits for the watermark, so an out-of-order event before it still counts', () => {
    const [s, c, t, x, y] = [
      agentEvent('agent_started', 'r1', 0),
      agentEvent('agent_completed', 'r1', 5),
      agentEvent('agent_thinking', 'r1', 1),
      agentEvent('tool_executing', 'r1', 2),
      agentEvent('tool_completed', 'r1', 3),
    ];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-e-w-|', { a: ev(s), b: ev(c), c: ev(t), d: ev(x), e: ev(y), w: wm(6) });
      expectObservable(source.pipe(detect())).toBe('-------------|');
    });
  });

  it('reports a run that never started, and does not re-open a judged run for a late event', () => {
    const [t, late] = [agentEvent('agent_thinking', 'r2', 3), agentEvent('tool_executing', 'r2', 4)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-|', { a: ev(t), w: wm(13), b: ev(late) });
      expectObservable(source.pipe(detect())).toBe('---v---|', {
        v: missingViolation('r2', ['agent_started', 'tool_executing', 'tool_completed', 'agent_completed'], { eventTimeMs: 3 }),
      });
    });
  });

  it('closes every open run at end of input (replay), in a stable order', () => {
    const a = agentEvent('agent_started', 'ra', 5);
    const b = agentEvent('agent_started', 'rb', 1);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-|', { a: ev(a), b: ev(b) });
      const missing: LifecycleType[] = ['agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'];
      expectObservable(source.pipe(detect())).toBe('-----(xy|)', { x: missingViolation('rb', missing), y: missingViolation('ra', missing) });
    });
  });

  it('names the owner, not the thread, when emitter events carry user_id == thread_id', () => {
    const thinking = agentEvent('agent_thinking', 'r3', 1, { userId: 'thread_9', threadId: 'thread_9' });
    const started = agentEvent('agent_started', 'r3', 0, { userId: 'user_42', threadId: undefined });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-|', { a: ev(thinking), b: ev(started) });
      expectObservable(source.pipe(detect())).toBe('-----(v|)', {
        v: missingViolation('r3', ['tool_executing', 'tool_completed', 'agent_completed'], { userId: 'user_42', threadId: 'thread_9' }),
      });
    });
  });

  it('propagates errors and releases the source on unsubscribe', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-#', { a: ev(agentEvent('agent_started', 'r4', 0)) });
      expectObservable(source.pipe(detect())).toBe('---#');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a---w-', { a: ev(agentEvent('agent_started', 'r5', 0)), w: wm(50) });
      expectObservable(source.pipe(detect()), '^--!').toBe('---');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});

/** Runs events through watermarking + detection as a replay would, returning violation run ids. */
async function violatedRuns(events: AgentEvent[], bound: number): Promise<string[]> {
  const verdicts: Verdict[] = await lastValueFrom(from(events).pipe(withWatermark({ maxOutOfOrdernessMs: bound }), detectMissingEvents({ runDeadlineMs: 30_000 }), toArray()));
  return verdicts.flatMap((v) => (v.kind === 'violation' ? [`${v.violation.runId}:${v.violation.missing.join('+')}`] : [])).sort();
}

describe('detectMissingEvents (properties)', () => {
  const runArb = fc.record({
    start: fc.integer({ min: 0, max: 60_000 }),
    steps: fc.array(fc.integer({ min: 1, max: 2_000 }), { minLength: 4, maxLength: 4 }),
    drop: fc.option(fc.constantFrom<LifecycleType>('agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'), { nil: undefined }),
  });

  it('finds exactly the runs that lack a type, for any interleaving within the out-of-orderness bound', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(runArb, { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 2 ** 31 }), async (runs, seed) => {
        const events: AgentEvent[] = [];
        const expected: string[] = [];
        runs.forEach((run, i) => {
          const runId = `run_${i}`;
          let t = run.start;
          const times = [t, ...run.steps.map((s) => (t += s))];
          const all = completeRun(runId, 0).map((e, k) => ({ ...e, emittedAtMs: times[k] as number }));
          const kept = all.filter((e) => e.type !== run.drop);
          events.push(...kept);
          if (run.drop !== undefined) expected.push(`${runId}:${run.drop}`);
        });
        events.sort((a, b) => a.emittedAtMs - b.emittedAtMs);
        // Shuffle each event by at most `bound` ms of event time: a legal disorder for the watermark.
        const bound = 1_000;
        let state = seed;
        const jitter = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) % (bound + 1));
        const delivered = events.map((e) => ({ e, at: e.emittedAtMs + jitter() })).sort((a, b) => a.at - b.at || a.e.source.offset - b.e.source.offset).map((x) => x.e);
        expect(await violatedRuns(delivered, bound)).toEqual(expected.sort());
        expect(await violatedRuns(events, bound)).toEqual(expected.sort());
      }),
      { numRuns: 200 },
    );
  });
});
