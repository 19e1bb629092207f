/**
 * Kafka security on a real broker (Kafka's own jars) with an SSL listener that requires a client
 * certificate and a SASL_SSL listener taking PLAIN and SCRAM (users created by Kafka's storage tool
 * when the log dir is formatted); certificates made here with openssl and keytool. The CLI's
 * simulator publishes over SASL_SSL with SCRAM-SHA-512 (topic created by its admin client), the
 * monitor replays over mutual TLS and over SASL PLAIN, and a wrong password fails with exit 3
 * naming SASL. No secret appears in any log line.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { freePorts } from '../../src/infra/broker-config.js';
import { startLocalBroker, type LocalBroker } from '../../src/infra/local-broker.js';
import { freshDataPath, startMonitorProcess, type MonitorProcess } from '../support/crash-harness.js';
import { makeCertificates, type TestCertificates } from '../support/tls.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SECRETS = { plain: 'plain-Secret-1', scram256: 'scram256-Secret-2', scram512: 'scram512-Secret-3' };
let broker: LocalBroker;
let certs: TestCertificates;
let sslBroker: string;
let saslBroker: string;
const topic = `secure-${randomUUID()}`;

beforeAll(async () => {
  certs = makeCertificates();
  const [sslPort, saslSslPort] = await freePorts(2);
  sslBroker = `127.0.0.1:${sslPort}`;
  saslBroker = `127.0.0.1:${saslSslPort}`;
  broker = await startLocalBroker({
    security: {
      sslPort: sslPort ?? 0,
      saslSslPort: saslSslPort ?? 0,
      keystoreFile: certs.keystoreFile,
      truststoreFile: certs.truststoreFile,
      storePassword: certs.storePassword,
      plainUsers: [{ name: 'paula', password: SECRETS.plain }],
      scramUsers: [
        { mechanism: 'SCRAM-SHA-256', name: 'sam', password: SECRETS.scram256 },
        { mechanism: 'SCRAM-SHA-512', name: 'sam5', password: SECRETS.scram512 },
      ],
    },
  });
}, 120_000);

afterAll(async () => {
  await broker?.stop();
});

function cli(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  return new Promise((resolveRun) => child.once('exit', (code) => resolveRun({ code, out, err })));
}

/** `runwatch monitor --replay` of the test topic through one listener, with these security flags. */
async function replayOver(broker: string, group: string, securityArgs: readonly string[]): Promise<MonitorProcess> {
  return startMonitorProcess({ brokers: [broker], topic, group: `${group}-${randomUUID()}`, dataPath: await freshDataPath(), database: 'runwatch_secure', replay: true, extraArgs: securityArgs });
}

const statsSchema = z.object({ records: z.number(), runSummaries: z.number() });
const noSecretIn = (text: string): void => {
  for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
};

describe('Kafka over TLS and SASL (real broker with SSL and SASL_SSL listeners)', () => {
  it('publishes with SCRAM-SHA-512 over TLS, replays with mutual TLS and with SASL PLAIN, and refuses a wrong password', async () => {
    const published = await cli(
      ['simulate', '--brokers', saslBroker, '--topic', topic, '--partitions', '3', '--runs', '300', '--kafka-ca-file', certs.caFile, '--kafka-sasl-mechanism', 'scram-sha-512', '--kafka-sasl-username', 'sam5'],
      { RUNWATCH_KAFKA_SASL_PASSWORD: SECRETS.scram512 },
    );
    expect(published.code, published.err.slice(-2_000)).toBe(0);
    noSecretIn(published.out + published.err);
    const sent = z.object({ published: z.number() }).parse(JSON.parse(published.out.trim().split('\n').at(-1) ?? '{}')).published;
    expect(sent).toBeGreaterThan(1_000);

    const mtls = await replayOver(sslBroker, 'secure-mtls', ['--kafka-ca-file', certs.caFile, '--kafka-cert-file', certs.clientCertFile, '--kafka-key-file', certs.clientKeyFile]);
    expect((await mtls.exited).code, mtls.logLines.slice(-5).join('\n')).toBe(0);
    const mtlsStats = statsSchema.parse(JSON.parse(mtls.outLines.at(-1) ?? '{}'));
    expect(mtlsStats.records).toBe(sent);
    expect(mtlsStats.runSummaries).toBeGreaterThan(250);

    const plain = await replayOver(saslBroker, 'secure-plain', ['--kafka-ca-file', certs.caFile, '--kafka-sasl-mechanism', 'plain', '--kafka-sasl-username', 'paula', '--kafka-sasl-password', SECRETS.plain]);
    expect((await plain.exited).code, plain.logLines.slice(-5).join('\n')).toBe(0);
    expect(statsSchema.parse(JSON.parse(plain.outLines.at(-1) ?? '{}'))).toEqual(mtlsStats);
    noSecretIn([...mtls.logLines, ...plain.logLines].join('\n'));

    const refused = await replayOver(saslBroker, 'secure-refused', ['--kafka-ca-file', certs.caFile, '--kafka-sasl-mechanism', 'scram-sha-256', '--kafka-sasl-username', 'sam', '--kafka-sasl-password', 'not-the-password']);
    const ended = await refused.exited;
    const log = refused.logLines.join('\n');
    expect(ended.code, log.slice(-2_000)).toBe(3);
    expect(log).toMatch(/SASL/);
    expect(log).not.toContain('not-the-password');

    // Without a client certificate the SSL listener refuses the connection.
    const anonymous = await replayOver(sslBroker, 'secure-anon', ['--kafka-ca-file', certs.caFile]);
    expect((await anonymous.exited).code).toBe(3);
  }, 300_000);
});
