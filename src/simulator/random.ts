/**
 * A tiny seeded PRNG for the traffic simulator. Math.random() is never used in the simulator:
 * the same seed must give byte-identical traffic so that tests, demos and bug reports replay.
 *
 * mulberry32: 32-bit state, period 2^32, good enough statistical quality for test traffic and
 * fast (a few ns per draw), which matters when generating ~1M records.
 */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** Index drawn proportionally to non-negative weights (at least one > 0). */
  weighted(weights: readonly number[]): number;
  /** Exponentially distributed value with the given mean (Poisson-process spacing). */
  exponential(mean: number): number;
  /** Fisher-Yates shuffle, in place; returns the same array. */
  shuffle<T>(items: T[]): T[];
  /** `length` lowercase hex digits. */
  hex(length: number): string;
}

export function createRng(seed: number): Rng {
  // Coerce to uint32 so that any integer seed (negative, > 2^32) still maps to one stream.
  let state = seed >>> 0;

  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));

  return {
    next,
    int,
    chance: (p) => next() < p,
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new RangeError('pick from an empty array');
      return items[int(0, items.length - 1)] as T;
    },
    weighted(weights) {
      let total = 0;
      for (const w of weights) total += w;
      if (!(total > 0)) throw new RangeError('weighted pick needs a positive total weight');
      let r = next() * total;
      for (let i = 0; i < weights.length; i++) {
        r -= weights[i] ?? 0;
        if (r < 0) return i;
      }
      // Float rounding can leave r at ~0: fall back to the last index with weight.
      for (let i = weights.length - 1; i >= 0; i--) if ((weights[i] ?? 0) > 0) return i;
      return 0;
    },
    // 1 - next() is in (0, 1], so the log never sees 0.
    exponential: (mean) => -mean * Math.log(1 - next()),
    shuffle<T>(items: T[]): T[] {
      for (let i = items.length - 1; i > 0; i--) {
        const j = int(0, i);
        const tmp = items[i] as T;
        items[i] = items[j] as T;
        items[j] = tmp;
      }
      return items;
    },
    hex(length) {
      let out = '';
      // 8 hex digits per draw: a draw carries 32 random bits.
      while (out.length < length) out += Math.floor(next() * 4294967296).toString(16).padStart(8, '0');
      return out.slice(0, length);
    },
  };
}
