-- isolation_coverage: how many runs, users and events the isolation checks covered in a period
-- (runs whose first event is in [from, to)), so that "no contamination found" has a size.
-- Canary runs and (unless include_replays = 1) replays are left out.
-- Run as is: clickhouse client --param_database=runwatch --param_from='2026-01-01 00:00:00'
--   --param_to='2026-02-01 00:00:00' --param_include_replays=0 --format JSONEachRow < isolation_coverage.sql
SELECT
    count() AS runs,
    uniqExact(user_id) AS users,
    sum(event_count) AS events,
    countIf(isolation_criticals > 0) AS runs_with_critical_isolation_violations,
    countIf(isolation_warnings > 0) AS runs_with_isolation_warnings
FROM {database:Identifier}.run_summaries FINAL
WHERE first_event_time >= {from:DateTime64(3, 'UTC')}
  AND first_event_time < {to:DateTime64(3, 'UTC')}
  AND (replay_id = '' OR {include_replays:UInt8} = 1)
  AND NOT startsWith(run_id, 'runwatch-canary-')
