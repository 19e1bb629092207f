/**
 * The Prometheus alert rules shipped in infra/prometheus, checked by Prometheus's own promtool
 * (Debian's package): the file is valid, and each alert fires, and stays quiet, on the series of
 * its unit tests (infra/prometheus/runwatch-alerts.test.yml). Each alert names metrics the monitor
 * exports (test/integration/httpEndpoints.test.ts scrapes them all).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/observability/metrics.js';

const DIR = resolve(fileURLToPath(new URL('../../infra/prometheus', import.meta.url)));

function promtool(...args: string[]): { code: number | null; out: string } {
  const result = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8' });
  if (result.error !== undefined) throw result.error;
  return { code: result.status, out: `${result.stdout}${result.stderr}` };
}

describe('alert rules (promtool)', () => {
  it('are valid rules', () => {
    const checked = promtool('check', 'rules', 'runwatch-alerts.yml');
    expect(checked.code, checked.out).toBe(0);
    expect(checked.out).toContain('SUCCESS: 9 rules found');
  });

  it('fire and stay quiet as their unit tests say', () => {
    const tested = promtool('test', 'rules', 'runwatch-alerts.test.yml');
    expect(tested.code, tested.out).toBe(0);
  });

  it('read only metrics the monitor exports', async () => {
    const exported = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const rules = readFileSync(join(DIR, 'runwatch-alerts.yml'), 'utf8');
    const used = new Set([...rules.matchAll(/\b(runwatch_[a-z_]+?)(?:_bucket)?\b/g)].map((m) => m[1] ?? ''));
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
    expect(used.size).toBeGreaterThanOrEqual(6);
  });
});
