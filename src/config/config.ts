/**
 * Configuration: validated once at the edge into one normalized object (every field present).
 * Errors name the key, the bad value and what is allowed. Defaults are the reference values.
 */
import { z } from 'zod';
import { RunwatchError } from '../errors.js';
import { runContractSchema } from '../contract/run-contract.js';

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a SQL identifier ([A-Za-z_][A-Za-z0-9_]*)');
const positiveMs = z.number().int().positive();

export const clickHouseConfigSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('embedded'), dataPath: z.string().min(1), database: identifier }).strict(),
  z
    .object({
      mode: z.literal('server'),
      url: z.string().url(),
      username: z.string().default('default'),
      password: z.string().default(''),
      database: identifier,
      /** An https URL's CA (a server certificate not signed by a system CA) and client certificate (mutual TLS). */
      tls: z
        .object({ caFile: z.string().min(1), certFile: z.string().min(1).optional(), keyFile: z.string().min(1).optional() })
        .strict()
        .refine((tls) => (tls.certFile === undefined) === (tls.keyFile === undefined), { message: 'a client certificate and its key go together', path: ['certFile'] })
        .optional(),
    })
    .strict(),
]);

const levelsSchema = (warning: number, critical: number) =>
  z
    .object({ warning: z.number().nonnegative(), critical: z.number().nonnegative() })
    .strict()
    .refine((l) => l.warning <= l.critical, 'warning must not exceed critical')
    .default({ warning, critical });

export const detectionConfigSchema = z
  .object({
    /** Bounded out-of-orderness: the watermark trails the highest event time by this much. */
    maxOutOfOrdernessMs: z.number().int().nonnegative().default(3_000),
    /**
     * How long after its end (completion or deadline) a run still takes events that arrived behind
     * the watermark (Flink's allowed lateness). Must cover the critical delivery latency.
     */
    allowedLatenessMs: z.number().int().nonnegative().default(5_000),
    /** Strict-greater-than levels; the critical run duration is also the run deadline. Reference values by default. */
    thresholds: z
      .object({
        deliveryLatencyMs: levelsSchema(500, 2_000),
        gapMs: levelsSchema(1_000, 5_000),
        runDurationMs: levelsSchema(10_000, 30_000),
      })
      .strict()
      .default({}),
    /** Emitted vs delivered time (or vs the Kafka record timestamp) further apart than this: the event cannot be placed in time. */
    suspiciousSkewMs: positiveMs.default(3_600_000),
    /**
     * An event further than this ahead of its partition's highest accepted event time (or the
     * first event of a partition) is held outside the watermark until the partition's next event
     * confirms it; exposed, it is suspicious (withWatermark). One record cannot move event time.
     */
    maxAheadMs: positiveMs.default(60_000),
    /** Tumbling window of the per-user security grade. */
    userGradeWindowMs: positiveMs.default(3_600_000),
    /** How long a user's ids count as active for the content contamination check. */
    activeUserWindowMs: positiveMs.default(600_000),
    /** A whole contract (`--contract FILE`); absent: the reference contract with the thresholds above. */
    contract: runContractSchema.optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    // An event delayed by up to the critical latency must still count in its run, not be late.
    const critical = config.thresholds.deliveryLatencyMs.critical;
    if (config.allowedLatenessMs < critical) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['allowedLatenessMs'], message: `must be at least the critical delivery latency (${critical} ms)` });
    }
  });

const kafkaTlsSchema = z
  .object({
    caFile: z.string().min(1).optional(),
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** The name the broker certificate must carry, when it differs from the bootstrap host. */
    servername: z.string().min(1).optional(),
  })
  .strict()
  .refine((tls) => (tls.certFile === undefined) === (tls.keyFile === undefined), { message: 'a client certificate and its key go together', path: ['certFile'] });

const kafkaSaslSchema = z
  .object({
    mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
    username: z.string().min(1),
    password: z.string().min(1),
  })
  .strict();

export const kafkaConfigSchema = z
  .object({
    brokers: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port')).min(1),
    topic: z.string().min(1).default('agent-events'),
    groupId: z.string().min(1).default('runwatch'),
    clientId: z.string().min(1).default('runwatch'),
    fromBeginning: z.boolean().default(true),
    /**
     * Bounded reads only: fail (SOURCE_FAILED) when no record arrived for this long while
     * partitions are still short of their end offsets, instead of waiting forever.
     */
    stallTimeoutMs: positiveMs.default(120_000),
    /** Largest fetch per partition (KafkaJS default 1 MiB). Verdicts never depend on it; memory and latency do. */
    maxBytesPerPartition: z.number().int().positive().optional(),
    /**
     * The consumer's group session timeout (KafkaJS default 30 s; the broker allows 6 s to 5 min by
     * default). A member that died is replaced after this long: short means fast restarts after a
     * crash, long tolerates longer pauses of the process.
     */
    sessionTimeoutMs: positiveMs.optional(),
    /** TLS to the brokers (system CAs unless caFile); a client certificate and key for mutual TLS. */
    ssl: kafkaTlsSchema.optional(),
    /** SASL authentication (over TLS when `ssl` is set). */
    sasl: kafkaSaslSchema.optional(),
  })
  .strict();

export type KafkaTls = z.infer<typeof kafkaTlsSchema>;
export type KafkaSasl = z.infer<typeof kafkaSaslSchema>;

export const sinkConfigSchema = z
  .object({
    batchRows: z.number().int().positive().default(5_000),
    flushIntervalMs: positiveMs.default(1_000),
    /** An outage of the store is retried for this long before the monitor stops; absent: forever. */
    giveUpAfterMs: positiveMs.optional(),
    /** Ceiling of the backoff between insert attempts during an outage. */
    maxBackoffMs: positiveMs.default(30_000),
  })
  .strict();

/** Checkpoints, backpressure and shutdown (docs/architecture.md, "Checkpoints"). */
export const checkpointConfigSchema = z
  .object({
    /** Wall-clock time between checkpoints: what a restart reads again at most (plus, after a slow one, a pause as long as it took). */
    intervalMs: positiveMs.default(5_000),
    /** Results not yet acknowledged by ClickHouse above which fetching pauses (memory bound). */
    maxPendingRows: z.number().int().positive().default(50_000),
    /** How long a graceful stop (SIGTERM) waits for its last checkpoint. */
    shutdownTimeoutMs: positiveMs.default(10_000),
  })
  .strict();

export type CheckpointConfig = z.infer<typeof checkpointConfigSchema>;
/** A schema registry with a Confluent-compatible API (Confluent, Apicurio's /apis/ccompat/v7, Karapace...). */
export const schemaRegistryConfigSchema = z
  .object({
    url: z.string().url().refine((url) => /^https?:\/\//.test(url), 'must be an http or https URL'),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    requestTimeoutMs: positiveMs.default(5_000),
  })
  .strict()
  .refine((c) => c.password === undefined || c.username !== undefined, { message: 'a password needs a user name', path: ['password'] });

export type SchemaRegistryConfig = z.infer<typeof schemaRegistryConfigSchema>;
export type ClickHouseConfig = z.infer<typeof clickHouseConfigSchema>;
export type DetectionConfig = z.infer<typeof detectionConfigSchema>;
export type KafkaConfig = z.infer<typeof kafkaConfigSchema>;
export type SinkConfig = z.infer<typeof sinkConfigSchema>;
/** Sink settings as given (defaults not applied yet). */
export type SinkConfigInput = z.input<typeof sinkConfigSchema>;

/** Parses with a schema and turns zod issues into one readable RunwatchError. */
export function parseConfig<S extends z.ZodTypeAny>(schema: S, raw: unknown, what: string, flags: Readonly<Record<string, string>> = {}): z.infer<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.join('.') || '(root)';
    // The flag a user typed, when there is one: `--batch-rows (batchRows)`.
    const flag = flags[path] ?? flags[issue.path.filter((p) => typeof p === 'string').slice(0, 2).join('.')] ?? flags[String(issue.path[0] ?? '')];
    const key = flag === undefined ? path : `${flag} (${path})`;
    const value = issue.path.reduce<unknown>((node, part) => (node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>)[part] : undefined), raw);
    return `${key}=${JSON.stringify(redacted(path, value))}: ${issue.message}`;
  });
  throw new RunwatchError('CONFIG_INVALID', `invalid ${what} configuration: ${problems.join('; ')}`, { context: { problems } });
}

/** A value fit for an error message or a printout: no password, no credentials inside a URL. */
export function redacted(key: string, value: unknown): unknown {
  if (/password|secret/i.test(key) && value !== '') return '***';
  if (typeof value === 'string') return value.replace(/\/\/[^/@\s]*@/, '//***@');
  return value;
}
