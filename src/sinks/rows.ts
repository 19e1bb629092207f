/** Verdicts and dead letters as ClickHouse rows (JSONEachRow; DateTime64(3) takes epoch ms). */
import type { DeadLetter } from '../contract/event.js';
import { RULES, type RunSummary, type UserGrade, type Verdict, type Violation } from '../contract/verdict.js';

const MAX_RAW_BYTES = 64 * 1024;

/** DateTime64(3) takes integer epoch ms; event times may carry microseconds from ISO timestamps. */
const ms = (value: number): number => Math.floor(value);
const msOrNull = (value: number | undefined): number | null => (value === undefined ? null : Math.floor(value));
const orNull = (value: number | undefined): number | null => value ?? null;

export function violationRow(v: Violation, detectedAtMs: number, provisionalOf = '') {
  return {
    provisional_of: provisionalOf,
    violation_id: v.violationId,
    status: v.status ?? 'final',
    rule: v.rule,
    category: RULES[v.rule],
    severity: v.severity,
    run_id: v.runId,
    thread_id: v.threadId ?? '',
    user_id: v.userId ?? '',
    missing: v.missing,
    subject: v.subject,
    detail: v.detail,
    event_time: ms(v.eventTimeMs),
    decided_at_watermark: ms(v.decidedAtWatermarkMs),
    detected_at: detectedAtMs,
    source_topic: v.source.topic,
    source_partitions: v.source.partitions,
    source_offsets: v.source.offsets,
  };
}

export function runSummaryRow(s: RunSummary, recordedAtMs: number, provisionalOf = '') {
  return {
    provisional_of: provisionalOf,
    run_id: s.runId,
    thread_id: s.threadId ?? '',
    user_id: s.userId ?? '',
    first_event_time: ms(s.firstEventMs),
    last_event_time: ms(s.lastEventMs),
    started_at: msOrNull(s.startedAtMs),
    completed_at: msOrNull(s.completedAtMs),
    event_count: s.eventCount,
    duplicate_count: s.duplicateCount,
    late_event_count: s.lateEventCount,
    types_seen: s.typesSeen,
    outcome: s.outcome,
    duration_ms: orNull(s.durationMs),
    max_gap_ms: s.maxGapMs,
    latency_p50_ms: orNull(s.latencyP50Ms),
    latency_p95_ms: orNull(s.latencyP95Ms),
    latency_p99_ms: orNull(s.latencyP99Ms),
    warnings: s.warnings,
    criticals: s.criticals,
    performance_grade: s.performanceGrade,
    security_grade: s.securityGrade,
    isolation_warnings: s.isolationWarnings,
    isolation_criticals: s.isolationCriticals,
    decided_at_watermark: ms(s.decidedAtWatermarkMs),
    recorded_at: recordedAtMs,
    source_topic: s.source.topic,
    source_partitions: s.source.partitions,
    source_offsets: s.source.offsets,
  };
}

export function userGradeRow(g: UserGrade, recordedAtMs: number, provisionalOf = '') {
  return {
    provisional_of: provisionalOf,
    user_id: g.userId,
    window_start: g.windowStartMs,
    window_end: g.windowEndMs,
    runs: g.runs,
    critical_isolation_violations: g.criticalIsolationViolations,
    other_isolation_violations: g.otherIsolationViolations,
    security_grade: g.securityGrade,
    recorded_at: recordedAtMs,
  };
}

export function lateEventRow(v: Extract<Verdict, { kind: 'late_event' }>, recordedAtMs: number) {
  return {
    run_id: v.runId,
    type: v.type,
    run_state: v.runState,
    event_time: ms(v.eventTimeMs),
    watermark: ms(v.watermarkMs),
    recorded_at: recordedAtMs,
    source_topic: v.source.topic,
    source_partition: v.source.partition,
    source_offset: v.source.offset,
  };
}

export function revisionRow(v: Extract<Verdict, { kind: 'revision' }>, recordedAtMs: number) {
  return {
    violation_id: v.violationId,
    run_id: v.runId,
    action: v.action,
    reason: v.reason,
    event_time: ms(v.eventTimeMs),
    recorded_at: recordedAtMs,
    source_topic: v.source.topic,
    source_partition: v.source.partition,
    source_offset: v.source.offset,
  };
}

/** A lifecycle event with its placement (the events table, --store-events). */
export function eventRow(v: Extract<Verdict, { kind: 'event_placed' }>, recordedAtMs: number) {
  const e = v.event;
  return {
    run_id: e.runId,
    thread_id: e.threadId ?? '',
    user_id: e.userId ?? '',
    agent_name: e.agentName ?? '',
    tool_name: e.toolName ?? '',
    execution_id: e.executionId ?? '',
    event_id: e.eventId ?? '',
    type: e.type,
    placement: v.placement,
    emitted_at_ms: e.emittedAtMs,
    delivered_at_ms: e.deliveredAtMs,
    record_time_ms: e.recordTimestampMs,
    shape: e.shape,
    recovered: e.recovered ? 1 : 0,
    source_topic: e.source.topic,
    source_partition: e.source.partition,
    source_offset: e.source.offset,
    recorded_at: recordedAtMs,
  };
}

export function deadLetterRow(d: DeadLetter, recordedAtMs: number) {
  return {
    source_topic: d.source.topic,
    source_partition: d.source.partition,
    source_offset: d.source.offset,
    record_key: d.key ?? '',
    reason: d.reason,
    raw: d.raw.length > MAX_RAW_BYTES ? d.raw.slice(0, MAX_RAW_BYTES) : d.raw,
    record_time: ms(d.recordTimestampMs),
    recorded_at: recordedAtMs,
  };
}
