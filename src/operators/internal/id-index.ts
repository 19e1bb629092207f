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
  private readonly tokenPattern: RegExp;

  constructor(
    private readonly activeForMs: number,
    /** Shorter tokens are never ids (avoids matching ordinary words such as "system"). */
    readonly minIdLength = 8,
  ) {
    this.tokenPattern = new RegExp(`[A-Za-z0-9_-]{${minIdLength},}`, 'g');
  }

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
    // The regex engine finds candidate tokens far faster than a char loop in JS.
    const tokens = this.tokenPattern;
    tokens.lastIndex = 0;
    for (let match = tokens.exec(text); match !== null; match = tokens.exec(text)) {
      const entry = this.owners.get(match[0]);
      if (entry !== undefined) found(match[0], entry.owner);
    }
  }
}
