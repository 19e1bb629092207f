/**
 * The run engine itself (src/operators/engine/run-engine.ts), through a probe rule that reports
 * what the engine hands it: when each event arrives and as what, and each run it judges (its
 * events in order, outcome, end).
 */
import fc from 'fast-check';
import { from, lastValueFrom, type OperatorFunction, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { detectionConfigSchema } from '../../../../src/config/config.js';
import type { AgentEvent, LifecycleType } from '../../../../src/contract/event.js';
import type { Verdict } from '../../../../src/contract/verdict.js';
import { runEngine, type RuleFactory } from '../../../../src/operators/engine/run-engine.js';
import { orderByEventTime } from '../../../../src/operators/orderByEventTime.js';
import { missingEventsRule } from '../../../../src/operators/rules/missing-events.js';
import { sequenceRule } from '../../../../src/operators/rules/sequence.js';
import type { StreamItem } from '../../../../src/operators/stream-item.js';
import { withWatermark } from '../../../../src/operators/withWatermark.js';
import { allRules } from '../../../../src/pipeline/detect.js';
import { generatedRuns, lateEvent, replay, replayEvents, ruleEngine, scheduler, SMALL_CONTRACT, violation } from '../../../support/detectors.js';
import { agentEvent, completeRun, ev, wm } from '../../../support/events.js';

/**
 * Reports each run it judges as an `out_of_order` WARNING whose detail is
 * "<outcome> end=<endMs> <type>@<time>,...", and records every arrival in `arrivals`.
 */
function probe(arrivals: string[] = [], times: number[] = []): RuleFactory {
  return () => ({
    name: 'probe',
    onArrival: (_slot, event, _out, arrival) => {
      arrivals.push(`${event.runId} ${event.type}@${event.emittedAtMs} ${arrival}`);
    },
    judge: (run, out) => {
      out.violation(run.slot, {
        rule: 'out_of_order',
        severity: 'WARNING',
        subject: 'probe',
        detail: `${run.outcome} end=${run.endMs} ${run.events.map((e) => `${e.type}@${e.emittedAtMs}`).join(',')}`,
        eventTimeMs: run.endMs,
        key: 'probe',
      });
    },
    onTime: (now) => {
      times.push(now);
    },
  });
}

const judged = (runId: string, detail: string, extra: Record<string, unknown> = {}) => violation({ rule: 'out_of_order', subject: 'probe', runId, detail, ...extra });

describe('runEngine', () => {
  it('rejects an allowed lateness that is negative or not finite when the operator is created', () => {
    expect(() => runEngine(SMALL_CONTRACT, () => [], { allowedLatenessMs: -1 })).toThrow(RangeError);
    expect(() => runEngine(SMALL_CONTRACT, () => [], { allowedLatenessMs: Number.NaN })).toThrow(RangeError);
    expect(() => runEngine(SMALL_CONTRACT, () => [], { allowedLatenessMs: Number.POSITIVE_INFINITY })).toThrow(RangeError);
  });

  it('judges a completed run once, when event time passes its completion + the allowed lateness, over its events in event-time order', () => {
    const [s, t, x, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_thinking', 'r1', 1), agentEvent('tool_executing', 'r1', 2), agentEvent('agent_completed', 'r1', 4)];
    const lateThought = agentEvent('agent_thinking', 'r1', 3);
    const arrivals: string[] = [];
    scheduler().run(({ hot, expectObservable }) => {
      // wm(5), 1 past the completion at 4, releases all four; the thinking at 3 then arrives behind
      // the watermark (placed at 5), after the completion, and still joins the run (final at 4 + 3).
      const source = hot('-a-b-c-d-w-e-x-y-z-|', { a: ev(f), b: ev(x), c: ev(s), d: ev(t), w: wm(5), e: ev(lateThought), x: wm(6), y: wm(7), z: wm(8) });
      expectObservable(source.pipe(ruleEngine(probe(arrivals), { allowedLatenessMs: 3 }))).toBe('-----------------j-|', {
        j: judged('r1', 'completed end=4 agent_started@0,agent_thinking@1,tool_executing@2,agent_thinking@3,agent_completed@4', { eventTimeMs: 4, decidedAtWatermarkMs: 7 }),
      });
    });
    expect(arrivals).toEqual(['r1 agent_started@0 in_run', 'r1 agent_thinking@1 in_run', 'r1 tool_executing@2 in_run', 'r1 agent_completed@4 in_run', 'r1 agent_thinking@3 in_run']);
  });

  it('ends a run never completed at its deadline (first event + critical duration), and judges it after the allowed lateness', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-x-|', { a: ev(agentEvent('agent_started', 'r1', 2)), b: ev(agentEvent('agent_thinking', 'r1', 3)), w: wm(33), x: wm(34) });
      expectObservable(source.pipe(ruleEngine(probe(), { allowedLatenessMs: 1 }))).toBe('-------j-|', {
        j: judged('r1', 'deadline end=32 agent_started@2,agent_thinking@3', { eventTimeMs: 32, decidedAtWatermarkMs: 33 }),
      });
    });
  });

  it('takes a completion after the deadline within the allowed lateness: the run is completed, and ends at its deadline', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-x-|', { a: ev(agentEvent('agent_started', 'r1', 0)), b: ev(agentEvent('agent_completed', 'r1', 33)), w: wm(35), x: wm(36) });
      expectObservable(source.pipe(ruleEngine(probe(), { allowedLatenessMs: 5 }))).toBe('-------j-|', { j: judged('r1', 'completed end=30 agent_started@0,agent_completed@33', { decidedAtWatermarkMs: 35 }) });
    });
  });

  it('moves a run’s end earlier when a late completion comes: it is judged as soon as event time passes the new end', () => {
    const s = agentEvent('agent_started', 'r1', 0);
    const f = agentEvent('agent_completed', 'r1', 2);
    scheduler().run(({ hot, expectObservable }) => {
      // The completion at 2 comes behind watermark 4, placed at 4: end 2 + lateness 3 = 5 is not passed yet.
      const source = hot('-a-w-b-x-y-|', { a: ev(s), w: wm(4), b: ev(f), x: wm(5), y: wm(6) });
      expectObservable(source.pipe(ruleEngine(probe(), { allowedLatenessMs: 3 }))).toBe('---------j-|', { j: judged('r1', 'completed end=2 agent_started@0,agent_completed@2', { decidedAtWatermarkMs: 5 }) });
    });
  });

  it('judges the runs still open at end of input, by first event, up to where event time stood', () => {
    const [a, b, c] = [agentEvent('agent_started', 'ra', 5), agentEvent('agent_started', 'rb', 1), agentEvent('agent_completed', 'rc', 3)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-|', { a: ev(a), b: ev(b), c: ev(c) });
      expectObservable(source.pipe(ruleEngine(probe(), { allowedLatenessMs: 10 }))).toBe('-------(xyz|)', {
        x: judged('rb', 'end_of_input end=5 agent_started@1', { decidedAtWatermarkMs: 5 }),
        y: judged('rc', 'completed end=3 agent_completed@3', { decidedAtWatermarkMs: 5 }),
        z: judged('ra', 'end_of_input end=5 agent_started@5', { decidedAtWatermarkMs: 5 }),
      });
    });
  });

  it('hands rules each event with where it stands: in its run, after its run is final, of an unknown run, or untrusted', async () => {
    const [s, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_completed', 'r1', 2)];
    const [behind, afterFinal, afterCompletion, orphan] = [
      agentEvent('agent_thinking', 'r1', 1),
      agentEvent('tool_executing', 'r1', 1),
      agentEvent('tool_completed', 'r1', 6),
      agentEvent('agent_thinking', 'r9', 3),
    ];
    const odd = agentEvent('agent_thinking', 'r1', 99_999_999, { deliveredAtMs: 1 });
    const arrivals: string[] = [];
    const verdicts = await replay(
      // `behind` (at 1) arrives behind watermark 2 and joins r1, still open (final at 2).
      [ev(s), wm(2), ev(behind), ev(f), wm(4), ev(afterFinal), ev(afterCompletion), wm(100), ev(orphan), { kind: 'suspicious', event: odd, watermarkMs: 100 } satisfies StreamItem],
      runEngine(SMALL_CONTRACT, () => [probe(arrivals)]),
    );
    expect(arrivals).toEqual([
      'r1 agent_started@0 in_run',
      'r1 agent_thinking@1 in_run',
      'r1 agent_completed@2 in_run',
      'r1 tool_executing@1 after_final',
      'r1 tool_completed@6 after_final',
      'r9 agent_thinking@3 unknown_run',
      'r1 agent_thinking@99999999 suspicious',
    ]);
    expect(verdicts).toEqual([
      judged('r1', 'completed end=2 agent_started@0,agent_thinking@1,agent_completed@2', { decidedAtWatermarkMs: 2 }),
      lateEvent(afterFinal, 4, 'closed'),
      violation({ rule: 'event_after_completion', severity: 'CRITICAL', subject: 'tool_completed', detail: 'tool_completed 4 ms after agent_completed', runId: 'r1', eventTimeMs: 6, decidedAtWatermarkMs: 6 }),
      lateEvent(orphan, 100, 'unknown'),
      violation({ rule: 'suspicious_timestamp', severity: 'WARNING', subject: 'timestamp', runId: 'r1', source: { topic: 'agent-events', partitions: [0], offsets: [odd.source.offset] } }),
    ]);
  });

  it('remembers a final run for two deadlines plus the allowed lateness of event time: a late event of it is then a late_event of an unknown run', () => {
    const s = agentEvent('agent_started', 'r1', 0);
    const [late1, late2] = [agentEvent('agent_thinking', 'r1', 1), agentEvent('agent_thinking', 'r1', 2)];
    scheduler().run(({ hot, expectObservable }) => {
      // final at 30; remembered while event time is at most 30 + 2 × 30 = 90
      const source = hot('-a-w-b-x-c-|', { a: ev(s), w: wm(90), b: ev(late1), x: wm(91), c: ev(late2) });
      expectObservable(source.pipe(ruleEngine(probe()))).toBe('---j-l---m-|', {
        j: judged('r1', 'deadline end=30 agent_started@0'),
        l: lateEvent(late1, 90, 'closed'),
        m: lateEvent(late2, 91, 'unknown'),
      });
    });
    scheduler().run(({ hot, expectObservable }) => {
      // With an allowed lateness of 5: final at 35; remembered while event time is at most 35 + 2 × 30 + 5 = 100
      const source = hot('-a-w-b-x-c-|', { a: ev(s), w: wm(100), b: ev(late1), x: wm(101), c: ev(late2) });
      expectObservable(source.pipe(ruleEngine(probe(), { allowedLatenessMs: 5 }))).toBe('---j-l---m-|', {
        j: judged('r1', 'deadline end=30 agent_started@0', { decidedAtWatermarkMs: 35 }),
        l: lateEvent(late1, 100, 'closed'),
        m: lateEvent(late2, 101, 'unknown'),
      });
    });
  });

  it('never opens a phantom run for a late event of a judged run, also one stamped after the run’s end', async () => {
    // r1 completes at 1 and is final at once (no lateness); an event of it stamped 10, after its
    // completion, arrives behind watermark 32 (10 + deadline 30 is not behind it: too recent to be
    // known late from its own time alone). r1 is still remembered then (final at 1, for 2 × 30).
    const [s, f] = [agentEvent('agent_started', 'r1', 0), agentEvent('agent_completed', 'r1', 1)];
    const afterCompletion = agentEvent('agent_thinking', 'r1', 10);
    const verdicts = await replay([ev(s), ev(f), wm(32), ev(afterCompletion)], runEngine(SMALL_CONTRACT, () => [sequenceRule(SMALL_CONTRACT), missingEventsRule(SMALL_CONTRACT)], { summaries: true }));
    const judgedRuns = verdicts.filter((v) => v.kind === 'run_summary');
    expect(judgedRuns).toEqual([{ kind: 'run_summary', summary: expect.objectContaining({ runId: 'r1', eventCount: 2, outcome: 'completed' }) }]);
    expect(verdicts.filter((v) => v.kind === 'violation' && v.violation.rule === 'run_never_started')).toEqual([]);
    // The same for a run judged at its deadline (30) and an event of it stamped 40, arriving behind watermark 61.
    const late = agentEvent('agent_thinking', 'r2', 40);
    const deadline = await replay([ev(agentEvent('agent_started', 'r2', 0)), wm(61), ev(late)], runEngine(SMALL_CONTRACT, () => [sequenceRule(SMALL_CONTRACT)], { summaries: true }));
    expect(deadline.filter((v) => v.kind === 'run_summary')).toEqual([{ kind: 'run_summary', summary: expect.objectContaining({ runId: 'r2', eventCount: 1, outcome: 'deadline' }) }]);
    expect(deadline.filter((v) => v.kind === 'violation' && v.violation.rule === 'run_never_started')).toEqual([]);
  });

  it('moves rules’ clock forward only, to each event’s place and each watermark', async () => {
    const times: number[] = [];
    await replay([ev(agentEvent('agent_started', 'r1', 0)), ev(agentEvent('agent_completed', 'r1', 3)), wm(2), wm(10), ev(agentEvent('agent_thinking', 'r1', 1))], runEngine(SMALL_CONTRACT, () => [probe([], times)]));
    expect(times).toEqual([0, 2, 3, 10]);
  });

  it('makes fresh rules for each subscription: state shared across runs does not leak from one replay into the next', async () => {
    const alice = agentEvent('agent_started', 'run_alice_1', 0, { userId: 'user_alice', threadId: 'thread_9' });
    const bob = agentEvent('agent_started', 'run_bob_1', 1, { userId: 'user_bob', threadId: 'thread_9' });
    const config = detectionConfigSchema.parse({});
    const operator = runEngine(SMALL_CONTRACT, allRules(SMALL_CONTRACT, config));
    const contaminations = (verdicts: readonly Verdict[]) => verdicts.filter((v) => v.kind === 'violation' && v.violation.rule === 'cross_user_contamination');
    expect(contaminations(await replay([ev(alice), ev(bob)], operator))).toHaveLength(1);
    // Alone, Bob's run owns thread_9: nothing is remembered of Alice's from the replay before.
    const bobAlone = await replay([ev(bob)], operator);
    expect(contaminations(bobAlone)).toEqual([]);
    expect(bobAlone).toEqual(await replay([ev(bob)], runEngine(SMALL_CONTRACT, allRules(SMALL_CONTRACT, config))));
  });

  it('propagates errors and releases the source; unsubscribing releases it too', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-w-#', { a: ev(agentEvent('agent_started', 'r1', 0)), w: wm(31) });
      expectObservable(source.pipe(ruleEngine(probe()))).toBe('---j-#', { j: judged('r1', 'deadline end=30 agent_started@0') });
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a---w-|', { a: ev(agentEvent('agent_started', 'r1', 0)), w: wm(31) });
      expectObservable(source.pipe(ruleEngine(probe())), '^--!').toBe('---');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});

describe('runEngine with every production rule (properties)', () => {
  const config = detectionConfigSchema.parse({});
  const PARTITIONS = [0, 1, 2];
  const bound = 5;
  const chain = (input: readonly AgentEvent[], allowedLatenessMs: number, emitEveryMs: number): Promise<Verdict[]> =>
    lastValueFrom(
      from(input).pipe(
        withWatermark({ maxOutOfOrdernessMs: bound, partitions: PARTITIONS, emitEveryMs }),
        orderByEventTime(),
        runEngine(SMALL_CONTRACT, allRules(SMALL_CONTRACT, config), { allowedLatenessMs, summaries: true }),
        toArray(),
      ),
    );

  it('gives the same verdicts, late events, revisions and summaries however the partitions are interleaved and whenever watermarks come, late records included', async () => {
    await fc.assert(
      fc.asyncProperty(
        generatedRuns({ maxSpanMs: 45, partitions: 3, maxRuns: 8 }),
        // Per partition, some records are delivered out of order (swapped with a later one): late ones included.
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.array(fc.record({ partition: fc.constantFrom(...PARTITIONS), records: fc.integer({ min: 1, max: 8 }) }), { minLength: 1, maxLength: 30 }),
        fc.constantFrom(0, 3, 30),
        fc.constantFrom(0, 4),
        async (events, swaps, reads, lateness, emitEveryMs) => {
          const queues = PARTITIONS.map((p) => events.filter((e) => e.source.partition === p));
          for (const swap of swaps) {
            const queue = queues[swap % PARTITIONS.length] as AgentEvent[];
            if (queue.length < 2) continue;
            const i = (swap >> 2) % (queue.length - 1);
            const j = Math.min(queue.length - 1, i + 1 + ((swap >> 6) % 4));
            [queue[i], queue[j]] = [queue[j] as AgentEvent, queue[i] as AgentEvent];
          }
          // A partition's offsets, and its records' delivery times, follow its order (as Kafka assigns them).
          queues.forEach((queue, p) => {
            let deliveredAtMs = Number.NEGATIVE_INFINITY;
            queue.forEach((e, offset) => {
              deliveredAtMs = Math.max(deliveredAtMs + 1, e.emittedAtMs + 1);
              queue[offset] = { ...e, deliveredAtMs, recordTimestampMs: deliveredAtMs, source: { ...e.source, partition: p, offset } };
            });
          });
          const partitionByPartition = await chain(queues.flat(), lateness, 0);
          const next = PARTITIONS.map(() => 0);
          const interleaved: AgentEvent[] = [];
          for (const read of reads) {
            const start = next[read.partition] as number;
            interleaved.push(...(queues[read.partition] as AgentEvent[]).slice(start, start + read.records));
            next[read.partition] = start + read.records;
          }
          PARTITIONS.forEach((p) => interleaved.push(...(queues[p] as AgentEvent[]).slice(next[p])));
          const sorted = (verdicts: readonly Verdict[]) => verdicts.map((v) => JSON.stringify(v)).sort();
          expect(sorted(await chain(interleaved, lateness, emitEveryMs))).toEqual(sorted(partitionByPartition));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('runEngine: items placed at the same event time, from different reads', () => {
  const rules = () => [missingEventsRule(SMALL_CONTRACT), sequenceRule(SMALL_CONTRACT)];
  const at = (type: LifecycleType, runId: string, t: number, partition: number, offset: number, deliveredAtMs: number): AgentEvent =>
    agentEvent(type, runId, t, { deliveredAtMs, recordTimestampMs: deliveredAtMs, source: { topic: 'agent-events', partition, offset } });
  const judge = (input: readonly AgentEvent[]) => replayEvents(input, runEngine(SMALL_CONTRACT, rules), { maxOutOfOrdernessMs: 5, partitions: [0, 1] });
  const sorted = (verdicts: readonly Verdict[]) => verdicts.map((v) => JSON.stringify(v)).sort();

  it('gives the same verdicts whichever partition is read first when a run’s late completion and its late tool_completed come from two partitions', async () => {
    // Run r1 is spread over partitions 0 and 1. On each partition one of its events comes late
    // (behind that partition's watermark 10 - 5 = 5): agent_completed@4 on 0, tool_completed@3 on 1.
    const p0 = [at('agent_started', 'r1', 0, 0, 0, 1), at('tool_executing', 'r1', 2, 0, 1, 3), at('agent_started', 'q0', 10, 0, 2, 11), at('agent_completed', 'r1', 4, 0, 3, 12)];
    const p1 = [at('agent_thinking', 'r1', 1, 1, 0, 2), at('agent_started', 'q1', 10, 1, 1, 11), at('tool_completed', 'r1', 3, 1, 2, 12)];
    expect(sorted(await judge([...p0, ...p1]))).toEqual(sorted(await judge([...p1, ...p0])));
  });

  it('gives the same verdicts whichever partition is read first when a partition’s late records carry delivery times out of their order', async () => {
    // On partition 0, agent_completed@4 is appended before tool_completed@3, whose record timestamp
    // is the earlier one (producers' clocks): both are late (behind 10 - 5).
    const p0 = [
      at('agent_started', 'r1', 0, 0, 0, 1),
      at('agent_thinking', 'r1', 1, 0, 1, 2),
      at('tool_executing', 'r1', 2, 0, 2, 3),
      at('agent_started', 'q0', 10, 0, 3, 11),
      at('agent_completed', 'r1', 4, 0, 4, 20),
      at('tool_completed', 'r1', 3, 0, 5, 15),
    ];
    const p1 = [at('agent_started', 'q1', 10, 1, 0, 11)];
    expect(sorted(await judge([...p0, ...p1]))).toEqual(sorted(await judge([...p1, ...p0])));
  });
});

describe('runEngine time model on complete runs', () => {
  it('a healthy run delivered in any order within the bound has no verdict but its summary', async () => {
    const run = completeRun('r1', 0).map((e) => ({ ...e, deliveredAtMs: e.emittedAtMs, body: bodyOf(e) }));
    const config = detectionConfigSchema.parse({});
    for (const order of [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [1, 0, 3, 2, 4]]) {
      const verdicts = await replay([...order.map((i) => ev(run[i] as AgentEvent)), wm(10)], runEngine(SMALL_CONTRACT, allRules(SMALL_CONTRACT, config), { summaries: true }));
      expect(verdicts).toEqual([{ kind: 'run_summary', summary: expect.objectContaining({ runId: 'r1', outcome: 'completed', eventCount: 5, warnings: 0, criticals: 0 }) }]);
    }
  });
});

function bodyOf(e: AgentEvent): Record<string, unknown> {
  return {
    agent_name: 'supervisor',
    reasoning: 'thinking it over',
    tool_name: 'search',
    result: { ok: true },
    run_id: e.runId,
  };
}

describe('runEngine: per-run findings fired when the completion arrives (live mode)', () => {
  /** The engine as live mode runs it: ordering that announces completions, early firing on (no per-event checks needed here). */
  const live = (): OperatorFunction<StreamItem, Verdict> => (items) => items.pipe(orderByEventTime({ announceArrivalsOf: 'agent_completed' }), runEngine(SMALL_CONTRACT, () => [missingEventsRule(SMALL_CONTRACT)], { earlyChecks: [], completionNotices: true }));
  const missing = (status: 'provisional' | 'withdrawn' | undefined, subject: string) =>
    violation({ rule: 'missing_events', runId: 'r1', subject, ...(status === undefined ? {} : { status }) });

  it('fires missing_events at the arrival of the completion, before any watermark places it, from the events placed and those still waiting; final at judgement', () => {
    const [start, think, call] = [agentEvent('agent_started', 'r1', 1), agentEvent('agent_thinking', 'r1', 2), agentEvent('tool_executing', 'r1', 3)];
    const done = agentEvent('agent_completed', 'r1', 4);
    scheduler().run(({ hot, expectObservable }) => {
      // wm(2) places the start (the copy of the slot holds it); thinking and the call still wait when the completion arrives.
      const source = hot('-a-b-w-c-d-x-|', { a: ev(start), b: ev(think), w: wm(2), c: ev(call), d: ev(done), x: wm(40) });
      expectObservable(source.pipe(live())).toBe('---------P-F-|', { P: missing('provisional', 'tool_completed'), F: missing(undefined, 'tool_completed') });
    });
  });

  it('a missing event that arrives after the completion, before the run is final: the provisional finding is withdrawn, not made final', async () => {
    const events = [agentEvent('agent_started', 'r1', 1), agentEvent('agent_thinking', 'r1', 2), agentEvent('tool_executing', 'r1', 3), agentEvent('agent_completed', 'r1', 5)];
    const lateCompletion = agentEvent('tool_completed', 'r1', 4);
    const items = [...events.map(ev), ev(lateCompletion), wm(100)];
    const verdicts = await lastValueFrom(from(items).pipe(live(), toArray()));
    const rows = verdicts.flatMap((v) => (v.kind === 'violation' ? [v.violation] : []));
    expect(rows.map((v) => [v.rule, v.status ?? 'final'])).toEqual([
      ['missing_events', 'provisional'],
      ['missing_events', 'withdrawn'],
    ]);
    expect(rows[0]?.violationId).toBe(rows[1]?.violationId);
  });

  it('fires once per finding, at the arrival (not again when the completion takes its place); nothing for a run already final', async () => {
    const events = [agentEvent('agent_started', 'r1', 1), agentEvent('agent_thinking', 'r1', 2), agentEvent('agent_completed', 'r1', 3)];
    const copyAfterFinal = { ...events[2], source: { ...events[2]!.source, offset: 999 } } as AgentEvent;
    const items = [...events.map(ev), wm(100), { kind: 'late', event: copyAfterFinal, watermarkMs: 100 } as StreamItem, wm(200)];
    const verdicts = await lastValueFrom(from(items).pipe(live(), toArray()));
    const rows = verdicts.flatMap((v) => (v.kind === 'violation' && v.violation.rule === 'missing_events' ? [v.violation.status ?? 'final'] : []));
    expect(rows).toEqual(['provisional', 'final']); // no provisional row after the final one
  });

  it('judges the run in a copy of its slot: the run itself takes its waiting events in event-time order only (same final verdicts as without notices)', async () => {
    await fc.assert(
      fc.asyncProperty(generatedRuns({ maxRuns: 6 }), fc.integer({ min: 0, max: 0x7fff }), async (events, seed) => {
        const arrival = [...events].sort((a, b) => ((a.emittedAtMs * 7 + seed) % 5) - ((b.emittedAtMs * 7 + seed) % 5) || a.emittedAtMs - b.emittedAtMs);
        const finals = (withNotices: boolean) =>
          lastValueFrom(
            from(arrival).pipe(
              withWatermark({ maxOutOfOrdernessMs: 10 }),
              orderByEventTime(withNotices ? { announceArrivalsOf: 'agent_completed' } : {}),
              runEngine(SMALL_CONTRACT, allRules(SMALL_CONTRACT, detectionConfigSchema.parse({})), { summaries: true, ...(withNotices ? { earlyChecks: [], completionNotices: true } : {}) }),
              toArray(),
            ),
          ).then((all) => all.filter((v) => v.kind !== 'violation' || v.violation.status === undefined));
        expect(await finals(true)).toEqual(await finals(false));
      }),
      { numRuns: 200 },
    );
  });
});
