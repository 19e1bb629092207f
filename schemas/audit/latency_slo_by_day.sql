-- latency_slo_by_day: delivery-latency SLO compliance per UTC day (runs whose first event is in
-- [from, to)): events delivered, events over the warning and the critical delivery latency
-- (delivery_latency verdicts), the share within the SLO (events not over the critical delivery
-- latency, 2 s in the reference contract), and percentiles over the runs' own
-- delivery-latency p50 and p99. Canary runs and (unless include_replays = 1) replays are left out.
-- Run as is: clickhouse client --param_database=runwatch --param_from='2026-01-01 00:00:00'
--   --param_to='2026-02-01 00:00:00' --param_include_replays=0 --format JSONEachRow < latency_slo_by_day.sql
SELECT
    runs.day AS day,
    runs.runs AS runs,
    runs.events AS events,
    ifNull(breaches.warnings, 0) AS latency_warnings,
    ifNull(breaches.criticals, 0) AS latency_criticals,
    round(if(runs.events = 0, 100, 100 * (1 - ifNull(breaches.criticals, 0) / runs.events)), 3) AS within_slo_pct,
    runs.median_run_p50_ms AS median_run_p50_ms,
    runs.p99_run_p99_ms AS p99_run_p99_ms
FROM
(
    SELECT
        toDate(first_event_time) AS day,
        count() AS runs,
        sum(event_count) AS events,
        round(quantileExact(0.5)(latency_p50_ms), 1) AS median_run_p50_ms,
        round(quantileExact(0.99)(latency_p99_ms), 1) AS p99_run_p99_ms
    FROM {database:Identifier}.run_summaries FINAL
    WHERE first_event_time >= {from:DateTime64(3, 'UTC')}
      AND first_event_time < {to:DateTime64(3, 'UTC')}
      AND (replay_id = '' OR {include_replays:UInt8} = 1)
      AND NOT startsWith(run_id, 'runwatch-canary-')
    GROUP BY day
) AS runs
LEFT JOIN
(
    SELECT
        toDate(s.first_event_time) AS day,
        countIf(v.severity = 'WARNING') AS warnings,
        countIf(v.severity = 'CRITICAL') AS criticals
    FROM {database:Identifier}.violations AS v FINAL
    INNER JOIN {database:Identifier}.run_summaries AS s FINAL ON v.run_id = s.run_id AND v.replay_id = s.replay_id
    WHERE v.rule = 'delivery_latency' AND v.status = 'final'
      AND s.first_event_time >= {from:DateTime64(3, 'UTC')}
      AND s.first_event_time < {to:DateTime64(3, 'UTC')}
      AND (v.replay_id = '' OR {include_replays:UInt8} = 1)
      AND NOT startsWith(v.run_id, 'runwatch-canary-')
      AND (v.violation_id, v.replay_id) NOT IN (
          SELECT violation_id, replay_id FROM {database:Identifier}.verdict_revisions FINAL WHERE action = 'retracted')
    GROUP BY day
) AS breaches ON runs.day = breaches.day
ORDER BY day
