-- Completeness ledger (docs/audit.md): one row per checkpoint and partition it advanced. It says
-- which offsets [first_offset, next_offset) were processed, what came of them (records in =
-- lifecycle events judged + other events + dead letters; the late events judged meanwhile), the
-- record times and the watermark, and what judged them (provenance).
--
-- Rows are sealed (numbered, hashed) when the checkpoint's snapshot is taken, saved inside the
-- checkpoint (ledger_pending), and written here only once the consumer group has committed the
-- checkpoint's offsets: every row stands for a commit. A crash between the commit and the write is
-- repaired when that checkpoint is restored (its pending rows are written then); a member that
-- lost its role cannot commit, so it writes nothing.
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

-- Each checkpoint's side of the ledger: the chain's head once its rows are in (ledger_seq,
-- ledger_hash), and the rows sealed but not yet written (JSON, on chunk 0: its own rows, and those
-- of earlier checkpoints whose commit failed). ledger_version 0: a checkpoint from before the ledger.
ALTER TABLE ${database}.checkpoints ADD COLUMN IF NOT EXISTS ledger_version UInt8 DEFAULT 0, ADD COLUMN IF NOT EXISTS ledger_seq UInt64 DEFAULT 0, ADD COLUMN IF NOT EXISTS ledger_hash String DEFAULT '', ADD COLUMN IF NOT EXISTS ledger_pending String DEFAULT '';
