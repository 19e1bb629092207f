import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { ClickHouseConfig } from '../config/config.js';

type ClientConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;

/**
 * One client API for both deployments: the embedded engine (chdb, in-process, the default) and a
 * ClickHouse server (`url`, the production path). Everything above this file is the same SQL.
 */
export function createClickHouseClient(config: ClickHouseConfig): ClickHouseClient {
  if (config.mode === 'embedded') {
    const path = resolve(config.dataPath);
    mkdirSync(path, { recursive: true });
    // chdb types its connection against the (now bundled) client-common package: same shape,
    // distinct declarations, so the compiler needs the cast; runtime behaviour is the client's own.
    const connection = loadChdb().createChdbConnection({ path }) as unknown as ClientConnection;
    return createClient({ connection });
  }
  // The client's own logger would print every failed attempt to the console; the sink reports
  // failures itself (structured, rate-limited, with what fails).
  return createClient({ url: config.url, username: config.username, password: config.password, log: { level: ClickHouseLogLevel.OFF }, ...tlsOptions(config.tls) });
}

/**
 * The embedded engine's bindings, loaded on first use only: the library is large (about 150 MB of
 * resident memory once loaded), and a deployment that writes to a server never needs it.
 */
function loadChdb(): typeof import('chdb/connection') {
  return createRequire(import.meta.url)('chdb/connection') as typeof import('chdb/connection');
}

type ServerTls = Extract<ClickHouseConfig, { mode: 'server' }>['tls'];

/** Certificates for an https URL, read at start: the CA, and a client certificate and key for mutual TLS. */
function tlsOptions(tls: ServerTls): Pick<NonNullable<Parameters<typeof createClient>[0]>, 'tls'> {
  if (tls === undefined) return {};
  const ca_cert = readFileSync(tls.caFile);
  if (tls.certFile === undefined || tls.keyFile === undefined) return { tls: { ca_cert } };
  return { tls: { ca_cert, cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } };
}
