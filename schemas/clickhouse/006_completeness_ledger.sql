-- Completeness ledger (docs/audit.md): one row per checkpoint and partition it advanced, written
-- after the checkpoint and before the consumer group commits its offsets. It says which offsets
-- [first_offset, next_offset) were processed, what came of them (records in = lifecycle events
-- judged + other events + dead letters; late events among the judged), the record times and the
-- watermark, and what judged them (provenance). Rows of a checkpoint whose offsets were never
-- committed (a crash in between) are deleted when the group restores the checkpoint before it:
-- those offsets are processed again and recorded once.
--
-- Tamper evidence: each group's rows form a hash chain in ledger_seq order. row_hash is the
-- sha256 of the row's canonical text, which includes prev_hash (the row before it in the chain).
-- schemas/audit/ledger_verify.sql recomputes it in SQL. MergeTree, not Replacing: a row inserted
-- by hand must stay visible. A retried insert after a lost acknowledgement carries the same
-- deduplication token and is dropped (non_replicated_deduplication_window).
CREATE TABLE IF NOT EXISTS ${database}.completeness_ledger
(
    group_id          String,
    topic             String,
    replay_id         String,
    ledger_seq        UInt64,
    checkpoint_seq    UInt64,
    checkpoint_reason LowCardinality(String),
    partition         UInt32,
    first_offset      UInt64,
    next_offset       UInt64,
    records           UInt64,
    lifecycle_events  UInt64,
    other_events      UInt64,
    dead_letters      UInt64,
    late_events       UInt64,
    min_record_time   DateTime64(3, 'UTC'),
    max_record_time   DateTime64(3, 'UTC'),
    watermark         DateTime64(3, 'UTC'),
    contract_hash     String,
    config_hash       String,
    build             String,
    committed_at      DateTime64(3, 'UTC'),
    prev_hash         String,
    row_hash          String
)
ENGINE = MergeTree
ORDER BY (group_id, topic, ledger_seq)
SETTINGS non_replicated_deduplication_window = 1000;

-- Where the ledger stood when each checkpoint was taken (its last row): restoring the checkpoint
-- tells which ledger rows came after it and were never committed; the newest checkpoint's head
-- must be in the ledger (a row deleted from the end of the chain would leave no other trace).
ALTER TABLE ${database}.checkpoints ADD COLUMN IF NOT EXISTS ledger_seq UInt64 DEFAULT 0, ADD COLUMN IF NOT EXISTS ledger_hash String DEFAULT '';
