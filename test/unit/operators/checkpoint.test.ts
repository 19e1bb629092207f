/**
 * Checkpoints of the detector chain (src/operators/state-registry.ts): stopping the chain at any
 * point between two events, snapshotting its state, throwing the chain away (as kill -9 does) and
 * continuing with a new chain restored from the snapshot gives exactly the verdicts, in exactly the
 * order, of one uninterrupted run. Traffic from the independent producer model (faults of every
 * kind, three producers, four wire shapes), read as a Kafka consumer reads it.
 */
import fc from 'fast-check';
import { from, lastValueFrom, Subject, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { detectionConfigSchema } from '../../../src/config/config.js';
import type { AgentEvent } from '../../../src/contract/event.js';
import type { Verdict } from '../../../src/contract/verdict.js';
import { RunwatchError } from '../../../src/errors.js';
import { StateRegistry } from '../../../src/operators/state-registry.js';
import { detectVerdicts } from '../../../src/pipeline/detect.js';
import { consumeLikeKafka, normalizeLifecycle } from '../../oracle/harness.js';
import { generateTraffic } from '../../oracle/producers.js';
import { background, consume, run } from '../../support/traffic.js';

const config = detectionConfigSchema.parse({});

function uninterrupted(events: readonly AgentEvent[], partitions: number[], earlyFiring = false): Promise<Verdict[]> {
  return lastValueFrom(from(events).pipe(detectVerdicts(config, partitions, { earlyFiring }), toArray()));
}

/**
 * The chain over `events`, stopped after each cut (ascending indexes): state snapshotted, the
 * subscription dropped without completing, a fresh chain restored from the bytes. Returns every
 * verdict emitted, and the snapshot sizes.
 */
function withRestores(events: readonly AgentEvent[], partitions: number[], cuts: readonly number[], earlyFiring = false): { verdicts: Verdict[]; snapshotBytes: number[] } {
  const verdicts: Verdict[] = [];
  const snapshotBytes: number[] = [];
  let registry = new StateRegistry();
  let position = 0;
  for (const cut of [...cuts, events.length]) {
    const input = new Subject<AgentEvent>();
    let completed = false;
    const subscription = input.pipe(detectVerdicts(config, partitions, { state: registry, earlyFiring })).subscribe({ next: (v) => verdicts.push(v), complete: () => (completed = true) });
    for (; position < cut; position += 1) input.next(events[position] as AgentEvent);
    if (cut === events.length) {
      input.complete();
      expect(completed).toBe(true);
      break;
    }
    const bytes = registry.snapshot();
    snapshotBytes.push(bytes.length);
    subscription.unsubscribe(); // no completion: nothing is flushed, as when the process dies
    registry = new StateRegistry(StateRegistry.decode(bytes));
  }
  return { verdicts, snapshotBytes };
}

const trafficCase = fc.record({
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
  runs: fc.integer({ min: 60, max: 160 }),
  partitions: fc.constantFrom(3 as const, 4 as const),
  readSeed: fc.integer({ min: 1, max: 0x7fffffff }),
  maxChunk: fc.integer({ min: 1, max: 200 }),
  cutFractions: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 4 }),
});

describe('checkpoint and restore of the detector chain', () => {
  it('gives the verdicts of an uninterrupted run, in the same order, wherever it is cut and however often', async () => {
    await fc.assert(
      fc.asyncProperty(trafficCase, async (c) => {
        const traffic = generateTraffic({ seed: c.seed, runs: c.runs, partitions: c.partitions, meanRunSpacingMs: 400 });
        const events = normalizeLifecycle(consumeLikeKafka(traffic, { seed: c.readSeed, maxChunk: c.maxChunk }));
        const partitions = Array.from({ length: traffic.partitions }, (_, p) => p);
        const cuts = [...new Set(c.cutFractions.map((f) => Math.floor(f * events.length)))].sort((a, b) => a - b);
        const expected = await uninterrupted(events, partitions);
        const { verdicts } = withRestores(events, partitions, cuts);
        expect(verdicts.length).toBe(expected.length);
        expect(verdicts).toEqual(expected);
      }),
      { numRuns: 25 },
    );
  }, 120_000);

  it('with early firing (live mode), provisional and withdrawn verdicts included: the same, wherever it is cut', async () => {
    let firedPerRun = 0;
    await fc.assert(
      fc.asyncProperty(trafficCase, async (c) => {
        const traffic = generateTraffic({ seed: c.seed, runs: c.runs, partitions: c.partitions, meanRunSpacingMs: 400, faultFraction: 0.5 });
        const events = normalizeLifecycle(consumeLikeKafka(traffic, { seed: c.readSeed, maxChunk: c.maxChunk }));
        const partitions = Array.from({ length: traffic.partitions }, (_, p) => p);
        const cuts = [...new Set(c.cutFractions.map((f) => Math.floor(f * events.length)))].sort((a, b) => a - b);
        const expected = await uninterrupted(events, partitions, true);
        const perRun = expected.filter((v) => v.kind === 'violation' && v.violation.status !== undefined && v.violation.rule !== 'content_invalid' && v.violation.rule !== 'delivery_latency');
        firedPerRun += perRun.length;
        expect(withRestores(events, partitions, cuts, true).verdicts).toEqual(expected);
      }),
      { numRuns: 15 },
    );
    // Per-run findings fired early (and settled) crossed the cuts: the state root was exercised.
    expect(firedPerRun).toBeGreaterThan(0);
  }, 120_000);

  it('with early firing, cut after every other event: per-run findings fired before a cut are withdrawn after it', async () => {
    const faultKinds = ['drop_event_type', 'drop_one_tool_completed', 'late_recovery_replay', 'duplicate_record', 'gap_critical', 'required_field_broken'] as const;
    const traffic = generateTraffic({ seed: 91, runs: 40, partitions: 3, meanRunSpacingMs: 300, faultFraction: 0.8, faultKinds, tailMs: 45_000 });
    const events = normalizeLifecycle(consumeLikeKafka(traffic, { seed: 9, maxChunk: 5 }));
    const expected = await uninterrupted(events, [0, 1, 2], true);
    const withdrawnPerRun = expected.filter((v) => v.kind === 'violation' && v.violation.status === 'withdrawn' && v.violation.rule !== 'content_invalid' && v.violation.rule !== 'delivery_latency');
    expect(withdrawnPerRun.length).toBeGreaterThan(0);
    const { verdicts } = withRestores(events, [0, 1, 2], events.map((_, i) => i).filter((i) => i % 2 === 1), true);
    expect(verdicts).toEqual(expected);
  }, 120_000);

  it('restores a checkpoint of a build without early firing state: that root starts empty', () => {
    const registry = new StateRegistry();
    const input = new Subject<AgentEvent>();
    const subscription = input.pipe(detectVerdicts(config, [0], { state: registry })).subscribe();
    const decoded = StateRegistry.decode(registry.snapshot());
    subscription.unsubscribe();
    const { ['early-runs']: _root, ...roots } = decoded.roots;
    const { ['early-runs']: _layout, ...layouts } = decoded.layouts;
    const older = new StateRegistry({ roots, layouts });
    expect(() => input.pipe(detectVerdicts(config, [0], { state: older, earlyFiring: true })).subscribe().unsubscribe()).not.toThrow();
    expect(older.names).toContain('early-runs');
  });

  it('cut after every other event of faulty traffic: still the same verdicts', async () => {
    // Duplicates and late replays need the memory of judged runs; every fault straddles some cut here.
    const faultKinds = ['run_on_other_users_thread', 'content_mentions_other_user', 'addressed_to_other_user', 'duplicate_record', 'late_recovery_replay', 'event_after_completion'] as const;
    const traffic = generateTraffic({ seed: 77, runs: 24, partitions: 3, meanRunSpacingMs: 300, faultFraction: 0.6, faultKinds, tailMs: 45_000 });
    const events = normalizeLifecycle(consumeLikeKafka(traffic, { seed: 5, maxChunk: 7 }));
    const expected = await uninterrupted(events, [0, 1, 2]);
    const { verdicts } = withRestores(events, [0, 1, 2], events.map((_, i) => i).filter((i) => i % 2 === 1));
    const rules = new Set(expected.flatMap((v) => (v.kind === 'violation' ? [v.violation.rule] : [])));
    expect([...rules]).toEqual(expect.arrayContaining(['cross_user_contamination', 'duplicate_delivery'])); // the case has findings to keep
    expect(verdicts).toEqual(expected);
  }, 120_000);

  it('keeps what runs leave behind for later runs: thread owners and active ids survive a restore', async () => {
    // run_b takes over run_a's thread; run_c mentions run_a's user: both are found only from what
    // run_a left in the contamination rule's shared state, seconds of event time (many cuts) earlier.
    const planned = [
      ...background([0, 1], 20_000),
      ...run('run_a', 1_000, undefined, { userId: 'user_alpha_0001', threadId: 'thread_shared_01', partition: 0 }),
      ...run('run_b', 5_000, undefined, { userId: 'user_bravo_0002', threadId: 'thread_shared_01', partition: 0 }),
      ...run('run_c', 9_000, undefined, { userId: 'user_bravo_0002', threadId: 'thread_bravo_03', partition: 1, reasoning: 'compare with user_alpha_0001 history' }),
    ];
    const events = consume(planned);
    const expected = await uninterrupted(events, [0, 1]);
    const subjects = expected.flatMap((v) => (v.kind === 'violation' && v.violation.rule === 'cross_user_contamination' ? [`${v.violation.runId}:${v.violation.subject}`] : []));
    expect(subjects).toEqual(expect.arrayContaining(['run_b:thread_id', 'run_c:content']));
    const { verdicts } = withRestores(events, [0, 1], events.map((_, i) => i).filter((i) => i % 3 === 0));
    expect(verdicts).toEqual(expected);
  });

  it('refuses a snapshot of a chain with other state, naming the operator', () => {
    const registry = new StateRegistry();
    const input = new Subject<AgentEvent>();
    const subscription = input.pipe(detectVerdicts(config, [0], { state: registry })).subscribe();
    expect([...registry.names].sort()).toEqual(['early-runs', 'engine', 'order', 'user-grades', 'watermark']);
    const bytes = registry.snapshot();
    subscription.unsubscribe();

    const restored = new StateRegistry(StateRegistry.decode(bytes));
    const otherEngine = { table: {}, openRuns: new Map(), nowMs: 0 };
    expect(() => restored.attach('engine', otherEngine)).toThrow(RunwatchError);
    expect(() => restored.attach('engine', otherEngine)).toThrow(/operator "engine" has another layout/);
    expect(() => new StateRegistry(StateRegistry.decode(bytes)).attach('dedupe', {})).toThrow(/no state for operator "dedupe"/);
    expect(() => StateRegistry.decode(Buffer.from([0xff, 0x0f, 0x49, 0x02]))).toThrow();
  });

  it('one registry serves one subscription: attaching twice is a programming error', () => {
    const registry = new StateRegistry();
    registry.attach('watermark', { a: 1 });
    expect(() => registry.attach('watermark', { a: 1 })).toThrow(/attached twice/);
  });
});
