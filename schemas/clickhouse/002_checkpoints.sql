-- Operator state snapshots aligned with source offsets (docs/architecture.md, "Checkpoints").
-- One checkpoint = the detector chain's state after exactly the records before next_offsets, per
-- partition. It is written after the results it covers and before the group commits those offsets:
-- on start, the checkpoint whose offsets equal the group's committed offsets is restored. The state
-- (node:v8 serialization, gzip) is stored base64 in chunks. A checkpoint counts only with all of
-- its chunks present. Older checkpoints of a group are deleted as new ones are written.
CREATE TABLE IF NOT EXISTS ${database}.checkpoints
(
    group_id        String,
    topic           String,
    checkpoint_seq  UInt64,
    partitions      Array(UInt32),
    next_offsets    Array(UInt64),
    reason          LowCardinality(String),
    state_bytes     UInt64,
    chunk_count     UInt32,
    chunk_no        UInt32,
    chunk           String,
    created_at      DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (group_id, topic, checkpoint_seq, chunk_no);
