import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Verdict } from '../../../src/contract/verdict.js';
import type { Checkpoint } from '../../../src/sinks/checkpoint-store.js';
import { groupCommit, type SinkWork } from '../../../src/pipeline/monitor.js';

/** A piece of sink work with `rows` late-event rows named `name:i`, and maybe a checkpoint. */
function work(name: string, rows: number, options: { checkpoint?: number; provisional?: boolean } = {}): SinkWork {
  const verdicts: Verdict[] = Array.from({ length: rows }, (_, i) => ({ kind: 'late_event', runId: `${name}:${i}`, type: 'agent_thinking', eventTimeMs: 0, watermarkMs: 0, runState: 'closed', source: { topic: 't', partition: 0, offset: i } }));
  const checkpoint = options.checkpoint === undefined ? undefined : ({ seq: options.checkpoint } as unknown as Checkpoint);
  return { verdicts, deadLetters: [], checkpoint, provisional: options.provisional ?? false };
}

/** Each write as "rows… | checkpoint seq", and a way to finish the write in progress. */
function slowStore() {
  const writes: string[] = [];
  let finish: (() => void) | undefined;
  const write = (w: SinkWork): Promise<void> => {
    writes.push(`${w.verdicts.map((v) => (v.kind === 'late_event' ? v.runId : '?')).join(',')}${w.checkpoint === undefined ? '' : ` | cp ${(w.checkpoint as unknown as { seq: number }).seq}`}${w.provisional ? ' (provisional)' : ''}`);
    return new Promise<void>((resolve) => (finish = resolve));
  };
  const done = async (): Promise<void> => {
    finish?.();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { writes, write, done };
}

describe('groupCommit (the sink stage of the monitor)', () => {
  it('writes the first piece at once, then what waited behind it as one write, each checkpoint after the rows before it and before any after it', async () => {
    const store = slowStore();
    const input = new Subject<SinkWork>();
    let completed = false;
    input.pipe(groupCommit(100, store.write)).subscribe({ complete: () => (completed = true) });
    input.next(work('a', 1));
    expect(store.writes).toEqual(['a:0']);
    input.next(work('b', 2));
    input.next(work('c', 1, { checkpoint: 1 }));
    input.next(work('d', 1));
    input.next(work('e', 1, { checkpoint: 2 }));
    input.next(work('f', 1));
    await store.done();
    expect(store.writes).toEqual(['a:0', 'b:0,b:1,c:0 | cp 1']);
    await store.done();
    expect(store.writes.at(-1)).toBe('d:0,e:0 | cp 2');
    input.complete();
    expect(completed).toBe(false); // 'f' still to write
    await store.done();
    expect(store.writes.at(-1)).toBe('f:0');
    await store.done();
    expect(completed).toBe(true);
  });

  it('merges no more than maxRows rows, and never the end-of-input flush (provisional rows) with other pieces', async () => {
    const store = slowStore();
    const input = new Subject<SinkWork>();
    input.pipe(groupCommit(3, store.write)).subscribe();
    input.next(work('a', 1));
    input.next(work('b', 2));
    input.next(work('c', 2));
    input.next(work('p', 1, { provisional: true }));
    input.next(work('q', 1, { provisional: true, checkpoint: 9 }));
    for (let i = 0; i < 4; i += 1) await store.done();
    expect(store.writes).toEqual(['a:0', 'b:0,b:1', 'c:0,c:1', 'p:0,q:0 | cp 9 (provisional)']);
  });

  it('fails with the write\'s error and writes nothing after it', async () => {
    const input = new Subject<SinkWork>();
    const writes: number[] = [];
    let failure: unknown;
    input.pipe(groupCommit(10, async (w) => {
      writes.push(w.verdicts.length);
      throw new Error('store refused');
    })).subscribe({ error: (err: unknown) => (failure = err) });
    input.next(work('a', 1));
    input.next(work('b', 1));
    await new Promise((resolve) => setImmediate(resolve));
    expect(String(failure)).toContain('store refused');
    expect(writes).toEqual([1]);
  });
});
