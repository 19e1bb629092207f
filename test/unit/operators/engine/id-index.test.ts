import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ActiveIdIndex } from '../../../../src/operators/engine/id-index.js';

/** The specification the scanner must equal: maximal [A-Za-z0-9_-] runs of >= 8 chars that are known ids. */
function reference(known: ReadonlyMap<string, string>, text: string): [string, string][] {
  const found: [string, string][] = [];
  for (const match of text.matchAll(/[A-Za-z0-9_-]{8,}/g)) {
    const owner = known.get(match[0]);
    if (owner !== undefined) found.push([match[0], owner]);
  }
  return found;
}

const scanned = (index: ActiveIdIndex, text: string): [string, string][] => {
  const found: [string, string][] = [];
  index.scan(text, (id, owner) => found.push([id, owner]));
  return found;
};

describe('ActiveIdIndex', () => {
  it('finds known ids inside text, and only whole tokens', () => {
    const index = new ActiveIdIndex();
    index.register('user_42_abcdef', 'user_42_abcdef', 0);
    index.register('thread_42_1', 'user_42_abcdef', 0);
    expect(scanned(index, 'see user_42_abcdef, and thread_42_1!')).toEqual([
      ['user_42_abcdef', 'user_42_abcdef'],
      ['thread_42_1', 'user_42_abcdef'],
    ]);
    expect(scanned(index, 'xuser_42_abcdef thread_42_12 user_42_abcde')).toEqual([]);
    expect(scanned(index, 'é:user_42_abcdef')).toEqual([['user_42_abcdef', 'user_42_abcdef']]);
  });

  it('ignores ids shorter than the minimum and forgets ids after their active window', () => {
    const index = new ActiveIdIndex();
    index.register('short', 'u', 0);
    index.register('run_0000001', 'user_a_000', 0);
    index.register('run_0000002', 'user_b_000', 500);
    expect(index.size).toBe(2);
    index.register('run_0000001', 'user_a_000', 900); // re-registered: moves to the back
    index.expireBefore(1_600 - 1_000);
    expect(index.ownerOf('run_0000002')).toBeUndefined();
    expect(index.ownerOf('run_0000001')).toBe('user_a_000');
    index.expireBefore(2_000 - 1_000);
    expect(index.size).toBe(0);
    expect(scanned(index, 'run_0000001 run_0000002')).toEqual([]);
  });

  it('equals the regex specification on generated ids and texts, across registrations and expiry', () => {
    const idChar = fc.constantFrom(...'abcXYZ019_-');
    const id = fc.string({ unit: idChar, minLength: 6, maxLength: 14 });
    const separator = fc.constantFrom(' ', ',', '.', ':', '/', 'é', '"', '\n');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(id, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2_000 })), { maxLength: 30 }),
        fc.array(fc.oneof(id, separator, fc.string({ maxLength: 6 })), { maxLength: 40 }),
        fc.integer({ min: 0, max: 3_000 }),
        (registrations, pieces, expireAt) => {
          const index = new ActiveIdIndex();
          const latest = new Map<string, { owner: string; seenMs: number }>();
          let clock = 0;
          for (const [value, owner, dt] of registrations) {
            clock += dt;
            index.register(value, `owner${owner}`, clock);
            if (value.length >= 8) {
              latest.delete(value);
              latest.set(value, { owner: `owner${owner}`, seenMs: clock });
            }
          }
          index.expireBefore(expireAt - 1_000);
          const known = new Map([...latest].filter(([, e]) => e.seenMs >= expireAt - 1_000).map(([k, e]) => [k, e.owner]));
          const text = pieces.join('');
          expect(scanned(index, text)).toEqual(reference(known, text));
          expect(index.size).toBe(known.size);
        },
      ),
      { numRuns: 500 },
    );
  });
});
