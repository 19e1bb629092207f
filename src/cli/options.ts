import { Option, type Command } from 'commander';
import {
  clickHouseConfigSchema,
  detectionConfigSchema,
  kafkaConfigSchema,
  parseConfig,
  sinkConfigSchema,
  type ClickHouseConfig,
  type DetectionConfig,
  type KafkaConfig,
  type SinkConfig,
} from '../config/config.js';

/** Raw option values as commander hands them over (strings until validated). */
export type RawOptions = Readonly<Record<string, unknown>>;

const int = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new Error(`not an integer: ${value}`);
  return n;
};
const num = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${value}`);
  return n;
};
export const parsers = { int, num };

export function addKafkaOptions(command: Command): Command {
  return command
    .addOption(new Option('--brokers <list>', 'Kafka bootstrap servers, comma-separated host:port').env('RUNWATCH_KAFKA_BROKERS'))
    .addOption(new Option('--topic <name>', 'topic of agent lifecycle events').env('RUNWATCH_KAFKA_TOPIC').default('agent-events'));
}

export function addClickHouseOptions(command: Command): Command {
  return command
    .addOption(new Option('--clickhouse-url <url>', 'ClickHouse server URL (production); default: the embedded engine').env('RUNWATCH_CLICKHOUSE_URL'))
    .addOption(new Option('--clickhouse-user <name>', 'ClickHouse user (server mode)').env('RUNWATCH_CLICKHOUSE_USER').default('default'))
    .addOption(new Option('--clickhouse-password <secret>', 'ClickHouse password (server mode)').env('RUNWATCH_CLICKHOUSE_PASSWORD').default(''))
    .addOption(new Option('--clickhouse-path <dir>', 'data directory of the embedded engine').env('RUNWATCH_CLICKHOUSE_PATH').default('./data/clickhouse'))
    .addOption(new Option('--database <name>', 'ClickHouse database').env('RUNWATCH_CLICKHOUSE_DATABASE').default('runwatch'));
}

export function addDetectionOptions(command: Command): Command {
  return command
    .addOption(new Option('--run-deadline-ms <ms>', 'event time after a run starts at which it is judged').argParser(int).default(30_000))
    .addOption(new Option('--max-out-of-order-ms <ms>', 'bounded out-of-orderness of event time (watermark lag)').argParser(int).default(3_000))
    .addOption(new Option('--batch-rows <n>', 'rows per ClickHouse insert').argParser(int).default(5_000))
    .addOption(new Option('--flush-interval-ms <ms>', 'longest wait before a partial batch is written').argParser(int).default(1_000));
}

export function kafkaConfigFrom(raw: RawOptions, groupId: string): KafkaConfig {
  const brokers = typeof raw.brokers === 'string' ? raw.brokers.split(',').map((b) => b.trim()).filter((b) => b.length > 0) : raw.brokers;
  return parseConfig(kafkaConfigSchema, { brokers, topic: raw.topic, groupId, clientId: 'runwatch', fromBeginning: true }, 'Kafka');
}

export function clickHouseConfigFrom(raw: RawOptions): ClickHouseConfig {
  const base = { database: raw.database };
  const candidate =
    typeof raw.clickhouseUrl === 'string' && raw.clickhouseUrl !== ''
      ? { ...base, mode: 'server', url: raw.clickhouseUrl, username: raw.clickhouseUser, password: raw.clickhousePassword }
      : { ...base, mode: 'embedded', dataPath: raw.clickhousePath };
  return parseConfig(clickHouseConfigSchema, candidate, 'ClickHouse');
}

export function detectionConfigFrom(raw: RawOptions): DetectionConfig {
  return parseConfig(detectionConfigSchema, { runDeadlineMs: raw.runDeadlineMs, maxOutOfOrdernessMs: raw.maxOutOfOrderMs }, 'detection');
}

export function sinkConfigFrom(raw: RawOptions): SinkConfig {
  return parseConfig(sinkConfigSchema, { batchRows: raw.batchRows, flushIntervalMs: raw.flushIntervalMs }, 'sink');
}
