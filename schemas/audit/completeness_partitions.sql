-- completeness_partitions: per topic and partition, what the completeness ledger records as
-- processed in a period (Kafka record time in [from, to)): the ledger rows, the offsets they span,
-- the records and what came of them, and the first and last record time. Replays are left out
-- unless include_replays = 1 (then each replay is a line of its own).
-- Run as is: clickhouse client --param_database=runwatch --param_from='2026-01-01 00:00:00'
--   --param_to='2026-02-01 00:00:00' --param_include_replays=0 --format JSONEachRow < completeness_partitions.sql
SELECT
    topic,
    partition,
    replay_id,
    count() AS ledger_rows,
    min(first_offset) AS first_offset,
    max(next_offset) AS next_offset,
    sum(records) AS records,
    sum(lifecycle_events) AS lifecycle_events,
    sum(other_events) AS other_events,
    sum(dead_letters) AS dead_letters,
    sum(late_events) AS late_events,
    min(min_record_time) AS first_record_time,
    max(max_record_time) AS last_record_time,
    uniqExact(group_id) AS consumer_groups
FROM {database:Identifier}.completeness_ledger AS l
WHERE (l.replay_id = '' OR {include_replays:UInt8} = 1)
  AND l.records > 0
  AND max_record_time >= {from:DateTime64(3, 'UTC')}
  AND min_record_time < {to:DateTime64(3, 'UTC')}
GROUP BY topic, partition, replay_id
ORDER BY topic, partition, replay_id
