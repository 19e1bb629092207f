-- Provisional rows (docs/architecture.md, "Provisional rows at the end of a bounded read").
-- A bounded read judges the runs and user windows cut by the end of its input with what they have;
-- those rows carry the consumer group that wrote them in provisional_of ('' for final rows). When
-- the same group reads on, it restores the state from before that flush, deletes its provisional
-- rows and judges those runs again once they are final, so no stale verdict of a cut run lingers.
ALTER TABLE ${database}.violations ADD COLUMN IF NOT EXISTS provisional_of LowCardinality(String) DEFAULT '';
ALTER TABLE ${database}.run_summaries ADD COLUMN IF NOT EXISTS provisional_of LowCardinality(String) DEFAULT '';
ALTER TABLE ${database}.user_grades ADD COLUMN IF NOT EXISTS provisional_of LowCardinality(String) DEFAULT '';
