/** A binary min-heap on a numeric priority: O(log n) push/pop, used for event-time timers. */
export class MinHeap<T> {
  private readonly priorities: number[] = [];
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  push(priority: number, item: T): void {
    this.priorities.push(priority);
    this.items.push(item);
    this.siftUp(this.items.length - 1);
  }

  /** Priority of the smallest entry, or +Infinity when empty. */
  peekPriority(): number {
    return this.priorities[0] ?? Number.POSITIVE_INFINITY;
  }

  pop(): T | undefined {
    const n = this.items.length;
    if (n === 0) return undefined;
    const top = this.items[0];
    const lastItem = this.items.pop() as T;
    const lastPriority = this.priorities.pop() as number;
    if (n > 1) {
      this.items[0] = lastItem;
      this.priorities[0] = lastPriority;
      this.siftDown(0);
    }
    return top;
  }

  clear(): void {
    this.items.length = 0;
    this.priorities.length = 0;
  }

  private siftUp(index: number): void {
    const { priorities, items } = this;
    const priority = priorities[index] as number;
    const item = items[index] as T;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentPriority = priorities[parent] as number;
      if (parentPriority <= priority) break;
      priorities[index] = parentPriority;
      items[index] = items[parent] as T;
      index = parent;
    }
    priorities[index] = priority;
    items[index] = item;
  }

  private siftDown(index: number): void {
    const { priorities, items } = this;
    const n = items.length;
    const priority = priorities[index] as number;
    const item = items[index] as T;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && (priorities[right] as number) < (priorities[left] as number) ? right : left;
      const childPriority = priorities[child] as number;
      if (childPriority >= priority) break;
      priorities[index] = childPriority;
      items[index] = items[child] as T;
      index = child;
    }
    priorities[index] = priority;
    items[index] = item;
  }
}
