/**
 * An HTTP proxy on 127.0.0.1 (random port) in front of a real storage server, which injects
 * faults on command:
 *
 *   proxy.inject({ kind: 'status', status: 503 }, { count: 5 })       next 5 requests answer 503
 *   proxy.inject({ kind: 'drop' }, { durationMs: 1000 })              connections reset for 1 s
 *   proxy.inject({ kind: 'delay', ms: 2000 }, { every: 3 })           every 3rd request delayed, until clear()
 *   proxy.inject({ kind: 'lose-answer' }, { match: isConditionalPut })  forwarded and applied, then the
 *                                                                    connection is reset instead of answering
 *   proxy.inject({ kind: 'strip-header', header: 'if-none-match' })  forwarded without that header (a
 *                                                                    server that ignores conditional writes)
 *   proxy.clear()
 *
 * `count`, `durationMs` and `every` combine (a fault stops when count or duration runs out;
 * with neither it lasts until clear()); `match` limits the fault to the requests it accepts (the
 * others pass and are not counted). Counters: requests seen, faults injected.
 * Requests from S3-style clients get an S3 XML error body, so SDKs parse a proper error code.
 * `log` holds every request's method, URL and headers, as it reached the proxy: what a backend
 * actually sent (the storage-side encryption tests read it).
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | { kind: 'status'; status: number }
  | { kind: 'drop' }
  | { kind: 'delay'; ms: number }
  /** The request reaches the server, which applies it; its answer is dropped (connection reset). */
  | { kind: 'lose-answer' }
  /** The request is forwarded without this header (lower case). */
  | { kind: 'strip-header'; header: string };

export interface FaultPlan {
  count?: number;
  durationMs?: number;
  /** Inject on every n-th request only (1 = all). */
  every?: number;
  /** Only requests it accepts get the fault. */
  match?: (req: IncomingMessage) => boolean;
}

/** A create-if-absent write: S3 and Azure send If-None-Match: *, GCS ifGenerationMatch=0. */
export function isConditionalPut(req: IncomingMessage): boolean {
  return (
    (req.method === 'PUT' || req.method === 'POST') &&
    (req.headers['if-none-match'] === '*' || /[?&]ifGenerationMatch=0(&|$)/.test(req.url ?? ''))
  );
}

export class FaultProxy {
  readonly target: URL;
  requests = 0;
  faultsInjected = 0;
  /** Requests applied by the server whose answer was dropped ('lose-answer'), with the server's status. */
  readonly lostAnswers: { method: string; url: string; status: number }[] = [];
  /** Every request seen, in order. */
  readonly log: { method: string; url: string; headers: IncomingHttpHeaders }[] = [];
  private server: Server | undefined;
  private fault: Fault | undefined;
  private plan: FaultPlan = {};
  private until = Number.POSITIVE_INFINITY;
  private seenSinceInject = 0;
  private readonly sockets = new Set<Socket>();

  constructor(target: string) {
    this.target = new URL(target);
  }

  get url(): string {
    const addr = this.server?.address() as AddressInfo | undefined;
    if (!addr) throw new Error('fault proxy not started');
    return `http://127.0.0.1:${addr.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  inject(fault: Fault, plan: FaultPlan = {}): void {
    this.fault = fault;
    this.plan = { ...plan };
    this.until = plan.durationMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + plan.durationMs;
    this.seenSinceInject = 0;
  }

  clear(): void {
    this.fault = undefined;
  }

  async close(): Promise<void> {
    this.fault = undefined;
    for (const s of this.sockets) s.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private pick(req: IncomingMessage): Fault | undefined {
    const f = this.fault;
    if (!f) return undefined;
    if (Date.now() > this.until || (this.plan.count !== undefined && this.plan.count <= 0)) {
      this.fault = undefined;
      return undefined;
    }
    if (this.plan.match && !this.plan.match(req)) return undefined;
    this.seenSinceInject++;
    if (this.plan.every && this.plan.every > 1 && this.seenSinceInject % this.plan.every !== 0) return undefined;
    if (this.plan.count !== undefined) this.plan.count--;
    this.faultsInjected++;
    return f;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    this.log.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const fault = this.pick(req);
    if (fault?.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      req.resume();
      req.on('end', () => {
        const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.status === 503 ? 'SlowDown' : 'InternalError'}</Code><Message>injected fault</Message></Error>`;
        res.writeHead(fault.status, {
          'content-type': 'application/xml',
          'content-length': Buffer.byteLength(body),
          connection: 'close',
        });
        res.end(body);
      });
      return;
    }
    const headers = { ...req.headers };
    if (fault?.kind === 'strip-header') delete headers[fault.header];
    const forward = () => {
      if (req.destroyed || res.destroyed) return; // the client gave up while we delayed
      const up = request(
        {
          host: this.target.hostname,
          port: this.target.port,
          method: req.method,
          path: req.url,
          headers,
        },
        (upRes) => {
          if (fault?.kind === 'lose-answer') {
            // the server has answered, so it applied the request: read its answer, then reset
            this.lostAnswers.push({ method: req.method ?? '', url: req.url ?? '', status: upRes.statusCode ?? 0 });
            upRes.resume();
            upRes.on('end', () => req.socket.destroy());
            return;
          }
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', () => req.socket.destroy());
      res.on('close', () => {
        if (!res.writableFinished) up.destroy();
      });
      req.pipe(up);
    };
    if (fault?.kind === 'delay') setTimeout(forward, fault.ms);
    else forward();
  }
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  return new FaultProxy(target).start();
}
