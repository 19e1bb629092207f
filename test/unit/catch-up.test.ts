import { describe, expect, it } from 'vitest';
import { CatchUpTracker } from '../../src/consumers/catch-up.js';

const tracker = (fromBeginning = true) => new CatchUpTracker({ fromBeginning, freshForMs: 1_000 });
const answer = (partition: number, low: bigint, high: bigint, committed = -1n) => ({ partition, low, high, committed });

describe('CatchUpTracker', () => {
  it('counts a partition caught up only when its position reaches the end offset of a fresh answer', () => {
    const t = tracker();
    t.assign([0, 1]);
    expect(t.caughtUp(0)).toEqual([]); // no answer yet: nothing is caught up, however quiet
    t.passed(0, 9n); // offsets 0..9 passed on
    t.fetched(0, 10n, 100);
    t.fetched(1, 50n, 100);
    t.passed(1, 19n);
    expect(t.caughtUp(100)).toEqual([0]); // partition 1 lags (20 < 50)
    expect(t.caughtUp(1_100)).toEqual([0]);
    expect(t.caughtUp(1_101)).toEqual([]); // the answer is too old: the broker may have more by now
  });

  it('learns where a partition that delivered nothing starts: committed offset, else the earliest (fromBeginning)', () => {
    const t = tracker();
    t.assign([0, 1, 2, 3]);
    t.answered(0, [answer(0, 0n, 0n), answer(1, 0n, 7n), answer(2, 0n, 7n, 7n), answer(3, 5n, 9n, 2n)]);
    // 0: empty; 1: 7 records never read; 2: committed at the end; 3: committed before the earliest left (retention): starts at 5 < 9
    expect(t.caughtUp(10)).toEqual([0, 2]);
    expect(t.position(3)).toBe(5n);
  });

  it('without fromBeginning, a partition with no committed offset starts at the end offset first seen', () => {
    const t = tracker(false);
    t.assign([0]);
    t.answered(0, [answer(0, 0n, 7n)]);
    expect(t.caughtUp(0)).toEqual([0]);
    t.answered(100, [answer(0, 0n, 9n)]); // two records since: not read yet
    expect(t.caughtUp(100)).toEqual([]);
  });

  it('takes the latest information: an answer asked before a fetched batch cannot hide that batch’s end offset', () => {
    const t = tracker();
    t.assign([0]);
    t.passed(0, 9n);
    t.fetched(0, 20n, 200); // a batch at 200 says the end is 20
    t.answered(150, [answer(0, 0n, 10n, 5n)]); // an admin answer asked at 150 arrives later and says 10
    expect(t.caughtUp(210)).toEqual([]);
    t.answered(300, [answer(0, 0n, 10n, 5n)]); // asked later: the end is 10 (say, a transaction aborted)
    expect(t.caughtUp(310)).toEqual([0]);
  });

  it('trusts nothing learned before the consumer lost the broker', () => {
    const t = tracker();
    t.assign([0]);
    t.passed(0, 9n);
    t.fetched(0, 10n, 100);
    expect(t.caughtUp(150)).toEqual([0]);
    t.invalidate(160);
    expect(t.caughtUp(170)).toEqual([]);
    t.answered(200, [answer(0, 0n, 10n, 3n)]);
    expect(t.caughtUp(210)).toEqual([0]);
  });

  it('reports assigned partitions only, and asks again where a newly assigned partition starts', () => {
    const t = tracker();
    t.assign([0]);
    t.answered(0, [answer(0, 0n, 0n), answer(1, 0n, 4n, 4n)]);
    expect(t.caughtUp(10)).toEqual([0]);
    t.assign([1]);
    expect(t.position(1)).toBeUndefined();
    t.answered(20, [answer(0, 0n, 0n), answer(1, 0n, 6n, 4n)]); // another member left it at 4; 6 now
    expect(t.caughtUp(30)).toEqual([]);
    expect(t.assignedPartitions()).toEqual([1]);
  });

  it('says which records were passed on already (KafkaJS re-reads from the committed offset after a rejoin)', () => {
    const t = tracker();
    expect(t.isNew(0, 0n)).toBe(true);
    t.passed(0, 41n);
    expect(t.isNew(0, 41n)).toBe(false);
    expect(t.isNew(0, 42n)).toBe(true);
    expect(t.isNew(1, 0n)).toBe(true);
    t.passed(0, 10n); // an older batch reported late moves nothing back
    expect(t.position(0)).toBe(42n);
  });
});
