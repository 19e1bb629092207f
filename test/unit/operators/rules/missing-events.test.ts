import fc from 'fast-check';
import { from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { AgentEvent, LifecycleType } from '../../../../src/contract/event.js';
import type { Verdict } from '../../../../src/contract/verdict.js';
import { runEngine } from '../../../../src/operators/engine/run-engine.js';
import { verdictId } from '../../../../src/operators/engine/verdict-id.js';
import { orderByEventTime } from '../../../../src/operators/orderByEventTime.js';
import { missingEventsRule } from '../../../../src/operators/rules/missing-events.js';
import { withWatermark } from '../../../../src/operators/withWatermark.js';
import { arrivalOrder, lateEvent, placeFree, revision, ruleEngine, scheduler, SMALL_CONTRACT, violation } from '../../../support/detectors.js';
import { agentEvent, completeRun, ev, testContract, wm } from '../../../support/events.js';

/** SMALL_CONTRACT: a run ends at its completion or 30 after its first event, and is judged once event time passes that end + allowed lateness. */
const detect = (allowedLatenessMs = 0) => ruleEngine(missingEventsRule(SMALL_CONTRACT), { allowedLatenessMs });

function missingViolation(runId: string, missing: LifecycleType[], extra: Record<string, unknown> = {}) {
  return violation({ violationId: verdictId('missing_events', runId, ''), rule: 'missing_events', severity: 'CRITICAL', runId, missing, subject: missing.join(','), ...extra });
}

describe('rule missing_events', () => {
  it('fires once event time passes the deadline when a run goes silent, with no further events of that run', () => {
    const [s, t] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1)];
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-x-y-z-|', { a: ev(s), b: ev(t), x: wm(29), y: wm(30), z: wm(31) });
      expectObservable(source.pipe(detect())).toBe('---------v-|', {
        v: missingViolation('r1', ['tool_executing', 'tool_completed', 'agent_completed'], {
          detail: 'run judged (deadline) without tool_executing, tool_completed, agent_completed',
          eventTimeMs: 0,
          decidedAtWatermarkMs: 30,
          source: { topic: 'agent-events', partitions: [0, 0], offsets: [s.source.offset, t.source.offset] },
        }),
      });
      expectSubscriptions(source.subscriptions).toBe('^----------!');
    });
  });

  it('judges a run once event time passes its agent_completed, and is silent when all five came', () => {
    const good = completeRun('good', 0);
    const bad = [agentEvent('agent_started', 'bad', 0), agentEvent('agent_completed', 'bad', 2)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-abcdefg-w-x-|', { a: ev(good[0]!), b: ev(bad[0]!), c: ev(good[1]!), d: ev(good[2]!), e: ev(good[3]!), f: ev(bad[1]!), g: ev(good[4]!), w: wm(4), x: wm(5) });
      // decided at event time 2 (its completion): the verdict does not depend on when watermarks came
      expectObservable(source.pipe(detect())).toBe('---------v---|', {
        v: missingViolation('bad', ['agent_thinking', 'tool_executing', 'tool_completed'], { detail: 'run judged (completed) without agent_thinking, tool_executing, tool_completed', decidedAtWatermarkMs: 2 }),
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

  it('counts an event that arrives behind the watermark but before its run is final: no verdict, no late_event row', () => {
    const [s, t, x, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1), agentEvent('tool_executing', 'r1', 2), agentEvent('agent_completed', 'r1', 4)];
    const lateCompletion = agentEvent('tool_completed', 'r1', 3);
    scheduler().run(({ hot, expectObservable }) => {
      // completed at 4, allowed lateness 3: final once event time passes 7
      const source = hot('-(abcd)-w-e-x-y-|', { a: ev(s), b: ev(t), c: ev(x), d: ev(f), w: wm(5), e: ev(lateCompletion), x: wm(7), y: wm(8) });
      expectObservable(source.pipe(detect(3))).toBe('----------------|');
    });
    // Without lateness the run is final at watermark 5: the same event is late and retracts the verdict.
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcd)-w-e----|', { a: ev(s), b: ev(t), c: ev(x), d: ev(f), w: wm(5), e: ev(lateCompletion) });
      expectObservable(source.pipe(detect())).toBe('--------v-(lr)-|', {
        v: missingViolation('r1', ['tool_completed'], { decidedAtWatermarkMs: 4 }),
        l: lateEvent(lateCompletion, 5, 'closed'),
        r: revision(lateCompletion, verdictId('missing_events', 'r1'), 'retracted'),
      });
    });
  });

  it('leaves a never-started run to the sequence rule; late events confirm the verdict until they bring every missing type, which retracts it', () => {
    const t = agentEvent('agent_thinking', 'r2', 3);
    const [x, c, f] = [agentEvent('tool_executing', 'r2', 4), agentEvent('tool_completed', 'r2', 5), agentEvent('agent_completed', 'r2', 6)];
    const id = verdictId('missing_events', 'r2');
    scheduler().run(({ hot, expectObservable }) => {
      // deadline 33: final once event time passes it
      const source = hot('-a-w-b----c----d----|', { a: ev(t), w: wm(34), b: ev(x), c: ev(c), d: ev(f) });
      expectObservable(source.pipe(detect())).toBe('---v-(lr)-(ms)-(nq)-|', {
        v: missingViolation('r2', ['tool_executing', 'tool_completed', 'agent_completed'], { eventTimeMs: 3, decidedAtWatermarkMs: 33 }),
        l: lateEvent(x, 34, 'closed'),
        r: revision(x, id, 'confirmed'),
        m: lateEvent(c, 34, 'closed'),
        s: revision(c, id, 'confirmed'),
        n: lateEvent(f, 34, 'closed'),
        q: revision(f, id, 'retracted'),
      });
    });
  });

  it('judges every open run at end of input (replay), in a stable order', () => {
    const a = agentEvent('agent_started', 'ra', 5);
    const b = agentEvent('agent_started', 'rb', 1);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-|', { a: ev(a), b: ev(b) });
      const missing: LifecycleType[] = ['agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'];
      expectObservable(source.pipe(detect())).toBe('-----(xy|)', {
        x: missingViolation('rb', missing, { detail: 'run judged (end_of_input) without agent_thinking, tool_executing, tool_completed, agent_completed', decidedAtWatermarkMs: 5 }),
        y: missingViolation('ra', missing, { decidedAtWatermarkMs: 5 }),
      });
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

describe('rule missing_events (properties)', () => {
  /** The reference contract: deadline 30 s. */
  const contract = testContract();
  const runArb = fc.record({
    start: fc.integer({ min: 0, max: 60_000 }),
    steps: fc.array(fc.integer({ min: 1, max: 2_000 }), { minLength: 4, maxLength: 4 }),
    drop: fc.option(fc.constantFrom<LifecycleType>('agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'), { nil: undefined }),
  });
  const eventsOf = (runs: readonly { start: number; steps: number[]; drop: LifecycleType | undefined }[]): AgentEvent[] =>
    runs
      .flatMap((run, i) => {
        let t = run.start;
        const times = [t, ...run.steps.map((s) => (t += s))];
        return completeRun(`run_${i}`, 0)
          .map((e, k) => ({ ...e, emittedAtMs: times[k] as number, deliveredAtMs: times[k] as number, recordTimestampMs: times[k] as number }))
          .filter((e) => e.type !== run.drop);
      })
      .sort((a, b) => a.emittedAtMs - b.emittedAtMs);

  /** Watermarking + ordering + the rule as a replay does; returns "run:missing" keys. */
  async function violatedRuns(events: readonly AgentEvent[], bound: number, allowedLatenessMs: number): Promise<{ keys: string[]; late: Verdict[] }> {
    const verdicts: Verdict[] = await lastValueFrom(
      from(events).pipe(withWatermark({ maxOutOfOrdernessMs: bound }), orderByEventTime(), runEngine(contract, () => [missingEventsRule(contract)], { allowedLatenessMs }), toArray()),
    );
    return {
      keys: verdicts.flatMap((v) => (v.kind === 'violation' ? [`${v.violation.runId}:${v.violation.missing.join('+')}`] : [])).sort(),
      late: verdicts.filter((v) => v.kind !== 'violation'),
    };
  }

  it('finds exactly the runs that lack a type, for any arrival within the out-of-orderness bound plus the allowed lateness', async () => {
    const bound = 1_000;
    await fc.assert(
      fc.asyncProperty(fc.array(runArb, { minLength: 1, maxLength: 30 }), fc.array(fc.nat({ max: 3_000 }), { minLength: 1, maxLength: 50 }), fc.nat({ max: 2_000 }), async (runs, delays, lateness) => {
        const events = eventsOf(runs);
        // a missing agent_started is the sequence rule's run_never_started, not missing_events
        const expected = runs.flatMap((run, i) => (run.drop !== undefined && run.drop !== 'agent_started' ? [`run_${i}:${run.drop}`] : [])).sort();
        expect((await violatedRuns(events, bound, lateness)).keys).toEqual(expected);
        // Delivered up to bound + lateness after it was emitted: behind the watermark perhaps, never after its run is final.
        const delivered = arrivalOrder(events, delays.map((d) => d % (bound + lateness + 1)));
        const { keys, late } = await violatedRuns(delivered, bound, lateness);
        expect(keys).toEqual(expected);
        expect(late).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('gives the same verdicts, late events and revisions however far apart the partitions are read, late records included', async () => {
    const bound = 1_000;
    const PARTITIONS = [0, 1, 2];
    const outcome = async (input: AgentEvent[], allowedLatenessMs: number): Promise<string[]> => {
      const verdicts: Verdict[] = await lastValueFrom(
        from(input).pipe(
          withWatermark({ maxOutOfOrdernessMs: bound, partitions: PARTITIONS }),
          orderByEventTime(),
          runEngine(contract, () => [missingEventsRule(contract)], { allowedLatenessMs }),
          toArray(),
        ),
      );
      return placeFree(verdicts).concat(
        // The place of a verdict on the event-time line does not depend on the interleaving either.
        verdicts.flatMap((v) => (v.kind === 'violation' ? [`decided ${v.violation.violationId} ${v.violation.decidedAtWatermarkMs}`] : v.kind === 'late_event' ? [`late at ${v.watermarkMs}`] : [])).sort(),
      );
    };
    await fc.assert(
      fc.asyncProperty(
        fc.array(runArb, { minLength: 2, maxLength: 24 }),
        // How the consumer reads: which partition next, and how many records of it (a long streak lets one run far ahead).
        fc.array(fc.record({ partition: fc.constantFrom(...PARTITIONS), records: fc.integer({ min: 1, max: 60 }) }), { minLength: 1, maxLength: 60 }),
        fc.constantFrom(0, 500, 5_000),
        async (runs, reads, lateness) => {
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
          const inOrder = await outcome(byPartition.flatMap((q) => q), lateness);
          const next = PARTITIONS.map(() => 0);
          const interleaved: AgentEvent[] = [];
          for (const read of reads) {
            const queue = byPartition[read.partition] as AgentEvent[];
            const start = next[read.partition] as number;
            interleaved.push(...queue.slice(start, start + read.records));
            next[read.partition] = Math.min(queue.length, start + read.records);
          }
          PARTITIONS.forEach((p) => interleaved.push(...(byPartition[p] as AgentEvent[]).slice(next[p])));
          expect(await outcome(interleaved, lateness)).toEqual(inOrder);
        },
      ),
      { numRuns: 200 },
    );
  });
});
