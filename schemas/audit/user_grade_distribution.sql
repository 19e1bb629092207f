-- user_grade_distribution: user security-grade windows per grade (windows starting in [from, to)).
-- Replays are left out unless include_replays = 1.
-- Run as is: clickhouse client --param_database=runwatch --param_from='2026-01-01 00:00:00'
--   --param_to='2026-02-01 00:00:00' --param_include_replays=0 --format JSONEachRow < user_grade_distribution.sql
SELECT
    security_grade AS grade,
    count() AS user_windows,
    uniqExact(user_id) AS users
FROM {database:Identifier}.user_grades FINAL
WHERE window_start >= {from:DateTime64(3, 'UTC')}
  AND window_start < {to:DateTime64(3, 'UTC')}
  AND (replay_id = '' OR {include_replays:UInt8} = 1)
GROUP BY grade
ORDER BY grade
