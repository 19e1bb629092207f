import { pino, type Logger } from 'pino';
import { RunwatchError } from '../errors.js';

export type { Logger };

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Structured JSON logs on stderr (stdout stays free for command output such as the summary).
 * The level comes from the argument, else RUNWATCH_LOG_LEVEL (an empty value counts as unset), else info.
 */
export function createLogger(level?: string): Logger {
  const chosen = level || process.env.RUNWATCH_LOG_LEVEL || 'info';
  if (!LEVELS.includes(chosen)) throw new RunwatchError('CONFIG_INVALID', `log level ${JSON.stringify(chosen)} is not one of ${LEVELS.join(', ')} (RUNWATCH_LOG_LEVEL)`);
  const format = process.env.RUNWATCH_LOG_FORMAT ?? (process.stderr.isTTY === true ? 'pretty' : 'json');
  if (format !== 'json' && format !== 'pretty') throw new RunwatchError('CONFIG_INVALID', `log format ${JSON.stringify(format)} is not json or pretty (RUNWATCH_LOG_FORMAT)`);
  const destination = format === 'pretty' ? prettyStderr() : pino.destination(2);
  return pino({ name: 'runwatch', level: chosen, base: { service: 'runwatch' } }, destination);
}

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const NOT_SHOWN = new Set(['level', 'time', 'msg', 'name', 'service', 'pid', 'hostname']);

/** On a terminal: one readable line per record (`12:04:05 WARN  message  key=value ...`); JSON stays the default elsewhere. */
function prettyStderr(): { write(line: string): void } {
  return { write: (line: string): void => void process.stderr.write(prettyLine(line)) };
}

/** A pino JSON line as a person reads it (UTC time, level, message, then the other fields). */
export function prettyLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof record['time'] === 'number' ? new Date(record['time']).toISOString().slice(11, 19) : '';
  const level = LEVEL_NAMES[Number(record['level'])] ?? String(record['level']);
  const fields = Object.entries(record)
    .filter(([key]) => !NOT_SHOWN.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  return `${time} ${level} ${String(record['msg'] ?? '')}${fields === '' ? '' : `  ${fields}`}\n`;
}
