#!/usr/bin/env node
import { Command } from 'commander';
import { RunwatchError } from '../errors.js';
import { brokerCommand } from './commands/broker.js';
import { demoCommand } from './commands/demo.js';
import { monitorCommand } from './commands/monitor.js';
import { simulateCommand } from './commands/simulate.js';
import { summaryCommand } from './commands/summary.js';

/** Exit codes: 0 ok (also after a graceful stop on SIGTERM/SIGINT), 1 findings mismatch (demo), 2 usage/config error or a checkpoint this build cannot restore, 3 runtime failure. */
const program = new Command('runwatch')
  .description('Stream-processing monitor for AI-agent run lifecycle events: Kafka -> RxJS detectors -> ClickHouse')
  .showHelpAfterError()
  .addCommand(demoCommand())
  .addCommand(monitorCommand())
  .addCommand(simulateCommand())
  .addCommand(summaryCommand())
  .addCommand(brokerCommand());

program.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof Error && 'exitCode' in err && typeof err.exitCode === 'number' && 'code' in err && String(err.code).startsWith('commander.')) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof RunwatchError && (err.code === 'CONFIG_INVALID' || err.code === 'CHECKPOINT_INCOMPATIBLE')) {
    process.stderr.write(`runwatch: ${err.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`runwatch: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 3;
  }
}
