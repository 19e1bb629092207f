-- ledger_heads: the last row of each chain of the completeness ledger (its sequence number and
-- hash), its size, and where it starts now (first_seq above 1: older rows are gone, by retention
-- or by hand). Keep the heads a report prints: a later verify that still finds the same
-- row with the same hash shows that nothing before it was rewritten (the chain ties each row to
-- all rows before it).
-- Run as is: clickhouse client --param_database=runwatch --format JSONEachRow < ledger_heads.sql
SELECT
    group_id,
    topic,
    replay_id,
    count() AS ledger_rows,
    min(ledger_seq) AS first_seq,
    min(committed_at) AS first_committed_at,
    max(ledger_seq) AS head_seq,
    argMax(row_hash, ledger_seq) AS head_hash,
    max(committed_at) AS last_committed_at
FROM {database:Identifier}.completeness_ledger
GROUP BY group_id, topic, replay_id
ORDER BY group_id, topic
