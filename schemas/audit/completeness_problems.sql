-- completeness_problems: offsets of a period that were not processed exactly once, and ledger rows
-- whose counts do not reconcile. Per topic and partition (every consumer group together; replays
-- each on their own when included), the ledger's ranges [first_offset, next_offset) in offset
-- order must each start where the ranges before them reached: further on is a gap, earlier an
-- overlap (offsets processed again). Each row's records must equal lifecycle events + other events
-- + dead letters, and fit in its range. A row belongs to the period when its records, or the gap
-- before it, fall in [from, to) (Kafka record time). Empty result: complete.
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
        row_number() OVER ordered AS position,
        -- How far the rows before this one (in offset order) reached, and when their records were.
        max(next_offset) OVER before AS covered_up_to,
        max(max_record_time) OVER before AS record_time_before,
        multiIf(
            position > 1 AND first_offset > covered_up_to, 'gap',
            position > 1 AND first_offset < covered_up_to, 'overlap',
            records != lifecycle_events + other_events + dead_letters, 'counts',
            records > next_offset - first_offset, 'counts',
            '') AS kind,
        multiIf(kind = 'gap', covered_up_to, first_offset) AS from_offset,
        multiIf(kind = 'gap', first_offset, kind = 'overlap', least(covered_up_to, next_offset), next_offset) AS to_offset,
        multiIf(
            kind = 'gap', concat(toString(first_offset - covered_up_to), ' offsets never processed'),
            kind = 'overlap', concat(toString(least(covered_up_to, next_offset) - first_offset), ' offsets processed again'),
            kind = 'counts', concat('records ', toString(records), ' != lifecycle ', toString(lifecycle_events), ' + other ', toString(other_events), ' + dead letters ', toString(dead_letters), ' in a range of ', toString(next_offset - first_offset), ' offsets'),
            '') AS detail
    FROM {database:Identifier}.completeness_ledger
    WHERE replay_id = '' OR {include_replays:UInt8} = 1
    WINDOW
        ordered AS (PARTITION BY topic, partition, replay_id ORDER BY first_offset, ledger_seq, group_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
        before AS (PARTITION BY topic, partition, replay_id ORDER BY first_offset, ledger_seq, group_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)
WHERE kind != ''
  AND greatest(max_record_time, if(position > 1, record_time_before, max_record_time)) >= {from:DateTime64(3, 'UTC')}
  AND least(min_record_time, if(position > 1, record_time_before, min_record_time)) < {to:DateTime64(3, 'UTC')}
ORDER BY topic, partition, replay_id, from_offset, ledger_seq, group_id
