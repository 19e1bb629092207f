/**
 * What a replay of a range reads and which runs it judges (runwatch replay).
 *
 * Time range [from, to): the runs whose first event (event time) lies in it are judged, and only
 * they, each exactly as the live monitor judged it. For that the read starts early enough and ends
 * late enough:
 * - lead-in: the isolation rule remembers thread owners and active ids for `activeUserWindowMs`,
 *   and a run open at `from` needs its whole deadline; so reading starts at the first offset whose
 *   record time is >= from - (active-id window + run deadline + allowed lateness + out-of-orderness);
 * - tail: a run starting just before `to` ends by `to` + deadline, is final once the watermark
 *   passes that by the allowed lateness, and its last events may be delivered up to the critical
 *   latency late; reading ends at the first offset whose record time is >= to + all of that.
 * Offsets come from the broker's offsets-for-times; the live group's offsets are never touched.
 *
 * Offset range (partition:offset,... on both sides): exactly those records are read, and the runs
 * all of whose records lie inside, with their start event, not cut by the end, are judged; no user
 * grade (windows are times, not offsets).
 */
import type { Admin } from 'kafkajs';
import type { DetectionConfig } from '../config/config.js';
import type { RunSummary, UserGrade } from '../contract/verdict.js';
import { RunwatchError } from '../errors.js';
import type { KeepRunsOptions } from '../operators/keepRuns.js';
import { contractFor } from './detect.js';

export type RangeBound =
  | { readonly kind: 'time'; readonly ms: number; readonly text: string }
  | { readonly kind: 'offsets'; readonly offsets: ReadonlyMap<number, bigint>; readonly text: string };

const OFFSETS = /^\s*\d+\s*:\s*\d+\s*(,\s*\d+\s*:\s*\d+\s*)*$/;
/** A date and a time, with an optional offset: what Date.parse reads the same everywhere. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/** `--from`/`--to`: an ISO-8601 time (UTC unless it says otherwise) or partition:offset,... */
export function parseRangeBound(text: string, flag: string): RangeBound {
  const value = text.trim();
  if (OFFSETS.test(value)) {
    const offsets = new Map<number, bigint>();
    for (const part of value.split(',')) {
      const [partition, offset] = part.split(':').map((v) => v.trim());
      if (offsets.has(Number(partition))) throw invalid(flag, text, `partition ${partition} is given twice`);
      offsets.set(Number(partition), BigInt(offset ?? '0'));
    }
    return { kind: 'offsets', offsets, text: value };
  }
  if (ISO_TIME.test(value)) {
    const withZone = /T.*(Z|[+-]\d{2}:\d{2})$/.test(value) || !value.includes('T') ? value : `${value}Z`;
    const ms = Date.parse(value.includes('T') ? withZone : `${value}T00:00:00Z`);
    if (Number.isFinite(ms)) return { kind: 'time', ms, text: value };
  }
  throw invalid(flag, text, 'an ISO-8601 time (2026-11-30T12:00:00Z) or partition:offset pairs (0:1200,1:980)');
}

function invalid(flag: string, value: string, allowed: string): RunwatchError {
  return new RunwatchError('CONFIG_INVALID', `invalid replay configuration: ${flag}=${JSON.stringify(value)}: ${allowed}`);
}

export interface ReplayPlan {
  /** Next offset to read, per partition (the fresh group starts here). */
  readonly startOffsets: ReadonlyMap<number, bigint>;
  /** Where reading ends, per partition (exclusive). */
  readonly endOffsets: ReadonlyMap<number, bigint>;
  /** Runs judged: first event time in [fromMs, toMs) (time ranges only). */
  readonly judged?: { readonly fromMs: number; readonly toMs: number };
  readonly keep: KeepRunsOptions;
  /** The lead-in and tail read around a time range (0 for offsets). */
  readonly leadInMs: number;
  readonly tailMs: number;
}

export async function planReplay(admin: Pick<Admin, 'fetchTopicOffsets' | 'fetchTopicOffsetsByTimestamp'>, topic: string, from: RangeBound, to: RangeBound, detection: DetectionConfig): Promise<ReplayPlan> {
  if (from.kind !== to.kind) throw invalid('--to', to.text, `the same kind of bound as --from (${from.kind === 'time' ? 'a time' : 'offsets'})`);
  const ends = await admin.fetchTopicOffsets(topic);
  const high = new Map(ends.map((p) => [p.partition, BigInt(p.high)]));
  const low = new Map(ends.map((p) => [p.partition, BigInt(p.low)]));
  if (from.kind === 'offsets' && to.kind === 'offsets') {
    const startOffsets = new Map<number, bigint>();
    const endOffsets = new Map<number, bigint>();
    for (const [partition, start] of from.offsets) {
      if (!high.has(partition)) throw invalid('--from', from.text, `topic ${topic} has no partition ${partition}`);
      const end = to.offsets.get(partition);
      if (end === undefined) throw invalid('--to', to.text, `give an end for partition ${partition} too`);
      if (end < start) throw invalid('--to', to.text, `partition ${partition} ends before it starts (${start})`);
      const lowest = low.get(partition) ?? 0n;
      startOffsets.set(partition, start < lowest ? lowest : start);
      endOffsets.set(partition, end);
    }
    for (const partition of to.offsets.keys()) if (!from.offsets.has(partition)) throw invalid('--from', from.text, `give a start for partition ${partition} too`);
    // Partitions not in the range start at their end: nothing of them is fetched.
    for (const [partition, end] of high) {
      if (startOffsets.has(partition)) continue;
      startOffsets.set(partition, end);
      endOffsets.set(partition, end);
    }
    // Runs cut by the edges are left out: at the end they are end_of_input; at the start they lack
    // their start event (so does a run that lost it for real: offset ranges cannot tell the two
    // apart, time ranges can; prefer those).
    const inside = (summary: RunSummary): boolean =>
      summary.outcome !== 'end_of_input' &&
      summary.startedAtMs !== undefined &&
      summary.source.partitions.every((partition, i) => {
        const offset = BigInt(summary.source.offsets[i] ?? -1);
        const start = from.offsets.get(partition);
        const end = to.offsets.get(partition);
        return start !== undefined && end !== undefined && offset >= start && offset < end;
      });
    return { startOffsets, endOffsets, keep: { keepRun: inside, keepGrade: () => false }, leadInMs: 0, tailMs: 0 };
  }
  if (from.kind !== 'time' || to.kind !== 'time') throw new Error('unreachable');
  if (to.ms <= from.ms) throw invalid('--to', to.text, `a time after --from (${from.text})`);
  const contract = contractFor(detection);
  const leadInMs = detection.activeUserWindowMs + contract.runDeadlineMs + detection.allowedLatenessMs + detection.maxOutOfOrdernessMs;
  const tailMs = contract.runDeadlineMs + detection.allowedLatenessMs + detection.maxOutOfOrdernessMs + contract.thresholds.deliveryLatencyMs.critical;
  const offsetsAt = async (ms: number): Promise<Map<number, bigint>> => new Map((await admin.fetchTopicOffsetsByTimestamp(topic, ms)).map((p) => [p.partition, BigInt(p.offset)]));
  const startOffsets = await offsetsAt(from.ms - leadInMs);
  const endOffsets = await offsetsAt(to.ms + tailMs);
  const judged = { fromMs: from.ms, toMs: to.ms };
  return {
    startOffsets,
    endOffsets,
    judged,
    keep: {
      keepRun: (summary) => summary.firstEventMs >= judged.fromMs && summary.firstEventMs < judged.toMs,
      keepGrade: (grade: UserGrade) => grade.windowStartMs >= judged.fromMs && grade.windowEndMs <= judged.toMs,
    },
    leadInMs,
    tailMs,
  };
}

/** partition:offset,... in partition order (the replays row, logs). */
export function describeOffsets(offsets: ReadonlyMap<number, bigint>): string {
  return [...offsets]
    .sort(([a], [b]) => a - b)
    .map(([partition, offset]) => `${partition}:${offset}`)
    .join(',');
}
