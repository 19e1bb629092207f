import { Command, InvalidArgumentError, Option } from 'commander';
import { publishCanaries } from '../../canary/publisher.js';
import { CANARY_PLANS, CANARY_PLAN_NAMES, type CanaryPlan } from '../../contract/canary.js';
import { createLogger } from '../../observability/logger.js';
import { addKafkaOptions, kafkaConfigFrom, parsers, positiveSetting, type RawOptions } from '../options.js';

const plans = (value: string): CanaryPlan[] => {
  const names = value.split(',').map((v) => v.trim());
  const unknown = names.filter((name) => !Object.hasOwn(CANARY_PLANS, name));
  if (names.length === 0 || unknown.length > 0) throw new InvalidArgumentError(`expected a comma-separated list of ${CANARY_PLAN_NAMES.join(', ')}.`);
  return names as CanaryPlan[];
};

export function canaryCommand(): Command {
  const command = new Command('canary')
    .description(`publish canary runs (run ids prefixed runwatch-canary-, kept out of grades and reports) with known faults into the live topic; a monitor started with --canary-max-age-ms checks their verdicts. Plans: ${CANARY_PLAN_NAMES.map((name) => `${name} (${CANARY_PLANS[name].description})`).join('; ')}`)
    .addOption(new Option('--interval-ms <ms>', 'time from one canary run to the next').env('RUNWATCH_CANARY_INTERVAL_MS').argParser(parsers.int).default(30_000))
    .addOption(new Option('--count <n>', 'stop after this many canary runs (default: until Ctrl-C or SIGTERM)').argParser(parsers.int))
    .addOption(new Option('--plans <list>', 'plans to cycle through, comma-separated').argParser(plans).default(CANARY_PLAN_NAMES, CANARY_PLAN_NAMES.join(',')));
  addKafkaOptions(command);
  return command.action(async (raw: RawOptions) => {
    const logger = createLogger();
    const kafka = kafkaConfigFrom(raw, 'runwatch-canary');
    const intervalMs = positiveSetting('canary', '--interval-ms', raw.intervalMs);
    const count = raw.count === undefined ? undefined : positiveSetting('canary', '--count', raw.count);
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    process.once('SIGTERM', () => abort.abort());
    const { published } = await publishCanaries({ kafka, plans: raw.plans as CanaryPlan[], intervalMs, ...(count === undefined ? {} : { count }), logger, signal: abort.signal });
    process.stdout.write(`${JSON.stringify({ published })}\n`);
  });
}

