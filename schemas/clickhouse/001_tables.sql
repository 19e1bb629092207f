-- runwatch tables. Targets ClickHouse >= 23.8 (embedded chdb and servers run the same SQL).
-- ${database} is replaced by the configured database name (validated as an identifier).
-- Every table is a ReplacingMergeTree keyed by a deterministic id: replays and redeliveries
-- overwrite rows instead of duplicating them (query with FINAL for exact counts).

CREATE DATABASE IF NOT EXISTS ${database};

-- One row per rule breach. violation_id = hash(rule, run_id, detail key).
CREATE TABLE IF NOT EXISTS ${database}.violations
(
    violation_id          String,
    rule                  LowCardinality(String),
    severity              LowCardinality(String),
    run_id                String,
    thread_id             String,
    user_id               String,
    missing               Array(LowCardinality(String)),
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

-- One row per run once its verdict is final.
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
    types_seen            Array(LowCardinality(String)),
    outcome               LowCardinality(String),
    decided_at_watermark  DateTime64(3, 'UTC'),
    recorded_at           DateTime64(3, 'UTC'),
    source_topic          LowCardinality(String),
    source_partitions     Array(UInt32),
    source_offsets        Array(UInt64)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(first_event_time)
ORDER BY run_id;

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

-- Events that arrived after their run was judged (late beyond the watermark bound).
CREATE TABLE IF NOT EXISTS ${database}.late_events
(
    run_id                String,
    event_time            DateTime64(3, 'UTC'),
    watermark             DateTime64(3, 'UTC'),
    recorded_at           DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (run_id, event_time);
