import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Health } from './health.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface HttpEndpoints {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The monitor's HTTP listener: `/metrics` (Prometheus text), `/healthz` (the process answers),
 * `/readyz` (200 or 503 with the reasons, as JSON). Read-only; nothing here changes the job.
 */
export async function startHttpEndpoints(options: { readonly host: string; readonly port: number; readonly metrics: Metrics; readonly health: Health; readonly logger: Logger }): Promise<HttpEndpoints> {
  const { metrics, health, logger } = options;
  const server: Server = createServer((req, res) => {
    let path = '';
    const answer = async (): Promise<void> => {
      path = new URL(req.url ?? '/', 'http://localhost').pathname; // may throw on a malformed request line: answered 500 below
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path === '/metrics') {
        // Readiness first: runwatch_ready is part of what is scraped.
        await health.readiness();
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const readiness = await health.readiness();
        res.writeHead(readiness.ready ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(readiness)}\n`);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /metrics, /healthz, /readyz\n');
      }
    };
    answer().catch((err: unknown) => {
      logger.warn({ err: String(err), path }, 'HTTP endpoint failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ host: options.host, port }, 'HTTP endpoints listening: /metrics, /healthz, /readyz');
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
