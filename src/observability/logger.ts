import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stderr (stdout stays free for command output such as the summary). */
export function createLogger(level: string = process.env.RUNWATCH_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: 'runwatch', level, base: { service: 'runwatch' } }, pino.destination(2));
}
