-- Replays (runwatch replay): their rows sit beside the live ones in the same tables, tagged with
-- the replay's id; live rows have replay_id = ''. The id is part of each table's sorting key, so a
-- replay's row never replaces the live row with the same verdict id (ReplacingMergeTree dedupes
-- on the key). Live evidence and replays mix in a query only when it asks: every query of
-- runwatch filters replay_id. (A column added to a sorting key may have no DEFAULT expression;
-- a String column without one reads '' in existing rows.)
ALTER TABLE ${database}.violations ADD COLUMN IF NOT EXISTS replay_id LowCardinality(String), MODIFY ORDER BY (rule, run_id, violation_id, replay_id);
ALTER TABLE ${database}.run_summaries ADD COLUMN IF NOT EXISTS replay_id LowCardinality(String), MODIFY ORDER BY (run_id, replay_id);
ALTER TABLE ${database}.user_grades ADD COLUMN IF NOT EXISTS replay_id LowCardinality(String), MODIFY ORDER BY (user_id, window_start, replay_id);
ALTER TABLE ${database}.dead_letters ADD COLUMN IF NOT EXISTS replay_id LowCardinality(String), MODIFY ORDER BY (source_topic, source_partition, source_offset, replay_id);
ALTER TABLE ${database}.late_events ADD COLUMN IF NOT EXISTS replay_id LowCardinality(String), MODIFY ORDER BY (source_topic, source_partition, source_offset, replay_id);
ALTER TABLE ${database}.verdict_revisions ADD COLUMN IF NOT EXISTS replay_id LowCardinality(String), MODIFY ORDER BY (violation_id, source_topic, source_partition, source_offset, replay_id);

-- One row per replay (the latest state wins): what was replayed, with which contract and
-- settings, by which build, when, and what came of it.
CREATE TABLE IF NOT EXISTS ${database}.replays
(
    replay_id         String,
    status            LowCardinality(String),   -- running | finished | failed
    topic             String,
    range_from        String,                   -- as given: an ISO time or partition:offset,...
    range_to          String,
    judged_from       Nullable(DateTime64(3)),  -- runs judged: first event in [judged_from, judged_to)
    judged_to         Nullable(DateTime64(3)),
    read_from         String,                   -- offsets read, partition:offset,... (inclusive)
    read_to           String,                   -- partition:offset,... (exclusive)
    contract_name     String,
    contract_hash     String,
    config_hash       String,
    build_version     String,
    build_commit      String,
    started_at        DateTime64(3),
    finished_at       Nullable(DateTime64(3)),
    records           UInt64,
    runs              UInt64,
    violations        UInt64,
    runs_cut          UInt64,                   -- runs of the range the read could not complete (the topic ends too soon)
    updated_at        DateTime64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY replay_id;
