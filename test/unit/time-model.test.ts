/**
 * The time model of the whole chain (docs/detection.md, "Time model"), on the production operator
 * `detectVerdicts`: allowed lateness (an event delivered behind the watermark but before its run is
 * final counts like any other), late completions retracting what they disprove, keying by run id,
 * one verdict per fault. Each case is a regression of a defect seen on 5990bbb with traffic shaped
 * as real producers send it: records of a partition in delivery order, one event delayed.
 */
import { from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { detectionConfigSchema } from '../../src/config/config.js';
import type { AgentEvent, LifecycleType } from '../../src/contract/event.js';
import type { Verdict, Violation } from '../../src/contract/verdict.js';
import { detectVerdicts } from '../../src/pipeline/detect.js';
import { background, consume, delay, run, type Planned } from '../support/traffic.js';

const config = detectionConfigSchema.parse({});
async function judge(planned: readonly Planned[]): Promise<Verdict[]> {
  return lastValueFrom(from(consume(planned)).pipe(detectVerdicts(config), toArray()));
}

const violationsOf = (verdicts: readonly Verdict[], runId: string): Violation[] =>
  verdicts.flatMap((v) => (v.kind === 'violation' && v.violation.runId === runId ? [v.violation] : []));
const rulesOf = (verdicts: readonly Verdict[], runId: string): string[] => violationsOf(verdicts, runId).map((v) => `${v.rule} ${v.severity} ${v.subject}`).sort();
const lateOf = (verdicts: readonly Verdict[], runId: string) => verdicts.filter((v) => v.kind === 'late_event' && v.runId === runId);
const summaryOf = (verdicts: readonly Verdict[], runId: string) => {
  const found = verdicts.flatMap((v) => (v.kind === 'run_summary' && v.summary.runId === runId ? [v.summary] : []));
  expect(found).toHaveLength(1);
  return found[0] as NonNullable<(typeof found)[number]>;
};

describe('allowed lateness: an event delivered behind the watermark, before its run is final, counts like any other', () => {
  it('a late agent_started starts the run (no run_never_started, no out_of_order)', async () => {
    const verdicts = await judge([...background([0], 30_000), ...delay(run('r1', 5_000), 'agent_started', 3_500)]);
    expect(rulesOf(verdicts, 'r1')).toEqual(['delivery_latency CRITICAL agent_started']);
    expect(lateOf(verdicts, 'r1')).toEqual([]);
    expect(summaryOf(verdicts, 'r1')).toMatchObject({ outcome: 'completed', eventCount: 5, lateEventCount: 1, performanceGrade: 'F' });
  });

  it('a late tool_executing pairs with its completion (no out_of_order, no unpaired_tool)', async () => {
    const verdicts = await judge([...background([0], 30_000), ...delay(run('r1', 5_000), 'tool_executing', 3_500)]);
    expect(rulesOf(verdicts, 'r1')).toEqual(['delivery_latency CRITICAL tool_executing']);
  });

  it('a late event takes part in the gaps between events', async () => {
    // S 0, T 100, X 200, C 1 600 (late), F 3 100: gaps of 1 400 and 1 500 ms, two WARNINGs (not one of 2 900).
    const planned = delay(run('r1', 5_000, [0, 100, 200, 1_600, 3_100]), 'tool_completed', 3_500);
    const verdicts = await judge([...background([0], 30_000), ...planned]);
    expect(rulesOf(verdicts, 'r1')).toEqual(['delivery_latency CRITICAL tool_completed', 'event_gap WARNING agent_completed', 'event_gap WARNING tool_completed']);
  });

  it('a late agent_completed completes the run: no deadline, no missing_events', async () => {
    const verdicts = await judge([...background([0], 50_000), ...delay(run('r1', 5_000), 'agent_completed', 3_500)]);
    expect(rulesOf(verdicts, 'r1')).toEqual(['delivery_latency CRITICAL agent_completed']);
    expect(summaryOf(verdicts, 'r1')).toMatchObject({ outcome: 'completed', durationMs: 1_600 });
  });

  it('an allowance below the critical delivery latency is refused', () => {
    expect(() => detectionConfigSchema.parse({ allowedLatenessMs: 1_999 })).toThrow(/allowedLatenessMs/);
    expect(detectionConfigSchema.parse({ allowedLatenessMs: 2_000 }).allowedLatenessMs).toBe(2_000);
  });
});

describe('a slow run is not a run without completion', () => {
  it('a completion after the run was judged retracts missing_events; run_duration stands', async () => {
    // Deadline at start + 30 s, final at + 35 s; the completion is emitted at + 40 s.
    const planned = run('r1', 5_000, [0, 400, 800, 1_200, 40_000]);
    const verdicts = await judge([...background([0], 80_000), ...planned]);
    const missing = violationsOf(verdicts, 'r1').find((v) => v.rule === 'missing_events');
    expect(missing?.missing).toEqual(['agent_completed']);
    const revisions = verdicts.filter((v) => v.kind === 'revision' && v.runId === 'r1');
    expect(revisions).toEqual([expect.objectContaining({ violationId: missing?.violationId, action: 'retracted' })]);
    expect(rulesOf(verdicts, 'r1')).toContain('run_duration CRITICAL deadline');
  });

  it('a completion between the deadline and the end of the allowed lateness is part of the run: run_duration CRITICAL, nothing missing', async () => {
    const verdicts = await judge([...background([0], 80_000), ...run('r1', 5_000, [0, 400, 800, 1_200, 32_000])]);
    expect(rulesOf(verdicts, 'r1')).toEqual(['event_gap CRITICAL silence', 'run_duration CRITICAL duration']);
  });
});

describe('keying by run id is legitimate', () => {
  it('runs of one thread on different partitions are not partitioning_broken, and grades stay A', async () => {
    const thread = { threadId: 'thread_shared', userId: 'user_alice' };
    const planned = [...background([0, 1], 40_000), ...run('r1', 5_000, undefined, { ...thread, partition: 0 }), ...run('r2', 9_000, undefined, { ...thread, partition: 1 })];
    const verdicts = await judge(planned);
    expect(rulesOf(verdicts, 'r1')).toEqual([]);
    expect(rulesOf(verdicts, 'r2')).toEqual([]);
    expect(summaryOf(verdicts, 'r2').securityGrade).toBe('A');
    const grades = verdicts.flatMap((v) => (v.kind === 'user_grade' && v.grade.userId === 'user_alice' ? [v.grade.securityGrade] : []));
    expect(grades).toEqual(['A']);
  });

  it('thread ownership is still checked across partitions', async () => {
    const planned = [
      ...background([0, 1], 40_000),
      ...run('r1', 5_000, undefined, { threadId: 'thread_shared', userId: 'user_alice', partition: 0 }),
      ...run('r2', 9_000, undefined, { threadId: 'thread_shared', userId: 'user_bob', partition: 1 }),
    ];
    expect(rulesOf(await judge(planned), 'r2')).toEqual(['cross_user_contamination CRITICAL thread_id']);
  });

  it('a run spread over two partitions is partitioning_broken, once', async () => {
    const planned = [...background([0, 1], 40_000), ...run('r1', 5_000).map((p, i) => ({ ...p, partition: i % 2 }))];
    expect(rulesOf(await judge(planned), 'r1')).toEqual(['partitioning_broken WARNING partition']);
  });
});

describe('one fault, one verdict', () => {
  it('an agent_completed stamped before the last tool_completed is event_after_completion only', async () => {
    // S 0, T 400, X 800, F 1 200, C 1 300: the completion of the call comes after the run's completion.
    const planned: Planned[] = [
      { type: 'agent_started', runId: 'r1', atMs: 5_000 },
      { type: 'agent_thinking', runId: 'r1', atMs: 5_400 },
      { type: 'tool_executing', runId: 'r1', atMs: 5_800 },
      { type: 'agent_completed', runId: 'r1', atMs: 6_200 },
      { type: 'tool_completed', runId: 'r1', atMs: 6_300 },
    ];
    expect(rulesOf(await judge([...background([0], 30_000), ...planned]), 'r1')).toEqual(['event_after_completion CRITICAL tool_completed']);
  });

  it('a whole tool type missing is missing_events, not also unpaired_tool for every call', async () => {
    const planned = run('r1', 5_000).filter((p) => p.type !== 'tool_completed');
    expect(rulesOf(await judge([...background([0], 30_000), ...planned]), 'r1')).toEqual(['missing_events CRITICAL tool_completed']);
  });

  it('one call of several left open is unpaired_tool only', async () => {
    const planned: Planned[] = [
      ...run('r1', 5_000),
      { type: 'tool_executing', runId: 'r1', atMs: 5_900, toolName: 'fetch' },
    ];
    expect(rulesOf(await judge([...background([0], 30_000), ...planned]), 'r1')).toEqual(['unpaired_tool CRITICAL tool_executing']);
  });
});

describe('shared state expires at a place in event time that does not depend on interleaving', () => {
  /** Runs of six users on three partitions; thinking often names another user, near the edge of a short active window. */
  const traffic = (seed: number): Planned[] => {
    let state = seed >>> 0 || 1;
    const next = (n: number): number => {
      state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
      return state % n;
    };
    const planned: Planned[] = [...background([0, 1, 2], 70_000)];
    for (let i = 0; i < 60; i += 1) {
      const user = next(6);
      const runId = `run_${seed}_${i}`;
      const mention = `user_number_${(user + 1 + next(5)) % 6}`;
      const steps = [0, 300 + next(400), 900 + next(400), 1_500 + next(400), 2_100 + next(400)];
      for (const p of run(runId, 1_000 + i * 900 + next(700), steps, { userId: `user_number_${user}`, threadId: `thread_of_user_${user}`, partition: user % 3 })) {
        planned.push(p.type === 'agent_thinking' && next(3) > 0 ? { ...p, reasoning: `see ${mention}`, delayMs: next(4) === 0 ? 2_500 + next(1_500) : 40 } : p);
      }
    }
    return planned;
  };

  /** The same records, each partition in its order, partitions read round-robin `chunk` records at a time. */
  const interleave = (events: readonly AgentEvent[], chunk: number): AgentEvent[] => {
    const queues = [0, 1, 2].map((p) => events.filter((e) => e.source.partition === p));
    const out: AgentEvent[] = [];
    for (let turn = 0; out.length < events.length; turn += 1) for (const q of queues) out.push(...q.slice(turn * chunk, (turn + 1) * chunk));
    return out;
  };

  it('two reads of one topic with different fetch sizes give identical verdicts with a short active-user window', async () => {
    const shortWindow = detectionConfigSchema.parse({ activeUserWindowMs: 2_500 });
    const verdictsOf = async (events: AgentEvent[]): Promise<string[]> =>
      (await lastValueFrom(from(events).pipe(detectVerdicts(shortWindow, [0, 1, 2]), toArray())))
        .flatMap((v) => (v.kind === 'violation' ? [`${v.violation.violationId} ${v.violation.rule} ${v.violation.userId ?? '-'}`] : v.kind === 'user_grade' ? [`grade ${v.grade.userId} ${v.grade.securityGrade}`] : []))
        .sort();
    let contaminations = 0;
    for (const seed of [3, 11, 29, 47]) {
      const events = consume(traffic(seed));
      const reference = await verdictsOf(events);
      contaminations += reference.filter((v) => v.includes('cross_user_contamination')).length;
      for (const chunk of [1, 7, 400]) expect(await verdictsOf(interleave(events, chunk))).toEqual(reference);
    }
    expect(contaminations).toBeGreaterThan(20);
  });
});

describe('the owner of a run is the user its start names, whatever arrived first', () => {
  it('an event addressed to another user arriving before its run\'s delayed agent_started is the one violation', async () => {
    // agent_started (user_alice) delivered 3.5 s late; the thinking after it, addressed to user_bob, arrives first.
    const planned = run('r1', 5_000, undefined, { userId: 'user_alice', threadId: 'thread_alice' }).map((p) =>
      p.type === 'agent_started' ? { ...p, delayMs: 3_500 } : p.type === 'agent_thinking' ? { ...p, userId: 'user_bob' } : p,
    );
    const verdicts = await judge([...background([0], 30_000), ...planned]);
    expect(rulesOf(verdicts, 'r1')).toEqual(['cross_user_contamination CRITICAL user_id', 'delivery_latency CRITICAL agent_started']);
    expect(summaryOf(verdicts, 'r1').userId).toBe('user_alice');
  });
});
