-- missing_events_by_agent_tool: the share of runs judged without a required lifecycle event
-- (missing_events verdicts not retracted by a late event), per agent and per tool, over the runs of
-- a period (first event in [from, to)) that have stored events (--store-events: the agent and the
-- tools of a run come from its events). A run counts once per agent and once per tool it used.
-- Canary runs and (unless include_replays = 1) replays are left out.
-- Run as is: clickhouse client --param_database=runwatch --param_from='2026-01-01 00:00:00'
--   --param_to='2026-02-01 00:00:00' --param_include_replays=0 --format JSONEachRow < missing_events_by_agent_tool.sql
WITH
    period_runs AS
    (
        SELECT run_id, replay_id FROM {database:Identifier}.run_summaries FINAL
        WHERE first_event_time >= {from:DateTime64(3, 'UTC')} AND first_event_time < {to:DateTime64(3, 'UTC')}
          AND (replay_id = '' OR {include_replays:UInt8} = 1)
          AND NOT startsWith(run_id, 'runwatch-canary-')
    ),
    run_parts AS
    (
        SELECT
            run_id,
            replay_id,
            if(anyIf(agent_name, agent_name != '') = '', '(none)', anyIf(agent_name, agent_name != '')) AS agent,
            arrayFilter(t -> t != '', groupUniqArray(tool_name)) AS tools
        FROM {database:Identifier}.events FINAL
        WHERE placement != 'suspicious' AND (run_id, replay_id) IN period_runs
        GROUP BY run_id, replay_id
    ),
    missing AS
    (
        SELECT DISTINCT run_id, replay_id FROM {database:Identifier}.violations FINAL
        WHERE rule = 'missing_events' AND status = 'final' AND (run_id, replay_id) IN period_runs
          AND (violation_id, replay_id) NOT IN (
              SELECT violation_id, replay_id FROM {database:Identifier}.verdict_revisions FINAL WHERE action = 'retracted')
    ),
    flagged AS
    (
        SELECT r.run_id, r.agent, r.tools, (r.run_id, r.replay_id) IN missing AS has_missing FROM run_parts AS r
    )
SELECT dimension, name, runs, runs_with_missing_events, round(100 * runs_with_missing_events / runs, 3) AS missing_rate_pct
FROM
(
    SELECT 'agent' AS dimension, agent AS name, count() AS runs, countIf(has_missing) AS runs_with_missing_events FROM flagged GROUP BY agent
    UNION ALL
    SELECT 'tool' AS dimension, tool AS name, count() AS runs, countIf(has_missing) AS runs_with_missing_events FROM flagged ARRAY JOIN tools AS tool GROUP BY tool
)
ORDER BY dimension, name
