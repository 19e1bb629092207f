import { grown, type NumericArray } from './typed-arrays.js';

/**
 * Columnar storage for per-run state: every open run gets a slot (a small integer), and each piece
 * of state is a column indexed by slot — a Float64Array for times, an Int32Array for counters and
 * flags, a plain array for strings. An open run then costs a few bytes per field instead of a
 * JavaScript object per rule (on 64-bit V8 every object has a 24-byte header and every time stamp
 * in an object field is a separate 16-byte heap number), and the hot loop allocates nothing.
 *
 * Rules declare their columns once, when they are created for a subscription; the table grows all
 * columns together. Slots are reused after release, so a rule must set every column it reads in
 * its `open` hook.
 */
export class RunTable {
  private capacity = 64;
  private nextSlot = 0;
  private readonly freeSlots: number[] = [];
  private readonly columns: Growable[] = [];
  private readonly refColumns: RefColumn<unknown>[] = [];
  private readonly listColumns: NumberLists[] = [];
  private readonly sparseColumns: SparseColumn<unknown>[] = [];

  /** Slots in use. */
  get size(): number {
    return this.nextSlot - this.freeSlots.length;
  }

  float64(): Float64Column {
    return this.add(new TypedColumn(new Float64Array(this.capacity)));
  }

  int32(): Int32Column {
    return this.add(new TypedColumn(new Int32Array(this.capacity)));
  }

  /** For flags and small codes (-128..127). */
  int8(): Int8Column {
    return this.add(new TypedColumn(new Int8Array(this.capacity)));
  }

  /** For what few runs ever have (a slot costs nothing until it has a value). */
  sparse<T>(): SparseColumn<T> {
    const column = new SparseColumn<T>();
    this.sparseColumns.push(column as SparseColumn<unknown>);
    return column;
  }

  refs<T>(): RefColumn<T> {
    const column = new RefColumn<T>();
    this.refColumns.push(column as RefColumn<unknown>);
    return column;
  }

  /** A list of (number, tag) pairs per slot, in insertion order. */
  lists(): NumberLists {
    const lists = new NumberLists(this.int32(), this.int32(), this.int32());
    this.listColumns.push(lists);
    return lists;
  }

  allocate(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    const slot = this.nextSlot;
    this.nextSlot += 1;
    if (slot >= this.capacity) {
      this.capacity *= 2;
      for (const column of this.columns) column.grow(this.capacity);
    }
    // A released slot's lists are empty already; a new one's heads read 0, a node another list may
    // use: releasing the slot without an open hook's reset would hand that node to the free list.
    for (const lists of this.listColumns) lists.reset(slot);
    return slot;
  }

  /**
   * Makes slot `to` a copy of slot `from` that shares nothing mutable with it: lists get nodes of
   * their own and arrays held in ref or sparse columns are copied (one level), so whatever is added
   * to the copy leaves the original as it was. For judging a run as it would be with more events.
   */
  copySlot(from: number, to: number): void {
    for (const column of this.columns) column.copy(from, to);
    for (const lists of this.listColumns) lists.copy(from, to); // after the heads were copied: re-made
    for (const column of this.refColumns) column.set(to, copied(column.get(from)));
    for (const column of this.sparseColumns) column.set(to, copied(column.get(from)));
  }

  /** Frees the slot: string columns drop their references, lists return their nodes to the pool. */
  release(slot: number): void {
    for (const column of this.refColumns) column.set(slot, undefined);
    for (const lists of this.listColumns) lists.clear(slot);
    for (const column of this.sparseColumns) column.set(slot, undefined);
    this.freeSlots.push(slot);
  }

  private add<C extends Growable>(column: C): C {
    this.columns.push(column);
    return column;
  }
}

interface Growable {
  grow(capacity: number): void;
  copy(from: number, to: number): void;
}

const copied = <T>(value: T): T => (Array.isArray(value) ? (value.slice() as T) : value);

/** A numeric column: `get(slot)` / `set(slot, value)`. (`values` is replaced when the table grows.) */
export class TypedColumn<A extends NumericArray> implements Growable {
  constructor(public values: A) {}

  get(slot: number): number {
    return this.values[slot] as number;
  }

  set(slot: number, value: number): void {
    this.values[slot] = value;
  }

  /** Adds `by` (default 1) to the slot's value. */
  add(slot: number, by = 1): void {
    this.values[slot] = (this.values[slot] as number) + by;
  }

  grow(capacity: number): void {
    this.values = grown(this.values, capacity);
  }

  copy(from: number, to: number): void {
    this.values[to] = this.values[from] as number;
  }
}

export type Float64Column = TypedColumn<Float64Array>;
export type Int32Column = TypedColumn<Int32Array>;
export type Int8Column = TypedColumn<Int8Array>;

export class SparseColumn<T> {
  private readonly values = new Map<number, T>();

  get(slot: number): T | undefined {
    return this.values.get(slot);
  }

  set(slot: number, value: T | undefined): void {
    if (value === undefined) this.values.delete(slot);
    else this.values.set(slot, value);
  }
}

export class RefColumn<T> {
  readonly values: (T | undefined)[] = [];

  get(slot: number): T | undefined {
    return this.values[slot];
  }

  set(slot: number, value: T | undefined): void {
    // Filling holes keeps the array packed (holey arrays are slower to read).
    while (this.values.length < slot) this.values.push(undefined);
    this.values[slot] = value;
  }
}

/** No node / empty list. */
const NIL = -1;

/**
 * Growable lists of (value, tag) number pairs, one per slot, in one shared pool of nodes (16 bytes
 * each) linked by index. Used for what a run accumulates per event: source offsets (tag: partition)
 * and delivery latencies.
 */
export class NumberLists {
  private pool = new Float64Array(256);
  private tags = new Int32Array(256);
  private links = new Int32Array(256);
  private used = 0;
  private freeNode = NIL;

  constructor(
    private readonly heads: Int32Column,
    private readonly tails: Int32Column,
    private readonly lengths: Int32Column,
  ) {}

  /** Makes the slot's list empty (call from `open`, after a slot may have been reused). */
  reset(slot: number): void {
    this.heads.values[slot] = NIL;
    this.tails.values[slot] = NIL;
    this.lengths.values[slot] = 0;
  }

  length(slot: number): number {
    return this.lengths.values[slot] as number;
  }

  push(slot: number, value: number, tag = 0): void {
    const node = this.newNode();
    this.pool[node] = value;
    this.tags[node] = tag;
    this.links[node] = NIL;
    const tail = this.tails.values[slot] as number;
    if (tail === NIL) this.heads.values[slot] = node;
    else this.links[tail] = node;
    this.tails.values[slot] = node;
    this.lengths.values[slot] = (this.lengths.values[slot] as number) + 1;
  }

  values(slot: number): number[] {
    const out = new Array<number>(this.length(slot));
    let i = 0;
    for (let node = this.heads.values[slot] as number; node !== NIL; node = this.links[node] as number) out[i++] = this.pool[node] as number;
    return out;
  }

  tagsOf(slot: number): number[] {
    const out = new Array<number>(this.length(slot));
    let i = 0;
    for (let node = this.heads.values[slot] as number; node !== NIL; node = this.links[node] as number) out[i++] = this.tags[node] as number;
    return out;
  }

  /** Copies the slot's values and tags into `values` and `tags` (reused scratch arrays; no allocation once they are long enough). Returns the length. */
  readInto(slot: number, values: number[], tags: number[]): number {
    let i = 0;
    for (let node = this.heads.values[slot] as number; node !== NIL; node = this.links[node] as number, i += 1) {
      values[i] = this.pool[node] as number;
      tags[i] = this.tags[node] as number;
    }
    return i;
  }

  /** Ordinal of the first (value, tag) pair at or after ordinal `from` in the slot's list, or -1. */
  indexOfPair(slot: number, value: number, tag: number, from = 0): number {
    let i = 0;
    for (let node = this.heads.values[slot] as number; node !== NIL; node = this.links[node] as number, i += 1) {
      if (i >= from && this.pool[node] === value && this.tags[node] === tag) return i;
    }
    return -1;
  }

  /** Gives slot `to` a list of its own with `from`'s pairs (whatever `to` held is dropped, not freed: call on a fresh slot). */
  copy(from: number, to: number): void {
    this.reset(to);
    for (let node = this.heads.values[from] as number; node !== NIL; node = this.links[node] as number) this.push(to, this.pool[node] as number, this.tags[node] as number);
  }

  /** Returns the slot's nodes to the pool (the table does this when it releases the slot). */
  clear(slot: number): void {
    const head = this.heads.values[slot] as number;
    if (head !== NIL) {
      this.links[this.tails.values[slot] as number] = this.freeNode;
      this.freeNode = head;
    }
    this.reset(slot);
  }

  private newNode(): number {
    if (this.freeNode !== NIL) {
      const node = this.freeNode;
      this.freeNode = this.links[node] as number;
      return node;
    }
    if (this.used === this.pool.length) {
      const capacity = this.pool.length * 2;
      this.pool = grown(this.pool, capacity);
      this.tags = grown(this.tags, capacity);
      this.links = grown(this.links, capacity);
    }
    const node = this.used;
    this.used += 1;
    return node;
  }
}
