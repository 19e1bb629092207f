import { describe, expect, it } from 'vitest';
import { formatMonitorStats } from '../../../src/cli/commands/monitor.js';

describe('monitor output for a person', () => {
  it('states what was read and judged, in words, with grouped numbers', () => {
    const text = formatMonitorStats({ records: 1_020_225, lifecycleEvents: 1_000_000, otherEvents: 20_000, deadLetters: 225, violations: 4_321, runSummaries: 200_000, lateEvents: 12, revisions: 3, userGrades: 800, batchesWritten: 90, checkpoints: 14 }, true);
    expect(text.split('\n')[0]).toBe('replay finished');
    expect(text).toContain('records read        1,020,225  (1,000,000 lifecycle events, 20,000 other events, 225 dead letters)');
    expect(text).toContain('violations          4,321');
    expect(text).toContain('runwatch summary');
  });
});
