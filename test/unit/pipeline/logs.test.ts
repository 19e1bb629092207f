/**
 * Logs a person can read: a burst of bad records gives a few warnings and then summaries by reason
 * (not one line per record), and on a terminal each JSON record becomes one readable line.
 */
import { Writable } from 'node:stream';
import { from } from 'rxjs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { detectionConfigSchema } from '../../../src/config/config.js';
import type { SourceRecord } from '../../../src/contract/event.js';
import { prettyLine } from '../../../src/observability/logger.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { runMonitor } from '../../../src/pipeline/monitor.js';

describe('dead letters in the log', () => {
  it('logs the first five in full and the rest as one summary by reason, while every one is stored', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString('utf8')), done()) }));
    const records: SourceRecord[] = Array.from({ length: 60 }, (_, i) => ({ topic: 't', partition: 0, offset: i, key: null, value: Buffer.from(i % 2 === 0 ? '{not json' : '[1]'), timestampMs: 1_700_000_000_000 }));
    const stored: number[] = [];
    const handle = runMonitor({
      source: { records$: () => from(records), commit: async () => undefined },
      sink: { write: async (batch) => void stored.push(batch.deadLetters.length) },
      detection: detectionConfigSchema.parse({}),
      sinkConfig: { batchRows: 1_000, flushIntervalMs: 10 },
      metrics: createMetrics(),
      logger,
    });
    const stats = await handle.done;
    expect(stats.deadLetters).toBe(60);
    expect(stored.reduce((a, b) => a + b, 0)).toBe(60);
    const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string; byReason?: Record<string, number> }).filter((l) => l.level === 40);
    expect(warnings.filter((w) => w.msg === 'dead letter' || w.msg.startsWith('dead letter ('))).toHaveLength(5);
    const summaries = warnings.filter((w) => w.msg === 'dead letters since the last summary');
    expect(summaries).toHaveLength(1);
    // Offsets 0-4 were logged in full (three invalid JSON, two arrays): 55 remain.
    expect(summaries[0]?.byReason).toEqual({ 'invalid JSON': 27, 'record is not a JSON object': 28 });
  });
});

describe('pretty logs on a terminal', () => {
  it('turn a JSON record into one line: time, level, message, fields', () => {
    const line = prettyLine(JSON.stringify({ level: 40, time: Date.UTC(2026, 11, 2, 12, 4, 5), service: 'runwatch', name: 'runwatch', msg: 'ClickHouse is not answering', what: 'insert', attempts: 3 }));
    expect(line).toBe('12:04:05 WARN  ClickHouse is not answering  what=insert attempts=3\n');
    expect(prettyLine('not json\n')).toBe('not json\n');
  });
});
