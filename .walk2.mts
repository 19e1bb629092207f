import type { AgentEvent } from './src/contract/event.js';
import { normalizeRecord } from './src/contract/normalize.js';
import { generateTraffic } from './src/simulator/generate.js';
import { placeRecords, sourceRecord } from './bench/memory.js';
const t = generateTraffic({ seed: 42, runs: 40000, users: 2000, threadsPerUser: 3, meanRunStartSpacingMs: 1, pairRepeats: { min: 1, max: 4 } });
const events: AgentEvent[] = [];
for (const { record, partition, offset } of placeRecords(t.records, 6)) { const n = normalizeRecord(sourceRecord(record, partition, offset)); if (n.kind === 'lifecycle') events.push(n.event); }
const strs: string[] = [];
const walk = (n: unknown): void => { if (typeof n === 'string') strs.push(n); else if (n && typeof n === 'object') for (const v of Object.values(n)) walk(v); };
for (const e of events.slice(0, 2000)) walk(e.body);
const lens = new Map<number, number>(); let long = 0, tokens = 0;
for (const s of strs) { for (const tok of s.split(/[^A-Za-z0-9_-]+/)) { if (!tok) continue; tokens++; if (tok.length >= 8) long++; } }
console.log('strings/event', strs.length / 2000, 'tokens/event', tokens / 2000, 'long tokens/event', long / 2000);
console.log(strs.slice(0, 40).map((s) => JSON.stringify(s).slice(0, 100)).join('\n'));
