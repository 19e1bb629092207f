/**
 * Records framed by a schema registry (Confluent's wire format: magic byte 0, a 4-byte big-endian
 * schema id, then the body), decoded with @kafkajs/confluent-schema-registry.
 *
 * Decoding happens in two steps so that the hot path stays synchronous and deterministic:
 * 1. `resolve` (async, once per batch, before the batch enters the pipeline) looks up the schema
 *    ids the batch uses that are not cached yet. An id the registry does not know is remembered
 *    as unknown (its records become dead letters); a registry that does not answer is an outage:
 *    the batch waits, retrying with backoff, and the consumer heartbeats meanwhile.
 * 2. `decode` (sync, in normalize) turns one framed value into the wire object, or a reason.
 *
 * Plain JSON records keep working beside framed ones, record by record: JSON text never starts
 * with byte 0.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { z } from 'zod';
import type { FramedValueDecoder, FramedDecodeResult } from '../contract/framing.js';
import { REGISTRY_FRAME_HEADER_BYTES, registrySchemaIdOf, withoutNulls } from '../contract/framing.js';
import { RunwatchError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { backoffMs } from '../sinks/store-outage.js';

export interface SchemaRegistryConfig {
  readonly url: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** One lookup's time limit (a registry that hangs is an outage, not a wait forever). */
  readonly requestTimeoutMs?: number;
}

export function createSchemaRegistryClient(config: SchemaRegistryConfig): SchemaRegistry {
  const auth = config.username === undefined ? {} : { auth: { username: config.username, password: config.password ?? '' } };
  return new SchemaRegistry({
    host: config.url,
    clientId: 'runwatch',
    ...auth,
    // Retries are ours (resolve below): the client's own would hide an outage for seconds at a time.
    retry: { retries: 0 },
    middlewares: [timeoutMiddleware(config.requestTimeoutMs ?? 5_000)],
  });
}

type Middleware = NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]['middlewares']>[number];

/** Every request gets a time limit (mappersmith's own middleware, written against the client's types). */
function timeoutMiddleware(timeoutMs: number): Middleware {
  return () => ({ request: (request) => request.enhance({ timeout: timeoutMs }) });
}

/** Subject naming: `<topic>-value` for the one Avro record; `<topic>-<type>` per lifecycle type (JSON Schema). */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}
export function typeSubject(topic: string, type: string): string {
  return `${topic}-${type}`;
}

type CachedSchema =
  | { readonly kind: 'avro'; readonly fromBuffer: (body: Buffer) => unknown }
  | { readonly kind: 'json' }
  | { readonly kind: 'unsupported'; readonly type: string }
  | { readonly kind: 'unknown'; readonly reason: string };

interface ResolveContext {
  /** Keeps the consumer's group session alive while an outage lasts. */
  readonly heartbeat?: () => Promise<void>;
  /** Stop waiting: the job is stopping. */
  readonly isStopping?: () => boolean;
}

const MAX_BACKOFF_MS = 10_000;
/** Registering is a one-off command: its retries wait less. */
const REGISTER_MAX_BACKOFF_MS = 5_000;

export class SchemaRegistryDecoder implements FramedValueDecoder {
  private readonly schemas = new Map<number, CachedSchema>();

  constructor(
    private readonly registry: SchemaRegistry,
    private readonly logger: Logger,
    private readonly metrics?: Metrics,
  ) {}

  /**
   * At start: a URL that answers but is not a Confluent-compatible API (a wrong path gives 404 to
   * every lookup, which would make every framed record a dead letter) is a configuration error. A
   * registry that does not answer yet is an outage, found again at the first lookup.
   */
  async checkApi(config: SchemaRegistryConfig): Promise<void> {
    const headers: Record<string, string> = config.username === undefined ? {} : { authorization: `Basic ${Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64')}` };
    let status: number;
    try {
      status = (await fetch(`${config.url.replace(/\/+$/, '')}/subjects`, { headers, signal: AbortSignal.timeout(config.requestTimeoutMs ?? 5_000) })).status;
    } catch (err) {
      this.logger.warn({ err: firstLine(err) }, 'schema registry not reachable at start; framed records wait for it');
      return;
    }
    if (status === 404) throw new RunwatchError('CONFIG_INVALID', `invalid schema registry configuration: --schema-registry-url answers 404 to GET /subjects: not a Confluent-compatible API (Apicurio's is under /apis/ccompat/v7)`);
    if (status === 401 || status === 403) throw new RunwatchError('CONFIG_INVALID', `invalid schema registry configuration: the registry refused the credentials (HTTP ${status}): check --schema-registry-username and --schema-registry-password`);
  }

  /** Looks up every schema id among `values` not cached yet; returns once each is known or known unknown. */
  async resolve(values: Iterable<Buffer | null>, context: ResolveContext = {}): Promise<void> {
    const missing = new Set<number>();
    for (const value of values) {
      const id = registrySchemaIdOf(value);
      if (id !== undefined && !this.schemas.has(id)) missing.add(id);
    }
    for (const id of missing) {
      const schema = await this.lookUp(id, context);
      // Stopping: the batch is not passed on, its ids stay unresolved.
      if (schema === undefined) return;
      this.schemas.set(id, schema);
    }
  }

  decode(schemaId: number, framed: Buffer): FramedDecodeResult {
    const schema = this.schemas.get(schemaId);
    if (schema === undefined) return { ok: false, reason: `internal error: schema id ${schemaId} was not looked up before decoding` };
    const body = framed.subarray(REGISTRY_FRAME_HEADER_BYTES);
    switch (schema.kind) {
      case 'unknown':
        return { ok: false, reason: schema.reason };
      case 'unsupported':
        return { ok: false, reason: `unsupported schema type: schema id ${schemaId} is a ${schema.type} schema; runwatch decodes Avro and JSON Schema records` };
      case 'json':
        return { ok: true, format: 'json', text: body };
      case 'avro':
        try {
          return { ok: true, format: 'object', value: withoutNulls(schema.fromBuffer(body)) };
        } catch (err) {
          return { ok: false, reason: `undecodable Avro body: schema id ${schemaId}: ${firstLine(err)}` };
        }
    }
  }

  private async lookUp(id: number, context: ResolveContext): Promise<CachedSchema | undefined> {
    let failures = 0;
    for (;;) {
      try {
        await this.registry.getSchema(id);
        const entry = this.registry.cache.getSchema(id);
        if (failures > 0) this.logger.info({ schemaId: id, failures }, 'schema registry reachable again');
        this.metrics?.schemaRegistryFailing.set(0);
        this.metrics?.schemaRegistryLookups.inc({ outcome: 'found' });
        if (entry === undefined) return { kind: 'unknown', reason: `internal error: schema id ${id}: the registry answered but the client cached nothing` };
        if (entry.type === SchemaType.AVRO) {
          const avro = entry.schema;
          return { kind: 'avro', fromBuffer: (body) => avro.fromBuffer(body) };
        }
        if (entry.type === SchemaType.JSON) return { kind: 'json' };
        return { kind: 'unsupported', type: entry.type };
      } catch (err) {
        const status = statusOf(err);
        if (status === 404) {
          this.metrics?.schemaRegistryFailing.set(0);
          this.metrics?.schemaRegistryLookups.inc({ outcome: 'unknown' });
          this.logger.warn({ schemaId: id }, 'schema registry does not know this schema id: its records are dead letters');
          return { kind: 'unknown', reason: `unknown schema id: ${id} (the registry has no such schema)` };
        }
        // No HTTP answer and no transport failure: the registry answered with a schema the client
        // cannot use (it does not compile). That is the records' problem, not an outage.
        if (status === undefined && !isTransportError(err)) {
          this.metrics?.schemaRegistryFailing.set(0);
          this.metrics?.schemaRegistryLookups.inc({ outcome: 'invalid' });
          this.logger.warn({ schemaId: id, err: firstLine(err) }, 'schema registry gave a schema that cannot be used: its records are dead letters');
          return { kind: 'unknown', reason: `unusable schema: schema id ${id}: ${firstLine(err)}` };
        }
        failures += 1;
        this.metrics?.schemaRegistryFailing.set(1);
        this.metrics?.schemaRegistryLookups.inc({ outcome: 'failed' });
        const waitMs = backoffMs(failures, MAX_BACKOFF_MS);
        const log = { schemaId: id, failures, status, err: firstLine(err), retryInMs: Math.round(waitMs) };
        if (failures === 1 || failures % 10 === 0) this.logger.warn(log, 'schema registry unreachable: reading waits and retries (an outage, not a dead letter)');
        if (!(await sleepWithHeartbeat(waitMs, context))) return undefined;
      }
    }
  }
}

/** Waits `ms`, heartbeating every second; false when the job is stopping (stop waiting). */
async function sleepWithHeartbeat(ms: number, context: ResolveContext): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (context.isStopping?.() === true) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, until - Date.now())));
    // Not swallowed: a rebalance must reach KafkaJS (it rejoins; this batch is fetched again).
    await context.heartbeat?.();
  }
  return context.isStopping?.() !== true;
}

function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('status' in err)) return undefined;
  const status = (err as { status: unknown }).status;
  return typeof status === 'number' && !isTransportError(err) ? status : undefined;
}

/** mappersmith reports a refused connection or a timeout as status 400 with no server answer; plain Node errors carry an errno code. */
function isTransportError(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  return /^E[A-Z]+$/.test(code) || /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|socket hang up|Timeout \(\d+ms\)|network|fetch failed/i.test(message);
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

/** Where the event schemas live: schemas/events at the package root (from src/ or dist/ alike). */
export const EVENT_SCHEMAS_DIR = fileURLToPath(new URL('../../schemas/events/', import.meta.url));

export interface RegisteredSubject {
  readonly subject: string;
  readonly format: 'avro' | 'json-schema';
  /** The lifecycle type a JSON Schema subject is for (undefined: the one Avro record for all types). */
  readonly type?: string;
  readonly id: number;
}

export interface RegisterOptions {
  /** Tries per subject when the registry cannot be reached, times out or answers 5xx (default 5). */
  readonly attempts?: number;
  /** Told before each retry, with the wait before it (the lookups' backoff, capped at 5 s). */
  readonly onRetry?: (retry: { subject: string; attempt: number; err: string; retryInMs: number }) => void;
}

/**
 * Registers the lifecycle event schemas of schemas/events for `topic`: the Avro record under
 * `<topic>-value` (TopicNameStrategy) and each type's JSON Schema under `<topic>-<type>`. Registering
 * an unchanged schema again returns its existing id (the registry deduplicates), so this is
 * idempotent, and so a request that failed in transport (a timeout, a refused connection, a 5xx) is
 * safe to send again: it is, a bounded number of times. A registry's refusal (4xx) is final.
 */
export async function registerEventSchemas(registry: Pick<SchemaRegistry, 'register'>, topic: string, formats: readonly ('avro' | 'json-schema')[] = ['avro', 'json-schema'], options: RegisterOptions = {}): Promise<RegisteredSubject[]> {
  const register = async (subject: string, send: () => Promise<{ id: number }>): Promise<number> => {
    const attempts = options.attempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        return (await send()).id;
      } catch (err) {
        const status = statusOf(err);
        const transient = isTransportError(err) || (status !== undefined && status >= 500);
        if (!transient || attempt >= attempts) throw err;
        const retryInMs = backoffMs(attempt, REGISTER_MAX_BACKOFF_MS);
        options.onRetry?.({ subject, attempt, err: firstLine(err), retryInMs });
        await new Promise((resolve) => setTimeout(resolve, retryInMs));
      }
    }
  };
  const registered: RegisteredSubject[] = [];
  if (formats.includes('avro')) {
    const schema = await readFile(join(EVENT_SCHEMAS_DIR, 'lifecycle_event.avsc'), 'utf8');
    const subject = valueSubject(topic);
    registered.push({ subject, format: 'avro', id: await register(subject, () => registry.register({ type: SchemaType.AVRO, schema }, { subject })) });
  }
  if (formats.includes('json-schema')) {
    const index = eventSchemaIndexSchema.parse(JSON.parse(await readFile(join(EVENT_SCHEMAS_DIR, 'index.json'), 'utf8')));
    for (const entry of index.events) {
      const schema = await readFile(join(EVENT_SCHEMAS_DIR, entry.schema), 'utf8');
      const subject = typeSubject(topic, entry.type);
      registered.push({ subject, format: 'json-schema', type: entry.type, id: await register(subject, () => registry.register({ type: SchemaType.JSON, schema }, { subject })) });
    }
  }
  return registered;
}

const eventSchemaIndexSchema = z.object({ events: z.array(z.object({ schema: z.string().min(1), type: z.string().min(1) })) });
