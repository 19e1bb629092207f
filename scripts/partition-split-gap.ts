/**
 * What splitting a topic's partitions between instances would do to the verdicts (why runwatch
 * runs one active member per group: docs/architecture.md, "Several instances"). The detector chain
 * judges the independent producer model's traffic once over all six partitions, and once as three
 * instances would (partitions {0,1}, {2,3}, {4,5}, each its own chain); it counts the verdicts the
 * union of the three misses and adds, per kind and rule. Twice: with the traffic as the three
 * producers key it (by thread, by run, round robin), and re-keyed by run id (the best a producer
 * can do: every run's events in one partition).
 *
 *   npm run gap:partition-split      (SPLIT_RUNS=4000 SPLIT_SEED=7 to change the traffic)
 */
import { lastValueFrom, from, toArray } from 'rxjs';
import { detectionConfigSchema } from '../src/config/config.js';
import type { AgentEvent, SourceRecord } from '../src/contract/event.js';
import { normalizeRecord } from '../src/contract/normalize.js';
import type { Verdict } from '../src/contract/verdict.js';
import { detectVerdicts } from '../src/pipeline/detect.js';
import { intEnv } from '../bench/env.js';
import { generateTraffic, toSourceRecord, type WireRecord } from '../test/oracle/producers.js';

const PARTITIONS = 6;
const SHARDS: readonly (readonly number[])[] = [
  [0, 1],
  [2, 3],
  [4, 5],
];
const config = detectionConfigSchema.parse({});

/** A verdict's identity and content, as a comparable line (its kind and rule first, for counting). */
function verdictLine(v: Verdict): string {
  switch (v.kind) {
    case 'violation':
      return `violation ${v.violation.rule}\t${v.violation.violationId}\t${v.violation.severity}\t${v.violation.detail}`;
    case 'run_summary': {
      const s = v.summary;
      return `run_summary ${s.outcome}\t${s.runId}\t${s.eventCount}\t${s.performanceGrade}${s.securityGrade}\t${s.warnings}/${s.criticals}`;
    }
    case 'user_grade':
      return `user_grade ${v.grade.securityGrade}\t${v.grade.userId}\t${v.grade.windowStartMs}\t${v.grade.runs}`;
    case 'late_event':
      return `late_event ${v.runState}\t${v.runId}\t${v.source.partition}:${v.source.offset}`;
    case 'revision':
      return `revision ${v.action}\t${v.violationId}\t${v.source.partition}:${v.source.offset}`;
    case 'event_placed':
      return `event_placed ${v.placement}\t${v.event.runId}\t${v.event.source.partition}:${v.event.source.offset}`;
  }
}

/** Records of these partitions, interleaved as one consumer would read them (by delivery time), through the chain. */
async function judge(records: readonly WireRecord[], partitions: readonly number[]): Promise<string[]> {
  const mine = records.filter((r) => partitions.includes(r.partition)).sort((a, b) => a.timestampMs - b.timestampMs || a.partition - b.partition || a.offset - b.offset);
  const events: AgentEvent[] = [];
  for (const record of mine) {
    const result = normalizeRecord(toSourceRecord(record));
    if (result.kind === 'lifecycle') events.push(result.event);
  }
  const verdicts = await lastValueFrom(from(events).pipe(detectVerdicts(config, [...partitions]), toArray()));
  return verdicts.map(verdictLine);
}

/** The same records keyed by run id (the one key every event carries): offsets renumbered per partition in delivery order. */
function keyedByRun(records: readonly WireRecord[]): WireRecord[] {
  const next = Array.from({ length: PARTITIONS }, () => 0);
  return [...records]
    .sort((a, b) => a.timestampMs - b.timestampMs || a.partition - b.partition || a.offset - b.offset)
    .map((record) => {
      const source: SourceRecord = toSourceRecord(record);
      const normalized = normalizeRecord(source);
      const key = normalized.kind === 'lifecycle' ? normalized.event.runId : record.key;
      const partition = hash(key) % PARTITIONS;
      const offset = next[partition] ?? 0;
      next[partition] = offset + 1;
      return { ...record, key, partition, offset };
    });
}

function hash(text: string): number {
  let h = 2_166_136_261;
  for (let i = 0; i < text.length; i += 1) h = Math.imul(h ^ text.charCodeAt(i), 16_777_619) >>> 0;
  return h;
}

function countByRule(lines: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of lines) {
    const rule = line.slice(0, line.indexOf('\t'));
    counts[rule] = (counts[rule] ?? 0) + 1;
  }
  return counts;
}

async function compare(label: string, records: readonly WireRecord[]): Promise<void> {
  const single = await judge(records, [...Array(PARTITIONS).keys()]);
  const split = (await Promise.all(SHARDS.map((shard) => judge(records, shard)))).flat();
  const want = new Set(single);
  const got = new Set(split);
  const missing = single.filter((l) => !got.has(l));
  const extra = split.filter((l) => !want.has(l));
  const line = {
    traffic: label,
    records: records.length,
    verdictsSingleInstance: single.length,
    verdictsThreeInstances: split.length,
    missing: missing.length,
    extra: extra.length,
    differingShare: `${(((missing.length + extra.length) / Math.max(1, single.length)) * 100).toFixed(2)} %`,
    missingByKind: countByRule(missing),
    extraByKind: countByRule(extra),
  };
  process.stdout.write(`${JSON.stringify(line, null, 2)}\n`);
}

const traffic = generateTraffic({ seed: intEnv('SPLIT_SEED', 7), runs: intEnv('SPLIT_RUNS', 4_000), users: 200, partitions: PARTITIONS, meanRunSpacingMs: 250 });
await compare('as produced (keyed by thread, by run and round robin)', traffic.records);
await compare('re-keyed by run id (every run in one partition)', keyedByRun(traffic.records));
