import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UserIdPseudonyms } from '../../../src/sinks/pseudonyms.js';

const KEY = 'a-key-of-enough-length';

describe('user id pseudonyms', () => {
  it('are keyed, stable and opaque: same id and key, same pseudonym; another key, another one; no user stays none', () => {
    const p = new UserIdPseudonyms(KEY);
    expect(p.of('user-7')).toMatch(/^u_[0-9a-f]{32}$/);
    expect(p.of('user-7')).toBe(new UserIdPseudonyms(KEY).of('user-7'));
    expect(p.of('user-7')).not.toBe(new UserIdPseudonyms(`${KEY}!`).of('user-7'));
    expect(p.of('user-7')).not.toBe(p.of('user-8'));
    expect(p.of('')).toBe('');
  });

  it('replace whole ids in a detail, never part of a longer id', () => {
    const p = new UserIdPseudonyms(KEY);
    const detail = "thread t-u1 belongs to user u1 but run run-u12 is user u12's";
    expect(p.inText(detail, ['u1', 'u12'])).toBe(`thread t-u1 belongs to user ${p.of('u1')} but run run-u12 is user ${p.of('u12')}'s`);
    expect(p.inText('agent_thinking of user a mentions a, an id of user b', ['a', 'b'])).toBe(`agent_thinking of user ${p.of('a')} mentions ${p.of('a')}, an id of user ${p.of('b')}`);
  });

  it('leave no named id behind as a whole token (property)', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,11}$/);
    fc.assert(
      fc.property(fc.uniqueArray(id, { minLength: 1, maxLength: 4 }), fc.array(fc.constantFrom(' ', "'s ", ', ', ' user '), { minLength: 1, maxLength: 6 }), (ids, glue) => {
        const p = new UserIdPseudonyms(KEY);
        const text = ids.map((u, i) => `${u}${glue[i % glue.length] ?? ' '}`).join('');
        const out = p.inText(text, ids);
        const tokens = out.split(/[^A-Za-z0-9_\-.:@]+/);
        for (const u of ids) expect(tokens).not.toContain(u);
        for (const u of ids) expect(out).toContain(p.of(u));
      }),
      { numRuns: 300 },
    );
  });
});
