import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The metric catalogue: every metric runwatch exports is declared here, once.
 * Names follow Prometheus conventions; labels are low-cardinality only.
 */
export function createMetrics(registry: Registry = new Registry()) {
  return {
    registry,
    recordsConsumed: new Counter({ name: 'runwatch_records_consumed_total', help: 'Kafka records read from the source', registers: [registry] }),
    skippedOffsets: new Counter({ name: 'runwatch_source_offsets_skipped_total', help: 'Offsets the Kafka source jumped over (deleted by retention under the read, or compacted away), by partition', labelNames: ['partition'] as const, registers: [registry] }),
    lifecycleEvents: new Counter({ name: 'runwatch_lifecycle_events_total', help: 'Normalized lifecycle events, by type and wire shape', labelNames: ['type', 'shape'] as const, registers: [registry] }),
    otherEvents: new Counter({ name: 'runwatch_other_events_total', help: 'Valid records of non-lifecycle types (tolerated, not checked)', labelNames: ['type'] as const, registers: [registry] }),
    deadLetters: new Counter({ name: 'runwatch_dead_letters_total', help: 'Records that could not be normalized, by reason class', labelNames: ['reason'] as const, registers: [registry] }),
    lateEvents: new Counter({ name: 'runwatch_late_events_total', help: 'Events for runs whose verdict was already final', registers: [registry] }),
    violations: new Counter({ name: 'runwatch_violations_total', help: 'Violations emitted, by rule and severity', labelNames: ['rule', 'severity'] as const, registers: [registry] }),
    runsClosed: new Counter({ name: 'runwatch_runs_closed_total', help: 'Runs whose verdict became final, by outcome', labelNames: ['outcome'] as const, registers: [registry] }),
    rowsWritten: new Counter({ name: 'runwatch_sink_rows_written_total', help: 'Rows acknowledged by ClickHouse, by table', labelNames: ['table'] as const, registers: [registry] }),
    sinkRetries: new Counter({ name: 'runwatch_sink_retries_total', help: 'Retried ClickHouse inserts', registers: [registry] }),
    sinkFailing: new Gauge({ name: 'runwatch_sink_failing', help: '1 while ClickHouse inserts fail and are being retried (an outage)', registers: [registry] }),
    sinkRejectedRows: new Counter({ name: 'runwatch_sink_rejected_rows_total', help: 'Rows ClickHouse rejected, isolated and stored as dead letters, by table', labelNames: ['table'] as const, registers: [registry] }),
    sinkInsertSeconds: new Histogram({ name: 'runwatch_sink_insert_seconds', help: 'Duration of ClickHouse insert attempts, by table and outcome', labelNames: ['table', 'outcome'] as const, buckets: [0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] }),
    checkpoints: new Counter({ name: 'runwatch_checkpoints_total', help: 'Checkpoints completed (state saved, offsets committed), by reason', labelNames: ['reason'] as const, registers: [registry] }),
    checkpointBytes: new Gauge({ name: 'runwatch_checkpoint_state_bytes', help: 'Size of the last checkpoint state (uncompressed)', registers: [registry] }),
    lastCheckpointAt: new Gauge({ name: 'runwatch_last_checkpoint_timestamp_seconds', help: 'Wall-clock time of the last completed checkpoint (seconds since epoch)', registers: [registry] }),
    sourcePaused: new Gauge({ name: 'runwatch_source_paused', help: '1 while fetching is paused by backpressure', registers: [registry] }),
    watermark: new Gauge({ name: 'runwatch_watermark_ms', help: 'Current event-time watermark (ms since epoch)', registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
