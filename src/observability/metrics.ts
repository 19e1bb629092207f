import { CANARY_PLAN_NAMES } from '../contract/canary.js';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineReading } from '../operators/engine/engine-probe.js';
import { LabelledHistogram, type HistogramSeries } from './labelled-histogram.js';

/** What some gauges read when scraped, supplied by the running job (absent: the gauge keeps its last value). */
export interface LiveReadings {
  engine?: () => EngineReading | undefined;
}

/** Distinct values a label taken from input (agent names) may have; the rest count as "other". */
const MAX_INPUT_LABEL_VALUES = 50;
/** Raw agent names remembered with their latency series (names past it are looked up each time). */
const MAX_CACHED_AGENT_NAMES = 1_000;
const DELIVERY_LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];

/**
 * The metric catalogue: every metric runwatch exports is declared here, once.
 * Names follow Prometheus conventions; labels are low-cardinality only.
 */
export function createMetrics(registry: Registry = new Registry()) {
  const live: LiveReadings = {};
  const engineNow = (): EngineReading | undefined => {
    const reading = live.engine?.();
    return reading === undefined || !Number.isFinite(reading.eventTimeMs) ? undefined : reading;
  };
  let lastCheckpointAtSeconds = 0;
  const agents = new Set<string>();
  // Per-record counts are tallied here and added to their counters when scraped: prom-client hashes
  // a counter's labels on every inc (1.9 % of a replay's main thread). A scrape reads them exact.
  let pendingRecords = 0;
  const pendingLifecycle = new Map<string, Map<string, number>>();
  const latencySeriesByAgent = new Map<string | undefined, HistogramSeries>();
  const metrics = {
    registry,
    live,
    /** An input-derived label value, bounded in length and in how many distinct values exist. */
    agentLabel(agent: string | undefined): string {
      const value = (agent ?? 'unknown').slice(0, 60);
      if (agents.has(value)) return value;
      if (agents.size >= MAX_INPUT_LABEL_VALUES) return 'other';
      agents.add(value);
      return value;
    },
    /** Marks a completed checkpoint (state saved, offsets committed) now. */
    checkpointCompleted(atSeconds: number): void {
      lastCheckpointAtSeconds = atSeconds;
    },
    /** One Kafka record read (added to runwatch_records_consumed_total when scraped). */
    countRecord(): void {
      pendingRecords += 1;
    },
    /** One normalized lifecycle event (added to runwatch_lifecycle_events_total when scraped). */
    countLifecycleEvent(type: string, shape: string): void {
      let byShape = pendingLifecycle.get(type);
      if (byShape === undefined) pendingLifecycle.set(type, (byShape = new Map()));
      byShape.set(shape, (byShape.get(shape) ?? 0) + 1);
    },
    /** The delivery-latency series of an agent, looked up once per distinct name while few. */
    deliveryLatencyOf(agent: string | undefined): HistogramSeries {
      const known = latencySeriesByAgent.get(agent);
      if (known !== undefined) return known;
      const series = metrics.deliveryLatency.labels(metrics.agentLabel(agent));
      if (latencySeriesByAgent.size < MAX_CACHED_AGENT_NAMES) latencySeriesByAgent.set(agent, series);
      return series;
    },
    recordsConsumed: new Counter({
      name: 'runwatch_records_consumed_total',
      help: 'Kafka records read from the source',
      registers: [registry],
      collect() {
        this.inc(pendingRecords);
        pendingRecords = 0;
      },
    }),
    skippedOffsets: new Counter({ name: 'runwatch_source_offsets_skipped_total', help: 'Offsets the Kafka source jumped over (deleted by retention under the read, or compacted away), by partition', labelNames: ['partition'] as const, registers: [registry] }),
    lifecycleEvents: new Counter({
      name: 'runwatch_lifecycle_events_total',
      help: 'Normalized lifecycle events, by type and wire shape',
      labelNames: ['type', 'shape'] as const,
      registers: [registry],
      collect() {
        for (const [type, byShape] of pendingLifecycle) for (const [shape, n] of byShape) this.inc({ type, shape }, n);
        pendingLifecycle.clear();
      },
    }),
    otherEvents: new Counter({ name: 'runwatch_other_events_total', help: 'Valid records of non-lifecycle types (tolerated, not checked)', labelNames: ['type'] as const, registers: [registry] }),
    deadLetters: new Counter({ name: 'runwatch_dead_letters_total', help: 'Records that could not be normalized, by reason class', labelNames: ['reason'] as const, registers: [registry] }),
    lateEvents: new Counter({ name: 'runwatch_late_events_total', help: 'Events for runs whose verdict was already final', registers: [registry] }),
    violations: new Counter({ name: 'runwatch_violations_total', help: 'Violations emitted, by rule and severity', labelNames: ['rule', 'severity'] as const, registers: [registry] }),
    earlyVerdicts: new Counter({ name: 'runwatch_early_verdicts_total', help: 'Violations fired early (live mode) as provisional, and provisional ones withdrawn, by rule and status; final ones count in runwatch_violations_total', labelNames: ['rule', 'status'] as const, registers: [registry] }),
    runsClosed: new Counter({ name: 'runwatch_runs_closed_total', help: 'Runs whose verdict became final, by outcome', labelNames: ['outcome'] as const, registers: [registry] }),
    rowsWritten: new Counter({ name: 'runwatch_sink_rows_written_total', help: 'Rows acknowledged by ClickHouse, by table', labelNames: ['table'] as const, registers: [registry] }),
    sinkRetries: new Counter({ name: 'runwatch_sink_retries_total', help: 'Retried ClickHouse inserts', registers: [registry] }),
    sinkFailing: new Gauge({ name: 'runwatch_sink_failing', help: '1 while ClickHouse inserts fail and are being retried (an outage)', registers: [registry] }),
    sinkRejectedRows: new Counter({ name: 'runwatch_sink_rejected_rows_total', help: 'Rows ClickHouse rejected, isolated and stored as dead letters, by table', labelNames: ['table'] as const, registers: [registry] }),
    sinkInsertSeconds: new Histogram({ name: 'runwatch_sink_insert_seconds', help: 'Duration of ClickHouse insert attempts, by table and outcome', labelNames: ['table', 'outcome'] as const, buckets: [0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] }),
    checkpoints: new Counter({ name: 'runwatch_checkpoints_total', help: 'Checkpoints completed (state saved, offsets committed), by reason', labelNames: ['reason'] as const, registers: [registry] }),
    checkpointBytes: new Gauge({ name: 'runwatch_checkpoint_state_bytes', help: 'Size of the last checkpoint state (uncompressed)', registers: [registry] }),
    lastCheckpointAt: new Gauge({ name: 'runwatch_last_checkpoint_timestamp_seconds', help: 'Wall-clock time of the last completed checkpoint (seconds since epoch)', registers: [registry] }),
    secondsSinceCheckpoint: new Gauge({
      name: 'runwatch_seconds_since_last_durable_commit',
      help: 'Seconds since the last checkpoint was saved and its offsets committed (results before it are durable)',
      registers: [registry],
      collect() {
        if (lastCheckpointAtSeconds > 0) this.set(Date.now() / 1_000 - lastCheckpointAtSeconds);
      },
    }),
    sourcePaused: new Gauge({ name: 'runwatch_source_paused', help: '1 while fetching is paused by backpressure', registers: [registry] }),
    sourceRestarting: new Gauge({ name: 'runwatch_source_restarting', help: '1 while the Kafka consumer is being started again after KafkaJS gave up on it (a broker outage)', registers: [registry] }),
    schemaRegistryFailing: new Gauge({ name: 'runwatch_schema_registry_failing', help: '1 while schema lookups fail and reading waits (a registry outage)', registers: [registry] }),
    schemaRegistryLookups: new Counter({ name: 'runwatch_schema_registry_lookups_total', help: 'Schema-id lookups at the registry, by outcome (found, unknown, invalid, failed)', labelNames: ['outcome'] as const, registers: [registry] }),
    consumerLag: new Gauge({ name: 'runwatch_consumer_lag_records', help: "Records between the consumer's position and the partition's end offset, by partition (as of the last fetch)", labelNames: ['partition'] as const, registers: [registry] }),
    active: new Gauge({ name: 'runwatch_active', help: '1 while this instance holds the partitions (active), 0 while it stands by', registers: [registry] }),
    ready: new Gauge({ name: 'runwatch_ready', help: '1 while /readyz answers 200', registers: [registry] }),
    openRuns: new Gauge({
      name: 'runwatch_open_runs',
      help: 'Runs the engine holds open (started, not yet final)',
      registers: [registry],
      collect() {
        const reading = engineNow();
        if (reading !== undefined) this.set(reading.openRuns);
      },
    }),
    watermark: new Gauge({
      name: 'runwatch_watermark_seconds',
      help: "The engine's place on the event-time line (its watermark), seconds since epoch",
      registers: [registry],
      collect() {
        const reading = engineNow();
        if (reading !== undefined) this.set(reading.eventTimeMs / 1_000);
      },
    }),
    watermarkLag: new Gauge({
      name: 'runwatch_watermark_lag_seconds',
      help: 'Wall clock minus the watermark: how far behind real time verdicts are decided (live mode)',
      registers: [registry],
      collect() {
        const reading = engineNow();
        if (reading !== undefined) this.set((Date.now() - reading.eventTimeMs) / 1_000);
      },
    }),
    deliveryLatency: new LabelledHistogram('runwatch_delivery_latency_seconds', 'Delivery latency of lifecycle events (delivered minus emitted), by agent', 'agent', DELIVERY_LATENCY_BUCKETS, registry),
    canaryRuns: new Counter({ name: 'runwatch_canary_runs_total', help: 'Canary runs whose results were stored, by plan and outcome (passed: exactly the expected verdicts)', labelNames: ['plan', 'outcome'] as const, registers: [registry] }),
    canaryLastSuccess: new Gauge({ name: 'runwatch_canary_last_success_timestamp_seconds', help: 'Wall-clock time the last canary passed (0: none yet)', registers: [registry] }),
    canaryMissed: new Gauge({ name: 'runwatch_canary_missed', help: '1 while no canary has passed within --canary-max-age-ms', registers: [registry] }),
    canaryVerdictSeconds: new Histogram({ name: 'runwatch_canary_verdict_seconds', help: "From a canary's last event to its verdict stored in ClickHouse (verdict freshness)", buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120], registers: [registry] }),
  };
  // Every series exists from the start (a dashboard or alert sees 0, not "no data").
  metrics.schemaRegistryFailing.set(0);
  for (const outcome of ['found', 'unknown', 'invalid', 'failed']) metrics.schemaRegistryLookups.inc({ outcome }, 0);
  for (const plan of CANARY_PLAN_NAMES) for (const outcome of ['passed', 'failed']) metrics.canaryRuns.inc({ plan, outcome }, 0);
  metrics.canaryLastSuccess.set(0);
  metrics.canaryMissed.set(0);
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;
