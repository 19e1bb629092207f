-- reverify_run_duration: the run_duration verdicts of the runs of a period (runs whose first event
-- is in [from, to) and whose every event is stored), derived again in SQL from the stored events (--store-events): from the run's
-- first agent_started (else its first event) to its first terminal event, among the events placed
-- in it (in_run, in_run_late), against the contract's levels (strict >); a run judged at its
-- deadline without a terminal event is CRITICAL. Each row is a difference; empty: they agree.
-- Run as is: clickhouse client --param_database=runwatch --param_from='2026-01-01 00:00:00'
--   --param_to='2026-02-01 00:00:00' --param_terminal_type=agent_completed
--   --param_duration_warning_ms=10000 --param_duration_critical_ms=30000 --format JSONEachRow < reverify_run_duration.sql
WITH
    period_runs AS
    (
        SELECT s.run_id AS run_id, s.outcome AS outcome
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
    run_times AS
    (
        SELECT
            run_id,
            minIfOrNull(emitted_at_ms, type = 'agent_started') AS started_ms,
            min(emitted_at_ms) AS first_event_ms,
            minIfOrNull(emitted_at_ms, type = {terminal_type:String}) AS completed_ms
        FROM {database:Identifier}.events FINAL
        WHERE replay_id = '' AND placement IN ('in_run', 'in_run_late') AND run_id IN (SELECT run_id FROM period_runs)
        GROUP BY run_id
    ),
    derived AS
    (
        SELECT
            r.run_id AS run_id,
            multiIf(
                t.completed_ms IS NOT NULL,
                    multiIf(t.completed_ms - coalesce(t.started_ms, t.first_event_ms) > {duration_critical_ms:Float64}, 'CRITICAL',
                            t.completed_ms - coalesce(t.started_ms, t.first_event_ms) > {duration_warning_ms:Float64}, 'WARNING', ''),
                r.outcome = 'deadline', 'CRITICAL',
                '') AS severity
        FROM period_runs AS r
        LEFT JOIN run_times AS t ON r.run_id = t.run_id
    ),
    stored AS
    (
        SELECT run_id, toString(severity) AS severity
        FROM {database:Identifier}.violations FINAL
        WHERE replay_id = '' AND rule = 'run_duration' AND status = 'final' AND run_id IN (SELECT run_id FROM period_runs)
    )
SELECT
    run_id,
    d.severity AS derived_severity,
    s.severity AS stored_severity,
    multiIf(s.severity = '', 'derived in SQL, not stored', d.severity = '', 'stored, not derived in SQL', 'severity differs') AS difference
FROM (SELECT * FROM derived WHERE severity != '') AS d
FULL OUTER JOIN stored AS s USING (run_id)
WHERE d.severity != s.severity
ORDER BY run_id
