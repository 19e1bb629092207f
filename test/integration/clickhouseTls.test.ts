/**
 * ClickHouse over https with mutual TLS (the engine behind ClickHouse's HTTP interface, served
 * over TLS with a certificate made here; clients must present one the test CA signed): the
 * monitor replays with --clickhouse-ca-file/--clickhouse-cert-file/--clickhouse-key-file and
 * stores its results; without the CA it fails at once with exit 3 naming the certificate
 * (retrying would not help), and the password in the URL never shows.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { ensureTopic } from '../../src/consumers/topics.js';
import { generateTraffic } from '../oracle/producers.js';
import { freshDataPath, publish, startMonitorProcess, startSharedStore } from '../support/crash-harness.js';
import { makeCertificates } from '../support/tls.js';

const brokers = inject('kafkaBrokers');

describe('ClickHouse over https with a client certificate (real client, real engine)', () => {
  it('stores results with the CA and a client certificate; refuses an untrusted server at once', async () => {
    const certs = makeCertificates();
    const topic = `ch-tls-${randomUUID()}`;
    const traffic = generateTraffic({ seed: 808, runs: 200, users: 20, partitions: 2 });
    await ensureTopic(brokers, topic, 2, { keepHistoricalRecords: true });
    await publish(brokers, topic, traffic.records);
    const store = await startSharedStore(await freshDataPath(), { tls: { keyFile: certs.serverKeyFile, certFile: certs.serverCertFile, caFile: certs.caFile } });
    try {
      expect(store.url.startsWith('https://')).toBe(true);
      const secured = startMonitorProcess({
        brokers,
        topic,
        group: `ch-tls-${randomUUID()}`,
        dataPath: await freshDataPath(),
        database: 'runwatch_tls',
        replay: true,
        extraArgs: ['--clickhouse-url', store.url, '--clickhouse-ca-file', certs.caFile, '--clickhouse-cert-file', certs.clientCertFile, '--clickhouse-key-file', certs.clientKeyFile],
      });
      expect((await secured.exited).code, secured.logLines.slice(-5).join('\n')).toBe(0);
      const stats = z.object({ records: z.number(), runSummaries: z.number() }).parse(JSON.parse(secured.outLines.at(-1) ?? '{}'));
      expect(stats.records).toBe(traffic.records.length);
      expect(stats.runSummaries).toBeGreaterThan(150);

      const withPassword = store.url.replace('https://', 'https://runwatch:Pa55-word@');
      const untrusted = startMonitorProcess({ brokers, topic, group: `ch-untrusted-${randomUUID()}`, dataPath: await freshDataPath(), database: 'runwatch_tls', replay: true, extraArgs: ['--clickhouse-url', withPassword] });
      const startedAt = Date.now();
      const { code } = await untrusted.exited;
      const log = untrusted.logLines.join('\n');
      expect(code, log.slice(-1_500)).toBe(3);
      expect(Date.now() - startedAt).toBeLessThan(30_000);
      expect(log).toMatch(/certificate/i);
      expect(log).not.toContain('Pa55-word');
    } finally {
      await store.stop();
    }
  }, 180_000);
});
