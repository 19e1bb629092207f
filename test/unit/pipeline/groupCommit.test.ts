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

/**
 * Each write as "rows… | checkpoint seq" (where a checkpoint rides), each checkpoint completion
 * started, and ways to finish the write or the checkpoint in progress.
 */
function slowStore() {
  const writes: string[] = [];
  const checkpointsStarted: number[] = [];
  let finish: (() => void) | undefined;
  let finishCheckpoint: (() => void) | undefined;
  const write = (w: SinkWork): Promise<void> => {
    writes.push(`${w.verdicts.map((v) => (v.kind === 'late_event' ? v.runId : '?')).join(',')}${w.checkpoint === undefined ? '' : ` | cp ${(w.checkpoint as unknown as { seq: number }).seq}`}${w.provisional ? ' (provisional)' : ''}`);
    return new Promise<void>((resolve) => (finish = resolve));
  };
  const checkpoint = (c: Checkpoint): Promise<void> => {
    checkpointsStarted.push(c.seq);
    return new Promise<void>((resolve) => (finishCheckpoint = resolve));
  };
  const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const done = async (): Promise<void> => {
    finish?.();
    await settle();
  };
  const checkpointDone = async (): Promise<void> => {
    finishCheckpoint?.();
    await settle();
  };
  /** Checkpoints complete as soon as they start. */
  const instantCheckpoint = (c: Checkpoint): Promise<void> => {
    checkpointsStarted.push(c.seq);
    return Promise.resolve();
  };
  return { writes, checkpointsStarted, write, checkpoint, instantCheckpoint, done, checkpointDone };
}

describe('groupCommit (the sink stage of the monitor)', () => {
  it('writes the first piece at once, then what waited behind it as one write, each checkpoint after the rows before it and before any after it', async () => {
    const store = slowStore();
    const input = new Subject<SinkWork>();
    let completed = false;
    input.pipe(groupCommit(100, store.write, store.instantCheckpoint)).subscribe({ complete: () => (completed = true) });
    input.next(work('a', 1));
    expect(store.writes).toEqual(['a:0']);
    input.next(work('b', 2));
    input.next(work('c', 1, { checkpoint: 1 }));
    input.next(work('d', 1));
    input.next(work('e', 1, { checkpoint: 2 }));
    input.next(work('f', 1));
    await store.done();
    expect(store.writes).toEqual(['a:0', 'b:0,b:1,c:0 | cp 1']);
    expect(store.checkpointsStarted).toEqual([]); // cp 1 waits for its rows
    await store.done();
    expect(store.checkpointsStarted).toEqual([1]);
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
    input.pipe(groupCommit(3, store.write, store.instantCheckpoint)).subscribe();
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
    }, () => Promise.resolve())).subscribe({ error: (err: unknown) => (failure = err) });
    input.next(work('a', 1));
    input.next(work('b', 1));
    await new Promise((resolve) => setImmediate(resolve));
    expect(String(failure)).toContain('store refused');
    expect(writes).toEqual([1]);
  });
  it('completes a checkpoint beside the rows after it, checkpoints in order, and completes only after the last one', async () => {
    const store = slowStore();
    const input = new Subject<SinkWork>();
    let completed = false;
    input.pipe(groupCommit(100, store.write, store.checkpoint)).subscribe({ complete: () => (completed = true) });
    input.next(work('a', 1, { checkpoint: 1 }));
    input.next(work('b', 1));
    input.next(work('c', 1, { checkpoint: 2 }));
    input.complete();
    await store.done(); // a's rows are in: cp 1 starts, and b and c are written beside it
    expect(store.checkpointsStarted).toEqual([1]);
    expect(store.writes).toEqual(['a:0 | cp 1', 'b:0,c:0 | cp 2']);
    await store.done(); // c's rows are in, but cp 2 waits for cp 1
    expect(store.checkpointsStarted).toEqual([1]);
    await store.checkpointDone();
    expect(store.checkpointsStarted).toEqual([1, 2]);
    expect(completed).toBe(false);
    await store.checkpointDone();
    expect(completed).toBe(true);
  });

  it('fails with a checkpoint\'s error and starts no checkpoint after it', async () => {
    const input = new Subject<SinkWork>();
    const started: number[] = [];
    let failure: unknown;
    const store = slowStore();
    input.pipe(groupCommit(10, store.write, async (c) => {
      started.push(c.seq);
      throw new Error('checkpoint store refused');
    })).subscribe({ error: (err: unknown) => (failure = err) });
    input.next(work('a', 1, { checkpoint: 1 }));
    input.next(work('b', 1, { checkpoint: 2 }));
    await store.done();
    await store.done();
    expect(String(failure)).toContain('checkpoint store refused');
    expect(started).toEqual([1]);
  });
});
