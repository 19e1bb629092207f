/**
 * The embedded ClickHouse engine (chdb) behind ClickHouse's HTTP interface, on loopback, for tests
 * that need what only a server gives: several runwatch processes sharing one store (results and
 * checkpoints), through `--clickhouse-url` and the real @clickhouse/client over HTTP. A modern
 * ClickHouse server cannot be had on this machine (docs: ENVIRONMENT); the engine and the SQL are
 * the real ones, only the HTTP front is ours: `POST /?query=…&param_x=…&database=…` with the SQL
 * (or, with `query`, the rows to insert) as the body; errors as ClickHouse sends them (HTTP 500,
 * `Code: N. DB::Exception: …`, X-ClickHouse-Exception-Code).
 *
 *   node --import tsx test/support/chdb-http-server.ts <data-dir> [port] [delay-ms]   → prints "listening <port>"
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Session } from 'chdb';

/** URL parameters of the HTTP interface that are not engine settings. */
const NOT_SETTINGS = new Set(['query', 'database', 'query_id', 'session_id', 'session_timeout', 'wait_end_of_query', 'enable_http_compression', 'send_progress_in_http_headers', 'http_headers_progress_interval_ms', 'default_format']);

function engineError(err: unknown): { code: string; text: string } {
  const text = err instanceof Error ? err.message : String(err);
  const code = /Code: (\d+)/.exec(text)?.[1] ?? '1001';
  return { code, text: text.startsWith('Code:') ? text : `Code: ${code}. DB::Exception: ${text}` };
}

export interface ServeOptions {
  readonly port?: number;
  /** Every answer this much later (a slow server). */
  readonly delayMs?: number;
  /** HTTPS with this key and certificate; with `caFile`, clients must present a certificate it signed. */
  readonly tls?: { readonly keyFile: string; readonly certFile: string; readonly caFile?: string };
}

export function serveChdb(dataPath: string, options: ServeOptions = {}): Promise<{ readonly port: number; close(): Promise<void> }> {
  const session = new Session(dataPath);
  const delayMs = options.delayMs ?? 0;
  // One statement at a time, in arrival order: as a server's single table would see them from one client.
  let queue: Promise<unknown> = Promise.resolve();
  const run = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/ping') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('Ok.\n');
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const body = Buffer.concat(chunks).toString('utf8');
    const inUrl = url.searchParams.get('query');
    const queryId = url.searchParams.get('query_id') ?? `q-${Date.now()}`;
    const params: Record<string, string> = {};
    const settings: string[] = [];
    for (const [name, value] of url.searchParams) {
      if (name.startsWith('param_')) params[name.slice('param_'.length)] = value;
      else if (!NOT_SETTINGS.has(name) && /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) settings.push(`SET ${name} = '${value.replace(/'/g, "''")}'`);
    }
    if (inUrl !== null && body.trim().length === 0) {
      // An insert without rows: a server accepts it and writes nothing.
      res.writeHead(200, { 'x-clickhouse-query-id': queryId, 'x-clickhouse-summary': '{"written_rows":"0"}' }).end();
      return;
    }
    const statement = inUrl === null ? body : `${inUrl}\n${body}`;
    const sql = settings.length === 0 ? statement : `${settings.join('; ')}; ${statement}`;
    const format = url.searchParams.get('default_format') ?? undefined;
    try {
      const result = await run(() => (Object.keys(params).length > 0 ? session.queryBindAsync(sql, params, format === undefined ? {} : { format }) : session.queryAsync(sql, format === undefined ? {} : { format })));
      const summary = inUrl === null ? {} : { written_rows: String(result.rowsRead) };
      res.writeHead(200, { 'x-clickhouse-query-id': queryId, 'x-clickhouse-summary': JSON.stringify(summary) }).end(Buffer.from(result.bytes()));
    } catch (err) {
      const { code, text } = engineError(err);
      res.writeHead(500, { 'content-type': 'text/plain', 'x-clickhouse-exception-code': code, 'x-clickhouse-query-id': queryId }).end(text);
    }
  };
  const respond = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
  };
  const tls = options.tls;
  const server =
    tls === undefined
      ? createServer(respond)
      : createTlsServer({ key: readFileSync(tls.keyFile), cert: readFileSync(tls.certFile), ...(tls.caFile === undefined ? {} : { ca: readFileSync(tls.caFile), requestCert: true, rejectUnauthorized: true }) }, respond);
  return new Promise((resolve) =>
    server.listen(options.port ?? 0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        close: async () => {
          await new Promise<void>((done) => server.close(() => done()));
          await queue;
          session.close();
        },
      }),
    ),
  );
}

if (process.argv[1]?.endsWith('chdb-http-server.ts') === true) {
  const [dataPath, port, delayMs] = process.argv.slice(2);
  if (dataPath === undefined) {
    process.stderr.write('usage: chdb-http-server.ts <data-dir> [port] [delay-ms]\n');
    process.exit(2);
  }
  // HTTPS when STORE_TLS_KEY and STORE_TLS_CERT name PEM files; STORE_TLS_CA requires client certificates.
  const { STORE_TLS_KEY: keyFile, STORE_TLS_CERT: certFile, STORE_TLS_CA: caFile } = process.env;
  const tls = keyFile !== undefined && certFile !== undefined ? { tls: { keyFile, certFile, ...(caFile === undefined ? {} : { caFile }) } } : {};
  const served = await serveChdb(dataPath, { port: Number(port ?? 0), delayMs: Number(delayMs ?? 0), ...tls });
  process.stdout.write(`listening ${served.port}\n`);
  const stop = (): void => void served.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
