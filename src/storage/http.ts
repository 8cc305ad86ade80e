/**
 * Plain HTTP(S) requests over node:http, for the GCS upload and media endpoints.
 *
 * Why not fetch: the Fetch standard makes a request body that is a Buffer a COPY of its bytes
 * (undici's extractBody slices it), so every resumable-upload chunk was held twice until the
 * garbage collector freed the copy: the GCS backup peaked 150–250 MiB above the other stores.
 * node:http writes the caller's Buffer to the socket as it is. Responses are node Readables
 * (no web-stream bridge on the restore path).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';

export interface HttpAnswer {
  status: number;
  ok: boolean;
  header(name: string): string | undefined;
  /** The body as text, at most `limit` characters kept (error messages). */
  text(limit?: number): Promise<string>;
  /** Reads and drops the body, so the connection can be reused. */
  drain(): Promise<void>;
  body: Readable;
}

export interface HttpRequest {
  method: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Socket inactivity limit until the answer's headers arrive (and, with `wholeTimeout`, until the end). */
  timeoutMs: number;
  /** Keep the timeout while the body is read (for answers read at once, not streamed to a slow consumer). */
  wholeTimeout?: boolean;
}

/** One keep-alive agent pair per backend, so sockets are reused across requests. */
export class HttpClient {
  private readonly http = new HttpAgent({ keepAlive: true });
  private readonly https = new HttpsAgent({ keepAlive: true });

  send(url: string, r: HttpRequest): Promise<HttpAnswer> {
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
    const headers = { ...r.headers };
    if (body && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length'))
      headers['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(u, {
        method: r.method,
        headers,
        agent: secure ? this.https : this.http,
      });
      req.setTimeout(r.timeoutMs, () => {
        const error = Object.assign(new Error(`no answer within ${r.timeoutMs} ms`), { code: 'ETIMEDOUT' });
        req.destroy(error);
      });
      req.on('error', reject);
      req.on('response', (res: IncomingMessage) => {
        if (!r.wholeTimeout) req.setTimeout(0);
        resolve(answer(res));
      });
      req.end(body);
    });
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

function answer(res: IncomingMessage): HttpAnswer {
  const status = res.statusCode ?? 0;
  return {
    status,
    ok: status >= 200 && status < 300,
    header: (name) => {
      const v = res.headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(', ') : v;
    },
    text: async (limit = 4096) => {
      let text = '';
      for await (const chunk of res) if (text.length < limit) text += String(chunk);
      return text.slice(0, limit);
    },
    drain: async () => {
      for await (const _ of res) {
        // discard
      }
    },
    body: res,
  };
}
