/**
 * Sink outages. The real @clickhouse/client over HTTP against a local server that answers 503, or
 * whose port refuses connections, for a while: the sink retries (capped backoff, jitter, warnings
 * at intervals) until it is served, or gives up only when told to. Then the whole monitor through
 * an outage: fetching pauses once results pile up past the bound, memory stays bounded, and once
 * the store is back every result is written, the same as without the outage.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { detectionConfigSchema, kafkaConfigSchema } from '../../src/config/config.js';
import { startMonitorJob } from '../../src/pipeline/job.js';
import type { SourceRecord } from '../../src/contract/event.js';
import type { Verdict } from '../../src/contract/verdict.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { runMonitor, type RecordSource } from '../../src/pipeline/monitor.js';
import { ClickHouseSink } from '../../src/sinks/clickhouse-sink.js';
import { consumeLikeKafka } from '../oracle/harness.js';
import { generateTraffic, toSourceRecord } from '../oracle/producers.js';

const violation: Verdict = {
  kind: 'violation',
  violation: { violationId: 'v-outage', rule: 'missing_events', severity: 'CRITICAL', runId: 'run_o', threadId: 'th_o', userId: 'u_o', missing: ['agent_completed'], subject: 'agent_completed', detail: 'run closed without agent_completed', eventTimeMs: 1758196800123, decidedAtWatermarkMs: 1758196830124, source: { topic: 't', partitions: [0], offsets: [4] } },
};

/** A stand-in ClickHouse HTTP endpoint: 503 while `failing`, else 200 as ClickHouse answers an insert; keeps the bodies it accepted. */
async function fakeEndpoint(port = 0): Promise<{ server: Server; url: string; state: { failing: boolean; requests: number; accepted: string[] } }> {
  const state = { failing: true, requests: 0, accepted: [] as string[] };
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests += 1;
      if (state.failing) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('Service Unavailable');
        return;
      }
      state.accepted.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'x-clickhouse-query-id': `q${state.requests}`, 'x-clickhouse-summary': '{"written_rows":"1"}' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function httpClient(url: string): ClickHouseClient {
  const client = createClient({ url, request_timeout: 2_000, log: { level: ClickHouseLogLevel.OFF } });
  closers.push(() => client.close());
  return client;
}

describe('ClickHouse sink through an outage (real HTTP client)', () => {
  it('retries 503 answers until the server takes the rows, then stores them once', async () => {
    const endpoint = await fakeEndpoint();
    closers.push(() => new Promise((resolve) => endpoint.server.close(() => resolve())));
    const metrics = createMetrics();
    const sink = new ClickHouseSink(httpClient(endpoint.url), { database: 'rw', logger: createLogger('silent'), metrics, maxBackoffMs: 150, warnEveryMs: 100 });
    const write = sink.write({ verdicts: [violation], deadLetters: [] });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(endpoint.state.requests).toBeGreaterThan(3); // still trying
    expect((await metrics.registry.getSingleMetric('runwatch_sink_failing')?.get())?.values[0]?.value).toBe(1);
    endpoint.state.failing = false;
    await write;
    expect(endpoint.state.accepted).toHaveLength(1);
    expect(JSON.parse(endpoint.state.accepted[0] ?? '')).toMatchObject({ violation_id: 'v-outage', rule: 'missing_events' });
    expect((await metrics.registry.getSingleMetric('runwatch_sink_failing')?.get())?.values[0]?.value).toBe(0);
    expect((await metrics.registry.getSingleMetric('runwatch_sink_retries_total')?.get())?.values[0]?.value).toBeGreaterThan(3);
  });

  it('retries a refused connection until something listens on the port', async () => {
    const probe = await fakeEndpoint();
    const port = (probe.server.address() as AddressInfo).port;
    await new Promise((resolve) => probe.server.close(resolve)); // nothing listens there now
    const sink = new ClickHouseSink(httpClient(`http://127.0.0.1:${port}`), { database: 'rw', logger: createLogger('silent'), metrics: createMetrics(), maxBackoffMs: 150 });
    const write = sink.write({ verdicts: [violation], deadLetters: [] });
    await new Promise((resolve) => setTimeout(resolve, 800));
    const endpoint = await fakeEndpoint(port);
    endpoint.state.failing = false;
    closers.push(() => new Promise((resolve) => endpoint.server.close(() => resolve())));
    await write;
    expect(endpoint.state.accepted).toHaveLength(1);
  });

  it('gives up only when configured to, with a retriable error naming the table', async () => {
    const endpoint = await fakeEndpoint();
    closers.push(() => new Promise((resolve) => endpoint.server.close(() => resolve())));
    const sink = new ClickHouseSink(httpClient(endpoint.url), { database: 'rw', logger: createLogger('silent'), metrics: createMetrics(), maxBackoffMs: 100, giveUpAfterMs: 600 });
    const startedAt = Date.now();
    await expect(sink.write({ verdicts: [violation], deadLetters: [] })).rejects.toMatchObject({ code: 'SINK_WRITE_FAILED', retriable: true, message: expect.stringMatching(/insert into violations still failing/) });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(600);
  });
});

describe('the monitor starting while ClickHouse is down', () => {
  it('waits for it (a dead URL no longer exits at once), and gives up only when told to', async () => {
    const probe = await fakeEndpoint();
    const port = (probe.server.address() as AddressInfo).port;
    await new Promise((resolve) => probe.server.close(resolve));
    const startedAt = Date.now();
    const job = startMonitorJob(
      {
        kafka: kafkaConfigSchema.parse({ brokers: ['127.0.0.1:9'], topic: 't', groupId: 'g', clientId: 'c' }),
        clickhouse: { mode: 'server', url: `http://127.0.0.1:${port}`, username: 'default', password: '', database: 'rw' },
        detection: detectionConfigSchema.parse({}),
        sink: { batchRows: 10, flushIntervalMs: 10, giveUpAfterMs: 1_500, maxBackoffMs: 200 },
        mode: 'bounded',
      },
      createLogger('silent'),
    );
    await expect(job).rejects.toMatchObject({ code: 'SINK_WRITE_FAILED', retriable: true, message: expect.stringMatching(/^migrating the schema still failing after \d+ attempts/) });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1_500);
  });
});

describe('the monitor through a sink outage', () => {
  /** A bounded source over generated traffic that honours pause/resume, delivering in small fetches. */
  function pausableSource(records: readonly SourceRecord[]) {
    const log = { pauses: 0, resumes: 0, delivered: 0 };
    let paused = false;
    const source: RecordSource = {
      records$: () =>
        new Observable<SourceRecord>((subscriber) => {
          let next = 0;
          const pump = setInterval(() => {
            if (paused) return;
            for (let i = 0; i < 50 && next < records.length; i += 1) subscriber.next(records[next++] as SourceRecord);
            log.delivered = next;
            if (next === records.length) {
              clearInterval(pump);
              subscriber.complete();
            }
          }, 1);
          return () => clearInterval(pump);
        }),
      commit: async () => undefined,
      pause: () => {
        paused = true;
        log.pauses += 1;
      },
      resume: () => {
        paused = false;
        log.resumes += 1;
      },
    };
    return { source, log };
  }

  /** A store: the rows of every insert by table, unreachable (as a refused connection) while `down`. */
  function storeWithOutage() {
    const state = { down: false, rows: new Map<string, string[]>(), inserts: 0 };
    const client = {
      insert: async ({ table, values }: { table: string; values: object[] }) => {
        state.inserts += 1;
        if (state.down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
        const rows = state.rows.get(table) ?? [];
        for (const v of values) {
          const { detected_at: _d, recorded_at: _r, ...rest } = v as Record<string, unknown>;
          rows.push(JSON.stringify(rest));
        }
        state.rows.set(table, rows);
        return { executed: true, query_id: 'q' };
      },
    } as unknown as ClickHouseClient;
    return { client, state };
  }

  it('pauses fetching while results cannot be written, resumes after, and writes everything', async () => {
    const traffic = generateTraffic({ seed: 4242, runs: 400, partitions: 3 });
    const records = consumeLikeKafka(traffic, { seed: 9, maxChunk: 50 }).map(toSourceRecord);
    const detection = detectionConfigSchema.parse({});

    const run = async (outageMs: number) => {
      const { source, log } = pausableSource(records);
      const store = storeWithOutage();
      const metrics = createMetrics();
      const sink = new ClickHouseSink(store.client, { database: 'rw', logger: createLogger('silent'), metrics, maxBackoffMs: 100 });
      let maxPending = 0;
      const monitor = runMonitor({
        source,
        sink: {
          write: async (batch) => {
            maxPending = Math.max(maxPending, log.delivered);
            await sink.write(batch);
          },
        },
        detection,
        sinkConfig: { batchRows: 100, flushIntervalMs: 20 },
        metrics,
        logger: createLogger('silent'),
        partitions: [0, 1, 2],
        maxPendingRows: 300,
        checkpointIntervalMs: 50,
      });
      if (outageMs > 0) {
        // The store goes away once the first results are written, and comes back after outageMs.
        while (store.state.inserts === 0) await new Promise((resolve) => setTimeout(resolve, 5));
        store.state.down = true;
        const deliveredAtOutage = log.delivered;
        await new Promise((resolve) => setTimeout(resolve, outageMs));
        // Fetching stopped well before the end of the input: results piled up to the bound, then it paused.
        expect(log.pauses).toBeGreaterThanOrEqual(1);
        expect(log.delivered).toBeLessThan(records.length);
        expect(log.delivered - deliveredAtOutage).toBeLessThan(records.length / 2);
        store.state.down = false;
      }
      const stats = await monitor.done;
      return { stats, rows: store.state.rows, log };
    };

    const clean = await run(0);
    const outage = await run(1_500);
    expect(outage.log.resumes).toBeGreaterThanOrEqual(1);
    expect(outage.stats.runSummaries).toBe(clean.stats.runSummaries);
    for (const table of new Set([...clean.rows.keys(), ...outage.rows.keys()])) {
      const distinct = (rows: string[] | undefined) => [...new Set(rows ?? [])].sort();
      expect(distinct(outage.rows.get(table)), table).toEqual(distinct(clean.rows.get(table)));
    }
  }, 60_000);
});
