/**
 * The monitor's HTTP endpoints on a live run (the CLI as a process, real broker, a ClickHouse HTTP
 * endpoint it writes to): /healthz answers; /readyz is 200 while it works, 503 naming ClickHouse
 * while the server is down (killed with SIGKILL, then started again on the same port and data),
 * 200 again after; /metrics carries the whole catalogue with values; and a real Prometheus
 * (Debian's package) scrapes it.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { ensureTopic } from '../../src/consumers/topics.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { generateTraffic } from '../oracle/producers.js';
import { freePort, get, waitFor } from '../support/http-probe.js';
import { freshDataPath, publish, startMonitorProcess, startSharedStore } from '../support/crash-harness.js';

const brokers = inject('kafkaBrokers');

/** Metric name → samples (value per label set) from Prometheus text. */
function samples(text: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (match === null) continue;
    const name = (match[1] ?? '').replace(/_(bucket|sum|count)$/, '');
    out.set(name, [...(out.get(name) ?? []), Number(match[3])]);
  }
  return out;
}

const readinessSchema = z.object({ ready: z.boolean(), role: z.string(), reasons: z.array(z.string()) });

describe('HTTP endpoints of a live monitor (real broker, ClickHouse over HTTP, real Prometheus)', () => {
  it('reports health, readiness through a ClickHouse outage, and every metric of the catalogue; Prometheus scrapes it', async () => {
    const topic = `http-${randomUUID()}`;
    const traffic = generateTraffic({ seed: 4_242, runs: 1_200, users: 80, partitions: 3, meanRunSpacingMs: 250 });
    const records = [...traffic.records].sort((a, b) => a.timestampMs - b.timestampMs || a.partition - b.partition || a.offset - b.offset);
    await ensureTopic(brokers, topic, traffic.partitions, { keepHistoricalRecords: true });
    const storePath = await freshDataPath();
    let store = await startSharedStore(storePath);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const monitor = startMonitorProcess({
      brokers,
      topic,
      group: `http-${randomUUID()}`,
      dataPath: await freshDataPath(),
      database: 'runwatch_http',
      replay: false,
      checkpointIntervalMs: 200,
      extraArgs: ['--http-port', String(port), '--http-host', '127.0.0.1', '--clickhouse-url', store.url, '--batch-rows', '200', '--flush-interval-ms', '50', '--sink-max-backoff-ms', '500'],
    });
    const prometheusDir = mkdtempSync(join(tmpdir(), 'runwatch-prometheus-'));
    let prometheus: ReturnType<typeof spawn> | undefined;
    try {
      // A record that cannot be read becomes a dead letter (and a sample of its counter).
      await publish(brokers, topic, [...records.slice(0, Math.floor(records.length / 2)), { key: 'poison', value: '{not json', partition: 0, offset: -1, timestampMs: records[0]?.timestampMs ?? 0 }]);
      const ready = await waitFor('/readyz 200 as the active member', async () => {
        const res = await get(`${base}/readyz`);
        const readiness = res.status === 200 ? readinessSchema.parse(JSON.parse(res.text)) : undefined;
        return readiness?.role === 'active' ? readiness : undefined;
      });
      expect(ready).toEqual({ ready: true, role: 'active', reasons: [] });
      expect((await get(`${base}/healthz`)).status).toBe(200);
      await waitFor('the first half to be read', async () => ((samples((await get(`${base}/metrics`)).text).get('runwatch_records_consumed_total')?.[0] ?? 0) >= records.length / 2 ? true : undefined));

      // ClickHouse down while records keep coming: not ready, and it says why; alive all along.
      const checkpointsBefore = (samples((await get(`${base}/metrics`)).text).get('runwatch_checkpoints_total') ?? []).reduce((a, b) => a + b, 0);
      await store.kill();
      await publish(brokers, topic, records.slice(Math.floor(records.length / 2)));
      const down = await waitFor('/readyz 503 during the outage', async () => {
        const res = await get(`${base}/readyz`);
        return res.status === 503 ? readinessSchema.parse(JSON.parse(res.text)) : undefined;
      });
      expect(down.reasons.join(' ')).toContain('ClickHouse');
      expect((await get(`${base}/healthz`)).status).toBe(200);
      const during = samples((await get(`${base}/metrics`)).text);
      expect(during.get('runwatch_sink_failing')).toEqual([1]);
      expect(during.get('runwatch_ready')).toEqual([0]);
      store = await startSharedStore(storePath, { port: store.port });
      await waitFor('/readyz 200 after the outage', async () => ((await get(`${base}/readyz`)).status === 200 ? true : undefined));
      // Durable commits go on: a checkpoint completes after the outage.
      const checkpointsAfter = async (): Promise<number> => (samples((await get(`${base}/metrics`)).text).get('runwatch_checkpoints_total') ?? []).reduce((a, b) => a + b, 0);
      await waitFor('a checkpoint after the outage', async () => ((await checkpointsAfter()) > checkpointsBefore ? true : undefined));

      // Every metric of the catalogue is exported with a value (results written since the store came back).
      const declared = (await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name);
      let text = '';
      let unset: string[] = declared;
      await waitFor('every metric of the catalogue to have a value', async () => {
        text = (await get(`${base}/metrics`)).text;
        const now = samples(text);
        unset = declared.filter((name) => (now.get(name) ?? []).length === 0);
        return unset.length === 0 ? true : undefined;
      }, 60_000).catch(() => undefined);
      expect(unset, text.split('\n').filter((l) => unset.some((name) => l.includes(name))).join('\n')).toEqual([]);
      const got = samples(text);
      expect(got.get('runwatch_consumer_lag_records')).toHaveLength(3);
      expect(got.get('runwatch_active')).toEqual([1]);
      expect(got.get('runwatch_open_runs')?.[0]).toBeGreaterThanOrEqual(0);
      // Historical event times (2025): the watermark lags the wall clock by months.
      expect(got.get('runwatch_watermark_lag_seconds')?.[0]).toBeGreaterThan(86_400);
      expect(got.get('runwatch_sink_retries_total')?.[0]).toBeGreaterThan(0);

      // A real Prometheus scrapes the endpoint.
      const prometheusPort = await freePort();
      writeFileSync(join(prometheusDir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: runwatch\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`);
      prometheus = spawn('prometheus', [`--config.file=${join(prometheusDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(prometheusDir, 'data')}`, `--web.listen-address=127.0.0.1:${prometheusPort}`], { stdio: 'ignore' });
      const queried = await waitFor('Prometheus to have scraped runwatch', async () => {
        const res = await get(`http://127.0.0.1:${prometheusPort}/api/v1/query?query=${encodeURIComponent('runwatch_records_consumed_total and on() up{job="runwatch"} == 1')}`);
        if (res.status !== 200) return undefined;
        const body = z.object({ data: z.object({ result: z.array(z.object({ value: z.tuple([z.number(), z.string()]) })) }) }).parse(JSON.parse(res.text));
        const value = Number(body.data.result[0]?.value[1] ?? 0);
        return value > 0 ? value : undefined;
      });
      expect(queried).toBeGreaterThanOrEqual(records.length / 2);

      monitor.child.kill('SIGTERM');
      expect((await monitor.exited).code).toBe(0);
    } finally {
      prometheus?.kill('SIGTERM');
      monitor.child.kill('SIGKILL');
      await store.stop();
    }
  }, 240_000);
});
