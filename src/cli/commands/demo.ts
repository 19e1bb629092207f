import { Command, Option } from 'commander';
import { kafkaConfigSchema } from '../../config/config.js';
import { ensureTopic } from '../../consumers/topics.js';
import { startLocalBroker } from '../../infra/local-broker.js';
import { createLogger } from '../../observability/logger.js';
import { startMonitorJob } from '../../pipeline/job.js';
import { createClickHouseClient } from '../../sinks/clickhouse-client.js';
import { formatSummary, readSummary, storedLateEvents, storedRevisions, storedViolations } from '../../sinks/summary.js';
import { kafkaPartitionOf } from '../../simulator/partitioner.js';
import { resolveExpected, scoreLateEvents, scoreRevisions, scoreViolations } from '../../simulator/score.js';
import { simulate } from '../../simulator/simulate.js';
import { contractFrom, addClickHouseOptions, addDetectionOptions, clickHouseConfigFrom, detectionConfigFrom, kafkaConfigFrom, parsers, sinkConfigFrom, type RawOptions } from '../options.js';
import { addTrafficOptions, trafficOptionsFrom } from './simulate.js';

/**
 * The main job on embedded defaults (`npm start`): a local Kafka broker, the simulator, the
 * monitor in replay mode and the embedded ClickHouse; prints the summary read back from
 * ClickHouse and checks it against what the simulator injected. Stops everything it started.
 */
export function demoCommand(): Command {
  const command = new Command('demo')
    .description('start a local Kafka broker, publish simulated runs, monitor them, print the ClickHouse summary, stop')
    .addOption(new Option('--brokers <list>', 'use this Kafka instead of starting a local broker').env('RUNWATCH_KAFKA_BROKERS'))
    .addOption(new Option('--partitions <n>', 'partitions of the demo topic').argParser(parsers.int).default(4));
  addTrafficOptions(command);
  addClickHouseOptions(command);
  addDetectionOptions(command);
  return command.action(async (raw: RawOptions) => {
    const logger = createLogger();
    const started = Date.now();
    // Every setting is checked before anything starts.
    const traffic = trafficOptionsFrom(raw);
    const clickhouse = clickHouseConfigFrom({ ...raw, database: raw.database === 'runwatch' ? 'runwatch_demo' : raw.database });
    const detection = detectionConfigFrom(raw, await contractFrom(raw));
    const sink = sinkConfigFrom(raw);
    if (typeof raw.brokers === 'string') kafkaConfigFrom(raw, 'runwatch-demo');
    const broker = typeof raw.brokers === 'string' ? undefined : await startLocalBroker({ logger });
    try {
      const brokers = broker?.brokers ?? String(raw.brokers).split(',');
      logger.info({ brokers, mode: broker?.mode ?? 'external' }, 'Kafka broker ready');
      // A fresh topic and database per demo: the summary then describes exactly this run.
      const topic = `agent-events-demo-${started}`;
      await ensureTopic(brokers, topic, Number(raw.partitions), { keepHistoricalRecords: true });
      await resetDatabase(clickhouse);
      const { traffic: sent, published } = await simulate({ brokers, topic, traffic, logger });
      logger.info({ records: published.sent, elapsedMs: Math.round(published.elapsedMs) }, 'simulated traffic published');

      const job = await startMonitorJob(
        { kafka: kafkaConfigSchema.parse({ brokers, topic, groupId: `runwatch-demo-${started}` }), clickhouse, detection, sink, mode: 'bounded' },
        logger,
      );
      const stats = await job.done;
      logger.info({ ...stats }, 'monitor finished');

      const client = createClickHouseClient(clickhouse);
      try {
        const summary = await readSummary(client, clickhouse.database);
        // Labels that depend on where a record landed are resolved with the publisher's partitioner.
        const expectedViolations = resolveExpected(sent.expected.violations, kafkaPartitionOf(Number(raw.partitions)));
        const score = scoreViolations(await storedViolations(client, clickhouse.database), expectedViolations);
        const late = scoreLateEvents(await storedLateEvents(client, clickhouse.database), sent.expected.lateEvents);
        const revisions = scoreRevisions(await storedRevisions(client, clickhouse.database), sent.expected.revisions);
        const lateExact = late.falsePositives + late.falseNegatives + revisions.falsePositives + revisions.falseNegatives === 0;
        const exact = score.falsePositives === 0 && score.falseNegatives === 0 && lateExact && stats.deadLetters === sent.expected.malformedRecords;
        const revisionsThat = (action: string): number => sent.expected.revisions.filter((r) => r.action === action).length;
        const faultyRuns = sent.expected.faultRuns.length + sent.expected.missingEventRuns.length;
        const out = [
          `runwatch demo: ${published.sent} records (${sent.expected.runs} runs, ${sent.expected.lifecycleEvents} lifecycle events) through Kafka topic ${topic}`,
          formatSummary(summary),
          `injected: ${faultyRuns} faulty runs -> ${expectedViolations.length} expected violations; found ${score.truePositives + score.falsePositives}: precision ${score.precision.toFixed(4)}, recall ${score.recall.toFixed(4)} -> ${exact ? 'exact match' : 'MISMATCH'}`,
          ...(score.falsePositives + score.falseNegatives === 0 ? [] : [`  unexpected: ${score.examples.unexpected.join('; ')}`, `  missed: ${score.examples.missed.join('; ')}`]),
          `injected late recovery replays: ${sent.expected.lateEvents.length} (${revisionsThat('retracted')} must retract a missing_events verdict, ${revisionsThat('confirmed')} confirm one); found ${late.truePositives + late.falsePositives} late events, ${revisions.truePositives + revisions.falsePositives} revisions -> ${lateExact ? 'exact match' : 'MISMATCH'}`,
          ...(lateExact ? [] : [`  unexpected: ${[...late.examples.unexpected, ...revisions.examples.unexpected].join('; ')}`, `  missed: ${[...late.examples.missed, ...revisions.examples.missed].join('; ')}`]),
          `injected malformed records: ${sent.expected.malformedRecords}; dead letters: ${stats.deadLetters}`,
          `ClickHouse (${clickhouse.mode}) database ${clickhouse.database}; total time ${((Date.now() - started) / 1000).toFixed(1)} s`,
        ];
        process.stdout.write(`${out.join('\n')}\n`);
        if (!exact) process.exitCode = 1;
      } finally {
        await client.close();
      }
    } finally {
      await broker?.stop();
    }
  });
}

async function resetDatabase(config: ReturnType<typeof clickHouseConfigFrom>): Promise<void> {
  const client = createClickHouseClient(config);
  try {
    await client.command({ query: `DROP DATABASE IF EXISTS ${config.database} SYNC` });
  } finally {
    await client.close();
  }
}
