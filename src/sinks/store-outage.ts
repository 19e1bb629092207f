import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { RunwatchError, StopRequested } from '../errors.js';

/** What a failed ClickHouse call means. */
export type StoreFailure =
  /** The store cannot answer now (transport, 5xx, resources): the same call may succeed later. */
  | 'outage'
  /** The store refused the rows sent (a value it cannot parse): isolate the offending ones. */
  | 'rows_rejected'
  /** The store has no such database, table or column: a deployment error, no retry fixes it. */
  | 'schema'
  /** Any other statement the engine refused. */
  | 'rejected';

/**
 * A ClickHouse server/engine error carries ClickHouse's error `type` and numeric `code`; anything
 * else (refused connection, timeout, a proxy's 5xx) is a transport failure. Checked by shape: chdb
 * raises the client-common package's ClickHouseError class, not the one bundled in
 * @clickhouse/client, so instanceof would miss it.
 */
function engineError(err: unknown): { readonly type: string; readonly code: string } | undefined {
  if (!(err instanceof Error)) return undefined;
  const { type, code } = err as Error & { type?: unknown; code?: unknown };
  return typeof type === 'string' && typeof code === 'string' && /^\d+$/.test(code) ? { type, code } : undefined;
}

/** Engine errors about the values of the rows inserted (JSONEachRow parsing and conversion). */
const ROW_ERROR = /^(CANNOT_PARSE|CANNOT_READ|INCORRECT_DATA|TYPE_MISMATCH|ATTEMPT_TO_READ_AFTER_EOF|CANNOT_INSERT_NULL|VALUE_IS_OUT_OF_RANGE|CANNOT_CONVERT|TOO_LARGE_STRING|TOO_LARGE_ARRAY|INCORRECT_NUMBER_OF_COLUMNS|UNKNOWN_FIELD|ILLEGAL_COLUMN|SIZES_OF_ARRAYS_DONT_MATCH|DECIMAL_OVERFLOW)/;
/** Engine errors that say the schema is not there. */
const SCHEMA_ERROR = /^(UNKNOWN_DATABASE|UNKNOWN_TABLE|NO_SUCH_COLUMN_IN_TABLE|THERE_IS_NO_COLUMN)$/;
/** Engine errors that are the store's trouble, not the statement's: memory, parts, timeouts, read-only replicas, network inside the cluster. */
const TRANSIENT_ERROR = /^(MEMORY_LIMIT_EXCEEDED|TOO_MANY_PARTS|TOO_MANY_SIMULTANEOUS_QUERIES|TIMEOUT_EXCEEDED|SOCKET_TIMEOUT|NETWORK_ERROR|READONLY|TABLE_IS_READ_ONLY|NOT_ENOUGH_SPACE|ALL_CONNECTION_TRIES_FAILED|KEEPER_EXCEPTION|ALL_REPLICAS_ARE_STALE|NO_ZOOKEEPER|UNEXPECTED_END_OF_FILE|ABORTED|QUERY_WAS_CANCELLED)/;

/** TLS failures that waiting does not fix: the server's certificate is not trusted or does not match. */
const CERTIFICATE_ERROR = /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_REVOKED|CERT_UNTRUSTED|ERR_TLS_CERT_ALTNAME_INVALID)$/;

export function classifyStoreError(err: unknown): StoreFailure {
  const engine = engineError(err);
  if (engine === undefined) {
    const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
    return typeof code === 'string' && CERTIFICATE_ERROR.test(code) ? 'rejected' : 'outage';
  }
  if (ROW_ERROR.test(engine.type)) return 'rows_rejected';
  if (SCHEMA_ERROR.test(engine.type)) return 'schema';
  if (TRANSIENT_ERROR.test(engine.type)) return 'outage';
  return 'rejected';
}

/** The error's first line, prefixed with ClickHouse's error type and code when it has them. */
export function storeErrorReason(err: unknown): string {
  const engine = engineError(err);
  const message = err instanceof Error ? (err.message.split('\n')[0]?.trim() ?? '') : String(err);
  return engine === undefined ? message : `${engine.type} (${engine.code}): ${message}`;
}

/** Capped exponential backoff, jittered in the upper half: 100 ms, 200 ms, ... up to the cap. */
export function backoffMs(attempt: number, capMs: number): number {
  const ceiling = Math.min(capMs, 100 * 2 ** Math.min(attempt - 1, 20));
  return ceiling * (0.5 + Math.random() / 2);
}

export interface OutagePolicy {
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** Give up (SINK_WRITE_FAILED, retriable) once the outage lasted this long; absent: never. */
  readonly giveUpAfterMs?: number;
  /** Backoff ceiling (default 30 s). */
  readonly maxBackoffMs?: number;
  /** A warning at most this often while it lasts (default 10 s). */
  readonly warnEveryMs?: number;
  /** Aborted: stop waiting (StopRequested) instead of retrying again. */
  readonly signal?: AbortSignal;
}

/**
 * Calls `attempt` until it succeeds, waiting out outages of the store (capped backoff with jitter,
 * a warning naming `what` at intervals, `runwatch_sink_failing` set meanwhile). Any other failure
 * is thrown at once, as a SINK_WRITE_FAILED error saying what to check.
 */
export async function retryThroughOutage<T>(what: string, attempt: () => Promise<T>, policy: OutagePolicy): Promise<T> {
  const startedAt = Date.now();
  let lastWarnAt = 0;
  for (let n = 1; ; n += 1) {
    if (policy.signal?.aborted === true) throw new StopRequested();
    try {
      const result = await attempt();
      if (n > 1) {
        policy.metrics?.sinkFailing.set(0);
        policy.logger.info({ what, attempts: n, outageMs: Date.now() - startedAt }, 'ClickHouse answers again');
      }
      return result;
    } catch (cause) {
      // Our own refusals (a schema that is not this build's) go up as they are.
      if (cause instanceof RunwatchError) throw cause;
      const failure = classifyStoreError(cause);
      if (failure !== 'outage') {
        const hint = failure === 'schema' ? ' (run migrations, check --database)' : '';
        throw new RunwatchError('SINK_WRITE_FAILED', `${what} failed: ${storeErrorReason(cause)}${hint}`, { cause, retriable: false });
      }
      const outageMs = Date.now() - startedAt;
      if (policy.giveUpAfterMs !== undefined && outageMs >= policy.giveUpAfterMs) {
        throw new RunwatchError('SINK_WRITE_FAILED', `${what} still failing after ${n} attempts over ${outageMs} ms (give-up ${policy.giveUpAfterMs} ms): ${storeErrorReason(cause)}`, { cause, retriable: true });
      }
      policy.metrics?.sinkFailing.set(1);
      policy.metrics?.sinkRetries.inc();
      const delayMs = backoffMs(n, policy.maxBackoffMs ?? 30_000);
      if (Date.now() - lastWarnAt >= (policy.warnEveryMs ?? 10_000)) {
        lastWarnAt = Date.now();
        policy.logger.warn({ what, attempts: n, outageMs, nextRetryMs: Math.round(delayMs), err: storeErrorReason(cause) }, 'ClickHouse is not answering; retrying until it does');
      }
      await pause(delayMs, policy.signal);
    }
  }
}

/** Waits `ms`, or less when `signal` is aborted meanwhile (then StopRequested). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new StopRequested());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal?.aborted === true) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
