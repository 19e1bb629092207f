/**
 * Schema-registry framing (Confluent's wire format): byte 0 is the magic byte 0, bytes 1..4 the
 * schema id (big-endian), the rest the body in the schema's format. JSON text never starts with
 * byte 0, so framed and plain JSON records can share a topic and are told apart record by record.
 */

export const REGISTRY_MAGIC_BYTE = 0;
export const REGISTRY_FRAME_HEADER_BYTES = 5;

/** The schema id of a framed value; undefined for anything else (plain JSON included). */
export function registrySchemaIdOf(value: Buffer | null): number | undefined {
  if (value === null || value.length < REGISTRY_FRAME_HEADER_BYTES || value[0] !== REGISTRY_MAGIC_BYTE) return undefined;
  return value.readUInt32BE(1);
}

/** Frames a body with a schema id (publishers: the simulator, the canary, tests). */
export function frameWithSchemaId(schemaId: number, body: Buffer): Buffer {
  const header = Buffer.alloc(REGISTRY_FRAME_HEADER_BYTES);
  header.writeUInt8(REGISTRY_MAGIC_BYTE, 0);
  header.writeUInt32BE(schemaId, 1);
  return Buffer.concat([header, body]);
}

export type FramedDecodeResult =
  /** A JSON Schema record: its body is JSON text, read like a plain record. */
  | { readonly ok: true; readonly format: 'json'; readonly text: Buffer }
  /** An Avro record: decoded to an object already. */
  | { readonly ok: true; readonly format: 'object'; readonly value: unknown }
  | { readonly ok: false; readonly reason: string };

/** Decodes framed values synchronously; the schemas were looked up before the batch came in. */
export interface FramedValueDecoder {
  decode(schemaId: number, framed: Buffer): FramedDecodeResult;
}

/**
 * Avro spells "absent" as null in a nullable field; the wire contract spells it by leaving the
 * field out. Objects come back plain (avsc returns record class instances).
 */
export function withoutNulls(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map(withoutNulls);
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) if (field !== null) out[key] = withoutNulls(field);
  return out;
}
