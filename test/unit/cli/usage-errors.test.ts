/**
 * Every option of every command, given a bad value on the command line (and through its
 * environment variable where it has one), ends the CLI with exit 2 and one line naming the option
 * and the value, before anything is started. A new option without a case here fails the coverage
 * test, so none slips through.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildProgram, runCli } from '../../../src/cli/program.js';

const CONTRACT_FILE = join(import.meta.dirname, '../../../contracts/reference.yaml');

/** Bad values by option; `null` marks free text, where any value is allowed. */
const BAD: Readonly<Record<string, string | null>> = {
  '--brokers': 'host-without-port',
  '--topic': '',
  '--kafka-ca-file': '/nonexistent/ca.pem',
  '--kafka-cert-file': '/nonexistent/client.pem',
  '--kafka-key-file': '/nonexistent/client.key',
  '--kafka-servername': '',
  '--kafka-sasl-mechanism': 'md5',
  '--kafka-sasl-username': '',
  '--kafka-sasl-password': '',
  '--group': '',
  '--partitions': 'two',
  '--runs': '1e',
  '--users': '-',
  '--seed': '0x',
  '--run-spacing-ms': 'soon',
  '--missing-fraction': 'half',
  '--fault-fraction': '1.5',
  '--malformed-fraction': '-0.1',
  '--clickhouse-url': 'not a url',
  '--clickhouse-user': null,
  '--clickhouse-password': null,
  '--clickhouse-path': '',
  '--clickhouse-ca-file': '/nonexistent/ca.pem',
  '--clickhouse-cert-file': '/nonexistent/client.pem',
  '--clickhouse-key-file': '/nonexistent/client.key',
  '--database': 'bad-name;',
  '--max-out-of-order-ms': '5s',
  '--allowed-lateness-ms': '1.5',
  '--max-ahead-ms': 'x',
  '--latency-ms': '5,x',
  '--gap-ms': '5000',
  '--run-duration-ms': '1,2,3',
  '--user-grade-window-ms': '0',
  '--batch-rows': '0',
  '--flush-interval-ms': '1.5',
  '--sink-give-up-ms': '-1',
  '--sink-max-backoff-ms': 'never',
  '--fetch-max-bytes-per-partition': '1MiB',
  '--session-timeout-ms': '6s',
  '--stall-timeout-ms': '-5',
  '--http-port': 'abc',
  '--config': '/nonexistent/runwatch.yaml',
  '--dead-letter-topic': '',
  '--http-host': '',
  '--ready-stall-ms': 'x',
  '--idle-heartbeat-ms': '2.5',
  '--checkpoint-interval-ms': '0',
  '--max-pending-rows': '-5',
  '--shutdown-timeout-ms': 'ten',
  '--rate': 'fast',
  '--expected-out': null,
  '--port': '70000',
  '--data-dir': null,
  '--schema-registry-url': 'not a url',
  '--schema-registry-username': '',
  '--schema-registry-password': '',
  '--schema-registry-timeout-ms': '1.5',
  '--framing': 'protobuf',
  '--format': 'xml',
  '--interval-ms': '0',
  '--count': '-1',
  '--plans': 'clean,noisy',
  '--canary-max-age-ms': '0',
  '--from': 'yesterday',
  '--to': '0:x',
  '--replay-id': 'no spaces please',
  '--contract': '/nonexistent/contract.yaml',
  '--baseline': '',
  '--candidate': '',
  '--max-differences': 'some',
  '--examples': 'few',
  '--against': '',
  '--out': '/nonexistent/dir/report.html',
  '--retention-days': 'checkpoints=10',
  '--expect-head': '12:nothex',
};

async function run(argv: readonly string[]): Promise<{ code: number; err: string; out: string }> {
  let err = '';
  let out = '';
  const code = await Promise.race([
    runCli(['node', 'runwatch', ...argv], { writeErr: (text) => (err += text), writeOut: (text) => (out += text) }),
    new Promise<number>((resolve) => setTimeout(() => resolve(-1), 10_000).unref()),
  ]);
  return { code, err, out };
}

/** What the command needs besides the option under test, all valid (no broker is reached: every case fails first). */
function validRest(command: string, flag: string): string[] {
  const kafka = (command === 'monitor' || command === 'simulate' || command === 'canary' || command === 'replay') && flag !== '--brokers' ? ['--brokers', '127.0.0.1:9'] : [];
  // `schemas register` needs a registry; every case fails before it is asked.
  const registry = command === 'schemas register' && flag !== '--schema-registry-url' ? ['--schema-registry-url', 'http://127.0.0.1:9'] : [];
  // Certificates for ClickHouse apply to a server: the URL is given, valid.
  const server = flag.startsWith('--clickhouse-') && flag.endsWith('-file') ? ['--clickhouse-url', 'https://127.0.0.1:8443'] : [];
  // Mandatory options of replay, diff and contract check, valid.
  const range = command === 'replay' ? ['--from', '2026-01-01T00:00:00Z', '--to', '2026-01-01T01:00:00Z'].filter((_, i, all) => all[i - (i % 2)] !== flag) : [];
  const candidate = command === 'diff' && flag !== '--candidate' ? ['--candidate', 'some-replay'] : [];
  const file = command === 'contract check' ? [CONTRACT_FILE] : [];
  const report = command === 'audit' ? ['completeness'] : [];
  return [...kafka, ...registry, ...server, ...range, ...candidate, ...file, ...report];
}

/** Commands and their subcommands (`schemas register`), by the words that name them. */
const commands = buildProgram().commands.flatMap((command) => [{ name: command.name(), command }, ...command.commands.map((sub) => ({ name: `${command.name()} ${sub.name()}`, command: sub }))]);
const valueOptions = commands.flatMap(({ name, command }) =>
  command.options.filter((o) => o.required || o.optional).map((o) => ({ command: name, flag: o.long ?? '', env: o.envVar })),
);

const saved = { ...process.env };
afterEach(() => {
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
  Object.assign(process.env, saved);
});

describe('usage errors: every option, a bad value', () => {
  it('has a case for every option that takes a value', () => {
    expect(valueOptions.map((o) => o.flag).filter((flag) => !(flag in BAD))).toEqual([]);
  });

  for (const { command, flag, env } of valueOptions) {
    const bad = BAD[flag];
    if (bad === null || bad === undefined) continue;
    it(`${command} ${flag} ${JSON.stringify(bad)}: exit 2, one line naming it`, async () => {
      const { code, err } = await run([...command.split(' '), ...validRest(command, flag), `${flag}=${bad}`]);
      expect(code, err).toBe(2);
      const lines = err.trim().split('\n');
      expect(lines, err).toHaveLength(1);
      expect(lines[0]).toMatch(/^(error: option|runwatch: invalid)/);
      expect(lines[0]).toContain(flag);
      if (bad !== '') expect(lines[0]).toContain(bad);
    });
    if (env === undefined) continue;
    it(`${command} ${env}=${JSON.stringify(bad)}: exit 2, one line naming it`, async () => {
      process.env[env] = bad;
      const { code, err } = await run([...command.split(' '), ...validRest(command, flag)]);
      expect(code, err).toBe(2);
      expect(err.trim().split('\n'), err).toHaveLength(1);
      expect(err).toContain(flag);
    });
  }

  it('a cross-setting rule: an allowed lateness below the critical delivery latency, exit 2 naming both', async () => {
    const { code, err } = await run(['monitor', '--brokers', '127.0.0.1:9', '--allowed-lateness-ms', '1000', '--latency-ms', '500,2000']);
    expect(code, err).toBe(2);
    expect(err).toContain('--allowed-lateness-ms');
    expect(err).toContain('2000');
  });

  it('SASL without a password, or a client certificate without its key: exit 2 naming what is missing', async () => {
    const sasl = await run(['monitor', '--brokers', '127.0.0.1:9', '--kafka-sasl-mechanism', 'scram-sha-256', '--kafka-sasl-username', 'sam']);
    expect(sasl.code, sasl.err).toBe(2);
    expect(sasl.err).toContain('--kafka-sasl-password');
    const cert = await run(['monitor', '--brokers', '127.0.0.1:9', '--kafka-cert-file', import.meta.filename]);
    expect(cert.code, cert.err).toBe(2);
    expect(cert.err).toContain('--kafka-cert-file');
    expect(cert.err).toContain('key go together');
  });

  it('never echoes a secret: a password in the ClickHouse URL is masked in the error', async () => {
    const { code, err } = await run(['monitor', '--brokers', '127.0.0.1:9', '--clickhouse-url', 'http://alice:s3cret@127.0.0.1:8123', '--database', 'bad;name']);
    expect(code, err).toBe(2);
    expect(err).toContain('--database');
    expect(err).not.toContain('s3cret');
  });

  it('a config file: an unknown key, a bad value, bad YAML: exit 2, one line naming the key and the value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runwatch-config-'));
    const cases: Array<[string, string, readonly string[]]> = [
      ['unknown.yaml', 'brokers: 127.0.0.1:9\nbatch-size: 10\n', ["unknown key 'batch-size'"]],
      ['bad-value.yaml', 'brokers: 127.0.0.1:9\nbatch-rows: 1.5\n', ["'batch-rows'", "'1.5'", 'expected an integer']],
      ['bad-choice.json', '{"brokers": "127.0.0.1:9", "kafka-sasl-mechanism": "md5"}', ["'kafka-sasl-mechanism'", 'md5', 'scram-sha-512']],
      ['range.yaml', 'brokers: 127.0.0.1:9\nmax-pending-rows: -5\n', ['--max-pending-rows', '-5']],
      ['broken.yaml', 'brokers: [127.0.0.1:9\n', ['not valid YAML']],
      ['list.yaml', '- brokers\n', ['must map flag names to values']],
    ];
    for (const [name, text, mentions] of cases) {
      const file = join(dir, name);
      writeFileSync(file, text);
      const { code, err } = await run(['monitor', '--config', file]);
      expect(code, `${name}: ${err}`).toBe(2);
      expect(err.trim().split('\n'), err).toHaveLength(1);
      for (const mention of mentions) expect(err, name).toContain(mention);
    }
  });

  it('settings come from defaults < config file < environment < command line; config print shows each source and hides secrets', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'runwatch-config-')), 'runwatch.yaml');
    writeFileSync(file, 'brokers: [kafka-1:9093, kafka-2:9093]\nbatch-rows: 2000\nflush-interval-ms: 700\nmax-pending-rows: 9000\nkafka-sasl-password: hunter2\nclickhouse-url: https://alice:s3cret@ch:8443\n');
    process.env['RUNWATCH_KAFKA_TOPIC'] = 'from-env';
    process.env['RUNWATCH_CONFIG'] = file;
    const { code, out, err } = await run(['config', 'print', 'monitor', '--batch-rows', '3000']);
    expect(code, err).toBe(0);
    const line = (key: string): string | undefined => out.split('\n').find((l) => l.startsWith(`${key} = `));
    expect(line('brokers')).toBe('brokers = "kafka-1:9093,kafka-2:9093"  (config)');
    expect(line('batch-rows')).toBe('batch-rows = 3000  (cli)');
    expect(line('flush-interval-ms')).toBe('flush-interval-ms = 700  (config)');
    expect(line('topic')).toBe('topic = "from-env"  (env)');
    expect(line('shutdown-timeout-ms')).toBe('shutdown-timeout-ms = 10000  (default)');
    expect(line('kafka-sasl-password')).toBe('kafka-sasl-password = "***"  (config)');
    expect(out).not.toContain('hunter2');
    expect(out).not.toContain('s3cret');
    // The same through the command's own flag.
    const direct = await run(['monitor', '--print-config']);
    expect(direct.code).toBe(0);
    expect(direct.out).toContain('max-pending-rows = 9000  (config)');
  });

  it('RUNWATCH_KAFKA_TLS is a boolean: "false" means off, anything else unknown is exit 2', async () => {
    process.env['RUNWATCH_KAFKA_TLS'] = 'maybe';
    const bad = await run(['monitor', '--brokers', '127.0.0.1:9']);
    expect(bad.code, bad.err).toBe(2);
    expect(bad.err).toContain('RUNWATCH_KAFKA_TLS');
  });

  it('--hash-user-ids without a key of 16 characters in RUNWATCH_USER_ID_KEY: exit 2 naming it, never echoing the key', async () => {
    for (const command of [['monitor'], ['replay', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-01T01:00:00Z']]) {
      process.env['RUNWATCH_USER_ID_KEY'] = 'too-short-key';
      const bad = await run([...command, '--brokers', '127.0.0.1:9', '--hash-user-ids']);
      expect(bad.code, bad.err).toBe(2);
      expect(bad.err.trim().split('\n')).toHaveLength(1);
      expect(bad.err).toContain('RUNWATCH_USER_ID_KEY');
      expect(bad.err).not.toContain('too-short-key');
    }
  });

  it('an unknown option or command: exit 2', async () => {
    expect((await run(['monitor', '--bogus'])).code).toBe(2);
    expect((await run(['bogus'])).code).toBe(2);
  });

  it('--help: exit 0 for every command', async () => {
    for (const command of ['demo', 'monitor', 'simulate', 'summary', 'broker', 'audit', 'migrate', 'replay']) {
      const { code, out } = await run([command, '--help']);
      expect(code).toBe(0);
      expect(out).toContain(`Usage: runwatch ${command}`);
    }
  });
});
