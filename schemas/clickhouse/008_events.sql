-- Stored lifecycle events (monitor --store-events; docs/audit.md, "Re-verification in SQL"):
-- every event as normalized, with where the engine placed it (placement: in_run, in_run_late,
-- duplicate, after_final, unknown_run, suspicious). Placement depends on the watermark, which SQL
-- cannot see; from there the checks of schemas/audit/reverify_*.sql re-derive the verdicts with
-- the run contract's thresholds. Times are ms since the epoch as the stream saw them (fractions
-- kept: a threshold comparison must see the same number). Kept 30 days after they were recorded.
CREATE TABLE IF NOT EXISTS ${database}.events
(
    run_id            String,
    thread_id         String,
    user_id           String,
    agent_name        String,
    tool_name         String,
    execution_id      String,
    event_id          String,
    type              LowCardinality(String),
    placement         LowCardinality(String),
    emitted_at_ms     Float64,
    delivered_at_ms   Float64,
    record_time_ms    Float64,
    shape             LowCardinality(String),
    recovered         UInt8,
    source_topic      LowCardinality(String),
    source_partition  UInt32,
    source_offset     UInt64,
    replay_id         LowCardinality(String) DEFAULT '',
    contract_hash     LowCardinality(String) DEFAULT '',
    config_hash       LowCardinality(String) DEFAULT '',
    build             LowCardinality(String) DEFAULT '',
    recorded_at       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (source_topic, source_partition, source_offset, replay_id)
TTL toDateTime(recorded_at) + INTERVAL 30 DAY;
