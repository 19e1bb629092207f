import { createHash } from 'node:crypto';

/**
 * Deterministic verdict id: the same rule, run and detail always give the same id, so replays
 * and redeliveries overwrite instead of duplicating (ReplacingMergeTree keyed by this id).
 */
export function verdictId(rule: string, runId: string, detailKey = ''): string {
  return createHash('sha256').update(`${rule}\u0000${runId}\u0000${detailKey}`).digest('hex').slice(0, 32);
}
