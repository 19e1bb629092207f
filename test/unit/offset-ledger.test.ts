import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OffsetLedger } from '../../src/pipeline/offset-ledger.js';

describe('OffsetLedger', () => {
  it('commits up to the first record that is not durable yet, per partition', () => {
    const ledger = new OffsetLedger();
    for (const offset of [0, 1, 2, 3]) ledger.track(0, offset);
    ledger.track(1, 10);
    expect(ledger.committable()).toEqual(new Map([[0, 0], [1, 10]]));
    ledger.done(0, 1);
    ledger.done(0, 0);
    ledger.done(0, 3); // 2 still open: 3 must wait
    expect(ledger.committable().get(0)).toBe(2);
    ledger.done(0, 2);
    ledger.done(1, 10);
    expect(ledger.committable()).toEqual(new Map([[0, 4], [1, 11]]));
  });

  it('never commits past an open record, whatever the completion order (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 300 }).map((xs) => [...new Set(xs)].sort((a, b) => a - b)), fc.integer(), (offsets, seed) => {
        const ledger = new OffsetLedger();
        offsets.forEach((o) => ledger.track(0, o));
        const order = [...offsets].sort((a, b) => ((a * 7919 + seed) % 101) - ((b * 7919 + seed) % 101));
        const done = new Set<number>();
        for (const o of order) {
          ledger.done(0, o);
          done.add(o);
          const next = ledger.committable().get(0) as number;
          const firstOpen = offsets.find((x) => !done.has(x));
          expect(next).toBe(firstOpen ?? (offsets.at(-1) as number) + 1);
        }
      }),
    );
  });
});
