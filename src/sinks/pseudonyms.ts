/**
 * Pseudonymous user ids in the store (`monitor --hash-user-ids`, docs/audit.md): every user id a
 * result row holds, in its column or named in a verdict's detail, is replaced by a keyed hash
 * (HMAC-SHA256 with RUNWATCH_USER_ID_KEY). The same user gets the same pseudonym under the same
 * key, so counts per user, joins and re-written rows stay exact; without the key it cannot be
 * turned back, or guessed from a list of ids.
 */
import { createHmac } from 'node:crypto';

/** Enough hex digits that two users never share a pseudonym in practice (128 bits). */
const DIGITS = 32;
/** Pseudonyms remembered, then forgotten at once (recomputing one is cheap). */
const CACHE_LIMIT = 100_000;
/** Characters an id can continue with: an occurrence inside a longer token is not that id. */
const ID_CHAR = /[A-Za-z0-9_\-.:@]/;

export class UserIdPseudonyms {
  private readonly cache = new Map<string, string>();

  constructor(private readonly key: string) {}

  /** The pseudonym of a user id ('' stays '': no user). */
  of(userId: string): string {
    if (userId === '') return '';
    let pseudonym = this.cache.get(userId);
    if (pseudonym === undefined) {
      pseudonym = `u_${createHmac('sha256', this.key).update(userId, 'utf8').digest('hex').slice(0, DIGITS)}`;
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(userId, pseudonym);
    }
    return pseudonym;
  }

  /** `text` with every whole occurrence of these user ids replaced by its pseudonym (longest ids first). */
  inText(text: string, userIds: readonly string[]): string {
    let out = text;
    for (const id of [...new Set(userIds)].filter((u) => u !== '').sort((a, b) => b.length - a.length)) out = replaceWhole(out, id, this.of(id));
    return out;
  }
}

function replaceWhole(text: string, id: string, by: string): string {
  let out = '';
  let from = 0;
  for (let at = text.indexOf(id); at >= 0; at = text.indexOf(id, at + id.length)) {
    const before = at === 0 ? '' : (text[at - 1] as string);
    const after = text[at + id.length] ?? '';
    if ((before !== '' && ID_CHAR.test(before)) || (after !== '' && ID_CHAR.test(after))) continue;
    out += text.slice(from, at) + by;
    from = at + id.length;
  }
  return out + text.slice(from);
}
