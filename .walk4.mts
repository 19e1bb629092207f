import type { AgentEvent } from './src/contract/event.js';
import { normalizeRecord } from './src/contract/normalize.js';
import { generateTraffic } from './src/simulator/generate.js';
import { placeRecords, sourceRecord } from './bench/memory.js';
const t = generateTraffic({ seed: 42, runs: 20000, users: 2000, threadsPerUser: 3, meanRunStartSpacingMs: 1, pairRepeats: { min: 1, max: 4 } });
const events: AgentEvent[] = [];
for (const { record, partition, offset } of placeRecords(t.records, 6)) { const n = normalizeRecord(sourceRecord(record, partition, offset)); if (n.kind === 'lifecycle') events.push(n.event); }
const ID = new Set(['user_id', 'thread_id', 'run_id']);
let total = 0, skip = 0, strs = 0, skipStrs = 0; const byKey = new Map<string, number>();
const walk = (n: unknown, key: string): void => { if (typeof n === 'string') { strs++; total += n.length; byKey.set(key, (byKey.get(key) ?? 0) + n.length); if (n.indexOf('_') < 0 && n.indexOf('-') < 0) { skip += n.length; skipStrs++; } } else if (n && typeof n === 'object') for (const [k, v] of Object.entries(n)) if (!ID.has(k)) walk(v, k); };
for (const e of events) walk(e.body, '');
console.log('chars/event', (total / events.length).toFixed(1), 'skippable chars', (100 * skip / total).toFixed(1) + '%', 'strings/event', (strs / events.length).toFixed(1), 'skippable strings', (100 * skipStrs / strs).toFixed(1) + '%');
console.log([...byKey].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${k}:${(v / events.length).toFixed(1)}`).join(' '));
