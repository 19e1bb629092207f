-- Retention: every evidence table keeps a row 400 days after it was recorded (wall clock, not
-- event time: a replay of an old topic must not be deleted as it is written). `runwatch migrate
-- --retention-days` sets other periods per table. Existing rows get the TTL at their next merge
-- (materialize_ttl_after_modify = 0: no rewrite of every part now). Checkpoints are pruned by the
-- monitor itself and have no TTL.
ALTER TABLE ${database}.violations MODIFY TTL toDateTime(detected_at) + INTERVAL 400 DAY SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.run_summaries MODIFY TTL toDateTime(recorded_at) + INTERVAL 400 DAY SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.user_grades MODIFY TTL toDateTime(recorded_at) + INTERVAL 400 DAY SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.dead_letters MODIFY TTL toDateTime(recorded_at) + INTERVAL 400 DAY SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.late_events MODIFY TTL toDateTime(recorded_at) + INTERVAL 400 DAY SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.verdict_revisions MODIFY TTL toDateTime(recorded_at) + INTERVAL 400 DAY SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.completeness_ledger MODIFY TTL toDateTime(committed_at) + INTERVAL 400 DAY SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE ${database}.replays MODIFY TTL toDateTime(updated_at) + INTERVAL 400 DAY SETTINGS materialize_ttl_after_modify = 0;

-- Daily rollups for dashboards, kept by materialized views as rows arrive. A verdict written again
-- (a restart, a redelivery) is counted once: counts are exact distinct counts of the verdict's id.
-- Latency percentiles are t-digest estimates over the runs' own p50/p99 and may count a rewritten
-- run twice; a run's grade changed later (provisional rows) keeps its first grade here. Audit
-- reports read the base tables (FINAL), never these. Canary runs are left out.
CREATE TABLE IF NOT EXISTS ${database}.violations_daily
(
    day              Date,
    rule             LowCardinality(String),
    severity         LowCardinality(String),
    replay_id        LowCardinality(String),
    violations       AggregateFunction(uniqExact, String),
    last_recorded_at SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (day, rule, severity, replay_id)
TTL toDateTime(last_recorded_at) + INTERVAL 400 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.violations_daily_mv TO ${database}.violations_daily AS
SELECT toDate(event_time) AS day, rule, severity, replay_id, uniqExactState(violation_id) AS violations, max(detected_at) AS last_recorded_at
FROM ${database}.violations
WHERE NOT startsWith(run_id, 'runwatch-canary-')
GROUP BY day, rule, severity, replay_id;

CREATE TABLE IF NOT EXISTS ${database}.runs_daily
(
    day               Date,
    performance_grade LowCardinality(String),
    security_grade    LowCardinality(String),
    replay_id         LowCardinality(String),
    runs              AggregateFunction(uniqExact, String),
    latency_p50_ms    AggregateFunction(quantilesTDigest(0.5, 0.99), Float64),
    latency_p99_ms    AggregateFunction(quantilesTDigest(0.5, 0.99), Float64),
    last_recorded_at  SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (day, performance_grade, security_grade, replay_id)
TTL toDateTime(last_recorded_at) + INTERVAL 400 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.runs_daily_mv TO ${database}.runs_daily AS
SELECT
    toDate(first_event_time) AS day, performance_grade, security_grade, replay_id,
    uniqExactState(run_id) AS runs,
    quantilesTDigestState(0.5, 0.99)(ifNull(latency_p50_ms, 0)) AS latency_p50_ms,
    quantilesTDigestState(0.5, 0.99)(ifNull(latency_p99_ms, 0)) AS latency_p99_ms,
    max(recorded_at) AS last_recorded_at
FROM ${database}.run_summaries
WHERE NOT startsWith(run_id, 'runwatch-canary-')
GROUP BY day, performance_grade, security_grade, replay_id;

CREATE TABLE IF NOT EXISTS ${database}.user_grades_daily
(
    day              Date,
    security_grade   LowCardinality(String),
    replay_id        LowCardinality(String),
    user_windows     AggregateFunction(uniqExact, String, DateTime64(3, 'UTC')),
    last_recorded_at SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (day, security_grade, replay_id)
TTL toDateTime(last_recorded_at) + INTERVAL 400 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.user_grades_daily_mv TO ${database}.user_grades_daily AS
SELECT toDate(window_start) AS day, security_grade, replay_id, uniqExactState(user_id, window_start) AS user_windows, max(recorded_at) AS last_recorded_at
FROM ${database}.user_grades
GROUP BY day, security_grade, replay_id;
