import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RunTable } from '../../../../src/operators/engine/run-table.js';
import { TimerHeap } from '../../../../src/operators/engine/timer-heap.js';

describe('RunTable', () => {
  it('keeps each slot\'s columns and lists apart through growth, release and reuse (model-based)', () => {
    type Op = { kind: 'open' } | { kind: 'push'; pick: number; value: number } | { kind: 'close'; pick: number };
    // Weighted towards opening and pushing, so columns (64 slots) and the node pool (256) must grow.
    const op: fc.Arbitrary<Op> = fc.oneof(
      { arbitrary: fc.constant({ kind: 'open' as const }), weight: 3 },
      { arbitrary: fc.record({ kind: fc.constant('push' as const), pick: fc.nat(), value: fc.double({ noNaN: true }) }), weight: 5 },
      { arbitrary: fc.record({ kind: fc.constant('close' as const), pick: fc.nat() }), weight: 2 },
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 200, maxLength: 1_500 }), (ops) => {
        const table = new RunTable();
        const times = table.float64();
        const names = table.refs<string>();
        const lists = table.lists();
        const model = new Map<number, { time: number; name: string; values: number[] }>();
        let opened = 0;
        for (const o of ops) {
          const live = [...model.keys()];
          if (o.kind === 'open') {
            const slot = table.allocate();
            expect(model.has(slot)).toBe(false);
            expect(names.get(slot)).toBeUndefined(); // a reused slot starts without the old run's strings
            times.values[slot] = opened;
            names.set(slot, `run-${opened}`);
            lists.reset(slot);
            model.set(slot, { time: opened, name: `run-${opened}`, values: [] });
            opened += 1;
          } else if (live.length > 0) {
            const slot = live[o.pick % live.length] as number;
            if (o.kind === 'push') {
              lists.push(slot, o.value, slot);
              model.get(slot)?.values.push(o.value);
            } else {
              table.release(slot);
              model.delete(slot);
            }
          }
        }
        expect(table.size).toBe(model.size);
        for (const [slot, run] of model) {
          expect(times.values[slot]).toBe(run.time);
          expect(names.get(slot)).toBe(run.name);
          expect(lists.values(slot)).toEqual(run.values);
          expect(lists.tagsOf(slot)).toEqual(run.values.map(() => slot));
          expect(lists.length(slot)).toBe(run.values.length);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('sparse columns hold values only for the slots that have one, and drop them on release', () => {
    const table = new RunTable();
    const rare = table.sparse<string[]>();
    const a = table.allocate();
    const b = table.allocate();
    rare.set(a, ['x']);
    expect(rare.get(a)).toEqual(['x']);
    expect(rare.get(b)).toBeUndefined();
    table.release(a);
    expect(rare.get(a)).toBeUndefined();
  });
});

describe('RunTable.copySlot', () => {
  it('makes a copy that shares nothing mutable: what is added to the copy or the original stays out of the other, and releasing the copy frees only its own nodes', () => {
    const table = new RunTable();
    const times = table.float64();
    const ids = table.refs<string[]>();
    const extra = table.sparse<number[]>();
    const lists = table.lists();
    const original = table.allocate();
    times.set(original, 7);
    ids.set(original, ['a']);
    extra.set(original, [1]);
    lists.push(original, 10, 1);
    lists.push(original, 11, 2);
    const copy = table.allocate();
    table.copySlot(original, copy);
    expect([times.get(copy), ids.get(copy), extra.get(copy), lists.values(copy), lists.tagsOf(copy)]).toEqual([7, ['a'], [1], [10, 11], [1, 2]]);
    ids.get(copy)?.push('b');
    extra.get(copy)?.push(2);
    lists.push(copy, 12, 3);
    times.set(copy, 8);
    lists.push(original, 13, 4);
    expect([times.get(original), ids.get(original), extra.get(original), lists.values(original)]).toEqual([7, ['a'], [1], [10, 11, 13]]);
    expect(lists.values(copy)).toEqual([10, 11, 12]);
    table.release(copy);
    // The freed nodes are reused by a new slot without touching the original's list.
    const next = table.allocate();
    for (let i = 0; i < 5; i += 1) lists.push(next, 100 + i);
    expect(lists.values(original)).toEqual([10, 11, 13]);
  });

  it('gives a slot never used before empty lists (its heads do not point at node 0, which another list uses)', () => {
    const table = new RunTable();
    const lists = table.lists();
    const first = table.allocate();
    lists.push(first, 1);
    const fresh = table.allocate(); // never reset by an open hook
    expect(lists.length(fresh)).toBe(0);
    table.release(fresh);
    const again = table.allocate();
    lists.push(again, 2);
    expect(lists.values(first)).toEqual([1]);
  });
});

describe('TimerHeap', () => {
  it('pops timers in due order, whatever the push order (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.double({ noNaN: true, min: -1e15, max: 1e15 }), fc.nat(1_000_000)), { maxLength: 3_000 }), (entries) => {
        const heap = new TimerHeap();
        entries.forEach(([due, slot], version) => heap.push(due, slot, version));
        const popped: number[] = [];
        const seen = new Set<number>();
        while (heap.size > 0) {
          popped.push(heap.peekDue());
          const version = heap.peekVersion();
          expect(heap.peekSlot()).toBe((entries[version] as [number, number])[1]); // slot and version travel together
          seen.add(version);
          heap.pop();
        }
        // -0 and 0 are the same due time, in either order (toEqual tells them apart; a heap need not keep them in push order).
        const zero = (due: number): number => (due === 0 ? 0 : due);
        expect(popped.map(zero)).toEqual(entries.map(([due]) => zero(due)).sort((x, y) => x - y));
        expect(seen.size).toBe(entries.length);
        expect(heap.peekDue()).toBe(Number.POSITIVE_INFINITY);
      }),
      { numRuns: 200 },
    );
  });
});
