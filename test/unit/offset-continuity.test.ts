import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OffsetContinuity, type SkippedOffsets } from '../../src/consumers/offset-continuity.js';

/** Cuts [start, end) into consecutive batches of the given sizes (the rest in one last batch). */
function batchesOf(start: number, end: number, sizes: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let at = start;
  for (const size of sizes) {
    if (at >= end) break;
    const last = Math.min(end - 1, at + size - 1);
    out.push([at, last]);
    at = last + 1;
  }
  if (at < end) out.push([at, end - 1]);
  return out;
}

describe('OffsetContinuity', () => {
  it('reports nothing for a partition read in consecutive batches, however it is cut (property)', () => {
    fc.assert(
      fc.property(fc.nat(1_000), fc.integer({ min: 1, max: 2_000 }), fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 40 }), (start, length, sizes) => {
        const continuity = new OffsetContinuity();
        continuity.startsAt(0, BigInt(start));
        const skipped = batchesOf(start, start + length, sizes).map(([first, last]) => continuity.batch(0, BigInt(first), BigInt(last)));
        expect(skipped.filter((s) => s !== undefined)).toEqual([]);
      }),
    );
  });

  it('reports exactly the offsets jumped over, wherever the jump is (property)', () => {
    fc.assert(
      fc.property(fc.nat(1_000), fc.integer({ min: 2, max: 500 }), fc.integer({ min: 1, max: 100 }), fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 20 }), (start, beforeJump, jump, sizes) => {
        const continuity = new OffsetContinuity();
        continuity.startsAt(3, BigInt(start));
        const resumeAt = start + beforeJump + jump;
        const batches = [...batchesOf(start, start + beforeJump, sizes), ...batchesOf(resumeAt, resumeAt + 50, sizes)];
        const skipped = batches.map(([first, last]) => continuity.batch(3, BigInt(first), BigInt(last))).filter((s): s is SkippedOffsets => s !== undefined);
        expect(skipped).toEqual([{ partition: 3, from: BigInt(start + beforeJump), to: BigInt(resumeAt - 1) }]);
      }),
    );
  });

  it('reports records gone before the first batch when the start is known, and takes the first batch as the start otherwise', () => {
    const known = new OffsetContinuity();
    known.startsAt(0, 10n);
    expect(known.batch(0, 25n, 30n)).toEqual({ partition: 0, from: 10n, to: 24n });

    const unknown = new OffsetContinuity();
    expect(unknown.batch(1, 25n, 30n)).toBeUndefined();
    expect(unknown.batch(1, 31n, 40n)).toBeUndefined();
    expect(unknown.batch(1, 45n, 50n)).toEqual({ partition: 1, from: 41n, to: 44n });
  });

  it('keeps partitions apart, and takes a re-read of earlier offsets (after a rebalance) as no gap', () => {
    const continuity = new OffsetContinuity();
    continuity.startsAt(0, 0n);
    continuity.startsAt(1, 0n);
    expect(continuity.batch(0, 0n, 9n)).toBeUndefined();
    expect(continuity.batch(1, 0n, 4n)).toBeUndefined();
    expect(continuity.batch(0, 5n, 12n)).toBeUndefined(); // re-read from a committed offset
    expect(continuity.batch(0, 13n, 20n)).toBeUndefined();
    expect(continuity.batch(1, 5n, 5n)).toBeUndefined();
  });

  it('passes over a batch that held only records removed by compaction', () => {
    const continuity = new OffsetContinuity();
    continuity.startsAt(0, 0n);
    expect(continuity.batch(0, null, 0n)).toBeUndefined();
    expect(continuity.batch(0, 1n, 5n)).toBeUndefined();
  });
});
