/**
 * The metrics HTTP endpoint (metrics.enabled, metrics.port, metrics.bind_address):
 *
 *   GET /metrics   Prometheus text format (version 0.0.4)
 *   GET /health    200 "ok" while the process runs (liveness)
 *   GET /ready     200 once the command has connected and planned its work, 503 before (readiness)
 *
 * Anything else is 404; methods other than GET and HEAD are 405.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors.ts';
import type { KafkaBackupMetrics } from './metrics.ts';

export interface MetricsServer {
  /** http://host:port */
  readonly url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(
  metrics: KafkaBackupMetrics,
  port: number,
  host: string,
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const text = (status: number, body: string) =>
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(req.method === 'HEAD' ? '' : body);
    if (path === '/metrics') {
      metrics.metrics().then(
        (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? '' : body),
        (e: unknown) => text(500, `collecting metrics failed: ${e instanceof Error ? e.message : String(e)}\n`),
      );
    } else if (path === '/health') text(200, 'ok\n');
    else if (path === '/ready') {
      if (metrics.ready) text(200, 'ready\n');
      else text(503, 'not ready: connecting and planning\n');
    } else text(404, 'not found: try /metrics, /health or /ready\n');
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      reject(
        new ConfigError(
          `the metrics endpoint cannot listen on ${host}:${port}: ${e.code ?? e.message}`,
          [`metrics.port / metrics.bind_address: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.message}`],
          {
            hint:
              e.code === 'EADDRINUSE'
                ? 'choose a free metrics.port (each running command needs its own), or set metrics.enabled: false'
                : 'check metrics.bind_address is an address of this host',
          },
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  // A scrape in flight must not keep a finished command alive.
  server.unref();
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
