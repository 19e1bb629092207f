/**
 * Configuration: validated once at the edge into one normalized object (every field present).
 * Errors name the key, the bad value and what is allowed. Defaults are the reference values.
 */
import { z } from 'zod';
import { RunwatchError } from '../errors.js';

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
    })
    .strict(),
]);

export const detectionConfigSchema = z
  .object({
    /** A run is judged at the latest this long (event time) after its first event. Reference: 30 s. */
    runDeadlineMs: positiveMs.default(30_000),
    /** Bounded out-of-orderness: the watermark trails the highest event time by this much. */
    maxOutOfOrdernessMs: z.number().int().nonnegative().default(3_000),
  })
  .strict();

export const kafkaConfigSchema = z
  .object({
    brokers: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port')).min(1),
    topic: z.string().min(1).default('agent-events'),
    groupId: z.string().min(1).default('runwatch'),
    clientId: z.string().min(1).default('runwatch'),
    fromBeginning: z.boolean().default(true),
  })
  .strict();

export const sinkConfigSchema = z
  .object({
    batchRows: z.number().int().positive().default(5_000),
    flushIntervalMs: positiveMs.default(1_000),
  })
  .strict();

export type ClickHouseConfig = z.infer<typeof clickHouseConfigSchema>;
export type DetectionConfig = z.infer<typeof detectionConfigSchema>;
export type KafkaConfig = z.infer<typeof kafkaConfigSchema>;
export type SinkConfig = z.infer<typeof sinkConfigSchema>;

/** Parses with a schema and turns zod issues into one readable RunwatchError. */
export function parseConfig<S extends z.ZodTypeAny>(schema: S, raw: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = issue.path.join('.') || '(root)';
    const value = issue.path.reduce<unknown>((node, part) => (node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>)[part] : undefined), raw);
    return `${key}=${JSON.stringify(value)}: ${issue.message}`;
  });
  throw new RunwatchError('CONFIG_INVALID', `invalid ${what} configuration: ${problems.join('; ')}`, { context: { problems } });
}
