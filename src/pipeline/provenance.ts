/** What produced a result row (SOC2 provenance): the contract, the other detection settings, the build. */
import type { DetectionConfig } from '../config/config.js';
import { builtInContract, canonicalJson, sha256, type LoadedContract } from '../contract/contract-file.js';
import { buildInfo } from '../observability/build.js';
import type { Provenance } from '../sinks/clickhouse-sink.js';

/** What verdicts depend on besides the contract (which has its own hash). */
export function configHash(detection: DetectionConfig): string {
  const { contract: _contract, ...settings } = detection;
  return sha256(canonicalJson(settings));
}

/** The provenance of a job's rows: its contract (given, or the built-in one as the flags make it). */
export function provenanceOf(detection: DetectionConfig, contract?: LoadedContract): Provenance {
  const judgedWith = contract ?? builtInContract(detection.thresholds, detection.suspiciousSkewMs);
  const build = buildInfo();
  return { contractHash: judgedWith.hash, configHash: configHash(detection), build: `${build.version}+${build.commit}` };
}
