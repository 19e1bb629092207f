import { ActiveIdIndex } from './src/operators/internal/id-index.js';
const idx = new ActiveIdIndex(600000);
for (let i = 0; i < 300000; i++) idx.register(`user_${i}_${(i * 7919).toString(36)}x`, 'o' + (i % 100), 0);
const texts = ['Break down last month\'s inference spend by model and region', '2025-09-18T12:00:00.014340+00:00', '82cbaa28-2f73-4d9b-93da-505300000012', 'UnifiedWebSocketEmitter', 'optimization_agent', 'agent_started', 'started'];
let chars = 0; for (const t of texts) chars += t.length;
let n = 0; const f = () => { n++; };
for (let r = 0; r < 5; r++) { const t0 = performance.now(); for (let k = 0; k < 200000; k++) for (const t of texts) idx.scan(t, f); const dt = performance.now() - t0; console.log('ns/char', (dt * 1e6 / (200000 * chars)).toFixed(2), 'size', idx.size); }
const idx2 = new ActiveIdIndex(600000);
for (let r = 0; r < 3; r++) { const t0 = performance.now(); for (let k = 0; k < 200000; k++) for (const t of texts) idx2.scan(t, f); const dt = performance.now() - t0; console.log('empty index ns/char', (dt * 1e6 / (200000 * chars)).toFixed(2)); }
