-- ledger_anchors: chain heads kept from an earlier audit (ledger_seq, row_hash), checked against the
-- ledger now. Each row returned is a kept head that is no longer there with the same hash: the
-- chain up to it was rewritten, or rows were deleted from it. Empty: every kept head is intact, so
-- nothing up to it changed (each hash covers every row before it).
-- Run as is: clickhouse client --param_database=runwatch
--   --param_heads="[(1234,'9f2c...')]" --format JSONEachRow < ledger_anchors.sql
SELECT
    kept.ledger_seq AS ledger_seq,
    kept.row_hash AS row_hash,
    arraySort(arrayFilter(h -> h != '', groupArray(now.row_hash))) AS hashes_now
FROM
(
    SELECT head.1 AS ledger_seq, head.2 AS row_hash
    FROM (SELECT arrayJoin({heads:Array(Tuple(UInt64, String))}) AS head)
) AS kept
LEFT JOIN (SELECT ledger_seq, row_hash FROM {database:Identifier}.completeness_ledger) AS now ON kept.ledger_seq = now.ledger_seq
GROUP BY kept.ledger_seq, kept.row_hash
HAVING NOT has(groupArray(now.row_hash), kept.row_hash)
ORDER BY ledger_seq, row_hash
