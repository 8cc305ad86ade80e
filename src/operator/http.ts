/** The operator's HTTP endpoint: /metrics (Prometheus), /healthz (alive), /readyz (reached the API server). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OperatorMetrics } from './metrics.ts';

export async function startOperatorHttp(
  address: string,
  metrics: OperatorMetrics,
  ready: () => boolean,
): Promise<{ url: string; close: () => Promise<void> }> {
  const m = /^(.*):(\d+)$/.exec(address);
  const host = m ? m[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0' : '0.0.0.0';
  const port = m ? Number(m[2]) : Number(address);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const text = (status: number, body: string) => res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    if (path === '/healthz') text(200, 'ok\n');
    else if (path === '/readyz') ready() ? text(200, 'ok\n') : text(503, 'not synced with the API server yet\n');
    else if (path === '/metrics')
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
        () => text(500, 'metrics failed\n'),
      );
    else text(404, 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    url: `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
