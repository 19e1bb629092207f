import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AgentEvent, LifecycleType } from '../../../../src/contract/event.js';
import { runEngine } from '../../../../src/operators/engine/run-engine.js';
import { verdictId } from '../../../../src/operators/engine/verdict-id.js';
import { partitioningRule } from '../../../../src/operators/rules/partitioning.js';
import { generatedRuns, inEventTimeOrder, lateEvent, redelivered, replayEvents, ruleEngine, scheduler, SMALL_CONTRACT, violation, violationsOf } from '../../../support/detectors.js';
import { agentEvent, ev, wm } from '../../../support/events.js';

const detect = (allowedLatenessMs = 0) => ruleEngine(partitioningRule(), { allowedLatenessMs });

let offset = 1_000;
/** An event of `runId` (thread `threadId`, user `userId`) read from `partition`. */
const on = (partition: number, type: LifecycleType, runId: string, t: number, threadId = `thread_of_${runId}`, userId = `user_of_${runId}`) =>
  agentEvent(type, runId, t, { threadId, userId, source: { topic: 'agent-events', partition, offset: offset++ } });

describe('rule partitioning_broken', () => {
  it('reports a run whose events come from two partitions, once, at the first event from another partition', () => {
    const [a, b, c] = [on(0, 'agent_started', 'r1', 0), on(1, 'agent_thinking', 'r1', 1), on(2, 'tool_executing', 'r1', 2)];
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      // wm(2) places a and b (b is the first from another partition); wm(3) places c: no second verdict.
      const source = hot('-a-b-w-c-x-|', { a: ev(a), b: ev(b), w: wm(2), c: ev(c), x: wm(3) });
      const expected = '  -----w-----|';
      expectObservable(source.pipe(detect())).toBe(expected, {
        w: violation({
          violationId: verdictId('partitioning_broken', 'r1', `1:${b.source.offset}`),
          rule: 'partitioning_broken',
          severity: 'WARNING',
          subject: 'partition',
          detail: 'run r1 has events in partitions 0 and 1',
          runId: 'r1',
          eventTimeMs: 1,
          decidedAtWatermarkMs: 1,
          source: { topic: 'agent-events', partitions: [1], offsets: [b.source.offset] },
        }),
      });
      expectSubscriptions(source.subscriptions).toBe('^----------!');
    });
  });

  it('does not report a thread whose runs come from different partitions (producers may key by run id)', () => {
    const first = on(0, 'agent_started', 'r1', 0, 'thread_9', 'user_42');
    const second = on(1, 'agent_started', 'r2', 3, 'thread_9', 'user_42');
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-w-|', { a: ev(first), b: ev(second), w: wm(3) });
      expectObservable(source.pipe(detect())).toBe('-------|');
    });
  });

  it('is silent when each run stays in its partition, whatever the interleaving of users', () => {
    const events = [
      on(0, 'agent_started', 'run_alice', 0, 'thread_alice', 'user_alice'),
      on(1, 'agent_started', 'run_bob', 0, 'thread_bob', 'user_bob'),
      on(0, 'agent_thinking', 'run_alice', 1, 'thread_alice', 'user_alice'),
      on(1, 'agent_thinking', 'run_bob', 1, 'thread_bob', 'user_bob'),
      on(0, 'agent_started', 'run_alice_2', 2, 'thread_alice', 'user_alice'),
      on(1, 'agent_completed', 'run_bob', 2, 'thread_bob', 'user_bob'),
    ];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(fedcba)-w-|', { a: ev(events[0]!), b: ev(events[1]!), c: ev(events[2]!), d: ev(events[3]!), e: ev(events[4]!), f: ev(events[5]!), w: wm(2) });
      expectObservable(source.pipe(detect())).toBe('------------|');
    });
  });

  it('keeps interleaved runs of different users apart: only the split run is reported', () => {
    const alice = [on(0, 'agent_started', 'run_alice', 0, 'thread_alice', 'user_alice'), on(0, 'agent_thinking', 'run_alice', 2, 'thread_alice', 'user_alice')];
    const bob = [on(1, 'agent_started', 'run_bob', 1, 'thread_bob', 'user_bob'), on(0, 'agent_thinking', 'run_bob', 3, 'thread_bob', 'user_bob')];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-w-|', { a: ev(bob[1]!), b: ev(alice[1]!), c: ev(alice[0]!), d: ev(bob[0]!), w: wm(4) });
      expectObservable(source.pipe(detect())).toBe('---------w-|', {
        w: violation({ rule: 'partitioning_broken', runId: 'run_bob', userId: 'user_bob', threadId: 'thread_bob', eventTimeMs: 3, detail: 'run run_bob has events in partitions 1 and 0' }),
      });
    });
  });

  it('sees no split in a redelivery from another partition: the engine reports the copy as a duplicate before any rule', () => {
    const s = on(0, 'agent_started', 'r1', 0);
    const copy = { ...redelivered(s, 5), source: { topic: 'agent-events', partition: 3, offset: 5 } };
    const t = on(0, 'agent_thinking', 'r1', 1);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-|', { a: ev(s), b: ev(copy), c: ev(t), w: wm(1) });
      expectObservable(source.pipe(detect())).toBe('-------D-|', {
        D: violation({ rule: 'duplicate_delivery', runId: 'r1', eventTimeMs: 0, source: { topic: 'agent-events', partitions: [3], offsets: [5] } }),
      });
    });
  });

  it('reports an event from another partition that arrives behind the watermark while its run is open, at its place', () => {
    const s = on(0, 'agent_started', 'r1', 0);
    const late = on(1, 'agent_thinking', 'r1', 1);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-|', { a: ev(s), w: wm(4), b: ev(late) });
      expectObservable(source.pipe(detect())).toBe('-----p-|', {
        p: violation({ rule: 'partitioning_broken', runId: 'r1', eventTimeMs: 1, decidedAtWatermarkMs: 4, source: { topic: 'agent-events', partitions: [1], offsets: [late.source.offset] } }),
      });
    });
  });

  it('checks an event that arrives after its run is final against the run it belonged to: reported once, not again', () => {
    const [s, f] = [on(0, 'agent_started', 'r1', 0), on(0, 'agent_completed', 'r1', 2)];
    const [late, later] = [on(1, 'agent_thinking', 'r1', 1), on(1, 'tool_executing', 'r1', 1.5)];
    scheduler().run(({ hot, expectObservable }) => {
      // wm(4) judges r1 (final at 2); both late events are checked in a stand-in that recalls partition 0.
      const source = hot('-a-b-w-c-----d-|', { a: ev(s), b: ev(f), w: wm(4), c: ev(late), d: ev(later) });
      expectObservable(source.pipe(detect())).toBe('-------(lp)--m-|', {
        l: lateEvent(late, 4, 'closed'),
        p: violation({ rule: 'partitioning_broken', runId: 'r1', detail: 'run r1 has events in partitions 0 and 1', eventTimeMs: 1 }),
        m: lateEvent(later, 4, 'closed'),
      });
    });
  });

  it('reports nothing more for a late event of a run already reported split, nor for one on the run\'s own partition', () => {
    const [s, t, f] = [on(0, 'agent_started', 'r1', 0), on(1, 'agent_thinking', 'r1', 1), on(0, 'agent_completed', 'r1', 2)];
    const [late, own] = [on(2, 'tool_executing', 'r1', 1.5), on(0, 'tool_completed', 'r1', 1.7)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-w-d-e-|', { a: ev(s), b: ev(t), c: ev(f), w: wm(4), d: ev(late), e: ev(own) });
      expectObservable(source.pipe(detect())).toBe('-------p-l-m-|', {
        p: violation({ rule: 'partitioning_broken', runId: 'r1', detail: 'run r1 has events in partitions 0 and 1' }),
        l: lateEvent(late, 4, 'closed'),
        m: lateEvent(own, 4, 'closed'),
      });
    });
  });

  it('propagates errors and releases the source', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-w-#', { a: ev(on(0, 'agent_started', 'r1', 0)), b: ev(on(1, 'agent_thinking', 'r1', 1)), w: wm(2) });
      expectObservable(source.pipe(detect())).toBe('-----w-#', { w: violation({ rule: 'partitioning_broken', runId: 'r1' }) });
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
  });

  it('releases the source on unsubscribe', () => {
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b---w-|', { a: ev(on(0, 'agent_started', 'r1', 0)), b: ev(on(1, 'agent_thinking', 'r1', 1)), w: wm(1) });
      expectObservable(source.pipe(detect()), '^----!').toBe('------');
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });
});

describe('rule partitioning_broken (properties)', () => {
  const PARTITIONS = [0, 1, 2];
  const bound = 5;

  /** Moves some events of generated runs to another partition; offsets follow emission order per partition. */
  const spread = (events: readonly AgentEvent[], moves: readonly number[]): AgentEvent[] => {
    const next = PARTITIONS.map(() => 0);
    return inEventTimeOrder(events).map((e, i) => {
      const partition = (e.source.partition + (moves[i % moves.length] ?? 0)) % PARTITIONS.length;
      return { ...e, source: { ...e.source, partition, offset: (next[partition] = (next[partition] as number) + 1) - 1 } };
    });
  };

  /** One verdict per run spread over partitions, at its first event (in event-time order) on another partition than its first. */
  function referenceSplits(events: readonly AgentEvent[]): string[] {
    const first = new Map<string, number>();
    const reported = new Set<string>();
    const out: string[] = [];
    for (const e of inEventTimeOrder(events)) {
      const p = first.get(e.runId);
      if (p === undefined) first.set(e.runId, e.source.partition);
      else if (p !== e.source.partition && !reported.has(e.runId)) {
        reported.add(e.runId);
        out.push(`${e.runId} ${e.emittedAtMs} ${verdictId('partitioning_broken', e.runId, `${e.source.partition}:${e.source.offset}`)}`);
      }
    }
    return out.sort();
  }

  it('reports exactly the runs spread over partitions, once, however the consumer interleaves the partitions', async () => {
    await fc.assert(
      fc.asyncProperty(
        generatedRuns({ maxSpanMs: 29, partitions: 3 }),
        fc.array(fc.constantFrom(0, 0, 0, 1, 2), { minLength: 1, maxLength: 20 }),
        fc.array(fc.record({ partition: fc.constantFrom(...PARTITIONS), records: fc.integer({ min: 1, max: 6 }) }), { minLength: 1, maxLength: 30 }),
        async (generated, moves, reads) => {
          const events = spread(generated, moves);
          const options = { maxOutOfOrdernessMs: bound, partitions: PARTITIONS };
          const inOrder = await replayEvents(events, runEngine(SMALL_CONTRACT, () => [partitioningRule()], { allowedLatenessMs: 30 }), options);
          expect(violationsOf(inOrder).map((v) => `${v.runId} ${v.eventTimeMs} ${v.violationId}`).sort()).toEqual(referenceSplits(events));
          // Each partition in its own order, the partitions interleaved as the reads say.
          const queues = PARTITIONS.map((p) => events.filter((e) => e.source.partition === p));
          const next = PARTITIONS.map(() => 0);
          const interleaved: AgentEvent[] = [];
          for (const read of reads) {
            const from = next[read.partition] as number;
            interleaved.push(...(queues[read.partition] as AgentEvent[]).slice(from, from + read.records));
            next[read.partition] = from + read.records;
          }
          PARTITIONS.forEach((p) => interleaved.push(...(queues[p] as AgentEvent[]).slice(next[p])));
          expect(await replayEvents(interleaved, runEngine(SMALL_CONTRACT, () => [partitioningRule()], { allowedLatenessMs: 30 }), options)).toEqual(inOrder);
        },
      ),
      { numRuns: 300 },
    );
  });
});
