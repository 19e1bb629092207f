/**
 * Ids (user, thread, run) of recently active users, mapped to their owner, for finding one user's
 * ids inside another user's content. Lookup is one Map probe per token of the scanned text, so the
 * cost grows with the size of the content, never with the number of users.
 *
 * Entries expire `activeForMs` of event time after they were last registered; Map insertion order
 * is registration order (re-registering moves an id to the back), so expiry pops from the front.
 */
export class ActiveIdIndex {
  private readonly owners = new Map<string, { readonly owner: string; readonly seenMs: number }>();

  constructor(
    private readonly activeForMs: number,
    /** Shorter tokens are never ids (avoids matching ordinary words such as "system"). */
    readonly minIdLength = 8,
  ) {}

  register(id: string, owner: string, seenMs: number): void {
    if (id.length < this.minIdLength) return;
    this.owners.delete(id);
    this.owners.set(id, { owner, seenMs });
  }

  ownerOf(id: string): string | undefined {
    return this.owners.get(id)?.owner;
  }

  expire(nowMs: number): void {
    const before = nowMs - this.activeForMs;
    for (const [id, entry] of this.owners) {
      if (entry.seenMs >= before) break;
      this.owners.delete(id);
    }
  }

  get size(): number {
    return this.owners.size;
  }

  /** Calls `found` for each id-like token of `text` ([A-Za-z0-9_-] runs) that is a known id. */
  scan(text: string, found: (id: string, owner: string) => void): void {
    const n = text.length;
    let start = -1;
    for (let i = 0; i <= n; i += 1) {
      const c = i < n ? text.charCodeAt(i) : 32;
      const idChar = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45;
      if (idChar) {
        if (start < 0) start = i;
      } else if (start >= 0) {
        if (i - start >= this.minIdLength) {
          const token = text.slice(start, i);
          const entry = this.owners.get(token);
          if (entry !== undefined) found(token, entry.owner);
        }
        start = -1;
      }
    }
  }
}
