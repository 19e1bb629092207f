import { createHash } from 'node:crypto';

/**
 * Deterministic verdict id: the same rule, run and detail always give the same id, so replays
 * and redeliveries overwrite instead of duplicating (ReplacingMergeTree keyed by this id).
 */
export function verdictId(rule: string, runId: string, detailKey = ''): string {
  return createHash('sha256').update(`${rule}\u0000${runId}\u0000${detailKey}`).digest('hex').slice(0, 32);
}

/**
 * The detail key of a violation's id: the offset of the event it is about (and the rule's own key,
 * when one event can carry several), else the rule's key for the whole run. One definition, so an
 * early (provisional) verdict and the final one share their id.
 */
export function violationKey(position: { readonly partition: number; readonly offset: number } | undefined, key: string | undefined): string {
  if (position === undefined) return key ?? '';
  return key === undefined ? `${position.partition}:${position.offset}` : `${position.partition}:${position.offset}:${key}`;
}
