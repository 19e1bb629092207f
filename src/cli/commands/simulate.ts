import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { ensureTopic } from '../../consumers/topics.js';
import { createLogger } from '../../observability/logger.js';
import { trafficOptionsSchema } from '../../simulator/generate.js';
import { simulate } from '../../simulator/simulate.js';
import { parseConfig } from '../../config/config.js';
import { RunwatchError } from '../../errors.js';
import { FRAMINGS, createValueFramer } from '../../simulator/registry-framing.js';
import { addKafkaOptions, addSchemaRegistryOptions, kafkaConfigFrom, parsers, schemaRegistryConfigFrom, type RawOptions } from '../options.js';

export function addTrafficOptions(command: Command): Command {
  return command
    .addOption(new Option('--runs <n>', 'agent runs to simulate').argParser(parsers.int).default(3_000))
    .addOption(new Option('--users <n>', 'distinct users').argParser(parsers.int).default(200))
    .addOption(new Option('--seed <n>', 'PRNG seed: the same seed publishes the same traffic').argParser(parsers.int).default(1))
    .addOption(new Option('--run-spacing-ms <ms>', 'mean event time between run starts (default 5: 3,000 runs make 15 s of traffic)').argParser(parsers.num))
    .addOption(new Option('--missing-fraction <f>', 'fraction of runs that lose every event of one lifecycle type').argParser(parsers.fraction).default(0.05))
    .addOption(new Option('--fault-fraction <f>', 'fraction of the other runs that get one injected fault').argParser(parsers.fraction).default(0.1))
    .addOption(new Option('--malformed-fraction <f>', 'undecodable records, as a fraction of lifecycle records').argParser(parsers.fraction).default(0.002));
}

export function trafficOptionsFrom(raw: RawOptions) {
  const options = {
    runs: raw.runs,
    users: raw.users,
    seed: raw.seed,
    meanRunStartSpacingMs: raw.runSpacingMs,
    missingEventFraction: raw.missingFraction,
    faultFraction: raw.faultFraction,
    malformedFraction: raw.malformedFraction,
  };
  return parseConfig(trafficOptionsSchema, options, 'simulator');
}

export function simulateCommand(): Command {
  const command = new Command('simulate')
    .description('publish realistic interleaved agent runs (all wire shapes), with injected faults, and record what was injected')
    .addOption(new Option('--rate <events-per-second>', 'publish rate; default as fast as possible').argParser(parsers.num))
    .addOption(new Option('--partitions <n>', 'partitions if the topic has to be created').argParser(parsers.int).default(4))
    .addOption(new Option('--expected-out <file>', 'write the injected faults (ground truth) as JSON'))
    .addOption(new Option('--framing <format>', 'plain JSON, or framed for a schema registry (magic byte 0 + schema id; registers the schemas first); a record the format cannot carry exactly goes as plain JSON').choices([...FRAMINGS]).default('plain'));
  addKafkaOptions(command);
  addSchemaRegistryOptions(command, 'schema registry for --framing avro|json-schema (Confluent-compatible API)');
  addTrafficOptions(command);
  return command.action(async (raw: RawOptions) => {
    const logger = createLogger();
    const kafka = kafkaConfigFrom(raw, 'runwatch-simulator');
    const trafficOptions = trafficOptionsFrom(raw); // a bad option fails before anything touches Kafka
    const registry = schemaRegistryConfigFrom(raw);
    const framing = raw.framing === 'avro' || raw.framing === 'json-schema' ? raw.framing : undefined;
    if (framing !== undefined && registry === undefined) throw new RunwatchError('CONFIG_INVALID', `invalid simulator configuration: --framing ${framing} needs --schema-registry-url`);
    const framer = framing === undefined || registry === undefined ? undefined : await createValueFramer((await import('../../consumers/schema-registry.js')).createSchemaRegistryClient(registry), kafka.topic, framing);
    await ensureTopic(kafka, kafka.topic, Number(raw.partitions), { keepHistoricalRecords: true });
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    const { traffic, published } = await simulate({
      brokers: kafka.brokers,
      connection: kafka,
      topic: kafka.topic,
      traffic: trafficOptions,
      ...(typeof raw.rate === 'number' ? { ratePerSecond: raw.rate } : {}),
      logger,
      signal: abort.signal,
      ...(framer === undefined ? {} : { framer }),
    });
    if (typeof raw.expectedOut === 'string') await writeFile(raw.expectedOut, `${JSON.stringify(traffic.expected, null, 2)}\n`);
    const line = { published: published.sent, framed: published.framed, runs: traffic.expected.runs, missingEventRuns: traffic.expected.missingEventRuns.length, malformedRecords: traffic.expected.malformedRecords, elapsedMs: Math.round(published.elapsedMs) };
    process.stdout.write(`${JSON.stringify(line)}\n`);
    if (published.aborted) process.exitCode = 130;
  });
}
