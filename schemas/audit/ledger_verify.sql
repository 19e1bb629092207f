-- ledger_verify: the rows of the completeness ledger where its hash chain does not hold.
-- An empty result means every chain is intact: each row's hash matches its content, each row
-- names the hash of the row before it, and no sequence number is missing or taken twice. A chain
-- is checked from its oldest row still stored (retention deletes the oldest rows: ledger_heads
-- shows where each chain starts now).
-- The canonical text is the one src/sinks/completeness-ledger.ts hashes (runwatch-ledger-v1).
-- Run as is: clickhouse client --param_database=runwatch --format JSONEachRow < ledger_verify.sql
SELECT
    group_id,
    topic,
    ledger_seq,
    checkpoint_seq,
    partition,
    multiIf(
        recomputed != row_hash, 'edited: the row''s content does not match its hash',
        copies > 1, 'inserted: another row has the same ledger_seq',
        position > 1 AND ledger_seq != seq_before + 1, concat('deleted: ledger_seq ', toString(seq_before + 1), '..', toString(ledger_seq - 1), ' missing before this row'),
        position > 1 AND prev_hash != hash_before, 'replaced: prev_hash is not the hash of the row before it',
        ledger_seq = 1 AND prev_hash != '', 'replaced: the first row of the chain names a row before it',
        '') AS problem
FROM
(
    SELECT
        group_id, topic, ledger_seq, checkpoint_seq, partition, prev_hash, row_hash,
        row_number() OVER chain AS position,
        lagInFrame(row_hash, 1, '') OVER chain AS hash_before,
        lagInFrame(ledger_seq, 1, toUInt64(0)) OVER chain AS seq_before,
        count() OVER (PARTITION BY group_id, topic, ledger_seq) AS copies,
        lower(hex(SHA256(concat(
            'runwatch-ledger-v1',
            '|', toString(length(group_id)), ':', group_id,
            '|', toString(length(topic)), ':', topic,
            '|', toString(length(replay_id)), ':', replay_id,
            '|', toString(ledger_seq),
            '|', toString(checkpoint_seq),
            '|', toString(length(checkpoint_reason)), ':', toString(checkpoint_reason),
            '|', toString(partition),
            '|', toString(first_offset),
            '|', toString(next_offset),
            '|', toString(records),
            '|', toString(lifecycle_events),
            '|', toString(other_events),
            '|', toString(dead_letters),
            '|', toString(late_events),
            '|', toString(toUnixTimestamp64Milli(min_record_time)),
            '|', toString(toUnixTimestamp64Milli(max_record_time)),
            '|', toString(toUnixTimestamp64Milli(watermark)),
            '|', toString(length(contract_hash)), ':', contract_hash,
            '|', toString(length(config_hash)), ':', config_hash,
            '|', toString(length(build)), ':', build,
            '|', toString(toUnixTimestamp64Milli(committed_at)),
            '|', toString(length(prev_hash)), ':', prev_hash)))) AS recomputed
    FROM {database:Identifier}.completeness_ledger
    WINDOW chain AS (PARTITION BY group_id, topic ORDER BY ledger_seq, row_hash ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
WHERE problem != ''
ORDER BY group_id, topic, ledger_seq, partition, problem
