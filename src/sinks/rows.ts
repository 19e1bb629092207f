/** Verdicts and dead letters as ClickHouse rows (JSONEachRow; DateTime64(3) takes epoch ms). */
import type { DeadLetter } from '../contract/event.js';
import type { RunSummary, Violation } from '../contract/verdict.js';

const MAX_RAW_BYTES = 64 * 1024;

/** DateTime64(3) takes integer epoch ms; event times may carry microseconds from ISO timestamps. */
const ms = (value: number): number => Math.floor(value);
const msOrNull = (value: number | undefined): number | null => (value === undefined ? null : Math.floor(value));

export function violationRow(v: Violation, detectedAtMs: number) {
  return {
    violation_id: v.violationId,
    rule: v.rule,
    severity: v.severity,
    run_id: v.runId,
    thread_id: v.threadId ?? '',
    user_id: v.userId ?? '',
    missing: v.missing,
    detail: v.detail,
    event_time: ms(v.eventTimeMs),
    decided_at_watermark: ms(v.decidedAtWatermarkMs),
    detected_at: detectedAtMs,
    source_topic: v.source.topic,
    source_partitions: v.source.partitions,
    source_offsets: v.source.offsets,
  };
}

export function runSummaryRow(s: RunSummary, recordedAtMs: number) {
  return {
    run_id: s.runId,
    thread_id: s.threadId ?? '',
    user_id: s.userId ?? '',
    first_event_time: ms(s.firstEventMs),
    last_event_time: ms(s.lastEventMs),
    started_at: msOrNull(s.startedAtMs),
    completed_at: msOrNull(s.completedAtMs),
    event_count: s.eventCount,
    types_seen: s.typesSeen,
    outcome: s.outcome,
    decided_at_watermark: ms(s.decidedAtWatermarkMs),
    recorded_at: recordedAtMs,
    source_topic: s.source.topic,
    source_partitions: s.source.partitions,
    source_offsets: s.source.offsets,
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

export interface LateEventRow {
  readonly run_id: string;
  readonly event_time: number;
  readonly watermark: number;
  readonly recorded_at: number;
}
