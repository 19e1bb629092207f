/**
 * How the oracle tests feed the system under test: records read as a Kafka consumer would read
 * them, normalized with normalizeRecord, through the real detector chain `detectVerdicts`.
 */
import { from, lastValueFrom, toArray } from 'rxjs';
import { detectionConfigSchema } from '../../src/config/config.js';
import type { AgentEvent } from '../../src/contract/event.js';
import { normalizeRecord } from '../../src/contract/normalize.js';
import type { Verdict } from '../../src/contract/verdict.js';
import { detectVerdicts } from '../../src/pipeline/detect.js';
import type { OracleReport } from './oracle.js';
import { judgeTraffic } from './oracle.js';
import { Prng, toSourceRecord, type Traffic, type WireRecord } from './producers.js';

export interface ReadPattern {
  readonly seed: number;
  /** Records per fetch: 1..maxChunk. */
  readonly maxChunk: number;
  /** One partition is fetched this far ahead (record time) of the others, as one big Kafka fetch can. */
  readonly leadAheadMs?: number;
}

/**
 * The order a consumer of every partition sees the records in: each partition in offset order,
 * partitions interleaved at random in chunks of random size; optionally one partition runs ahead.
 */
export function consumeLikeKafka(traffic: Traffic, pattern: ReadPattern): WireRecord[] {
  const rng = new Prng(pattern.seed);
  const queues = Array.from({ length: traffic.partitions }, (_, p) => traffic.records.filter((r) => r.partition === p).sort((a, b) => a.offset - b.offset));
  const next = queues.map(() => 0);
  const remaining = (p: number): boolean => (next[p] ?? 0) < (queues[p]?.length ?? 0);
  const head = (p: number): WireRecord | undefined => queues[p]?.[next[p] ?? 0];
  const lead = pattern.leadAheadMs === undefined ? undefined : rng.int(0, traffic.partitions - 1);
  const out: WireRecord[] = [];

  const read = (p: number, limitMs = Number.POSITIVE_INFINITY): void => {
    const chunk = rng.int(1, pattern.maxChunk);
    for (let i = 0; i < chunk && remaining(p); i++) {
      const record = head(p);
      if (record === undefined || record.timestampMs > limitMs) return;
      out.push(record);
      next[p] = (next[p] ?? 0) + 1;
    }
  };

  for (;;) {
    const open = queues.map((_, p) => p).filter(remaining);
    if (open.length === 0) return out;
    if (lead !== undefined && pattern.leadAheadMs !== undefined && remaining(lead)) {
      // The others' earliest pending record: the lead may be fetched up to leadAheadMs past it.
      const others = open.filter((p) => p !== lead);
      const frontier = Math.min(...others.map((p) => head(p)?.timestampMs ?? Number.POSITIVE_INFINITY));
      const leadHead = head(lead);
      if (leadHead !== undefined && leadHead.timestampMs <= frontier + pattern.leadAheadMs) {
        read(lead, frontier + pattern.leadAheadMs);
        continue;
      }
      read(rng.pick(others));
      continue;
    }
    read(rng.pick(open));
  }
}

/** The lifecycle events among the records (heartbeats and dead letters are not the chain's input). */
export function normalizeLifecycle(records: readonly WireRecord[]): AgentEvent[] {
  return records.flatMap((record) => {
    const result = normalizeRecord(toSourceRecord(record));
    return result.kind === 'lifecycle' ? [result.event] : [];
  });
}

/** The system under test, on reference defaults, as a replay: all verdicts once input ends. */
export function runChain(events: readonly AgentEvent[], partitions: number): Promise<Verdict[]> {
  const config = detectionConfigSchema.parse({});
  const partitionIds = Array.from({ length: partitions }, (_, p) => p);
  return lastValueFrom(from(events).pipe(detectVerdicts(config, partitionIds), toArray()));
}

/** The oracle over the same records (it does not care in which order they were read). */
export function judgeRecords(records: readonly WireRecord[]): OracleReport {
  return judgeTraffic(normalizeLifecycle(records));
}

/** The chain's verdicts in an order-free form, for comparing two interleavings (decision watermarks aside). */
export function canonicalVerdicts(verdicts: readonly Verdict[]): string[] {
  return verdicts
    .map((verdict) => {
      switch (verdict.kind) {
        case 'violation': {
          const { decidedAtWatermarkMs: _decided, ...violation } = verdict.violation;
          return `violation ${JSON.stringify(violation)}`;
        }
        case 'run_summary': {
          const { decidedAtWatermarkMs: _decided, ...summary } = verdict.summary;
          return `run_summary ${JSON.stringify(summary)}`;
        }
        default:
          return `${verdict.kind} ${JSON.stringify(verdict)}`;
      }
    })
    .sort();
}
