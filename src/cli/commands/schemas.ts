import { Command, Option } from 'commander';
import { RunwatchError } from '../../errors.js';
import { createLogger } from '../../observability/logger.js';
import { addSchemaRegistryOptions, parsers, schemaRegistryConfigFrom, type RawOptions } from '../options.js';

/** `runwatch schemas register`: the lifecycle event schemas (schemas/events) into a schema registry. */
export function schemasCommand(): Command {
  const schemas = new Command('schemas').description('lifecycle event schemas in a schema registry');
  const register = new Command('register')
    .description('register the lifecycle event schemas (schemas/events) for a topic: Avro under <topic>-value, JSON Schema per type under <topic>-<type>; idempotent')
    .addOption(new Option('--topic <name>', 'topic the schemas are for (subject names derive from it)').env('RUNWATCH_KAFKA_TOPIC').default('agent-events').argParser(parsers.nonEmpty))
    .addOption(new Option('--format <format>', 'which schemas to register').choices(['avro', 'json-schema', 'all']).default('all'));
  addSchemaRegistryOptions(register, 'the schema registry (Confluent-compatible API), e.g. http://registry:8080/apis/ccompat/v7 for Apicurio');
  register.action(async (raw: RawOptions) => {
    const config = schemaRegistryConfigFrom(raw);
    if (config === undefined) throw new RunwatchError('CONFIG_INVALID', 'invalid schema registry configuration: --schema-registry-url is required');
    const formats = raw.format === 'all' ? (['avro', 'json-schema'] as const) : ([raw.format] as ['avro' | 'json-schema']);
    // Imported when the command runs: every other command starts without the registry's libraries.
    const { createSchemaRegistryClient, registerEventSchemas } = await import('../../consumers/schema-registry.js');
    const logger = createLogger();
    const registered = await registerEventSchemas(createSchemaRegistryClient(config), String(raw.topic), formats, {
      onRetry: (retry) => logger.warn(retry, 'schema registry did not answer in time (or failed): registering this subject again'),
    });
    const width = Math.max(...registered.map((r) => r.subject.length));
    for (const r of registered) process.stdout.write(`${r.subject.padEnd(width)}  ${r.format.padEnd(11)}  id ${r.id}\n`);
  });
  return schemas.addCommand(register);
}
