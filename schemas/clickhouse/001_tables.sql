-- runwatch tables. Targets ClickHouse >= 23.8 (embedded chdb and servers run the same SQL).
-- ${database} is replaced by the configured database name (validated as an identifier).
-- Every table is a ReplacingMergeTree keyed by a deterministic id: replays and redeliveries
-- overwrite rows instead of duplicating them (query with FINAL for exact counts).

CREATE DATABASE IF NOT EXISTS ${database};

-- One row per rule breach. violation_id = hash(rule, run_id, triggering offset or timer key).
CREATE TABLE IF NOT EXISTS ${database}.violations
(
    violation_id          String,
    rule                  LowCardinality(String),
    category              LowCardinality(String),
    severity              LowCardinality(String),
    run_id                String,
    thread_id             String,
    user_id               String,
    missing               Array(LowCardinality(String)),
    subject               String,
    detail                String,
    event_time            DateTime64(3, 'UTC'),
    decided_at_watermark  DateTime64(3, 'UTC'),
    detected_at           DateTime64(3, 'UTC'),
    source_topic          LowCardinality(String),
    source_partitions     Array(UInt32),
    source_offsets        Array(UInt64)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (rule, run_id, violation_id);

-- One row per run once its verdict is final, with its measurements and grades.
CREATE TABLE IF NOT EXISTS ${database}.run_summaries
(
    run_id                String,
    thread_id             String,
    user_id               String,
    first_event_time      DateTime64(3, 'UTC'),
    last_event_time       DateTime64(3, 'UTC'),
    started_at            Nullable(DateTime64(3, 'UTC')),
    completed_at          Nullable(DateTime64(3, 'UTC')),
    event_count           UInt32,
    duplicate_count       UInt32,
    late_event_count      UInt32,
    types_seen            Array(LowCardinality(String)),
    outcome               LowCardinality(String),
    duration_ms           Nullable(Float64),
    max_gap_ms            Float64,
    latency_p50_ms        Nullable(Float64),
    latency_p95_ms        Nullable(Float64),
    latency_p99_ms        Nullable(Float64),
    warnings              UInt32,
    criticals             UInt32,
    performance_grade     LowCardinality(String),
    security_grade        LowCardinality(String),
    isolation_warnings    UInt32,
    isolation_criticals   UInt32,
    decided_at_watermark  DateTime64(3, 'UTC'),
    recorded_at           DateTime64(3, 'UTC'),
    source_topic          LowCardinality(String),
    source_partitions     Array(UInt32),
    source_offsets        Array(UInt64)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(first_event_time)
ORDER BY run_id;

-- Security grade per user and event-time window.
CREATE TABLE IF NOT EXISTS ${database}.user_grades
(
    user_id                        String,
    window_start                   DateTime64(3, 'UTC'),
    window_end                     DateTime64(3, 'UTC'),
    runs                           UInt32,
    critical_isolation_violations  UInt32,
    other_isolation_violations     UInt32,
    security_grade                 LowCardinality(String),
    recorded_at                    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (user_id, window_start);

-- Records that could not be normalized, with the reason: never dropped silently.
CREATE TABLE IF NOT EXISTS ${database}.dead_letters
(
    source_topic          LowCardinality(String),
    source_partition      UInt32,
    source_offset         UInt64,
    record_key            String,
    reason                String,
    raw                   String,
    record_time           DateTime64(3, 'UTC'),
    recorded_at           DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (source_topic, source_partition, source_offset);

-- Events that arrived after the watermark passed them, or after their run was judged.
CREATE TABLE IF NOT EXISTS ${database}.late_events
(
    run_id                String,
    type                  LowCardinality(String),
    run_state             LowCardinality(String),
    event_time            DateTime64(3, 'UTC'),
    watermark             DateTime64(3, 'UTC'),
    recorded_at           DateTime64(3, 'UTC'),
    source_topic          LowCardinality(String),
    source_partition      UInt32,
    source_offset         UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (source_topic, source_partition, source_offset);

-- What late events did to verdicts already written: confirmed or retracted them.
CREATE TABLE IF NOT EXISTS ${database}.verdict_revisions
(
    violation_id          String,
    run_id                String,
    action                LowCardinality(String),
    reason                String,
    event_time            DateTime64(3, 'UTC'),
    recorded_at           DateTime64(3, 'UTC'),
    source_topic          LowCardinality(String),
    source_partition      UInt32,
    source_offset         UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (violation_id, source_topic, source_partition, source_offset);
