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
  /** A checkpoint that this build cannot restore (another state layout or format). */
  'CHECKPOINT_INCOMPATIBLE',
  /** The store's schema is not this build's: unmigrated, migrated by a newer build, an applied migration edited, a server too old. */
  'SCHEMA_MISMATCH',
  /** A bug in runwatch itself (a broken internal invariant). */
  'INTERNAL',
] as const;

export type RunwatchErrorCode = (typeof ERROR_CODES)[number];

export interface RunwatchErrorOptions {
  /** True when the same operation may succeed later (network, broker unavailable). */
  readonly retriable?: boolean;
  readonly cause?: unknown;
  /** Where it happened: topic, partition, table, key... */
  readonly context?: Readonly<Record<string, unknown>>;
}

export class RunwatchError extends Error {
  override readonly name: string = 'RunwatchError';
  readonly retriable: boolean;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    readonly code: RunwatchErrorCode,
    message: string,
    options: RunwatchErrorOptions = {},
  ) {
    super(message, { cause: options.cause });
    this.retriable = options.retriable ?? false;
    this.context = options.context ?? {};
  }
}

/** Not a failure: a stop (SIGTERM, SIGINT) asked for while the monitor was still starting. */
export class StopRequested extends Error {
  override readonly name: string = 'StopRequested';
  constructor() {
    super('stop requested before the monitor started');
  }
}
