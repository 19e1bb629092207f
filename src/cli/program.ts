import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { RunwatchError } from '../errors.js';
import { auditCommand } from './commands/audit.js';
import { brokerCommand } from './commands/broker.js';
import { canaryCommand } from './commands/canary.js';
import { contractCommand } from './commands/contract.js';
import { demoCommand } from './commands/demo.js';
import { diffCommand } from './commands/diff.js';
import { migrateCommand } from './commands/migrate.js';
import { monitorCommand } from './commands/monitor.js';
import { replayCommand } from './commands/replay.js';
import { schemasCommand } from './commands/schemas.js';
import { simulateCommand } from './commands/simulate.js';
import { summaryCommand } from './commands/summary.js';
import { applyConfigFile, effectiveSettings } from './config-file.js';
import { parsers } from './options.js';

/** Where the CLI writes what a person reads (tests capture it). */
export interface CliOutput {
  readonly writeOut: (text: string) => void;
  readonly writeErr: (text: string) => void;
}

const processOutput: CliOutput = { writeOut: (text) => void process.stdout.write(text), writeErr: (text) => void process.stderr.write(text) };

/** The command tree. Usage errors of every command come back to `runCli` (no process.exit inside). */
export function buildProgram(output: CliOutput = processOutput): Command {
  const program = new Command('runwatch')
    .description('Stream-processing monitor for AI-agent run lifecycle events: Kafka -> RxJS detectors -> ClickHouse')
    .showHelpAfterError()
    .addCommand(demoCommand())
    .addCommand(monitorCommand())
    .addCommand(replayCommand())
    .addCommand(simulateCommand())
    .addCommand(summaryCommand())
    .addCommand(migrateCommand())
    .addCommand(diffCommand())
    .addCommand(auditCommand())
    .addCommand(schemasCommand())
    .addCommand(canaryCommand())
    .addCommand(contractCommand())
    .addCommand(brokerCommand());
  program.addCommand(configCommand(output));
  program.exitOverride().configureOutput(output);
  // addCommand does not pass these settings on: every command reports usage errors the same way.
  for (const command of program.commands) {
    command.exitOverride().configureOutput(output);
    for (const sub of command.commands) sub.exitOverride().configureOutput(output);
    if (!SETTINGS_COMMANDS.has(command.name())) continue;
    command
      .addOption(new Option('--config <file>', 'settings from a YAML or JSON file: keys are these flag names (file < environment < command line)').env('RUNWATCH_CONFIG').argParser(parsers.nonEmpty))
      .addOption(new Option('--print-config', 'print the effective settings and where each comes from (secrets redacted), then exit'));
  }
  program.hook('preAction', (_program, command) => {
    applyConfigFile(command);
    if (command.getOptionValue('printConfig') !== true) return;
    for (const { key, value, source } of effectiveSettings(command)) output.writeOut(`${key} = ${JSON.stringify(value)}  (${source})\n`);
    throw new CommanderError(0, 'commander.printConfig', 'settings printed');
  });
  return program;
}

/** Commands whose settings can come from a file and be printed. */
const SETTINGS_COMMANDS = new Set(['demo', 'monitor', 'replay', 'simulate', 'summary']);

/** `runwatch config print <command> [flags]`: the effective settings of that command, as it would run. */
function configCommand(output: CliOutput): Command {
  const config = new Command('config').description('show the effective configuration');
  config
    .command('print')
    .description('print the settings <command> would run with (defaults < --config file < environment < flags), secrets redacted')
    .argument('<command>', [...SETTINGS_COMMANDS].join(' | '))
    .argument('[flags...]', "that command's flags")
    .allowUnknownOption()
    .helpOption('-h, --help')
    .action(async (name: string, flags: readonly string[]) => {
      if (!SETTINGS_COMMANDS.has(name)) throw new InvalidArgumentError(`no settings for '${name}': one of ${[...SETTINGS_COMMANDS].join(', ')}`);
      await buildProgram(output).parseAsync([name, ...flags, '--print-config'], { from: 'user' });
    });
  config.commands.forEach((c) => c.exitOverride().configureOutput(output));
  return config;
}

/**
 * Runs the CLI and returns its exit code: 0 ok (also after a graceful stop on SIGTERM/SIGINT),
 * 1 findings mismatch (demo) or a diff over its budget, 2 usage or configuration error (one line
 * naming the option and the value), a checkpoint this build cannot restore or a store schema that is
 * not this build's, 3 runtime failure.
 */
export async function runCli(argv: readonly string[], output: CliOutput = processOutput): Promise<number> {
  try {
    await buildProgram(output).parseAsync([...argv]);
    // A command may end with a verdict of its own (diff over budget, demo mismatch: exit 1).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof Error && 'exitCode' in err && typeof err.exitCode === 'number' && 'code' in err && String(err.code).startsWith('commander.')) {
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof RunwatchError && (err.code === 'CONFIG_INVALID' || err.code === 'CHECKPOINT_INCOMPATIBLE' || err.code === 'SCHEMA_MISMATCH')) {
      output.writeErr(`runwatch: ${err.message}\n`);
      return 2;
    }
    output.writeErr(`runwatch: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 3;
  }
}
