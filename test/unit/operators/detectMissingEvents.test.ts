import fc from 'fast-check';
import { from, lastValueFrom, toArray, type OperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { AgentEvent, LifecycleType } from '../../../src/contract/event.js';
import type { Verdict } from '../../../src/contract/verdict.js';
import { detectMissingEvents } from '../../../src/operators/detectMissingEvents.js';
import { verdictId } from '../../../src/operators/engine/verdict-id.js';
import { orderByEventTime } from '../../../src/operators/orderByEventTime.js';
import type { StreamItem } from '../../../src/operators/stream-item.js';
import { withWatermark } from '../../../src/operators/withWatermark.js';
import { agentEvent, completeRun, ev, testContract, wm } from '../../support/events.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
/** Run deadline 10 (the critical run duration); input ordered as in the pipeline. */
const detect = (): OperatorFunction<StreamItem, Verdict> => (source) => source.pipe(orderByEventTime(), detectMissingEvents(testContract({ duration: [5, 10] })));

function missingViolation(runId: string, missing: LifecycleType[], extra: Record<string, unknown> = {}) {
  return {
    kind: 'violation',
    violation: expect.objectContaining({ violationId: verdictId('missing_events', runId, ''), rule: 'missing_events', severity: 'CRITICAL', runId, missing, ...extra }),
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

  it('judges a run at its agent_completed once event time passes it, and is silent when all five came', () => {
    const good = completeRun('good', 0);
    const bad = [agentEvent('agent_started', 'bad', 0), agentEvent('agent_completed', 'bad', 2)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-abcdefg-w-|', { a: ev(good[0]!), b: ev(bad[0]!), c: ev(good[1]!), d: ev(good[2]!), e: ev(good[3]!), f: ev(bad[1]!), g: ev(good[4]!), w: wm(4) });
      // decided at event time 2 (its completion): the verdict does not depend on when watermarks came
      expectObservable(source.pipe(detect())).toBe('---------v-|', {
        v: missingViolation('bad', ['agent_thinking', 'tool_executing', 'tool_completed'], { decidedAtWatermarkMs: 2 }),
      });
    });
  });

  it('orders by event time first, so an out-of-order event before the watermark still counts', () => {
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

  it('leaves a never-started run to the sequence rule, and reports a late event of a judged run with a revision', () => {
    const [t, late] = [agentEvent('agent_thinking', 'r2', 3), agentEvent('tool_executing', 'r2', 4)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b----|', { a: ev(t), w: wm(13), b: ev(late) });
      expectObservable(source.pipe(detect())).toBe('---v-(lr)-|', {
        v: missingViolation('r2', ['tool_executing', 'tool_completed', 'agent_completed'], { eventTimeMs: 3 }),
        l: { kind: 'late_event', runId: 'r2', type: 'tool_executing', eventTimeMs: 4, watermarkMs: 13, runState: 'closed', source: late.source },
        r: expect.objectContaining({ kind: 'revision', violationId: verdictId('missing_events', 'r2', ''), action: 'retracted' }),
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

/** Watermarking + ordering + detection as a replay does; returns "run:missing" keys. */
async function violatedRuns(events: AgentEvent[], bound: number): Promise<string[]> {
  const verdicts: Verdict[] = await lastValueFrom(
    from(events).pipe(withWatermark({ maxOutOfOrdernessMs: bound }), orderByEventTime(), detectMissingEvents(testContract()), toArray()),
  );
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
          events.push(...all.filter((e) => e.type !== run.drop));
          // a missing agent_started is the sequence rule's run_never_started, not missing_events
          if (run.drop !== undefined && run.drop !== 'agent_started') expected.push(`${runId}:${run.drop}`);
        });
        events.sort((a, b) => a.emittedAtMs - b.emittedAtMs);
        // Delay each event by at most `bound` ms: a legal disorder for the watermark.
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

  it('gives the same verdicts, late events and revisions however far apart the partitions are read, late records included', async () => {
    const bound = 1_000;
    const PARTITIONS = [0, 1, 2];
    /** Missing-events verdicts, late events and revisions, order-free. */
    const outcome = async (input: AgentEvent[]): Promise<string[]> => {
      const verdicts: Verdict[] = await lastValueFrom(
        from(input).pipe(withWatermark({ maxOutOfOrdernessMs: bound, partitions: PARTITIONS }), orderByEventTime(), detectMissingEvents(testContract()), toArray()),
      );
      return verdicts
        .flatMap((v) => {
          if (v.kind === 'violation') return [`violation ${v.violation.violationId} ${v.violation.runId} ${v.violation.missing.join('+')}`];
          if (v.kind === 'late_event') return [`late ${v.runId} ${v.type} ${v.runState}`];
          if (v.kind === 'revision') return [`revision ${v.violationId} ${v.action}`];
          return [];
        })
        .sort();
    };
    await fc.assert(
      fc.asyncProperty(
        fc.array(runArb, { minLength: 2, maxLength: 24 }),
        // How the consumer reads: which partition next, and how many records of it (a long streak lets one run far ahead).
        fc.array(fc.record({ partition: fc.constantFrom(...PARTITIONS), records: fc.integer({ min: 1, max: 60 }) }), { minLength: 1, maxLength: 60 }),
        async (runs, reads) => {
          const byPartition: AgentEvent[][] = PARTITIONS.map(() => []);
          runs.forEach((run, i) => {
            let t = run.start;
            const times = [t, ...run.steps.map((step) => (t += step))];
            const all = completeRun(`run_${i}`, 0).map((e, k) => ({ ...e, emittedAtMs: times[k] as number }));
            (byPartition[i % PARTITIONS.length] as AgentEvent[]).push(...all.filter((e) => e.type !== run.drop));
          });
          PARTITIONS.forEach((p) => {
            const queue = (byPartition[p] as AgentEvent[]).sort((a, b) => a.emittedAtMs - b.emittedAtMs);
            // Every dropped event is re-sent at the end of its partition: late unless its run is among the last.
            const resent = runs.flatMap((run, i) => (i % PARTITIONS.length === p && run.drop !== undefined ? [agentEvent(run.drop, `run_${i}`, run.drop === 'agent_started' ? run.start : run.start + 1)] : []));
            byPartition[p] = [...queue, ...resent].map((e, offset) => ({ ...e, source: { topic: 't', partition: p, offset } }));
          });
          const inOrder = await outcome(byPartition.flatMap((q) => q));
          const next = PARTITIONS.map(() => 0);
          const interleaved: AgentEvent[] = [];
          for (const read of reads) {
            const queue = byPartition[read.partition] as AgentEvent[];
            const from = next[read.partition] as number;
            interleaved.push(...queue.slice(from, from + read.records));
            next[read.partition] = Math.min(queue.length, from + read.records);
          }
          PARTITIONS.forEach((p) => interleaved.push(...(byPartition[p] as AgentEvent[]).slice(next[p])));
          expect(await outcome(interleaved)).toEqual(inOrder);
        },
      ),
      { numRuns: 200 },
    );
  });
});
