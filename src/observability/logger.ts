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
  return pino({ name: 'runwatch', level: chosen, base: { service: 'runwatch' } }, pino.destination(2));
}
