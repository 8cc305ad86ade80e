/** Scraping helpers for the metrics tests: a free port, a parser for the text format, a scrape loop. */
import { createServer } from 'node:net';

/** A port that was free a moment ago (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** series (`name{a="b"}` exactly as printed) -> value */
export type Sample = Map<string, number>;

export function parseMetrics(text: string): Sample {
  const out: Sample = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

export interface Scrape {
  at: number;
  ready: number;
  health: number;
  metrics: Sample;
  text: string;
}

/** Scrapes /metrics, /ready and /health every `everyMs` until stop() (connection errors are skipped). */
export function scrapeLoop(port: number, everyMs: number): { scrapes: Scrape[]; stop: () => Promise<void> } {
  const scrapes: Scrape[] = [];
  let running = true;
  const base = `http://127.0.0.1:${port}`;
  const loop = (async () => {
    while (running) {
      try {
        const [m, r, h] = await Promise.all([
          fetch(`${base}/metrics`),
          fetch(`${base}/ready`),
          fetch(`${base}/health`),
        ]);
        const text = await m.text();
        await r.text();
        await h.text();
        scrapes.push({ at: Date.now(), ready: r.status, health: h.status, metrics: parseMetrics(text), text });
      } catch {
        // not listening yet, or already gone
      }
      await new Promise((res) => setTimeout(res, everyMs));
    }
  })();
  return {
    scrapes,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** Values of one series over the scrapes that had it. */
export function series(scrapes: Scrape[], name: string): number[] {
  return scrapes.map((s) => s.metrics.get(name)).filter((v): v is number => v !== undefined);
}

/** Series names (with labels) of one metric family seen in any scrape. */
export function seriesOf(scrapes: Scrape[], family: string): string[] {
  const names = new Set<string>();
  for (const s of scrapes)
    for (const k of s.metrics.keys()) if (k === family || k.startsWith(`${family}{`)) names.add(k);
  return [...names].sort();
}
