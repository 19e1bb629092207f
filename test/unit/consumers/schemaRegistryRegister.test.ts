/**
 * `runwatch schemas register` against a registry that is slow or failing: registering is idempotent,
 * so a transport failure (the client's timeout, a refused connection) or a 5xx is tried again, a
 * bounded number of times; a refusal (4xx) is final. The real registry is in
 * test/integration/schemaRegistry.test.ts; this stub only fails on cue.
 */
import { describe, expect, it } from 'vitest';
import { registerEventSchemas } from '../../../src/consumers/schema-registry.js';

/** mappersmith's shapes, as the Confluent client throws them. */
const timeout = () => Object.assign(new Error('runwatch - Error, status 400: Timeout (5000ms)'), { status: 400 });
const serverError = () => Object.assign(new Error('runwatch - Error, status 503: Service Unavailable'), { status: 503 });
const invalidSchema = () => Object.assign(new Error('runwatch - Error, status 422: Invalid schema'), { status: 422 });

function stubRegistry(failures: Array<() => Error>) {
  const calls: string[] = [];
  let nextId = 1;
  return {
    calls,
    register: async (_schema: unknown, opts?: { subject?: string }) => {
      calls.push(opts?.subject ?? '');
      const fail = failures.shift();
      if (fail !== undefined) throw fail();
      return { id: nextId++ };
    },
  };
}

describe('registerEventSchemas', () => {
  it('registers again after timeouts and 5xx answers, then goes on with the next subjects', async () => {
    const registry = stubRegistry([timeout, serverError]);
    const retries: Array<{ subject: string; attempt: number }> = [];
    const registered = await registerEventSchemas(registry as never, 'events', ['avro', 'json-schema'], { onRetry: ({ subject, attempt }) => retries.push({ subject, attempt }) });
    expect(retries).toEqual([{ subject: 'events-value', attempt: 1 }, { subject: 'events-value', attempt: 2 }]);
    expect(registry.calls.slice(0, 3)).toEqual(['events-value', 'events-value', 'events-value']);
    expect(registered[0]).toEqual({ subject: 'events-value', format: 'avro', id: 1 });
    // Every subject once, after the avro one's three tries.
    expect(new Set(registry.calls).size).toBe(registered.length);
    expect(registry.calls.length).toBe(registered.length + 2);
  });

  it('does not retry a refusal', async () => {
    const registry = stubRegistry([invalidSchema]);
    await expect(registerEventSchemas(registry as never, 'events', ['avro'])).rejects.toThrow(/status 422/);
    expect(registry.calls).toEqual(['events-value']);
  });

  it('gives up after the attempts it was given, with the last error', async () => {
    const registry = stubRegistry([timeout, timeout, timeout, timeout]);
    await expect(registerEventSchemas(registry as never, 'events', ['avro'], { attempts: 3 })).rejects.toThrow(/Timeout \(5000ms\)/);
    expect(registry.calls).toHaveLength(3);
  });
});
