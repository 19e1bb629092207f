/**
 * Publishing through a schema registry, as a producer using Confluent's serializers would: each
 * record framed with magic byte 0 and the id of its schema. Used by the simulator (`--framing`)
 * and by tests. A record the chosen format cannot carry exactly (a fault the schema does not
 * allow, a value Avro would change) is published as plain JSON and counted: runwatch reads both
 * kinds from one topic, record by record.
 */
import { isDeepStrictEqual } from 'node:util';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { frameWithSchemaId, withoutNulls } from '../contract/framing.js';
import { lifecycleTypeOf } from '../contract/wire.js';

export const FRAMINGS = ['plain', 'avro', 'json-schema'] as const;
export type Framing = (typeof FRAMINGS)[number];

export interface FramedValue {
  readonly value: Buffer | string;
  readonly framed: boolean;
}

export interface ValueFramer {
  frame(value: string): FramedValue;
}

interface AvroType {
  toBuffer(value: object): Buffer;
  fromBuffer(buffer: Buffer): unknown;
}

/** Registers the event schemas for `topic` and returns a framer for `framing`. */
export async function createValueFramer(registry: SchemaRegistry, topic: string, framing: Exclude<Framing, 'plain'>): Promise<ValueFramer> {
  // Imported here, not at the top: the registry's modules load only for a framed simulation.
  const { registerEventSchemas } = await import('../consumers/schema-registry.js');
  const subjects = await registerEventSchemas(registry, topic, [framing]);
  if (framing === 'json-schema') {
    const idByType = new Map(subjects.map((s) => [s.type, s.id]));
    return {
      frame: (value) => {
        const type = lifecycleTypeOf(typeOf(value) ?? '');
        const id = type === undefined ? undefined : idByType.get(type);
        return id === undefined ? { value, framed: false } : { value: frameWithSchemaId(id, Buffer.from(value)), framed: true };
      },
    };
  }
  const [avro] = subjects;
  if (avro === undefined) throw new Error('registering the Avro schema returned no id');
  const type = (await registry.getSchema(avro.id)) as unknown as AvroType & { readonly fields: readonly { readonly name: string }[] };
  const fieldNames = new Set(type.fields.map((f) => f.name));
  return {
    frame: (value) => {
      const body = parseObject(value);
      if (body === undefined || Object.keys(body).some((key) => !fieldNames.has(key))) return { value, framed: false };
      let encoded: Buffer;
      try {
        encoded = type.toBuffer(Object.fromEntries([...fieldNames].map((name) => [name, body[name] ?? null])));
      } catch {
        return { value, framed: false };
      }
      // Only what Avro gives back exactly is sent as Avro (nulls, -0 and the like are not).
      if (!isDeepStrictEqual(withoutNulls(type.fromBuffer(encoded)), body)) return { value, framed: false };
      return { value: frameWithSchemaId(avro.id, encoded), framed: true };
    },
  };
}

function parseObject(value: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function typeOf(value: string): string | undefined {
  const type = parseObject(value)?.['type'];
  return typeof type === 'string' ? type : undefined;
}
