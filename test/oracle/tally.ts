/**
 * The oracle comparison over many seeds, summed per category: how many verdicts the chain misses
 * or adds per rule and severity, grade mismatches, each with one example.
 *
 *   npx tsx test/oracle/tally.ts [seeds=40]
 *
 * Odd seeds: 250 runs, 24 users, a run every ~0.9 s; even seeds: 400 runs, 8 users, every ~0.3 s.
 * Each traffic is read twice: random chunks, and with one partition fetched ~20 s ahead.
 */
import { compareWithOracle } from './compare.js';
import { consumeLikeKafka, judgeRecords, normalizeLifecycle, runChain, type ReadPattern } from './harness.js';
import { generateTraffic } from './producers.js';

interface Category {
  missing: number;
  extra: number;
  example: string;
}

const seeds = Number(process.argv[2] ?? 40);
const categories = new Map<string, Category>();
const note = (key: string, side: 'missing' | 'extra', count: number, example: () => string): void => {
  const category = categories.get(key) ?? { missing: 0, extra: 0, example: '' };
  category[side] += count;
  if (category.example === '') category.example = example();
  categories.set(key, category);
};

for (let seed = 1; seed <= seeds; seed++) {
  const dense = seed % 2 === 0;
  const traffic = generateTraffic({ seed, runs: dense ? 400 : 250, users: dense ? 8 : 24, meanRunSpacingMs: dense ? 300 : 900 });
  const faultOf = (runId: string): string => {
    const fault = traffic.faults.find((f) => f.runId === runId);
    const producer = traffic.runs.find((r) => r.runId === runId)?.producer ?? '?';
    return `${fault === undefined ? 'no fault' : `${fault.kind}: ${fault.detail}`}; producer ${producer}`;
  };
  const oracle = judgeRecords(traffic.records);
  const patterns: readonly ReadPattern[] = [
    { seed: seed * 3, maxChunk: 40 },
    { seed: seed * 5, maxChunk: 200, leadAheadMs: 20_000 },
  ];
  for (const pattern of patterns) {
    const verdicts = await runChain(normalizeLifecycle(consumeLikeKafka(traffic, pattern)), traffic.partitions);
    const comparison = compareWithOracle(verdicts, oracle);
    for (const [side, entries] of [['missing', comparison.missing], ['extra', comparison.extra]] as const) {
      for (const e of entries) {
        note(`${e.rule} ${e.severity}`, side, e.count, () =>
          `seed ${seed}${pattern.leadAheadMs === undefined ? '' : ' (lead read)'} ${e.runId} [${faultOf(e.runId)}]\n      chain: ${e.chainSays.join('; ') || '-'}\n      oracle: ${e.oracleSays.join('; ') || '-'}`,
        );
      }
    }
    for (const g of comparison.gradeMismatches) {
      note(`grade ${g.grade}: chain ${g.chain}, oracle ${g.oracle}`, 'extra', 1, () => `seed ${seed} ${g.runId} [${faultOf(g.runId)}]`);
    }
  }
}

console.log(`${seeds} traffics × 2 reads. rule severity: chain misses / chain adds`);
for (const [key, c] of [...categories].sort(([a], [b]) => a.localeCompare(b))) {
  console.log(`${key}: -${c.missing} / +${c.extra}\n    e.g. ${c.example}`);
}
