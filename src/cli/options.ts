import { accessSync, constants } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { z } from 'zod';
import { RunwatchError } from '../errors.js';
import { loadContractFile, type LoadedContract } from '../contract/contract-file.js';
import { REFERENCE_RUN_CONTRACT } from '../contract/run-contract.js';
import {
  checkpointConfigSchema,
  clickHouseConfigSchema,
  detectionConfigSchema,
  kafkaConfigSchema,
  parseConfig,
  schemaRegistryConfigSchema,
  sinkConfigSchema,
  type CheckpointConfig,
  type SchemaRegistryConfig,
  type ClickHouseConfig,
  type DetectionConfig,
  type KafkaConfig,
  type SinkConfig,
} from '../config/config.js';

/** Raw option values as commander hands them over (strings until validated). */
export type RawOptions = Readonly<Record<string, unknown>>;

// Commander reports an InvalidArgumentError as a usage error naming the option and the value (exit 2).
const int = (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError('expected an integer.');
  return n;
};
const num = (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number.');
  return n;
};
const levels = (value: string): { warning: number; critical: number } => {
  const parts = value.split(',').map((v) => v.trim());
  const [warning, critical, ...rest] = parts.map(Number);
  if (parts.length !== 2 || rest.length > 0 || warning === undefined || critical === undefined || parts.some((p) => p === '') || !Number.isFinite(warning) || !Number.isFinite(critical)) {
    throw new InvalidArgumentError('expected <warning>,<critical> in ms, two numbers, e.g. 2000,5000.');
  }
  return { warning, critical };
};
/** A fraction in [0, 1]. */
const fraction = (value: string): number => {
  const n = num(value);
  if (n < 0 || n > 1) throw new InvalidArgumentError('expected a fraction between 0 and 1.');
  return n;
};
/** A TCP port, 1 to 65535. */
const port = (value: string): number => {
  const n = int(value);
  if (n < 1 || n > 65_535) throw new InvalidArgumentError('expected a port between 1 and 65535.');
  return n;
};
/** A TCP port to listen on: 0 (any free port) to 65535. */
const listenPort = (value: string): number => {
  const n = int(value);
  if (n < 0 || n > 65_535) throw new InvalidArgumentError('expected a port between 0 (any free one) and 65535.');
  return n;
};
/** Text that must not be empty (hosts, paths, names). */
const nonEmpty = (value: string): string => {
  if (value.trim() === '') throw new InvalidArgumentError('must not be empty.');
  return value;
};
export const parsers = { int, num, fraction, port, listenPort, nonEmpty };

/** A setting that must be a positive number (checked after commander's parse, so env and file values too). */
export function positiveSetting(what: string, flag: string, value: unknown): number {
  const n = Number(value);
  if (!(n > 0)) throw new RunwatchError('CONFIG_INVALID', `invalid ${what} configuration: ${flag}=${JSON.stringify(value)}: must be positive`);
  return n;
}

/** The command-line flag of each configuration key: a configuration error names what the user typed. */
const FLAGS: Readonly<Record<string, string>> = {
  brokers: '--brokers',
  topic: '--topic',
  groupId: '--group',
  stallTimeoutMs: '--stall-timeout-ms',
  maxBytesPerPartition: '--fetch-max-bytes-per-partition',
  sessionTimeoutMs: '--session-timeout-ms',
  'ssl.caFile': '--kafka-ca-file',
  'ssl.certFile': '--kafka-cert-file',
  'ssl.keyFile': '--kafka-key-file',
  'ssl.servername': '--kafka-servername',
  'sasl.mechanism': '--kafka-sasl-mechanism',
  'sasl.username': '--kafka-sasl-username',
  'sasl.password': '--kafka-sasl-password',
  url: '--clickhouse-url',
  username: '--clickhouse-user',
  password: '--clickhouse-password',
  dataPath: '--clickhouse-path',
  'tls.caFile': '--clickhouse-ca-file',
  'tls.certFile': '--clickhouse-cert-file',
  'tls.keyFile': '--clickhouse-key-file',
  database: '--database',
  'registry.url': '--schema-registry-url',
  'registry.username': '--schema-registry-username',
  'registry.password': '--schema-registry-password',
  'registry.requestTimeoutMs': '--schema-registry-timeout-ms',
  maxOutOfOrdernessMs: '--max-out-of-order-ms',
  allowedLatenessMs: '--allowed-lateness-ms',
  maxAheadMs: '--max-ahead-ms',
  'thresholds.deliveryLatencyMs': '--latency-ms',
  'thresholds.gapMs': '--gap-ms',
  'thresholds.runDurationMs': '--run-duration-ms',
  userGradeWindowMs: '--user-grade-window-ms',
  batchRows: '--batch-rows',
  flushIntervalMs: '--flush-interval-ms',
  giveUpAfterMs: '--sink-give-up-ms',
  maxBackoffMs: '--sink-max-backoff-ms',
  intervalMs: '--checkpoint-interval-ms',
  maxPendingRows: '--max-pending-rows',
  shutdownTimeoutMs: '--shutdown-timeout-ms',
};

export function addKafkaOptions(command: Command): Command {
  return command
    .addOption(new Option('--brokers <list>', 'Kafka bootstrap servers, comma-separated host:port').env('RUNWATCH_KAFKA_BROKERS'))
    .addOption(new Option('--topic <name>', 'topic of agent lifecycle events').env('RUNWATCH_KAFKA_TOPIC').default('agent-events'))
    .addOption(new Option('--kafka-tls', 'connect to Kafka over TLS (system CAs unless --kafka-ca-file); environment: RUNWATCH_KAFKA_TLS=true|false'))
    .addOption(new Option('--kafka-ca-file <pem>', 'CA certificate(s) the brokers are checked against (implies TLS)').env('RUNWATCH_KAFKA_CA_FILE').argParser(nonEmpty))
    .addOption(new Option('--kafka-cert-file <pem>', 'client certificate for mutual TLS (with --kafka-key-file)').env('RUNWATCH_KAFKA_CERT_FILE').argParser(nonEmpty))
    .addOption(new Option('--kafka-key-file <pem>', 'private key of the client certificate').env('RUNWATCH_KAFKA_KEY_FILE').argParser(nonEmpty))
    .addOption(new Option('--kafka-servername <name>', 'name the broker certificates must carry, when it is not the bootstrap host').env('RUNWATCH_KAFKA_SERVERNAME').argParser(nonEmpty))
    .addOption(new Option('--kafka-sasl-mechanism <mechanism>', 'SASL authentication').env('RUNWATCH_KAFKA_SASL_MECHANISM').choices(['plain', 'scram-sha-256', 'scram-sha-512']))
    .addOption(new Option('--kafka-sasl-username <name>', 'SASL user').env('RUNWATCH_KAFKA_SASL_USERNAME').argParser(nonEmpty))
    .addOption(new Option('--kafka-sasl-password <secret>', 'SASL password (prefer the environment variable)').env('RUNWATCH_KAFKA_SASL_PASSWORD').argParser(nonEmpty));
}

/** RUNWATCH_KAFKA_TLS read as a boolean (commander would take any value, even "false", as on). */
function tlsFromEnvironment(): boolean {
  const value = (process.env['RUNWATCH_KAFKA_TLS'] ?? '').trim().toLowerCase();
  if (['', '0', 'false', 'no', 'off'].includes(value)) return false;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  throw new RunwatchError('CONFIG_INVALID', `invalid Kafka configuration: RUNWATCH_KAFKA_TLS=${JSON.stringify(process.env['RUNWATCH_KAFKA_TLS'])}: true or false`);
}

/** TLS settings from the flags: on with --kafka-tls or any TLS file or name; files must be readable. */
function kafkaTlsFrom(raw: RawOptions): KafkaConfig['ssl'] {
  const files = { caFile: raw.kafkaCaFile, certFile: raw.kafkaCertFile, keyFile: raw.kafkaKeyFile };
  const given = Object.fromEntries(Object.entries({ ...files, servername: raw.kafkaServername }).filter(([, v]) => typeof v === 'string'));
  if (raw.kafkaTls !== true && !tlsFromEnvironment() && Object.keys(given).length === 0) return undefined;
  checkReadable('Kafka', files, 'ssl');
  return given;
}

/** Certificate files must be readable at start: exit 2 naming the flag, not a TLS failure later. */
function checkReadable(what: string, files: Readonly<Record<string, unknown>>, section: string): void {
  for (const [key, file] of Object.entries(files)) {
    if (typeof file !== 'string') continue;
    try {
      accessSync(file, constants.R_OK);
    } catch {
      throw new RunwatchError('CONFIG_INVALID', `invalid ${what} configuration: ${FLAGS[`${section}.${key}`] ?? key}=${JSON.stringify(file)}: file not found or not readable`);
    }
  }
}

function kafkaSaslFrom(raw: RawOptions): unknown {
  const given = [raw.kafkaSaslMechanism, raw.kafkaSaslUsername, raw.kafkaSaslPassword].some((v) => v !== undefined);
  return given ? { mechanism: raw.kafkaSaslMechanism, username: raw.kafkaSaslUsername, password: raw.kafkaSaslPassword } : undefined;
}

export function addSchemaRegistryOptions(command: Command, purpose: string): Command {
  return command
    .addOption(new Option('--schema-registry-url <url>', purpose).env('RUNWATCH_SCHEMA_REGISTRY_URL').argParser(nonEmpty))
    .addOption(new Option('--schema-registry-username <name>', 'schema registry user (HTTP basic auth)').env('RUNWATCH_SCHEMA_REGISTRY_USERNAME').argParser(nonEmpty))
    .addOption(new Option('--schema-registry-password <secret>', 'schema registry password (prefer the environment variable)').env('RUNWATCH_SCHEMA_REGISTRY_PASSWORD').argParser(nonEmpty))
    .addOption(new Option('--schema-registry-timeout-ms <ms>', 'time limit of one schema lookup; a registry slower than this counts as unreachable').env('RUNWATCH_SCHEMA_REGISTRY_TIMEOUT_MS').argParser(int).default(5_000));
}

/** The registry settings, or undefined without --schema-registry-url (then framed records are dead letters that say so). */
export function schemaRegistryConfigFrom(raw: RawOptions): SchemaRegistryConfig | undefined {
  if (raw.schemaRegistryUrl === undefined) {
    if (raw.schemaRegistryUsername !== undefined || raw.schemaRegistryPassword !== undefined) {
      throw new RunwatchError('CONFIG_INVALID', 'invalid schema registry configuration: --schema-registry-username and --schema-registry-password need --schema-registry-url');
    }
    return undefined;
  }
  const candidate = {
    url: raw.schemaRegistryUrl,
    requestTimeoutMs: raw.schemaRegistryTimeoutMs,
    ...(raw.schemaRegistryUsername === undefined ? {} : { username: raw.schemaRegistryUsername }),
    ...(raw.schemaRegistryPassword === undefined ? {} : { password: raw.schemaRegistryPassword }),
  };
  // Keys are prefixed so the error names the flag (`registry.url` -> --schema-registry-url).
  return parseConfig(z.object({ registry: schemaRegistryConfigSchema }), { registry: candidate }, 'schema registry', FLAGS).registry;
}

export function addClickHouseOptions(command: Command): Command {
  return command
    .addOption(new Option('--clickhouse-url <url>', 'ClickHouse server URL (production); default: the embedded engine').env('RUNWATCH_CLICKHOUSE_URL'))
    .addOption(new Option('--clickhouse-user <name>', 'ClickHouse user (server mode)').env('RUNWATCH_CLICKHOUSE_USER').default('default'))
    .addOption(new Option('--clickhouse-password <secret>', 'ClickHouse password (server mode)').env('RUNWATCH_CLICKHOUSE_PASSWORD').default(''))
    .addOption(new Option('--clickhouse-ca-file <pem>', 'CA of an https ClickHouse URL whose certificate no system CA signed').env('RUNWATCH_CLICKHOUSE_CA_FILE').argParser(nonEmpty))
    .addOption(new Option('--clickhouse-cert-file <pem>', 'client certificate for mutual TLS to ClickHouse (with --clickhouse-key-file and --clickhouse-ca-file)').env('RUNWATCH_CLICKHOUSE_CERT_FILE').argParser(nonEmpty))
    .addOption(new Option('--clickhouse-key-file <pem>', 'private key of that client certificate').env('RUNWATCH_CLICKHOUSE_KEY_FILE').argParser(nonEmpty))
    .addOption(new Option('--clickhouse-path <dir>', 'data directory of the embedded engine').env('RUNWATCH_CLICKHOUSE_PATH').default('./data/clickhouse'))
    .addOption(new Option('--database <name>', 'ClickHouse database').env('RUNWATCH_CLICKHOUSE_DATABASE').default('runwatch'));
}

export function addDetectionOptions(command: Command): Command {
  return command
    .addOption(new Option('--contract <file>', 'judge with this run contract (YAML or JSON; contracts/reference.yaml is the default one): structure, content, thresholds, grades').env('RUNWATCH_CONTRACT').argParser(nonEmpty))
    .addOption(new Option('--max-out-of-order-ms <ms>', 'bounded out-of-orderness of event time (watermark lag)').argParser(int).default(3_000))
    .addOption(new Option('--allowed-lateness-ms <ms>', 'how long after its end a run still takes late-arriving events (>= critical latency)').argParser(int).default(5_000))
    .addOption(new Option('--max-ahead-ms <ms>', "an event further ahead of its partition's event time waits for the partition's next event to confirm it (else suspicious)").argParser(int).default(60_000))
    .addOption(new Option('--latency-ms <warning,critical>', 'delivery latency levels (strict >)').argParser(levels).default({ warning: 500, critical: 2_000 }, '500,2000'))
    .addOption(new Option('--gap-ms <warning,critical>', 'gap between consecutive events of a run (strict >)').argParser(levels).default({ warning: 1_000, critical: 5_000 }, '1000,5000'))
    .addOption(new Option('--run-duration-ms <warning,critical>', 'run start to completion (strict >); critical is also the run deadline').argParser(levels).default({ warning: 10_000, critical: 30_000 }, '10000,30000'))
    .addOption(new Option('--user-grade-window-ms <ms>', 'tumbling event-time window of the per-user security grade').argParser(int).default(3_600_000))
    .addOption(new Option('--batch-rows <n>', 'rows per ClickHouse insert').argParser(int).default(5_000))
    .addOption(new Option('--flush-interval-ms <ms>', 'longest wait before a partial batch is written').argParser(int).default(1_000))
    .addOption(new Option('--sink-give-up-ms <ms>', 'stop when ClickHouse has not taken rows for this long (default: retry for as long as the outage lasts)').argParser(int))
    .addOption(new Option('--sink-max-backoff-ms <ms>', 'longest wait between insert attempts during an outage').argParser(int).default(30_000));
}

export function addCheckpointOptions(command: Command): Command {
  return command
    .addOption(new Option('--checkpoint-interval-ms <ms>', 'time between checkpoints (state + offsets); what a crash makes the monitor read again at most (longer when saving takes longer: each checkpoint is followed by a pause as long as it took)').argParser(int).default(5_000))
    .addOption(new Option('--max-pending-rows <n>', 'results not yet written above which fetching pauses (bounds memory during a sink outage)').argParser(int).default(50_000))
    .addOption(new Option('--shutdown-timeout-ms <ms>', 'SIGTERM/SIGINT: longest wait for the last checkpoint before exiting').argParser(int).default(10_000));
}

export function checkpointConfigFrom(raw: RawOptions): CheckpointConfig {
  return parseConfig(checkpointConfigSchema, { intervalMs: raw.checkpointIntervalMs, maxPendingRows: raw.maxPendingRows, shutdownTimeoutMs: raw.shutdownTimeoutMs }, 'checkpoint', FLAGS);
}

export function kafkaConfigFrom(raw: RawOptions, groupId: string): KafkaConfig {
  const brokers = typeof raw.brokers === 'string' ? raw.brokers.split(',').map((b) => b.trim()).filter((b) => b.length > 0) : raw.brokers;
  const stall = raw.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: raw.stallTimeoutMs };
  const fetch = raw.fetchMaxBytesPerPartition === undefined ? {} : { maxBytesPerPartition: raw.fetchMaxBytesPerPartition };
  const session = raw.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: raw.sessionTimeoutMs };
  const ssl = kafkaTlsFrom(raw);
  const sasl = kafkaSaslFrom(raw);
  const security = { ...(ssl === undefined ? {} : { ssl }), ...(sasl === undefined ? {} : { sasl }) };
  return parseConfig(kafkaConfigSchema, { brokers, topic: raw.topic, groupId, clientId: 'runwatch', fromBeginning: true, ...stall, ...fetch, ...session, ...security }, 'Kafka', FLAGS);
}

function clickHouseTlsFrom(raw: RawOptions): { tls?: unknown } {
  const files = { caFile: raw.clickhouseCaFile, certFile: raw.clickhouseCertFile, keyFile: raw.clickhouseKeyFile };
  const given = Object.fromEntries(Object.entries(files).filter(([, v]) => typeof v === 'string'));
  if (Object.keys(given).length === 0) return {};
  checkReadable('ClickHouse', given, 'tls');
  return { tls: given };
}

export function clickHouseConfigFrom(raw: RawOptions): ClickHouseConfig {
  const base = { database: raw.database };
  const tlsFlag = [raw.clickhouseCaFile, raw.clickhouseCertFile, raw.clickhouseKeyFile].some((v) => typeof v === 'string');
  if (tlsFlag && !(typeof raw.clickhouseUrl === 'string' && raw.clickhouseUrl !== '')) {
    throw new RunwatchError('CONFIG_INVALID', 'invalid ClickHouse configuration: --clickhouse-ca-file, --clickhouse-cert-file and --clickhouse-key-file apply to a server: give --clickhouse-url too');
  }
  const candidate =
    typeof raw.clickhouseUrl === 'string' && raw.clickhouseUrl !== ''
      ? { ...base, mode: 'server', url: raw.clickhouseUrl, username: raw.clickhouseUser, password: raw.clickhousePassword, ...clickHouseTlsFrom(raw) }
      : { ...base, mode: 'embedded', dataPath: raw.clickhousePath };
  return parseConfig(clickHouseConfigSchema, candidate, 'ClickHouse', FLAGS);
}

/**
 * Detection settings. With a contract file, its thresholds rule: a threshold flag set to anything
 * but the reference value beside it is a conflict (exit 2), not a silent override.
 */
export function detectionConfigFrom(raw: RawOptions, contract?: LoadedContract): DetectionConfig {
  const flagThresholds = { deliveryLatencyMs: raw.latencyMs, gapMs: raw.gapMs, runDurationMs: raw.runDurationMs };
  if (contract !== undefined) {
    const flags = { deliveryLatencyMs: '--latency-ms', gapMs: '--gap-ms', runDurationMs: '--run-duration-ms' } as const;
    for (const key of Object.keys(flags) as (keyof typeof flags)[]) {
      if (flagThresholds[key] !== undefined && JSON.stringify(flagThresholds[key]) !== JSON.stringify(REFERENCE_RUN_CONTRACT.thresholds[key])) {
        throw new RunwatchError('CONFIG_INVALID', `invalid detection configuration: ${flags[key]} and --contract both set thresholds: ${flags[key]} belongs in the contract file (${contract.origin}: thresholds.${key})`);
      }
    }
  }
  return parseConfig(
    detectionConfigSchema,
    {
      maxOutOfOrdernessMs: raw.maxOutOfOrderMs,
      allowedLatenessMs: raw.allowedLatenessMs,
      maxAheadMs: raw.maxAheadMs,
      thresholds: contract?.contract.thresholds ?? flagThresholds,
      userGradeWindowMs: raw.userGradeWindowMs,
      ...(contract === undefined ? {} : { contract: contract.contract, suspiciousSkewMs: contract.contract.suspiciousSkewMs }),
    },
    'detection',
    FLAGS,
  );
}

/** `--contract FILE`, loaded and checked; undefined without the flag (the built-in reference contract). */
export async function contractFrom(raw: RawOptions): Promise<LoadedContract | undefined> {
  return typeof raw.contract === 'string' ? loadContractFile(raw.contract, `--contract=${JSON.stringify(raw.contract)}`) : undefined;
}

export function sinkConfigFrom(raw: RawOptions): SinkConfig {
  const giveUp = raw.sinkGiveUpMs === undefined ? {} : { giveUpAfterMs: raw.sinkGiveUpMs };
  const backoff = raw.sinkMaxBackoffMs === undefined ? {} : { maxBackoffMs: raw.sinkMaxBackoffMs };
  return parseConfig(sinkConfigSchema, { batchRows: raw.batchRows, flushIntervalMs: raw.flushIntervalMs, ...giveUp, ...backoff }, 'sink', FLAGS);
}

/** `--hash-user-ids` (monitor, replay): the key comes from the environment only. */
export function hashUserIdsOption(): Option {
  return new Option('--hash-user-ids', 'store user ids as keyed pseudonyms (HMAC-SHA256 with the key in RUNWATCH_USER_ID_KEY, at least 16 characters): in every result row and in the ids a verdict\'s detail names');
}

/** The pseudonym key, from the environment only (a secret never goes on a command line). */
export function userIdKeyFromEnvironment(): string {
  const key = process.env['RUNWATCH_USER_ID_KEY'] ?? '';
  if (key.length < 16) throw new RunwatchError('CONFIG_INVALID', `invalid --hash-user-ids: RUNWATCH_USER_ID_KEY must hold a key of at least 16 characters (it has ${key.length})`);
  return key;
}
