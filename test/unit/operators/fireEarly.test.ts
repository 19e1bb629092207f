import fc from 'fast-check';
import { from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { detectionConfigSchema } from '../../../src/config/config.js';
import type { AgentEvent } from '../../../src/contract/event.js';
import type { Verdict, Violation } from '../../../src/contract/verdict.js';
import { verdictId } from '../../../src/operators/engine/verdict-id.js';
import { fireEarly } from '../../../src/operators/fireEarly.js';
import { contentFindings } from '../../../src/operators/rules/content.js';
import { deliveryLatencyFindings } from '../../../src/operators/rules/delivery-latency.js';
import type { StreamItem } from '../../../src/operators/stream-item.js';
import { contractFor, detectVerdicts } from '../../../src/pipeline/detect.js';
import { consumeLikeKafka, normalizeLifecycle } from '../../oracle/harness.js';
import { generateTraffic } from '../../oracle/producers.js';
import { scheduler, SMALL_CONTRACT } from '../../support/detectors.js';
import { agentEvent, ev, wm } from '../../support/events.js';

const checks = [contentFindings(), deliveryLatencyFindings(SMALL_CONTRACT)];

/** SMALL_CONTRACT: latency > 5 WARNING, > 20 CRITICAL. */
const sent = (t: number, latency: number, overrides: Partial<AgentEvent> = {}): AgentEvent =>
  agentEvent('agent_thinking', 'r1', t, { deliveredAtMs: t + latency, recordTimestampMs: t + latency, body: { type: 'agent_thinking', reasoning: 'planning the next step' }, ...overrides });

const provisional = (event: AgentEvent, fields: Partial<Violation>): Verdict => ({
  kind: 'violation',
  violation: expect.objectContaining({ status: 'provisional', runId: event.runId, source: { topic: event.source.topic, partitions: [event.source.partition], offsets: [event.source.offset] }, ...fields }) as Violation,
});

describe('fireEarly (early firing of the checks that need nothing but the event)', () => {
  it('fires at the arrival of the event, before any watermark, with the id the final verdict will have', () => {
    const slow = sent(0, 21);
    const blank = agentEvent('agent_thinking', 'r1', 1, { deliveredAtMs: 2, recordTimestampMs: 2, body: { type: 'agent_thinking', reasoning: '  ' } });
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-w-b-|', { a: ev(slow), w: wm(0), b: ev(blank) });
      expectObservable(source.pipe(fireEarly(checks))).toBe('-a---b-|', {
        a: provisional(slow, { rule: 'delivery_latency', severity: 'CRITICAL', violationId: verdictId('delivery_latency', 'r1', `0:${slow.source.offset}`), decidedAtWatermarkMs: slow.emittedAtMs }),
        b: provisional(blank, { rule: 'content_invalid', subject: 'reasoning', violationId: verdictId('content_invalid', 'r1', `0:${blank.source.offset}:reasoning`) }),
      });
    });
  });

  it('does not check the latency of an event whose time is not trusted, and fires nothing for a clean event', () => {
    const odd = sent(0, 21);
    const fine = sent(1, 1);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-s-e-|', { s: { kind: 'suspicious', event: odd, watermarkMs: 0 } satisfies StreamItem, e: ev(fine) });
      expectObservable(source.pipe(fireEarly(checks))).toBe('-----|');
    });
  });
});

const config = detectionConfigSchema.parse({});
const chain = (events: readonly AgentEvent[], partitions: readonly number[], earlyFiring: boolean): Promise<Verdict[]> =>
  lastValueFrom(from(events).pipe(detectVerdicts(config, partitions, { earlyFiring }), toArray()));

const FIRED_EARLY = new Set<string>(['content_invalid', 'delivery_latency', 'missing_events', 'out_of_order', 'unpaired_tool', 'run_never_started', 'event_after_completion', 'event_gap', 'run_duration']);
const statusOf = (v: Verdict): string => (v.kind === 'violation' ? (v.violation.status ?? 'final') : v.kind);
/** A violation without what differs between its provisional and its final row (status, owner, thread, decision time). */
const finding = (v: Violation): string => JSON.stringify([v.violationId, v.rule, v.severity, v.subject, v.detail, v.eventTimeMs, v.source]);

describe('early firing in the production chain (property, independent producer model)', () => {
  it('changes no final verdict; every provisional verdict is later made final (a per-event one unchanged) or withdrawn, never both', async () => {
    // Faults that the early checks see (content, latency), and what makes them diverge (duplicates, untrusted times, late replays).
    const faultKinds = ['required_field_broken', 'latency_warning', 'latency_critical', 'duplicate_record', 'late_recovery_replay', 'suspicious_timestamp', 'event_after_completion', 'addressed_to_other_user'] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.record({ seed: fc.integer({ min: 1, max: 0x7fffffff }), runs: fc.integer({ min: 20, max: 80 }), readSeed: fc.integer({ min: 1, max: 0x7fffffff }), maxChunk: fc.integer({ min: 1, max: 50 }) }),
        async (c) => {
          const traffic = generateTraffic({ seed: c.seed, runs: c.runs, partitions: 3, meanRunSpacingMs: 300, faultFraction: 0.6, faultKinds, tailMs: 45_000 });
          const events = normalizeLifecycle(consumeLikeKafka(traffic, { seed: c.readSeed, maxChunk: c.maxChunk }));
          const plain = await chain(events, [0, 1, 2], false);
          const early = await chain(events, [0, 1, 2], true);
          expect(early.filter((v) => statusOf(v) !== 'provisional' && statusOf(v) !== 'withdrawn')).toEqual(plain);

          const firedAt = new Map<string, number>();
          const settled = new Map<string, 'final' | 'withdrawn'>();
          early.forEach((v, i) => {
            if (v.kind !== 'violation') return;
            const id = v.violation.violationId;
            if (v.violation.status === 'provisional') {
              expect(firedAt.has(id)).toBe(false); // one early firing per finding
              expect(settled.has(id)).toBe(false); // always ahead of its final row: the row that stays is the final one
              firedAt.set(id, i);
            } else if (firedAt.has(id)) {
              expect(settled.has(id)).toBe(false);
              settled.set(id, v.violation.status ?? 'final');
              const fired = (early[firedAt.get(id) ?? -1] as Extract<Verdict, { kind: 'violation' }>).violation;
              expect(v.violation.rule).toBe(fired.rule);
              // A per-event finding is final as fired; a run's may still change with events placed
              // before the run is final (a late tool_completed leaves fewer types missing): its final row replaces it.
              if (v.violation.status === undefined && (fired.rule === 'content_invalid' || fired.rule === 'delivery_latency')) expect(finding(v.violation)).toBe(finding(fired));
            } else {
              expect(v.violation.status).toBeUndefined(); // nothing is withdrawn that was not fired
            }
          });
          expect([...firedAt.keys()].filter((id) => !settled.has(id))).toEqual([]);
          // Fired early: the checks that need nothing but the event, and the per-run rules whose
          // judgement only reads the run; never the isolation rules or the engine's own verdicts.
          const earlyRules = [...new Set(early.flatMap((v) => (v.kind === 'violation' && v.violation.status !== undefined ? [v.violation.rule] : [])))];
          expect(earlyRules.filter((rule) => !FIRED_EARLY.has(rule))).toEqual([]);
        },
      ),
      { numRuns: 30 },
    );
  }, 120_000);

  it('withdraws what it fired on a redelivered copy, and the traffic has such copies', async () => {
    const traffic = generateTraffic({ seed: 11, runs: 60, partitions: 3, meanRunSpacingMs: 300, faultFraction: 0.7, faultKinds: ['duplicate_record', 'latency_critical', 'required_field_broken'], tailMs: 45_000 });
    const events = normalizeLifecycle(consumeLikeKafka(traffic, { seed: 3, maxChunk: 9 }));
    const early = await chain(events, [0, 1, 2], true);
    const count = (status: string) => early.filter((v) => v.kind === 'violation' && statusOf(v) === status).length;
    expect(count('provisional')).toBeGreaterThan(10);
    // The contract the chain ran with fires content and latency findings; some of them on copies.
    expect(contractFor(config).thresholds.deliveryLatencyMs.critical).toBe(2_000);
    const withdrawnIds = early.flatMap((v) => (v.kind === 'violation' && v.violation.status === 'withdrawn' && (v.violation.rule === 'content_invalid' || v.violation.rule === 'delivery_latency') ? [v.violation.violationId] : []));
    const duplicates = early.filter((v) => v.kind === 'violation' && v.violation.rule === 'duplicate_delivery' && v.violation.status === undefined);
    expect(duplicates.length).toBeGreaterThan(0);
    // Each withdrawn finding sits on a copy the engine reported as a duplicate (same offset).
    const duplicateOffsets = new Set(duplicates.map((v) => (v.kind === 'violation' ? `${v.violation.source.partitions[0]}:${v.violation.source.offsets[0]}` : '')));
    const perEvent = (rule: string): boolean => rule === 'content_invalid' || rule === 'delivery_latency';
    for (const v of early) if (v.kind === 'violation' && v.violation.status === 'withdrawn' && perEvent(v.violation.rule)) expect(duplicateOffsets.has(`${v.violation.source.partitions[0]}:${v.violation.source.offsets[0]}`)).toBe(true);
    expect(withdrawnIds.length).toBeGreaterThan(0);
  });
});
