-- Early firing (live mode; docs/detection.md, "Early firing"): a per-event violation that needs
-- nothing but its event (content, delivery latency) is stored the moment the event arrives, as
-- status 'provisional'. The final verdict, with the same id, replaces it (ReplacingMergeTree keeps
-- the last row written, and the final one is always written after it) when the event takes its
-- place in event time; a redelivered copy's provisional verdict is replaced by a 'withdrawn' row.
-- Rows written before this migration, and every row of a replay, are 'final'. Reports count final
-- rows only.
ALTER TABLE ${database}.violations ADD COLUMN IF NOT EXISTS status LowCardinality(String) DEFAULT 'final' AFTER violation_id;

-- The daily rollup counts final verdicts only: a provisional row counted at its insert could be
-- withdrawn later, and the rollup cannot take a count back.
DROP VIEW IF EXISTS ${database}.violations_daily_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.violations_daily_mv TO ${database}.violations_daily AS
SELECT toDate(event_time) AS day, rule, severity, replay_id, uniqExactState(violation_id) AS violations, max(detected_at) AS last_recorded_at
FROM ${database}.violations
WHERE NOT startsWith(run_id, 'runwatch-canary-') AND status = 'final'
GROUP BY day, rule, severity, replay_id;
