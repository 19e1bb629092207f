/**
 * An append-only list of numbers that grows by doubling from one slot. Per-run lists are short
 * (5–15 entries) and there can be 100k open runs: V8 grows a pushed-to array to 17 slots at once,
 * which would cost more than everything else a run keeps.
 */
export interface CompactNumbers {
  values: number[];
  length: number;
}

export function compactNumbers(first: number): CompactNumbers {
  return { values: [first], length: 1 };
}

export function pushNumber(list: CompactNumbers, value: number): void {
  if (list.length === list.values.length) {
    const grown = new Array<number>(list.length === 0 ? 1 : list.length * 2);
    for (let i = 0; i < list.length; i += 1) grown[i] = list.values[i] as number;
    list.values = grown;
  }
  list.values[list.length] = value;
  list.length += 1;
}

export function numbersOf(list: CompactNumbers): number[] {
  return list.values.slice(0, list.length);
}
