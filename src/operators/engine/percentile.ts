/**
 * Percentile by linear interpolation between closest ranks (fact sheet §2):
 * index = p/100 × (n − 1) into the sorted values. `sorted` must be ascending and non-empty.
 */
export function percentile(sorted: readonly number[], p: number): number {
  const index = (p / 100) * (sorted.length - 1);
  const lower = Math.floor(index);
  const upper = Math.ceil(index);
  const low = sorted[lower] as number;
  return low + ((sorted[upper] as number) - low) * (index - lower);
}
