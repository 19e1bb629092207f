import { Command, Option } from 'commander';
import { startLocalBroker } from '../../infra/local-broker.js';
import { createLogger } from '../../observability/logger.js';
import { parsers, type RawOptions } from '../options.js';

export function brokerCommand(): Command {
  return new Command('broker')
    .description('run a local single-node Kafka broker (KRaft, jars from Maven Central) until Ctrl-C')
    .addOption(new Option('--port <n>', 'listener port on 127.0.0.1').argParser(parsers.port).default(9092))
    .addOption(new Option('--data-dir <dir>', 'keep the broker log here across restarts').argParser(parsers.nonEmpty))
    .action(async (raw: RawOptions) => {
      const logger = createLogger();
      const broker = await startLocalBroker({ port: Number(raw.port), logger, ...(typeof raw.dataDir === 'string' ? { dataDir: raw.dataDir } : {}) });
      process.stdout.write(`Kafka broker at ${broker.brokers.join(',')} (Ctrl-C stops it)\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await broker.stop();
    });
}
