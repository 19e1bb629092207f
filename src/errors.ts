/**
 * Every error runwatch raises on purpose, in one place. Findings about the monitored traffic are
 * never errors (they are verdict rows); these are failures of the monitor itself or of its input.
 */
export const ERROR_CODES = [
  'CONFIG_INVALID',
  'CONTRACT_INVALID',
  'BROKER_START_FAILED',
  'SINK_WRITE_FAILED',
  'SOURCE_FAILED',
] as const;

export type RunwatchErrorCode = (typeof ERROR_CODES)[number];

export class RunwatchError extends Error {
  override readonly name: string = 'RunwatchError';
  constructor(
    readonly code: RunwatchErrorCode,
    message: string,
    readonly options: { readonly retriable?: boolean; readonly cause?: unknown; readonly context?: Readonly<Record<string, unknown>> } = {},
  ) {
    super(message, { cause: options.cause });
  }

  get retriable(): boolean {
    return this.options.retriable ?? false;
  }
}
