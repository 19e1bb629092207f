import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command, type Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { redacted } from '../config/config.js';
import { RunwatchError } from '../errors.js';

/**
 * Settings from a file (`--config FILE`, YAML or JSON): the keys are the commands' long flag names
 * (`brokers`, `batch-rows`, `kafka-sasl-mechanism`, ...), the values what the flag takes. Each
 * value goes through the flag's own parser, so a file is checked exactly as the command line is.
 * Precedence: defaults < file < environment < command line (a file value fills only what is still
 * at its default).
 */
export function applyConfigFile(command: Command): void {
  const file = command.getOptionValue('config') as unknown;
  if (typeof file !== 'string') return;
  const settings = readSettings(file);
  const byKey = new Map(command.options.filter((o) => o.long !== undefined && o.long !== '--config').map((o) => [o.long?.slice(2) ?? '', o]));
  for (const [key, value] of Object.entries(settings)) {
    const option = byKey.get(key);
    if (option === undefined) {
      throw configError(file, `unknown key '${key}' for ${command.name()} (allowed: ${[...byKey.keys()].sort().join(', ')})`);
    }
    const source = command.getOptionValueSource(option.attributeName());
    if (source !== undefined && source !== 'default') continue; // environment and command line win
    command.setOptionValueWithSource(option.attributeName(), parsedValue(file, key, option, value), 'config');
  }
}

const settingsSchema = z.record(z.union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number()]))]));

function readSettings(file: string): Readonly<Record<string, string | number | boolean | ReadonlyArray<string | number>>> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw configError(file, `cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  let data: unknown;
  try {
    data = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw configError(file, `is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}`);
  }
  const result = settingsSchema.safeParse(data ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    throw configError(file, `must map flag names to values (a string, number, boolean or list)${issue === undefined ? '' : `: key '${issue.path.join('.')}' ${issue.message}`}`);
  }
  return result.data;
}

/** A file value as the flag would have it: lists join with commas (brokers, levels), then the flag's parser. */
function parsedValue(file: string, key: string, option: Option, value: string | number | boolean | ReadonlyArray<string | number>): unknown {
  if (option.isBoolean()) {
    if (typeof value !== 'boolean') throw configError(file, `key '${key}' takes true or false, got ${JSON.stringify(value)}`);
    return value;
  }
  const text = Array.isArray(value) ? value.join(',') : String(value);
  if (option.argChoices !== undefined && !option.argChoices.includes(text)) {
    throw configError(file, `key '${key}' value '${text}' is invalid: one of ${option.argChoices.join(', ')}`);
  }
  if (option.parseArg === undefined) return text;
  try {
    return option.parseArg(text, undefined);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw configError(file, `key '${key}' value '${text}' is invalid: ${err.message}`);
    throw err;
  }
}

function configError(file: string, problem: string): RunwatchError {
  return new RunwatchError('CONFIG_INVALID', `invalid config file --config ${file}: ${problem}`);
}

/** The effective settings of a command (after file, environment and flags), secrets redacted: `runwatch config print`. */
export function effectiveSettings(command: Command): Array<{ readonly key: string; readonly value: unknown; readonly source: string }> {
  return command.options
    .filter((o) => o.long !== undefined && o.long !== '--config' && o.long !== '--print-config')
    .map((o) => {
      const key = o.long?.slice(2) ?? '';
      const value: unknown = command.getOptionValue(o.attributeName());
      return { key, value: value === undefined ? null : redacted(key, value), source: command.getOptionValueSource(o.attributeName()) ?? 'unset' };
    });
}
