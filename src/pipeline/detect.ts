import { connect, merge, type Observable, type OperatorFunction } from 'rxjs';
import type { DetectionConfig } from '../config/config.js';
import type { AgentEvent } from '../contract/event.js';
import type { Verdict } from '../contract/verdict.js';
import { detectMissingEvents } from '../operators/detectMissingEvents.js';
import type { EventTimeHeartbeat, StreamItem } from '../operators/stream-item.js';
import { summarizeRuns } from '../operators/summarizeRuns.js';
import { withWatermark } from '../operators/withWatermark.js';

/**
 * The detector chain, as one pure operator: events (+ heartbeats in live mode) in, verdicts out.
 * No I/O and no clock: the same events in the same order always give the same verdicts.
 * `connect` multicasts the watermarked stream to every detector before it starts, so a
 * synchronous source (replay from an array) reaches all of them.
 */
export function detectVerdicts(config: DetectionConfig, partitions?: readonly number[]): OperatorFunction<AgentEvent | EventTimeHeartbeat, Verdict> {
  return (input: Observable<AgentEvent | EventTimeHeartbeat>) =>
    input.pipe(
      withWatermark({ maxOutOfOrdernessMs: config.maxOutOfOrdernessMs, ...(partitions === undefined ? {} : { partitions }) }),
      connect((items: Observable<StreamItem>) =>
        merge(items.pipe(detectMissingEvents({ runDeadlineMs: config.runDeadlineMs })), items.pipe(summarizeRuns({ runDeadlineMs: config.runDeadlineMs }))),
      ),
    );
}
