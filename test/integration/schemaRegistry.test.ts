/**
 * Records framed by a real schema registry (Apicurio Registry, Confluent-compatible API), Avro and
 * JSON Schema, decode to exactly the verdicts of the same records sent as plain JSON. The framing
 * is done here with the registry client library itself (a third-party encoder, not runwatch's
 * framer), on the independent producer model's traffic; `runwatch simulate --framing` is checked
 * the same way. Unknown schema ids and undecodable bodies are dead letters with their reason; a
 * registry that stops answering holds the read (no dead letter) until it answers again.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { ensureTopic } from '../../src/consumers/topics.js';
import { projectRoot } from '../../src/infra/broker-config.js';
import { generateTraffic, type WireRecord } from '../oracle/producers.js';
import { diffDumps, dumpTables, freshDataPath, publish, startMonitorProcess } from '../support/crash-harness.js';
import { startSchemaRegistryForTests, type TestSchemaRegistry } from '../support/schema-registry.js';

const brokers = inject('kafkaBrokers');
const ROOT = projectRoot();
const PARTITIONS = 3;
/** Columns that name the topic (each variant has its own) are not verdicts. */
const TOPIC_COLUMNS = ['source_topic', 'violation_id'];

let registry: TestSchemaRegistry;

beforeAll(async () => {
  registry = await startSchemaRegistryForTests();
}, 180_000);
afterAll(async () => {
  await registry?.stop();
});

function cli(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, RUNWATCH_LOG_LEVEL: 'warn' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function replay(topic: string, extraArgs: readonly string[] = []): Promise<{ dump: Record<string, string[]>; stats: { deadLetters: number; lifecycleEvents: number } }> {
  const dataPath = await freshDataPath();
  const monitor = startMonitorProcess({ brokers, topic, group: `sr-${randomUUID()}`, dataPath, database: 'runwatch_sr', replay: true, extraArgs: ['--schema-registry-url', registry.url, ...extraArgs] });
  const exit = await monitor.exited;
  expect(exit.code, monitor.logLines.slice(-8).join('\n')).toBe(0);
  const stats = z.object({ deadLetters: z.number(), lifecycleEvents: z.number() }).parse(JSON.parse(monitor.outLines.at(-1) ?? '{}'));
  return { dump: await dumpTables(dataPath, 'runwatch_sr', TOPIC_COLUMNS), stats };
}

/** Avro says "absent" with null; the wire contract leaves the field out. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
}

function avroFieldNames(): string[] {
  return z.object({ fields: z.array(z.object({ name: z.string() })) }).parse(JSON.parse(readFileSync(join(ROOT, 'schemas/events/lifecycle_event.avsc'), 'utf8'))).fields.map((f) => f.name);
}

function jsonObject(value: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The record in Avro, framed by the library, when the schema carries it exactly (decoded back equal); else undefined. */
async function encodeAvroExactly(client: SchemaRegistry, id: number, fields: readonly string[], object: Record<string, unknown>): Promise<Buffer | undefined> {
  if (!Object.keys(object).every((k) => fields.includes(k))) return undefined;
  try {
    const encoded = await client.encode(id, Object.fromEntries(fields.map((f) => [f, object[f] ?? null])));
    return isDeepStrictEqual(withoutNulls(await client.decode(encoded)), object) ? encoded : undefined;
  } catch {
    return undefined; // a value the Avro schema cannot hold: sent as plain JSON
  }
}

describe('schema-registry records (Apicurio Registry, Confluent wire format)', () => {
  it('Avro and JSON Schema records give the verdicts of the same records as plain JSON; unknown ids and bad bodies are dead letters with the reason', async () => {
    // Schemas registered by the CLI, as an operator would; listed back through the registry's API.
    const registerOut = cli(['schemas', 'register', '--schema-registry-url', registry.url, '--topic', 'sr-events']);
    expect(registerOut.status, registerOut.stderr).toBe(0);
    expect(registerOut.stdout).toMatch(/sr-events-value\s+avro\s+id \d+/);
    const again = cli(['schemas', 'register', '--schema-registry-url', registry.url, '--topic', 'sr-events']);
    expect(again.stdout, 'registering twice is idempotent (same ids)').toBe(registerOut.stdout);
    const subjects = z.array(z.string()).parse(await (await fetch(`${registry.url}/subjects`)).json());
    expect(subjects).toEqual(expect.arrayContaining(['sr-events-value', 'sr-events-agent_started', 'sr-events-agent_thinking', 'sr-events-tool_executing', 'sr-events-tool_completed', 'sr-events-agent_completed']));

    const client = new SchemaRegistry({ host: registry.url });
    const avroId = await client.getLatestSchemaId('sr-events-value');
    const jsonIds = new Map<string, number>();
    for (const type of ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed']) jsonIds.set(type, await client.getLatestSchemaId(`sr-events-${type}`));
    jsonIds.set('reasoning', jsonIds.get('agent_thinking') ?? -1); // the emitter's alias of agent_thinking
    const avroFields = avroFieldNames();

    const traffic = generateTraffic({ seed: 4242, runs: 160, users: 12, partitions: PARTITIONS });
    const asAvro: WireRecord[] = [];
    const asJsonSchema: WireRecord[] = [];
    let avroFramed = 0;
    let jsonFramed = 0;
    for (const record of traffic.records) {
      const object = jsonObject(record.value);
      // Avro: only what the schema carries exactly (checked by decoding with the library).
      const encoded = object === undefined ? undefined : await encodeAvroExactly(client, avroId, avroFields, object);
      if (encoded !== undefined) avroFramed += 1;
      const avroValue: string | Buffer = encoded ?? record.value;
      asAvro.push({ ...record, value: avroValue as string });
      // JSON Schema: the record's own bytes behind the frame of its type's schema.
      const jsonId = typeof object?.['type'] === 'string' ? jsonIds.get(object['type']) : undefined;
      if (jsonId !== undefined) jsonFramed += 1;
      asJsonSchema.push({ ...record, value: (jsonId === undefined ? record.value : Buffer.concat([Buffer.from([0]), int32(jsonId), Buffer.from(record.value)])) as unknown as string });
    }
    expect(avroFramed / traffic.records.length, 'share of records sent as Avro').toBeGreaterThan(0.3);
    expect(jsonFramed / traffic.records.length, 'share of records sent as JSON Schema').toBeGreaterThan(0.9);

    const bad = [
      { value: Buffer.concat([Buffer.from([0]), int32(987_654), Buffer.from('{"type":"agent_started"}')]), reason: /^unknown schema id: 987654/ },
      { value: Buffer.concat([Buffer.from([0]), int32(avroId), Buffer.from([0x02, 0xff, 0xff])]), reason: /^undecodable Avro body: schema id \d+/ },
      { value: Buffer.concat([Buffer.from([0]), int32(jsonIds.get('agent_started') ?? -1), Buffer.from('{"type": agent_started')]), reason: /^invalid JSON: .*\(JSON Schema record, schema id \d+\)/ },
    ];
    const topics = { plain: `sr-plain-${randomUUID()}`, avro: `sr-avro-${randomUUID()}`, json: `sr-json-${randomUUID()}` };
    for (const topic of Object.values(topics)) await ensureTopic(brokers, topic, PARTITIONS, { keepHistoricalRecords: true });
    await publish(brokers, topics.plain, traffic.records);
    await publish(brokers, topics.avro, asAvro);
    await publish(brokers, topics.json, asJsonSchema);
    const lastTimestamp = Math.max(...traffic.records.map((r) => r.timestampMs));
    const badRecords = bad.map((b, i): WireRecord => ({ key: `bad-${i}`, value: b.value as unknown as string, partition: i % PARTITIONS, offset: -1, timestampMs: lastTimestamp }));
    await publish(brokers, topics.avro, badRecords);

    const [plain, avro, json] = await Promise.all([replay(topics.plain), replay(topics.avro), replay(topics.json)]);
    expect(plain.stats.lifecycleEvents).toBeGreaterThan(1_000);
    expect(avro.stats.lifecycleEvents).toBe(plain.stats.lifecycleEvents);
    expect(json.stats.lifecycleEvents).toBe(plain.stats.lifecycleEvents);
    const verdicts = (dump: Record<string, string[]>): Record<string, string[]> => ({ ...dump, dead_letters: [] });
    expect(diffDumps(verdicts(plain.dump), verdicts(avro.dump)), 'Avro vs plain').toEqual([]);
    expect(diffDumps(verdicts(plain.dump), verdicts(json.dump)), 'JSON Schema vs plain').toEqual([]);
    expect(plain.dump['violations']?.length).toBeGreaterThan(20);
    // The plain topic's own dead letters (malformed records of the producers) are there in each.
    expect(json.dump['dead_letters']).toEqual(plain.dump['dead_letters']);
    expect(avro.stats.deadLetters).toBe(plain.stats.deadLetters + bad.length);
    const reasons = (avro.dump['dead_letters'] ?? []).map((row) => z.object({ reason: z.string() }).passthrough().parse(JSON.parse(row)).reason);
    for (const { reason } of bad) expect(reasons.some((r) => reason.test(r)), `a dead letter matching ${reason}; got ${JSON.stringify(reasons)}`).toBe(true);
  }, 300_000);

  it('a registry that stops answering holds the read (an outage, no dead letter); the verdicts are those of an uninterrupted read', async () => {
    const client = new SchemaRegistry({ host: registry.url });
    const { id } = await client.register({ type: SchemaType.AVRO, schema: readFileSync(join(ROOT, 'schemas/events/lifecycle_event.avsc'), 'utf8') }, { subject: `outage-${randomUUID()}-value` });
    const traffic = generateTraffic({ seed: 99, runs: 40, users: 6, partitions: 2, faultFraction: 0 });
    const avroFields = avroFieldNames();
    const framed: WireRecord[] = [];
    for (const record of traffic.records) {
      const object = jsonObject(record.value);
      const encoded = object === undefined ? undefined : await encodeAvroExactly(client, id, avroFields, object);
      framed.push(encoded === undefined ? record : { ...record, value: encoded as unknown as string });
    }
    const topics = { plain: `sr-outage-plain-${randomUUID()}`, framed: `sr-outage-framed-${randomUUID()}` };
    for (const topic of Object.values(topics)) await ensureTopic(brokers, topic, 2, { keepHistoricalRecords: true });
    await publish(brokers, topics.plain, traffic.records);
    await publish(brokers, topics.framed, framed);
    expect(framed.filter((r) => typeof r.value !== 'string').length, 'records sent as Avro').toBeGreaterThan(50);

    const reference = await replay(topics.plain);
    await registry.pause();
    const dataPath = await freshDataPath();
    const monitor = startMonitorProcess({ brokers, topic: topics.framed, group: `sr-outage-${randomUUID()}`, dataPath, database: 'runwatch_sr', replay: true, extraArgs: ['--schema-registry-url', registry.url, '--schema-registry-timeout-ms', '1000'] });
    try {
      const deadline = Date.now() + 60_000;
      while (!monitor.logLines.some((l) => l.includes('schema registry unreachable')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(monitor.logLines.some((l) => l.includes('schema registry unreachable')), monitor.logLines.slice(-5).join('\n')).toBe(true);
      await new Promise((r) => setTimeout(r, 3_000));
      expect(monitor.child.exitCode, 'the monitor waits for the registry').toBeNull();
    } finally {
      await registry.resume();
    }
    const exit = await monitor.exited;
    expect(exit.code, monitor.logLines.slice(-8).join('\n')).toBe(0);
    expect(monitor.logLines.some((l) => l.includes('schema registry reachable again'))).toBe(true);
    const stats = z.object({ deadLetters: z.number() }).parse(JSON.parse(monitor.outLines.at(-1) ?? '{}'));
    expect(stats.deadLetters).toBe(reference.stats.deadLetters);
    expect(diffDumps(reference.dump, await dumpTables(dataPath, 'runwatch_sr', TOPIC_COLUMNS))).toEqual([]);
  }, 300_000);

  it('`runwatch simulate --framing avro|json-schema` publishes what `--framing plain` does, framed, and the monitor reads it alike', async () => {
    const base = ['simulate', '--brokers', brokers.join(','), '--runs', '200', '--users', '20', '--seed', '7', '--partitions', '2'];
    const results: Record<string, Awaited<ReturnType<typeof replay>>> = {};
    for (const framing of ['plain', 'avro', 'json-schema'] as const) {
      const topic = `sr-sim-${framing}-${randomUUID()}`;
      const out = cli([...base, '--topic', topic, '--framing', framing, ...(framing === 'plain' ? [] : ['--schema-registry-url', registry.url])]);
      expect(out.status, out.stderr).toBe(0);
      const line = z.object({ published: z.number(), framed: z.number() }).parse(JSON.parse(out.stdout.trim().split('\n').at(-1) ?? '{}'));
      if (framing === 'plain') expect(line.framed).toBe(0);
      else expect(line.framed / line.published, `${framing}: share framed`).toBeGreaterThan(framing === 'avro' ? 0.2 : 0.9);
      results[framing] = await replay(topic);
    }
    expect(diffDumps(results['plain']!.dump, results['avro']!.dump), 'avro vs plain').toEqual([]);
    expect(diffDumps(results['plain']!.dump, results['json-schema']!.dump), 'json-schema vs plain').toEqual([]);
  }, 300_000);
});

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
