-- reverify_coverage: what re-verification of a period can stand on: the runs of the period (first
-- event in [from, to)), how many of them have stored events (--store-events) and how many all of
-- their events (only those are re-verified), the events stored,
-- and the contracts (sha256) the period's verdicts were judged with.
-- Run as is: clickhouse client --param_database=runwatch --param_from='2026-01-01 00:00:00'
--   --param_to='2026-02-01 00:00:00' --format JSONEachRow < reverify_coverage.sql
WITH
    period_runs AS
    (
        SELECT run_id FROM {database:Identifier}.run_summaries FINAL
        WHERE replay_id = '' AND first_event_time >= {from:DateTime64(3, 'UTC')} AND first_event_time < {to:DateTime64(3, 'UTC')}
    )
SELECT
    (SELECT count() FROM period_runs) AS runs,
    (SELECT uniqExact(run_id) FROM {database:Identifier}.events FINAL WHERE replay_id = '' AND run_id IN period_runs) AS runs_with_events,
    (
        SELECT count()
        FROM {database:Identifier}.run_summaries AS s FINAL
        INNER JOIN
        (
            SELECT run_id, countIf(placement IN ('in_run', 'in_run_late')) AS placed
            FROM {database:Identifier}.events FINAL WHERE replay_id = '' GROUP BY run_id
        ) AS stored_events ON s.run_id = stored_events.run_id
        WHERE s.replay_id = '' AND s.first_event_time >= {from:DateTime64(3, 'UTC')} AND s.first_event_time < {to:DateTime64(3, 'UTC')}
          AND stored_events.placed = s.event_count
    ) AS runs_with_all_events,
    (SELECT count() FROM {database:Identifier}.events FINAL WHERE replay_id = '' AND run_id IN period_runs) AS events,
    (SELECT arraySort(groupUniqArray(toString(contract_hash))) FROM {database:Identifier}.violations FINAL WHERE replay_id = '' AND status = 'final' AND run_id IN period_runs) AS contract_hashes
