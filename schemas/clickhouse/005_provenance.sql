-- Provenance of every result row (SOC2 evidence: what produced it): the run contract it was judged
-- with (sha256 of the contract, contracts/reference.yaml for the built-in one), a hash of the other
-- detection settings, and the build (version+commit). The input offsets are the source_* columns.
-- Rows written before this migration read ''.
ALTER TABLE ${database}.violations ADD COLUMN IF NOT EXISTS contract_hash LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS config_hash LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS build LowCardinality(String) DEFAULT '';
ALTER TABLE ${database}.run_summaries ADD COLUMN IF NOT EXISTS contract_hash LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS config_hash LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS build LowCardinality(String) DEFAULT '';
ALTER TABLE ${database}.user_grades ADD COLUMN IF NOT EXISTS contract_hash LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS config_hash LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS build LowCardinality(String) DEFAULT '';
ALTER TABLE ${database}.late_events ADD COLUMN IF NOT EXISTS contract_hash LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS config_hash LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS build LowCardinality(String) DEFAULT '';
ALTER TABLE ${database}.verdict_revisions ADD COLUMN IF NOT EXISTS contract_hash LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS config_hash LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS build LowCardinality(String) DEFAULT '';
ALTER TABLE ${database}.dead_letters ADD COLUMN IF NOT EXISTS contract_hash LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS config_hash LowCardinality(String) DEFAULT '', ADD COLUMN IF NOT EXISTS build LowCardinality(String) DEFAULT '';
