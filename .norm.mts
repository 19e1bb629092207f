import { Session } from 'node:inspector/promises';
import fs from 'node:fs';
import { normalizeRecord } from './src/contract/normalize.js';
import { generateTraffic } from './src/simulator/generate.js';
import { placeRecords, sourceRecord } from './bench/memory.js';
const t = generateTraffic({ seed: 42, runs: 20000, users: 2000, threadsPerUser: 3, meanRunStartSpacingMs: 1, pairRepeats: { min: 1, max: 4 } });
const recs = [...placeRecords(t.records, 6)].map(({ record, partition, offset }) => sourceRecord(record, partition, offset));
const strs = t.records.map((r) => r.value);
for (let r = 0; r < 3; r++) { let t0 = performance.now(); for (const s of strs) { try { JSON.parse(s); } catch {} } const p = performance.now() - t0; t0 = performance.now(); let k = 0; for (const x of recs) if (normalizeRecord(x).kind === 'lifecycle') k++; const n = performance.now() - t0; console.log('parse', (p * 1000 / strs.length).toFixed(2), 'us; normalize', (n * 1000 / recs.length).toFixed(2), 'us', k); }
const s = new Session(); s.connect(); await s.post('Profiler.enable'); await s.post('Profiler.start');
for (let r = 0; r < 2; r++) for (const x of recs) normalizeRecord(x);
const { profile } = await s.post('Profiler.stop'); fs.writeFileSync('/tmp/norm.cpuprofile', JSON.stringify(profile));
