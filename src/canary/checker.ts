/**
 * The monitor checking itself: for every canary run whose results ClickHouse has acknowledged,
 * the stored violations must be exactly the ones its plan expects (src/contract/canary.ts). The
 * outcome, how long after the canary's last event its verdict was stored, and how long since a
 * canary last passed are metrics; with a maximum age set, /readyz fails when no canary has passed
 * for that long (published canaries not arriving, not judged, or not stored) or the last one failed.
 */
import { CANARY_PLANS, canaryPlanOf, type CanaryPlan } from '../contract/canary.js';
import type { RuleId } from '../contract/verdict.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SinkBatch } from '../sinks/clickhouse-sink.js';

export interface CanaryCheckerOptions {
  /** Not ready once no canary has passed for this long (unset: canaries are checked, readiness ignores them). */
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

export interface CanaryStatus {
  /** Why readiness should fail, if it should. */
  readonly problem?: string;
}

/** Canary runs whose violations were stored before their summary: the rules so far. */
const MAX_PENDING = 1_000;

export class CanaryChecker {
  private readonly pending = new Map<string, Set<RuleId>>();
  private readonly now: () => number;
  private since: number;
  private lastPassedAt: number | undefined;
  private lastFailure: string | undefined;

  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly options: CanaryCheckerOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.since = this.now();
  }

  /** This instance became active: the age of the last canary counts from now at the earliest. */
  restartClock(): void {
    this.since = this.now();
  }

  /** Called with each batch once ClickHouse has acknowledged it. */
  stored(batch: SinkBatch): void {
    // Verdicts cut by the end of a bounded read are provisional: a canary is judged on final rows.
    if (batch.provisionalOf !== undefined) return;
    for (const verdict of batch.verdicts) {
      if (verdict.kind === 'violation') {
        // Early-fired rows are not verdicts yet: the final row (same rule, same id) follows.
        if (verdict.violation.status !== undefined) continue;
        const { runId, rule } = verdict.violation;
        if (canaryPlanOf(runId) === undefined) continue;
        let rules = this.pending.get(runId);
        if (rules === undefined) {
          if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value ?? '');
          rules = new Set();
          this.pending.set(runId, rules);
        }
        rules.add(rule);
      } else if (verdict.kind === 'run_summary') {
        const plan = canaryPlanOf(verdict.summary.runId);
        if (plan === undefined) continue;
        const rules = this.pending.get(verdict.summary.runId) ?? new Set<RuleId>();
        this.pending.delete(verdict.summary.runId);
        this.judge(verdict.summary.runId, plan, rules, verdict.summary.lastEventMs);
      }
    }
  }

  private judge(runId: string, plan: CanaryPlan, rules: ReadonlySet<RuleId>, lastEventMs: number): void {
    const expected = [...CANARY_PLANS[plan].expect].sort();
    const got = [...rules].sort();
    const passed = expected.length === got.length && expected.every((rule, i) => rule === got[i]);
    const at = this.now();
    this.metrics.canaryRuns.inc({ plan, outcome: passed ? 'passed' : 'failed' });
    // The canary's events carry wall-clock times: this is how stale a verdict is when it is stored.
    this.metrics.canaryVerdictSeconds.observe(Math.max(0, at - lastEventMs) / 1_000);
    if (passed) {
      this.lastPassedAt = at;
      this.lastFailure = undefined;
      this.metrics.canaryLastSuccess.set(at / 1_000);
      this.logger.debug({ runId, plan }, 'canary passed');
      return;
    }
    this.lastFailure = `canary ${runId} failed: expected ${JSON.stringify(expected)}, stored ${JSON.stringify(got)}`;
    this.logger.error({ runId, plan, expected, stored: got }, 'canary failed: the stored verdicts are not the ones its plan expects');
  }

  /** Current state for readiness; also refreshes the missed gauge. */
  status(): CanaryStatus {
    const maxAgeMs = this.options.maxAgeMs;
    if (maxAgeMs === undefined) {
      this.metrics.canaryMissed.set(0);
      return {};
    }
    const ageMs = this.now() - Math.max(this.lastPassedAt ?? 0, this.since);
    const missed = ageMs > maxAgeMs;
    this.metrics.canaryMissed.set(missed ? 1 : 0);
    if (this.lastFailure !== undefined) return { problem: this.lastFailure };
    if (missed) return { problem: `canary missed: none passed for ${Math.round(ageMs / 1_000)} s (allowed ${Math.round(maxAgeMs / 1_000)} s)` };
    return {};
  }
}
