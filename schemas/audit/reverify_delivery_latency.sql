-- reverify_delivery_latency: the delivery_latency verdicts of the runs of a period (runs whose first
-- event is in [from, to) and whose every event is stored), derived again in SQL from the stored events (--store-events) and
-- compared with the stored verdicts. The contract's levels come as parameters (strict >: WARNING
-- above latency_warning_ms, CRITICAL above latency_critical_ms). Every event is checked once where
-- the engine placed it: copies of an event it had (duplicate) and events whose time cannot be
-- placed (suspicious) reach no timing check. Each row is a difference; empty: they agree.
-- Run as is: clickhouse client --param_database=runwatch --param_from='2026-01-01 00:00:00'
--   --param_to='2026-02-01 00:00:00' --param_latency_warning_ms=500 --param_latency_critical_ms=2000
--   --format JSONEachRow < reverify_delivery_latency.sql
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
    derived AS
    (
        SELECT
            run_id,
            source_partition AS partition,
            source_offset AS offset,
            multiIf(delivered_at_ms - emitted_at_ms > {latency_critical_ms:Float64}, 'CRITICAL',
                    delivered_at_ms - emitted_at_ms > {latency_warning_ms:Float64}, 'WARNING', '') AS severity
        FROM {database:Identifier}.events FINAL
        WHERE replay_id = '' AND placement NOT IN ('duplicate', 'suspicious') AND run_id IN period_runs
    ),
    stored AS
    (
        SELECT run_id, source_partitions[1] AS partition, source_offsets[1] AS offset, toString(severity) AS severity
        FROM {database:Identifier}.violations FINAL
        WHERE replay_id = '' AND rule = 'delivery_latency' AND status = 'final' AND run_id IN period_runs
    )
SELECT
    run_id,
    partition,
    offset,
    d.severity AS derived_severity,
    s.severity AS stored_severity,
    multiIf(s.severity = '', 'derived in SQL, not stored', d.severity = '', 'stored, not derived in SQL', 'severity differs') AS difference
FROM (SELECT * FROM derived WHERE severity != '') AS d
FULL OUTER JOIN stored AS s USING (run_id, partition, offset)
WHERE d.severity != s.severity
ORDER BY run_id, partition, offset
