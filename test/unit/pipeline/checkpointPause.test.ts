/**
 * Checkpoints keep a pause after each one as long as it took (a minimum pause set from
 * measurement, as Flink's min-pause): when saving the state takes longer than the interval,
 * checkpoints must not run back to back. The real monitor, an in-memory source, a checkpoint
 * store whose saves take 150 ms, an interval of 20 ms.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { detectionConfigSchema } from '../../../src/config/config.js';
import type { SourceRecord } from '../../../src/contract/event.js';
import { createLogger } from '../../../src/observability/logger.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { runMonitor, type CheckpointSink, type RecordSource } from '../../../src/pipeline/monitor.js';
import type { Checkpoint } from '../../../src/sinks/checkpoint-store.js';

const SAVE_MS = 150;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('checkpoint pacing', () => {
  it('starts no interval checkpoint before as long as the last one took has passed since it completed', async () => {
    const records = new Subject<SourceRecord>();
    const source: RecordSource = { records$: () => records.asObservable(), commit: async () => undefined };
    const saves: Array<{ readonly reason: Checkpoint['reason']; readonly startedAt: number; endedAt: number }> = [];
    let seq = 0;
    const checkpoints: CheckpointSink = {
      takeSeq: () => (seq += 1),
      save: async (checkpoint) => {
        const save = { reason: checkpoint.reason, startedAt: Date.now(), endedAt: 0 };
        saves.push(save);
        await sleep(SAVE_MS);
        save.endedAt = Date.now();
        return { compressedBytes: 0 };
      },
    };
    const monitor = runMonitor({
      source,
      sink: { write: async () => undefined },
      detection: detectionConfigSchema.parse({}),
      sinkConfig: { batchRows: 100, flushIntervalMs: 10 },
      metrics: createMetrics(),
      logger: createLogger('silent'),
      checkpoints,
      checkpointIntervalMs: 20,
    });
    // Records keep arriving (dead letters will do: any record makes a checkpoint due).
    for (let offset = 0; offset < 300; offset += 1) {
      records.next({ topic: 't', partition: 0, offset, key: null, value: Buffer.from('not json'), timestampMs: 0 });
      await sleep(5);
    }
    records.complete();
    await monitor.done;
    const interval = saves.filter((s) => s.reason === 'interval');
    expect(interval.length).toBeGreaterThanOrEqual(3); // still checkpointing
    for (let i = 1; i < interval.length; i += 1) {
      const previous = interval[i - 1] as (typeof interval)[number];
      const pause = (interval[i] as (typeof interval)[number]).startedAt - previous.endedAt;
      expect(pause).toBeGreaterThanOrEqual(previous.endedAt - previous.startedAt);
    }
  });
});
