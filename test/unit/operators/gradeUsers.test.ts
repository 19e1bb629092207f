import fc from 'fast-check';
import { from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Grade, RunSummary, UserGrade, Verdict } from '../../../src/contract/verdict.js';
import { gradeUsers } from '../../../src/operators/gradeUsers.js';
import { scheduler } from '../../support/detectors.js';

/** window = 10, runs final within 5 of their start: the window [0, 10) is final once verdicts are decided at 15 or later. */
const grade = () => gradeUsers({ windowMs: 10, runFinalWithinMs: 5 });

let runCounter = 0;
/**
 * A run summary as summarizeRuns emits it, with the fields gradeUsers reads set from the arguments.
 * As in the engine's output, a run is decided at most runFinalWithinMs (5: deadline + allowed lateness) after its first event, and
 * decision times never decrease along the stream.
 */
function summary(userId: string | undefined, firstEventMs: number, decidedAtWatermarkMs: number, isolation: { warnings?: number; criticals?: number } = {}): Verdict {
  const runId = `run_${(runCounter += 1)}`;
  const run: RunSummary = {
    runId,
    threadId: `thread_of_${runId}`,
    userId,
    firstEventMs,
    lastEventMs: firstEventMs + 1,
    startedAtMs: firstEventMs,
    completedAtMs: firstEventMs + 1,
    eventCount: 5,
    duplicateCount: 0,
    lateEventCount: 0,
    typesSeen: ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'],
    outcome: 'completed',
    durationMs: 1,
    maxGapMs: 1,
    warnings: (isolation.warnings ?? 0) + (isolation.criticals ?? 0),
    criticals: isolation.criticals ?? 0,
    performanceGrade: 'A',
    securityGrade: (isolation.criticals ?? 0) > 0 ? 'F' : 'A',
    isolationWarnings: isolation.warnings ?? 0,
    isolationCriticals: isolation.criticals ?? 0,
    decidedAtWatermarkMs,
    source: { topic: 'agent-events', partitions: [0], offsets: [runCounter] },
  };
  return { kind: 'run_summary', summary: run };
}

function userGrade(userId: string, windowStartMs: number, runs: number, criticals: number, others: number, securityGrade: Grade): Verdict {
  const grade: UserGrade = { userId, windowStartMs, windowEndMs: windowStartMs + 10, runs, criticalIsolationViolations: criticals, otherIsolationViolations: others, securityGrade };
  return { kind: 'user_grade', grade };
}

describe('gradeUsers', () => {
  it('passes verdicts through and grades a user’s window once verdicts pass its end by the time runs take to be final (doc example)', () => {
    const [rA, rB] = [summary('user_a', 1, 3), summary('user_b', 16, 16)];
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b----|', { a: rA, b: rB });
      const expected = '  -a-(bg)-(h|)';
      expectObservable(source.pipe(grade())).toBe(expected, { a: rA, b: rB, g: userGrade('user_a', 0, 1, 0, 0, 'A'), h: userGrade('user_b', 10, 1, 0, 0, 'A') });
      expectSubscriptions(source.subscriptions).toBe('^-------!');
    });
  });

  it('grades F with any CRITICAL isolation violation, else A none, B up to 2, C up to 5, D more (fact sheet §2)', () => {
    const values = {
      a: summary('user_f', 1, 2, { warnings: 0, criticals: 1 }),
      b: summary('user_a', 1, 2),
      c: summary('user_b', 1, 2, { warnings: 1 }),
      d: summary('user_b', 2, 2, { warnings: 1 }),
      e: summary('user_c', 1, 2, { warnings: 3 }),
      f: summary('user_c', 2, 2, { warnings: 2 }),
      g: summary('user_d', 1, 2, { warnings: 6 }),
    };
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-(abcdefg)-|', values);
      const expected = '  -(abcdefg)-(ABCDF|)';
      expectObservable(source.pipe(grade())).toBe(expected, {
        ...values,
        F: userGrade('user_f', 0, 1, 1, 0, 'F'),
        A: userGrade('user_a', 0, 1, 0, 0, 'A'),
        B: userGrade('user_b', 0, 2, 0, 2, 'B'),
        C: userGrade('user_c', 0, 2, 0, 5, 'C'),
        D: userGrade('user_d', 0, 1, 0, 6, 'D'),
      });
    });
  });

  it('keeps a window open until verdicts reach its end + runFinalWithinMs, not just its end', () => {
    const [r1, r2, r3] = [summary('user_a', 1, 2), summary('user_b', 11, 14), summary('user_b', 16, 20)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c----|', { a: r1, b: r2, c: r3 });
      const expected = '  -a-b-(cg)-(h|)';
      expectObservable(source.pipe(grade())).toBe(expected, { a: r1, b: r2, c: r3, g: userGrade('user_a', 0, 1, 0, 0, 'A'), h: userGrade('user_b', 10, 2, 0, 0, 'A') });
    });
  });

  it('grades a window as soon as a verdict passes its end + runFinalWithinMs, even within the same later window', () => {
    // A's run (start 8) closes at 12, before 0 + 10 + 5; B's is decided at 16, past it, but in the same window [10, 20) as 12.
    const [r1, r2] = [summary('user_a', 8, 12), summary('user_b', 16, 16)];
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b----|', { a: r1, b: r2 });
      const expected = '  -a-(bg)-(h|)';
      expectObservable(source.pipe(grade())).toBe(expected, { a: r1, b: r2, g: userGrade('user_a', 0, 1, 0, 0, 'A'), h: userGrade('user_b', 10, 1, 0, 0, 'A') });
    });
  });

  it('grades interleaved users and windows separately, and flushes at completion by window, then user', () => {
    const values = { a: summary('user_b', 5, 6), b: summary('user_a', 3, 7), c: summary('user_b', 12, 13, { warnings: 1 }), d: summary('user_a', 14, 14) };
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-|', values);
      const expected = '  -a-b-c-d-(1234|)';
      expectObservable(source.pipe(grade())).toBe(expected, {
        ...values,
        1: userGrade('user_a', 0, 1, 0, 0, 'A'),
        2: userGrade('user_b', 0, 1, 0, 0, 'A'),
        3: userGrade('user_a', 10, 1, 0, 0, 'A'),
        4: userGrade('user_b', 10, 1, 0, 1, 'B'),
      });
    });
  });

  it('passes violations, late events and revisions through untouched, and skips summaries without a user', () => {
    const violation: Verdict = {
      kind: 'violation',
      violation: { violationId: 'v1', rule: 'cross_user_contamination', severity: 'CRITICAL', runId: 'run_x', missing: [], subject: 'content', detail: 'd', eventTimeMs: 1, decidedAtWatermarkMs: 1, source: { topic: 't', partitions: [0], offsets: [1] } },
    };
    const late: Verdict = { kind: 'late_event', runId: 'run_x', type: 'agent_thinking', eventTimeMs: 1, watermarkMs: 2, runState: 'closed', source: { topic: 't', partition: 0, offset: 2 } };
    const rev: Verdict = { kind: 'revision', violationId: 'v0', runId: 'run_x', action: 'confirmed', reason: 'r', eventTimeMs: 1, source: { topic: 't', partition: 0, offset: 2 } };
    const anonymous = summary(undefined, 1, 3);
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('-v-l-r-s-|', { v: violation, l: late, r: rev, s: anonymous });
      expectObservable(source.pipe(grade())).toBe('-v-l-r-s-|', { v: violation, l: late, r: rev, s: anonymous });
    });
  });

  it('propagates errors without flushing, and releases the source', () => {
    const r = summary('user_a', 1, 2);
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-#', { a: r });
      expectObservable(source.pipe(grade())).toBe('-a-#', { a: r });
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('releases the source on unsubscribe', () => {
    const r = summary('user_a', 1, 2);
    scheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a---b-|', { a: r, b: summary('user_a', 30, 30) });
      expectObservable(source.pipe(grade()), '^--!').toBe('-a-', { a: r });
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('rejects a window that is not positive when the operator is created', () => {
    expect(() => gradeUsers({ windowMs: 0, runFinalWithinMs: 5 })).toThrow(RangeError);
  });
});

describe('gradeUsers (properties)', () => {
  it('grades each user and window once, from all of its runs, and never before every run of the window was decided', async () => {
    const runArb = fc.record({ user: fc.constantFrom('user_a', 'user_b', 'user_c'), start: fc.nat({ max: 60 }), finalAfter: fc.nat({ max: 5 }), warnings: fc.nat({ max: 3 }), criticals: fc.constantFrom(0, 0, 0, 1) });
    await fc.assert(
      fc.asyncProperty(fc.array(runArb, { maxLength: 30 }), async (runs) => {
        // As the engine emits them: in decision order, each decided at most 5 after its start.
        const input = runs
          .map((r) => ({ r, decided: r.start + r.finalAfter }))
          .sort((a, b) => a.decided - b.decided)
          .map(({ r, decided }) => summary(r.user, r.start, decided, { warnings: r.warnings, criticals: r.criticals }));
        const output = await lastValueFrom(from(input).pipe(grade(), toArray()));
        expect(output.filter((v) => v.kind === 'run_summary')).toEqual(input);
        const grades = output.flatMap((v, i) => (v.kind === 'user_grade' ? [{ grade: v.grade, at: i }] : []));
        const expected = new Map<string, { runs: number; criticals: number; others: number }>();
        for (const r of runs) {
          const key = `${r.user} ${Math.floor(r.start / 10) * 10}`;
          const w = expected.get(key) ?? { runs: 0, criticals: 0, others: 0 };
          expected.set(key, { runs: w.runs + 1, criticals: w.criticals + r.criticals, others: w.others + r.warnings });
        }
        expect(grades.map(({ grade: g }) => `${g.userId} ${g.windowStartMs}`).sort()).toEqual([...expected.keys()].sort());
        for (const { grade: g, at } of grades) {
          const w = expected.get(`${g.userId} ${g.windowStartMs}`);
          const letter = w!.criticals > 0 ? 'F' : w!.others === 0 ? 'A' : w!.others <= 2 ? 'B' : w!.others <= 5 ? 'C' : 'D';
          expect(g).toEqual({ userId: g.userId, windowStartMs: g.windowStartMs, windowEndMs: g.windowStartMs + 10, runs: w!.runs, criticalIsolationViolations: w!.criticals, otherIsolationViolations: w!.others, securityGrade: letter });
          // Every summary of the window came before its grade.
          const lastOfWindow = Math.max(...output.flatMap((v, i) => (v.kind === 'run_summary' && v.summary.userId === g.userId && Math.floor(v.summary.firstEventMs / 10) * 10 === g.windowStartMs ? [i] : [])));
          expect(at).toBeGreaterThan(lastOfWindow);
        }
      }),
      { numRuns: 300 },
    );
  });
});
