-- grade_distribution: runs per performance grade and per security grade (runs whose first event
-- is in [from, to)). Canary runs and (unless include_replays = 1) replays are left out.
-- Run as is: clickhouse client --param_database=runwatch --param_from='2026-01-01 00:00:00'
--   --param_to='2026-02-01 00:00:00' --param_include_replays=0 --format JSONEachRow < grade_distribution.sql
SELECT
    grade,
    countIf(performance_grade = grade) AS runs_by_performance_grade,
    countIf(security_grade = grade) AS runs_by_security_grade
FROM {database:Identifier}.run_summaries FINAL
ARRAY JOIN ['A', 'B', 'C', 'D', 'F'] AS grade
WHERE first_event_time >= {from:DateTime64(3, 'UTC')}
  AND first_event_time < {to:DateTime64(3, 'UTC')}
  AND (replay_id = '' OR {include_replays:UInt8} = 1)
  AND NOT startsWith(run_id, 'runwatch-canary-')
GROUP BY grade
ORDER BY grade
