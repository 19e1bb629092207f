-- completeness_problems: offsets of a period that were not processed exactly once, and ledger rows
-- whose counts do not reconcile. Per topic and partition (replays each on their own when included),
-- the ledger's ranges [first_offset, next_offset) in offset order must follow each other with no
-- gap and no overlap, and each row's records must equal lifecycle events + other events + dead
-- letters, and fit in its range. A row belongs to the period when its records, or the gap before
-- it, fall in [from, to) (Kafka record time). Empty result: complete.
-- Run as is: clickhouse client --param_database=runwatch --param_from='2026-01-01 00:00:00'
--   --param_to='2026-02-01 00:00:00' --param_include_replays=0 --format JSONEachRow < completeness_problems.sql
SELECT
    topic,
    partition,
    replay_id,
    group_id,
    ledger_seq,
    kind,
    from_offset,
    to_offset,
    detail
FROM
(
    SELECT
        topic, partition, replay_id, group_id, ledger_seq, first_offset, next_offset,
        records, lifecycle_events, other_events, dead_letters, min_record_time, max_record_time,
        lagInFrame(next_offset, 1, first_offset) OVER ordered AS next_offset_before,
        lagInFrame(max_record_time, 1, min_record_time) OVER ordered AS record_time_before,
        multiIf(
            first_offset > next_offset_before, 'gap',
            first_offset < next_offset_before, 'overlap',
            records != lifecycle_events + other_events + dead_letters, 'counts',
            records > next_offset - first_offset, 'counts',
            '') AS kind,
        multiIf(kind = 'gap', next_offset_before, kind = 'overlap', first_offset, first_offset) AS from_offset,
        multiIf(kind = 'gap', first_offset, kind = 'overlap', least(next_offset_before, next_offset), next_offset) AS to_offset,
        multiIf(
            kind = 'gap', concat(toString(first_offset - next_offset_before), ' offsets never processed'),
            kind = 'overlap', concat(toString(least(next_offset_before, next_offset) - first_offset), ' offsets processed twice'),
            kind = 'counts', concat('records ', toString(records), ' != lifecycle ', toString(lifecycle_events), ' + other ', toString(other_events), ' + dead letters ', toString(dead_letters), ' in a range of ', toString(next_offset - first_offset), ' offsets'),
            '') AS detail
    FROM {database:Identifier}.completeness_ledger
    WHERE replay_id = '' OR {include_replays:UInt8} = 1
    WINDOW ordered AS (PARTITION BY topic, partition, replay_id ORDER BY first_offset, ledger_seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
WHERE kind != ''
  AND greatest(max_record_time, record_time_before) >= {from:DateTime64(3, 'UTC')}
  AND least(min_record_time, record_time_before) < {to:DateTime64(3, 'UTC')}
ORDER BY topic, partition, replay_id, from_offset, ledger_seq
