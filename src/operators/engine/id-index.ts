import { grown } from './typed-arrays.js';

/** Characters an id token is made of: [A-Za-z0-9_-]. Anything else separates tokens. */
const TOKEN_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c += 1) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9_-]/.test(ch)) TOKEN_CHAR[c] = 1;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const FILTER_BITS = 20;
const FILTER_MASK = (1 << FILTER_BITS) - 1;
const NO_ENTRY = -1;

/** FNV-1a over the UTF-16 code units of `text`: the same value the scanner computes for a token. */
function tokenHash(text: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < text.length; i += 1) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h;
}

/**
 * Ids (user, thread, run) of recently active users, mapped to their owner, for finding one user's
 * ids inside another user's content.
 *
 * Scanning walks the text once, hashing each token ([A-Za-z0-9_-] run of at least `minIdLength`)
 * as it goes, and probes a counting filter of the hashes of all known ids: only a token whose hash
 * is known is cut out of the text and looked up. The cost grows with the size of the content,
 * never with the number of users, and an ordinary token costs no allocation.
 *
 * Entries expire when the caller says (`expireBefore`: the window is the caller's setting, not
 * state, so a checkpoint restored under another window follows the new one). They sit in a
 * doubly linked list in registration order (re-registering moves an id to the back), stored in
 * typed arrays, so expiry pops from the front and an entry costs a few words, not an object.
 */
export class ActiveIdIndex {
  private readonly entryOf = new Map<string, number>();
  /** Counts of known ids per hash bucket (a counting filter: entries can be removed). */
  private readonly filter = new Uint16Array(1 << FILTER_BITS);
  private ids: (string | undefined)[] = [];
  private owners: (string | undefined)[] = [];
  private seenMs = new Float64Array(16);
  private hashes = new Int32Array(16);
  private prev = new Int32Array(16);
  private next = new Int32Array(16);
  private head = NO_ENTRY;
  private tail = NO_ENTRY;
  private freeList: number[] = [];

  constructor(
    /** Shorter tokens are never ids (avoids matching ordinary words such as "system"). */
    readonly minIdLength = 8,
  ) {}

  register(id: string, owner: string, seenMs: number): void {
    if (id.length < this.minIdLength) return;
    const existing = this.entryOf.get(id);
    if (existing !== undefined) {
      this.owners[existing] = owner;
      this.seenMs[existing] = seenMs;
      this.unlink(existing);
      this.append(existing);
      return;
    }
    const entry = this.allocate();
    const hash = tokenHash(id);
    this.ids[entry] = id;
    this.owners[entry] = owner;
    this.seenMs[entry] = seenMs;
    this.hashes[entry] = hash;
    const bucket = hash & FILTER_MASK;
    if (this.filter[bucket] !== 0xffff) this.filter[bucket] = (this.filter[bucket] as number) + 1; // saturated buckets stay set
    this.entryOf.set(id, entry);
    this.append(entry);
  }

  ownerOf(id: string): string | undefined {
    const entry = this.entryOf.get(id);
    return entry === undefined ? undefined : this.owners[entry];
  }

  /** Forgets every id last registered before `cutoffMs`. */
  expireBefore(cutoffMs: number): void {
    const before = cutoffMs;
    while (this.head !== NO_ENTRY && (this.seenMs[this.head] as number) < before) this.remove(this.head);
  }

  get size(): number {
    return this.entryOf.size;
  }

  /** Calls `found` for each id-like token of `text` ([A-Za-z0-9_-] runs) that is a known id. */
  scan(text: string, found: (id: string, owner: string) => void): void {
    const min = this.minIdLength;
    const n = text.length;
    if (n < min) return;
    const filter = this.filter;
    let hash = FNV_OFFSET;
    let start = 0;
    for (let i = 0; i <= n; i += 1) {
      const c = i < n ? text.charCodeAt(i) : 0;
      if (c < 128 && TOKEN_CHAR[c] === 1) {
        hash = Math.imul(hash ^ c, FNV_PRIME);
        continue;
      }
      if (i - start >= min && filter[hash & FILTER_MASK] !== 0) {
        const token = text.slice(start, i);
        const entry = this.entryOf.get(token);
        if (entry !== undefined) found(token, this.owners[entry] as string);
      }
      hash = FNV_OFFSET;
      start = i + 1;
    }
  }

  private allocate(): number {
    const reused = this.freeList.pop();
    if (reused !== undefined) return reused;
    const entry = this.ids.length;
    this.ids.push(undefined);
    this.owners.push(undefined);
    if (entry >= this.seenMs.length) {
      const capacity = this.seenMs.length * 2;
      this.seenMs = grown(this.seenMs, capacity);
      this.hashes = grown(this.hashes, capacity);
      this.prev = grown(this.prev, capacity);
      this.next = grown(this.next, capacity);
    }
    return entry;
  }

  private remove(entry: number): void {
    const bucket = (this.hashes[entry] as number) & FILTER_MASK;
    const count = this.filter[bucket] as number;
    if (count !== 0xffff) this.filter[bucket] = count - 1;
    this.entryOf.delete(this.ids[entry] as string);
    this.unlink(entry);
    this.ids[entry] = undefined;
    this.owners[entry] = undefined;
    this.freeList.push(entry);
  }

  private append(entry: number): void {
    this.prev[entry] = this.tail;
    this.next[entry] = NO_ENTRY;
    if (this.tail === NO_ENTRY) this.head = entry;
    else this.next[this.tail] = entry;
    this.tail = entry;
  }

  private unlink(entry: number): void {
    const before = this.prev[entry] as number;
    const after = this.next[entry] as number;
    if (before === NO_ENTRY) this.head = after;
    else this.next[before] = after;
    if (after === NO_ENTRY) this.tail = before;
    else this.prev[after] = before;
  }
}

