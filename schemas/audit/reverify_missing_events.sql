-- reverify_missing_events: the missing_events verdicts of the runs of a period (runs whose first
-- event is in [from, to) and whose every event is stored), derived again in SQL from the stored events (--store-events): the
-- contract's required types (the start type aside: its absence is run_never_started) that none of
-- the run's events placed in it (in_run, in_run_late) had. Compared with the stored verdicts,
-- retracted ones included (a retraction is a later revision, not a different verdict). Each row is
-- a difference; empty: they agree.
-- Run as is: clickhouse client --param_database=runwatch --param_from='2026-01-01 00:00:00'
--   --param_to='2026-02-01 00:00:00' --param_required_types="['agent_thinking','agent_completed']"
--   --format JSONEachRow < reverify_missing_events.sql
WITH
    period_runs AS
    (
        SELECT s.run_id AS run_id
        FROM {database:Identifier}.run_summaries AS s FINAL
        INNER JOIN
        (
            SELECT run_id, countIf(placement IN ('in_run', 'in_run_late')) AS placed
            FROM {database:Identifier}.events FINAL WHERE replay_id = '' GROUP BY run_id
        ) AS stored_events ON s.run_id = stored_events.run_id
        -- Runs whose every event is stored (event_count counts the events placed in the run): a run
        -- open when --store-events was turned on is left out, and counted by reverify_coverage.
        WHERE s.replay_id = '' AND s.first_event_time >= {from:DateTime64(3, 'UTC')} AND s.first_event_time < {to:DateTime64(3, 'UTC')}
          AND stored_events.placed = s.event_count
    ),
    seen AS
    (
        SELECT run_id, groupUniqArray(toString(type)) AS types
        FROM {database:Identifier}.events FINAL
        WHERE replay_id = '' AND placement IN ('in_run', 'in_run_late') AND run_id IN period_runs
        GROUP BY run_id
    ),
    derived AS
    (
        SELECT r.run_id AS run_id, arraySort(arrayFilter(t -> NOT has(seen.types, t), {required_types:Array(String)})) AS missing
        FROM period_runs AS r
        LEFT JOIN seen ON r.run_id = seen.run_id
    ),
    stored AS
    (
        SELECT run_id, arraySort(arrayMap(t -> toString(t), missing)) AS missing
        FROM {database:Identifier}.violations FINAL
        WHERE replay_id = '' AND rule = 'missing_events' AND status = 'final' AND run_id IN period_runs
    )
SELECT
    run_id,
    d.missing AS derived_missing,
    s.missing AS stored_missing,
    multiIf(length(s.missing) = 0, 'derived in SQL, not stored', length(d.missing) = 0, 'stored, not derived in SQL', 'missing types differ') AS difference
FROM (SELECT * FROM derived WHERE length(missing) > 0) AS d
FULL OUTER JOIN stored AS s USING (run_id)
WHERE d.missing != s.missing
ORDER BY run_id
