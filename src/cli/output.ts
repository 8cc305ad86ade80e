/** One output flag everywhere: --format text|json|yaml (and csv where rows fit). */
import { stringify as toYaml } from 'yaml';
import { UsageError } from '../errors.ts';

export type OutputFormat = 'text' | 'json' | 'yaml' | 'csv';

export function parseFormat(value: string, allowed: OutputFormat[] = ['text', 'json', 'yaml']): OutputFormat {
  if ((allowed as string[]).includes(value)) return value as OutputFormat;
  throw new UsageError(`--format ${value} is not supported here`, {
    hint: `use one of: ${allowed.join(', ')}`,
  });
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Rows as CSV with a header line taken from the first row's keys. */
export function toCsv(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '';
  const cols = Object.keys(rows[0]!);
  return [cols.join(','), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n';
}

/** Writes a result document to stdout in the chosen format; `text` uses the command's own renderer. */
export function emit(
  format: OutputFormat,
  doc: unknown,
  renderText: () => string,
  rows?: () => Record<string, unknown>[],
): void {
  let out: string;
  if (format === 'json') out = JSON.stringify(doc, bigintReplacer, 2) + '\n';
  else if (format === 'yaml') out = toYaml(JSON.parse(JSON.stringify(doc, bigintReplacer)));
  else if (format === 'csv') {
    if (!rows)
      throw new UsageError('--format csv is not supported by this command', { hint: 'use text, json or yaml' });
    out = toCsv(rows());
  } else out = renderText();
  process.stdout.write(out.endsWith('\n') ? out : out + '\n');
}

function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** A fixed-width text table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (c ?? '').padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
