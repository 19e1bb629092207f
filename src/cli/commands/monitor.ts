import { Command, Option } from 'commander';
import { CanaryChecker } from '../../canary/checker.js';
import { Health } from '../../observability/health.js';
import { startHttpEndpoints } from '../../observability/http-server.js';
import { createLogger } from '../../observability/logger.js';
import { createMetrics } from '../../observability/metrics.js';
import { isActiveRoleLost } from '../../consumers/kafka-source.js';
import { StopRequested } from '../../errors.js';
import { startMonitorJob, type MonitorJob } from '../../pipeline/job.js';
import { emptyStats, type MonitorStats } from '../../pipeline/monitor.js';
import { addCheckpointOptions, addClickHouseOptions, addDetectionOptions, addKafkaOptions, addSchemaRegistryOptions, checkpointConfigFrom, clickHouseConfigFrom, contractFrom, detectionConfigFrom, kafkaConfigFrom, parsers, positiveSetting, schemaRegistryConfigFrom, sinkConfigFrom, hashUserIdsOption, userIdKeyFromEnvironment, type RawOptions } from '../options.js';

export function monitorCommand(): Command {
  const command = new Command('monitor')
    .description('consume agent lifecycle events from Kafka, detect violations, write verdicts to ClickHouse')
    .addOption(new Option('--group <id>', 'Kafka consumer group').env('RUNWATCH_KAFKA_GROUP').default('runwatch'))
    .addOption(new Option('--replay', 'read up to the end offsets seen at start, judge every open run, then exit'))
    .addOption(new Option('--json', 'print the final counts as one JSON line (the default when stdout is not a terminal)'))
    .addOption(new Option('--fetch-max-bytes-per-partition <bytes>', 'largest Kafka fetch per partition (default 1 MiB); verdicts do not depend on it').argParser(parsers.int))
    .addOption(new Option('--session-timeout-ms <ms>', 'Kafka group session timeout: how long the group waits for a silent member (a killed instance) before moving its partitions').argParser(parsers.int))
    .addOption(new Option('--stall-timeout-ms <ms>', 'replay: fail when no record arrives for this long short of the end offsets').argParser(parsers.int).default(120_000))
    .addOption(new Option('--dead-letter-topic <name>', "also produce dead letters to this Kafka topic (Kafka Connect's convention: original record + __connect.errors.* headers)").env('RUNWATCH_DEAD_LETTER_TOPIC').argParser(parsers.nonEmpty))
    .addOption(new Option('--http-port <port>', 'serve /metrics (Prometheus), /healthz and /readyz on this port (0: a free port chosen at start; unset: no listener)').env('RUNWATCH_HTTP_PORT').argParser(parsers.listenPort))
    .addOption(new Option('--http-host <address>', 'address the HTTP listener binds').env('RUNWATCH_HTTP_HOST').argParser(parsers.nonEmpty).default('0.0.0.0'))
    .addOption(new Option('--ready-stall-ms <ms>', '/readyz fails when the watermark has not moved for this long while records wait to be read').env('RUNWATCH_READY_STALL_MS').argParser(parsers.int).default(120_000))
    .addOption(new Option('--store-events', 'also store every lifecycle event with where the engine placed it (table events, kept 30 days), so `runwatch audit reverify` can re-derive verdicts in SQL'))
    .addOption(new Option('--no-early-firing', "live mode: do not store findings as provisional before they are final (content and delivery latency at arrival, a run's findings when its completion arrives); store them only once final"))
    .addOption(hashUserIdsOption())
    .addOption(new Option('--no-migrate', 'do not migrate the ClickHouse schema at start: refuse to start (exit 2) unless `runwatch migrate` has brought it to this build'))
    .addOption(new Option('--canary-max-age-ms <ms>', '/readyz fails when no canary run (runwatch canary) has passed its check for this long, or the last one failed; unset: canaries are checked and counted only').env('RUNWATCH_CANARY_MAX_AGE_MS').argParser(parsers.int))
    .addOption(new Option('--idle-heartbeat-ms <ms>', 'live mode: a partition caught up with the broker (fresh end offsets) and silent this long is idle; when all are, event time advances').argParser(parsers.int).default(2_000));
  addKafkaOptions(command);
  addSchemaRegistryOptions(command, 'decode schema-registry framed records (Avro, JSON Schema; magic byte 0 + schema id) with this registry (Confluent-compatible API); plain JSON records need none');
  addClickHouseOptions(command);
  addDetectionOptions(command);
  addCheckpointOptions(command);
  return command.action(async (raw: RawOptions) => {
    const logger = createLogger();
    const replay = raw.replay === true;
    const schemaRegistry = schemaRegistryConfigFrom(raw);
    const contract = await contractFrom(raw);
    const config = {
      kafka: kafkaConfigFrom(raw, String(raw.group)),
      clickhouse: clickHouseConfigFrom(raw),
      detection: detectionConfigFrom(raw, contract),
      sink: sinkConfigFrom(raw),
      checkpoint: checkpointConfigFrom(raw),
      mode: replay ? ('bounded' as const) : ('live' as const),
      ...(replay ? {} : { idleHeartbeatMs: Number(raw.idleHeartbeatMs) }),
      ...(typeof raw.deadLetterTopic === 'string' ? { deadLetterTopic: raw.deadLetterTopic } : {}),
      ...(schemaRegistry === undefined ? {} : { schemaRegistry }),
      migrations: raw.migrate === false ? ('check' as const) : ('apply' as const),
      ...(raw.storeEvents === true ? { storeEvents: true } : {}),
      ...(raw.earlyFiring === false ? { earlyFiring: false } : {}),
      ...(raw.hashUserIds === true ? { userIdKey: userIdKeyFromEnvironment() } : {}),
      ...(contract === undefined ? {} : { contract }),
    };
    // Signals are handled from the start: starting may wait out a ClickHouse outage, or stand by, for long.
    let job: MonitorJob | undefined;
    const starting = new AbortController();
    const stop = (signal: NodeJS.Signals): void => {
      // A second signal is not caught: the default handler ends the process at once.
      if (job === undefined) {
        logger.info({ signal }, 'stopping before the monitor started: nothing read, nothing to save');
        starting.abort();
        return;
      }
      logger.info({ signal }, 'stopping: fetching paused, writing the last checkpoint (results, state, offsets); a restart continues from it');
      job.stop();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const metrics = createMetrics();
    const canary = new CanaryChecker(metrics, logger, raw.canaryMaxAgeMs === undefined ? {} : { maxAgeMs: positiveSetting('monitor', '--canary-max-age-ms', raw.canaryMaxAgeMs) });
    const health = new Health(metrics, { watermarkStallMs: Number(raw.readyStallMs), canary });
    const endpoints = raw.httpPort === undefined ? undefined : await startHttpEndpoints({ host: String(raw.httpHost), port: Number(raw.httpPort), metrics, health, logger });
    let stats: MonitorStats = emptyStats();
    try {
      for (;;) {
        try {
          job = await startMonitorJob(config, logger, metrics, { health, signal: starting.signal, canary });
        } catch (err) {
          if (err instanceof StopRequested) break;
          if (!isActiveRoleLost(err)) throw err;
          logger.warn({ err: String(err) }, 'lost the partitions while starting; joining the group again as a standby');
          continue;
        }
        try {
          stats = await job.done;
          break;
        } catch (err) {
          // Presumed dead by the group (a long pause) while another member took over: stand by again.
          if (!isActiveRoleLost(err)) throw err;
          logger.warn({ err: String(err) }, 'another member took over this job; joining the group again as a standby');
          job = undefined;
        }
      }
    } finally {
      // However the job ends, the listener must not keep the process alive (or say it is healthy).
      health.setRole('stopped');
      await endpoints?.close();
    }
    logger.info({ ...stats }, 'monitor finished');
    // A person at a terminal reads text; scripts and pipes get one JSON line (also with --json).
    const asJson = raw.json === true || process.stdout.isTTY !== true;
    process.stdout.write(`${asJson ? JSON.stringify(stats) : formatMonitorStats(stats, replay)}\n`);
  });
}


/** The final counts for a person: what was read, what came of it, where to look next. */
export function formatMonitorStats(stats: MonitorStats, replay: boolean): string {
  const n = (value: number): string => value.toLocaleString('en-US');
  return [
    replay ? 'replay finished' : 'monitor stopped',
    `  records read        ${n(stats.records)}  (${n(stats.lifecycleEvents)} lifecycle events, ${n(stats.otherEvents)} other events, ${n(stats.deadLetters)} dead letters)`,
    `  runs judged         ${n(stats.runSummaries)}`,
    `  violations          ${n(stats.violations)}`,
    `  late events         ${n(stats.lateEvents)}  (revisions ${n(stats.revisions)})`,
    `  user grade windows  ${n(stats.userGrades)}`,
    `  batches written     ${n(stats.batchesWritten)}, checkpoints ${n(stats.checkpoints)}`,
    'details: runwatch summary (same --clickhouse-* and --database flags)',
  ].join('\n');
}
