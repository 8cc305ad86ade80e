/**
 * Structured logging: JSON lines on stderr (or a readable line on a TTY), with a component
 * and context fields. Values under keys that look like secrets are replaced before anything is
 * written, so a config object or error passed by mistake cannot leak a password.
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

const SECRET_KEY = /pass(word)?|secret|token|sas|credential|connection_?string|account_?key|private|authorization/i;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) return { name: value.name, message: value.message };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) && v ? '[redacted]' : redact(v, depth + 1);
  return out;
}

export interface Logger {
  error(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

interface Sink {
  level: LogLevel;
  json: boolean;
  write: (line: string) => void;
}

const sink: Sink = {
  level: (process.env['KAFKA_BACKUP_LOG_LEVEL'] as LogLevel | undefined) ?? 'info',
  json: !process.stderr.isTTY,
  write: (line) => process.stderr.write(line + '\n'),
};

/** Fields every record carries from now on (the CLI sets backup_id and the command). */
let context: Record<string, unknown> = {};
export function setLogContext(fields: Record<string, unknown>): void {
  context = { ...context, ...fields };
}

/** Called once by the CLI from --log-level and the config's logging section. */
export function configureLogging(options: { level?: LogLevel; json?: boolean; write?: (line: string) => void }): void {
  if (options.level) sink.level = options.level;
  if (options.json !== undefined) sink.json = options.json;
  if (options.write) sink.write = options.write;
}

function make(base: Record<string, unknown>): Logger {
  const at =
    (level: LogLevel) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      if (ORDER[level] > ORDER[sink.level]) return;
      const record = {
        level,
        time: new Date().toISOString(),
        ...context,
        ...base,
        msg,
        ...(redact(fields ?? {}) as object),
      };
      if (sink.json) {
        sink.write(JSON.stringify(record, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
      } else {
        const { level: l, time, msg: m, component, ...rest } = record as Record<string, unknown>;
        const extra = Object.entries(rest)
          .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
          .join(' ');
        sink.write(
          `${String(time).slice(11, 23)} ${String(l).toUpperCase().padEnd(5)} [${String(component ?? '-')}] ${m}${extra ? ` ${extra}` : ''}`,
        );
      }
    };
  return {
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    child: (fields) => make({ ...base, ...fields }),
  };
}

export function logger(component: string, fields: Record<string, unknown> = {}): Logger {
  return make({ component, ...fields });
}
