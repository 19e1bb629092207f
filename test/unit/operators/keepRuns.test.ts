import fc from 'fast-check';
import { from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { RunSummary, UserGrade, Verdict, Violation } from '../../../src/contract/verdict.js';
import { keepRuns } from '../../../src/operators/keepRuns.js';
import { scheduler } from '../../support/detectors.js';

const violation = (fields: { runId: string }): Verdict => ({ kind: 'violation', violation: { rule: 'event_gap', ...fields } as Violation });
const summary = (runId: string, firstEventMs: number): Verdict => ({ kind: 'run_summary', summary: { runId, firstEventMs } as RunSummary });
const grade = (userId: string, windowStartMs: number): Verdict => ({ kind: 'user_grade', grade: { userId, windowStartMs, windowEndMs: windowStartMs + 10 } as UserGrade });
const late = (runId: string): Verdict => ({ kind: 'late_event', runId, type: 'agent_thinking', eventTimeMs: 0, watermarkMs: 0, runState: 'closed', source: { topic: 't', partition: 0, offset: 0 } });
const inRange = keepRuns({ keepRun: (s) => s.firstEventMs >= 100 && s.firstEventMs < 200, keepGrade: (g) => g.windowStartMs >= 100 && g.windowEndMs <= 200 });

describe('keepRuns', () => {
  it('holds a run’s violations until its summary decides, then passes or drops them together', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const values = { a: violation({ runId: 'r1' }), b: violation({ runId: 'r2' }), c: summary('r1', 150), d: summary('r2', 50), e: late('r1'), f: late('r2'), g: grade('u', 100), h: grade('u', 195) };
      expectObservable(cold('-a-b-c-d-e-f-g-h-|', values).pipe(inRange)).toBe('-----(ac)e---g---|', values);
    });
  });

  it('drops the verdicts of a run never summarized', async () => {
    const out = await lastValueFrom(from([violation({ runId: 'open' })]).pipe(inRange, toArray()));
    expect(out).toEqual([]);
  });

  it('property: keeps exactly the verdicts of kept runs, in input order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.constantFrom('violation', 'late')), { maxLength: 40 }), fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 6, maxLength: 6 }), async (events, starts) => {
        // Each run's summary comes after a random prefix of its verdicts; the rest follows it.
        const runs = [0, 1, 2, 3, 4, 5].map((n) => `r${n}`);
        const input: Verdict[] = [];
        const cut = Math.floor(events.length / 2);
        events.slice(0, cut).forEach(([n, kind]) => input.push(kind === 'violation' ? violation({ runId: runs[n] ?? '' }) : late(runs[n] ?? '')));
        runs.forEach((runId, n) => input.push(summary(runId, starts[n] ?? 0)));
        events.slice(cut).forEach(([n]) => input.push(late(runs[n] ?? '')));
        const out = await lastValueFrom(from(input).pipe(inRange, toArray()));
        const kept = new Set(runs.filter((_, n) => (starts[n] ?? 0) >= 100 && (starts[n] ?? 0) < 200));
        const runOf = (v: Verdict): string => (v.kind === 'violation' ? v.violation.runId : v.kind === 'run_summary' ? v.summary.runId : v.kind === 'late_event' ? v.runId : '');
        expect(out).toHaveLength(input.filter((v) => kept.has(runOf(v))).length);
        expect(out.every((v) => kept.has(runOf(v)))).toBe(true);
        // Per run, the input order holds.
        for (const runId of kept) expect(out.filter((v) => runOf(v) === runId)).toEqual(input.filter((v) => runOf(v) === runId));
      }),
    );
  });
});
