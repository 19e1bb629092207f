/**
 * Canary runs: synthetic runs with known faults that `runwatch canary` publishes into the live
 * topic so that the monitor can check itself end to end (src/canary/checker.ts). They are marked
 * by a reserved run-id prefix, which also keeps them out of user grades and reports. The plan (what
 * fault, so which verdicts) is part of the run id: `runwatch-canary-<plan>-<stamp>-<n>`.
 */
import type { RuleId } from './verdict.js';

export const CANARY_PREFIX = 'runwatch-canary-';

/** Each plan: the rules whose violations the run must get, no more and no fewer. */
export const CANARY_PLANS = {
  /** A complete, well-formed, timely run. */
  clean: { expect: [] as RuleId[], description: 'a complete, timely, well-formed run: no violation' },
  /** One event delivered 2.5 s after it was emitted (over the critical delivery latency). */
  late_delivery: { expect: ['delivery_latency'] as RuleId[], description: 'tool_completed delivered 2.5 s after emission: delivery_latency' },
  /** agent_thinking without its reasoning text. */
  bad_content: { expect: ['content_invalid'] as RuleId[], description: 'agent_thinking with a blank reasoning: content_invalid' },
} as const;

export type CanaryPlan = keyof typeof CANARY_PLANS;
export const CANARY_PLAN_NAMES = Object.keys(CANARY_PLANS) as CanaryPlan[];

export function isCanaryRunId(runId: string): boolean {
  return runId.startsWith(CANARY_PREFIX);
}

export function canaryRunId(plan: CanaryPlan, stamp: string, n: number): string {
  return `${CANARY_PREFIX}${plan}-${stamp}-${n}`;
}

/** The plan a canary run id names; undefined for other runs and for plans this build does not know. */
export function canaryPlanOf(runId: string): CanaryPlan | undefined {
  if (!isCanaryRunId(runId)) return undefined;
  const plan = runId.slice(CANARY_PREFIX.length).split('-')[0] ?? '';
  // Own properties only: a run id must not reach inherited names (constructor, __proto__).
  return Object.hasOwn(CANARY_PLANS, plan) ? (plan as CanaryPlan) : undefined;
}

/** SQL condition leaving canary runs out (reports and summaries); `column` holds a run id. */
export function notCanarySql(column: string): string {
  return `NOT startsWith(${column}, '${CANARY_PREFIX}')`;
}
