-- violations_by_day: verdicts of the runs of a period (runs whose first event is in [from, to)) per
-- UTC day of their event time, rule and severity. Verdicts a late event retracted, canary runs and
-- (unless include_replays = 1) replays are left out.
-- Run as is: clickhouse client --param_database=runwatch --param_from='2026-01-01 00:00:00'
--   --param_to='2026-02-01 00:00:00' --param_include_replays=0 --format JSONEachRow < violations_by_day.sql
SELECT
    toDate(event_time) AS day,
    rule,
    severity,
    count() AS violations
FROM {database:Identifier}.violations FINAL
WHERE status = 'final'
  AND (run_id, replay_id) IN (
      SELECT run_id, replay_id FROM {database:Identifier}.run_summaries FINAL
      WHERE first_event_time >= {from:DateTime64(3, 'UTC')} AND first_event_time < {to:DateTime64(3, 'UTC')})
  AND (violation_id, replay_id) NOT IN (
      SELECT violation_id, replay_id FROM {database:Identifier}.verdict_revisions FINAL WHERE action = 'retracted')
  AND (replay_id = '' OR {include_replays:UInt8} = 1)
  AND NOT startsWith(run_id, 'runwatch-canary-')
GROUP BY day, rule, severity
ORDER BY day, rule, severity
