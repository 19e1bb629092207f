/** The HTTP listener survives what anyone who can reach the port may send. */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Health } from '../../../src/observability/health.js';
import { startHttpEndpoints } from '../../../src/observability/http-server.js';
import { createLogger } from '../../../src/observability/logger.js';
import { createMetrics } from '../../../src/observability/metrics.js';

function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString('utf8')));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('HTTP endpoints', () => {
  it('answer a malformed request line with an error and keep serving', async () => {
    const metrics = createMetrics();
    const endpoints = await startHttpEndpoints({ host: '127.0.0.1', port: 0, metrics, health: new Health(metrics), logger: createLogger('silent') });
    try {
      const answer = await raw(endpoints.port, 'GET // HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(answer).toMatch(/^HTTP\/1\.1 (4|5)\d\d/);
      const health = await fetch(`http://127.0.0.1:${endpoints.port}/healthz`);
      expect(health.status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${endpoints.port}/readyz`)).status).toBe(503); // still starting
      expect((await fetch(`http://127.0.0.1:${endpoints.port}/nope`)).status).toBe(404);
    } finally {
      await endpoints.close();
    }
  });
});
