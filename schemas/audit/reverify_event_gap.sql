-- reverify_event_gap: the event_gap verdicts of the runs of a period (runs whose first event is in
-- [from, to), whose every event is stored, judged completed or at their deadline), derived again
-- in SQL from the stored events (--store-events). Between consecutive events placed in the run
-- (in event-time order, up to its first terminal event), a gap above gap_warning_ms is a WARNING
-- on the later event, one above gap_critical_ms a CRITICAL silence after the earlier one; a run
-- judged at its deadline without a terminal event is also silent from its last event to the
-- deadline (first event + run_deadline_ms) when that is above gap_critical_ms. Runs cut by the end
-- of a bounded read (outcome end_of_input) end where event time stood then, which only the
-- stream knows: they are left out. Each row is a difference; empty: they agree.
-- Run as is: clickhouse client --param_database=runwatch --param_from='2026-01-01 00:00:00'
--   --param_to='2026-02-01 00:00:00' --param_terminal_type=agent_completed --param_gap_warning_ms=1000
--   --param_gap_critical_ms=5000 --param_run_deadline_ms=30000 --format JSONEachRow < reverify_event_gap.sql
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
        WHERE s.replay_id = '' AND s.first_event_time >= {from:DateTime64(3, 'UTC')} AND s.first_event_time < {to:DateTime64(3, 'UTC')}
          AND stored_events.placed = s.event_count
          AND s.outcome IN ('completed', 'deadline')
    ),
    placed AS
    (
        SELECT run_id, type, emitted_at_ms, source_partition, source_offset
        FROM {database:Identifier}.events FINAL
        WHERE replay_id = '' AND placement IN ('in_run', 'in_run_late') AND run_id IN (SELECT run_id FROM period_runs)
    ),
    -- Each run's events up to its first terminal event (inclusive), in event-time order.
    ordered AS
    (
        SELECT
            p.run_id AS run_id, p.type AS type, p.emitted_at_ms AS emitted_at_ms, p.source_partition AS partition, p.source_offset AS offset,
            row_number() OVER w AS position,
            lagInFrame(p.emitted_at_ms, 1, p.emitted_at_ms) OVER w AS previous_ms
        FROM placed AS p
        LEFT JOIN (SELECT run_id, minIf(emitted_at_ms, type = {terminal_type:String}) AS done_ms, countIf(type = {terminal_type:String}) AS terminals FROM placed GROUP BY run_id) AS t ON p.run_id = t.run_id
        WHERE t.terminals = 0 OR p.emitted_at_ms <= t.done_ms
        WINDOW w AS (PARTITION BY p.run_id ORDER BY p.emitted_at_ms, p.source_partition, p.source_offset ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ),
    derived AS
    (
        SELECT run_id, 'WARNING' AS severity, concat('gap:', toString(partition), ':', toString(offset)) AS key
        FROM ordered
        WHERE position > 1 AND emitted_at_ms - previous_ms > {gap_warning_ms:Float64} AND NOT (emitted_at_ms - previous_ms > {gap_critical_ms:Float64})
        UNION ALL
        SELECT run_id, 'CRITICAL' AS severity, concat('silence:', toString(toInt64(floor(previous_ms + {gap_critical_ms:Float64})))) AS key
        FROM ordered
        WHERE position > 1 AND emitted_at_ms - previous_ms > {gap_critical_ms:Float64}
        UNION ALL
        SELECT o.run_id AS run_id, 'CRITICAL' AS severity, concat('silence:', toString(toInt64(floor(max(o.emitted_at_ms) + {gap_critical_ms:Float64})))) AS key
        FROM ordered AS o
        INNER JOIN period_runs AS r ON o.run_id = r.run_id
        WHERE r.outcome = 'deadline'
        GROUP BY o.run_id
        HAVING countIf(o.type = {terminal_type:String}) = 0 AND min(o.emitted_at_ms) + {run_deadline_ms:Float64} - max(o.emitted_at_ms) > {gap_critical_ms:Float64}
    ),
    stored AS
    (
        SELECT
            run_id,
            toString(severity) AS severity,
            if(subject = 'silence', concat('silence:', toString(toUnixTimestamp64Milli(event_time))), concat('gap:', toString(source_partitions[1]), ':', toString(source_offsets[1]))) AS key
        FROM {database:Identifier}.violations FINAL
        WHERE replay_id = '' AND rule = 'event_gap' AND status = 'final' AND run_id IN (SELECT run_id FROM period_runs)
    )
SELECT
    run_id,
    key,
    d.severity AS derived_severity,
    s.severity AS stored_severity,
    multiIf(s.severity = '', 'derived in SQL, not stored', d.severity = '', 'stored, not derived in SQL', 'severity differs') AS difference
FROM derived AS d
FULL OUTER JOIN stored AS s USING (run_id, key)
WHERE d.severity != s.severity
ORDER BY run_id, key
