import { grown } from './typed-arrays.js';

/**
 * A binary min-heap of event-time timers (due time, run slot, version), stored in typed arrays:
 * no object per timer. A timer is stale when its slot's version moved on; the engine skips those.
 */
export class TimerHeap {
  private dues = new Float64Array(1024);
  private slots = new Int32Array(1024);
  private versions = new Int32Array(1024);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Due time of the earliest timer, or +Infinity when empty. */
  peekDue(): number {
    return this.count === 0 ? Number.POSITIVE_INFINITY : (this.dues[0] as number);
  }

  peekSlot(): number {
    return this.slots[0] as number;
  }

  peekVersion(): number {
    return this.versions[0] as number;
  }

  // push and pop copy the three arrays inline on purpose: move/place helpers measured ~30 % slower
  // on the engine's own per-event cost (4.2–4.9 against 6.0–6.6 µs, 3 runs each).
  push(due: number, slot: number, version: number): void {
    if (this.count === this.dues.length) this.grow();
    const { dues, slots, versions } = this;
    let i = this.count;
    this.count += 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((dues[parent] as number) <= due) break;
      dues[i] = dues[parent] as number;
      slots[i] = slots[parent] as number;
      versions[i] = versions[parent] as number;
      i = parent;
    }
    dues[i] = due;
    slots[i] = slot;
    versions[i] = version;
  }

  /** Removes the earliest timer (read it with the peek methods first). */
  pop(): void {
    const { dues, slots, versions } = this;
    this.count -= 1;
    const n = this.count;
    if (n === 0) return;
    const due = dues[n] as number;
    const slot = slots[n] as number;
    const version = versions[n] as number;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && (dues[right] as number) < (dues[left] as number) ? right : left;
      if ((dues[child] as number) >= due) break;
      dues[i] = dues[child] as number;
      slots[i] = slots[child] as number;
      versions[i] = versions[child] as number;
      i = child;
    }
    dues[i] = due;
    slots[i] = slot;
    versions[i] = version;
  }

  clear(): void {
    this.count = 0;
  }

  private grow(): void {
    const capacity = this.dues.length * 2;
    this.dues = grown(this.dues, capacity);
    this.slots = grown(this.slots, capacity);
    this.versions = grown(this.versions, capacity);
  }
}
