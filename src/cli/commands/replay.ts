import { Command, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { builtInContract } from '../../contract/contract-file.js';
import { createLogger } from '../../observability/logger.js';
import { createMetrics } from '../../observability/metrics.js';
import { checkReplayId, runReplay, type ReplayResult } from '../../pipeline/replay.js';
import { parseRangeBound } from '../../pipeline/replay-range.js';
import { addCheckpointOptions, addClickHouseOptions, addDetectionOptions, addKafkaOptions, addSchemaRegistryOptions, checkpointConfigFrom, clickHouseConfigFrom, contractFrom, detectionConfigFrom, kafkaConfigFrom, parsers, schemaRegistryConfigFrom, sinkConfigFrom, hashUserIdsOption, userIdKeyFromEnvironment, type RawOptions } from '../options.js';

export function replayCommand(): Command {
  const command = new Command('replay')
    .description('judge the runs that start in a range of a topic again (optionally with another --contract), stored under a replay id beside the live results; the live group is not touched. Compare with `runwatch diff`')
    .addOption(new Option('--from <time|offsets>', 'start: an ISO-8601 time (2026-11-30T12:00:00Z) or partition:offset,... (0:1200,1:980)').makeOptionMandatory().argParser(parsers.nonEmpty))
    .addOption(new Option('--to <time|offsets>', 'end (exclusive), the same kind as --from').makeOptionMandatory().argParser(parsers.nonEmpty))
    .addOption(new Option('--replay-id <id>', 'id of this replay (default: replay-<UTC time>-<random>)').argParser(parsers.nonEmpty))
    .addOption(new Option('--stall-timeout-ms <ms>', 'fail when no record arrives for this long short of the end offsets').argParser(parsers.int).default(120_000))
    .addOption(new Option('--json', 'print the result as one JSON line (the default when stdout is not a terminal)'));
  addKafkaOptions(command);
  addSchemaRegistryOptions(command, 'decode schema-registry framed records with this registry (as the monitor does)');
  addClickHouseOptions(command);
  addDetectionOptions(command);
  addCheckpointOptions(command);
  command.addOption(hashUserIdsOption());
  return command.action(async (raw: RawOptions) => {
    const logger = createLogger();
    const from = parseRangeBound(String(raw.from), '--from');
    const to = parseRangeBound(String(raw.to), '--to');
    if (typeof raw.replayId === 'string') checkReplayId(raw.replayId);
    const contract = await contractFrom(raw);
    const schemaRegistry = schemaRegistryConfigFrom(raw);
    const detection = detectionConfigFrom(raw, contract);
    const request = {
      kafka: kafkaConfigFrom(raw, 'runwatch-replay'),
      clickhouse: clickHouseConfigFrom(raw),
      detection,
      sink: sinkConfigFrom(raw),
      checkpoint: checkpointConfigFrom(raw),
      contract: contract ?? builtInContract(detection.thresholds, detection.suspiciousSkewMs),
      from,
      to,
      ...(schemaRegistry === undefined ? {} : { schemaRegistry }),
      ...(typeof raw.replayId === 'string' ? { replayId: raw.replayId } : {}),
      ...(raw.hashUserIds === true ? { userIdKey: userIdKeyFromEnvironment() } : {}),
    };
    const metrics = createMetrics();
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    process.once('SIGTERM', () => abort.abort());
    // On a terminal a progress bar (records, percent, rate, ETA); otherwise the job's periodic log lines.
    const bar = process.stderr.isTTY === true ? new SingleBar({ format: 'replay {bar} {percentage}% | {value}/{total} records | {rate}/s | ETA {eta_formatted}', hideCursor: true, etaBuffer: 50 }) : undefined;
    let timer: NodeJS.Timeout | undefined;
    const started = Date.now();
    let result: ReplayResult;
    try {
      result = await runReplay(request, logger, metrics, {
        signal: abort.signal,
        onPlan: (_plan, total) => {
          if (bar === undefined) return;
          bar.start(Number(total), 0, { rate: 0 });
          timer = setInterval(() => {
            void metrics.recordsConsumed.get().then((m) => {
              const read = m.values[0]?.value ?? 0;
              bar.update(read, { rate: Math.round(read / Math.max(0.001, (Date.now() - started) / 1_000)) });
            });
          }, 250);
        },
      });
    } finally {
      clearInterval(timer);
      bar?.stop();
    }
    const { records: r } = result;
    const summary = { replayId: result.replayId, topic: r.topic, from: r.rangeFrom, to: r.rangeTo, readFrom: r.readFrom, readTo: r.readTo, contract: r.contractName, contractHash: r.contractHash, records: r.records, runs: r.runs, violations: r.violations, runsCut: r.runsCut, status: r.status, elapsedMs: Date.now() - started };
    if (raw.json === true || process.stdout.isTTY !== true) {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
      return;
    }
    process.stdout.write(
      [
        `replay ${summary.replayId} ${summary.status}`,
        `  topic ${summary.topic}, runs starting in [${summary.from}, ${summary.to})`,
        `  read ${summary.records.toLocaleString('en-US')} records (offsets ${summary.readFrom} to ${summary.readTo}) in ${(summary.elapsedMs / 1_000).toFixed(1)} s`,
        `  contract ${summary.contract} (sha256 ${summary.contractHash.slice(0, 12)}…)`,
        `  runs judged ${summary.runs}, violations ${summary.violations}${summary.runsCut > 0 ? `, ${summary.runsCut} runs cut by the end of the topic (provisional)` : ''}`,
        `compare: runwatch diff --baseline live --candidate ${summary.replayId}`,
      ].join('\n') + '\n',
    );
  });
}
