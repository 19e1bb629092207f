-- isolation_violations: every cross-user contamination verdict of the runs of a period (runs whose
-- first event is in [from, to), as a replay judges a range): an event of one user's run that
-- reached or named another user. Verdicts a late event retracted are left out. Canary runs (run ids
-- starting runwatch-canary-) test the monitor and are left out; replays unless include_replays = 1.
-- Run as is: clickhouse client --param_database=runwatch --param_from='2026-01-01 00:00:00'
--   --param_to='2026-02-01 00:00:00' --param_include_replays=0 --format JSONEachRow < isolation_violations.sql
SELECT
    event_time,
    severity,
    run_id,
    thread_id,
    user_id,
    subject,
    detail,
    source_topic,
    source_partitions,
    source_offsets,
    replay_id,
    violation_id
FROM {database:Identifier}.violations FINAL
WHERE rule = 'cross_user_contamination' AND status = 'final'
  AND (run_id, replay_id) IN (
      SELECT run_id, replay_id FROM {database:Identifier}.run_summaries FINAL
      WHERE first_event_time >= {from:DateTime64(3, 'UTC')} AND first_event_time < {to:DateTime64(3, 'UTC')})
  AND (violation_id, replay_id) NOT IN (
      SELECT violation_id, replay_id FROM {database:Identifier}.verdict_revisions FINAL WHERE action = 'retracted')
  AND (replay_id = '' OR {include_replays:UInt8} = 1)
  AND NOT startsWith(run_id, 'runwatch-canary-')
ORDER BY event_time, run_id, violation_id, replay_id
