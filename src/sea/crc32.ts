/**
 * Stands in for @node-rs/crc32 inside the single executable (scripts/package.ts aliases the
 * package to this module when bundling). A SEA cannot require() a .node file, so the addon is
 * embedded as the asset CRC32_ASSET; on first use it is written to a fresh private temporary
 * folder (mkdtemp, mode 0700: nothing another user could have planted), loaded with
 * process.dlopen, and the file is removed at once (the mapping stays valid). If that fails (no
 * writable temporary folder, one mounted noexec), the pure-JS CRC-32C is used, with a warning:
 * same results, about 6 times slower (docs/packaging.md). KB_CRC32C=js chooses it silently, to
 * measure or test it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRawAsset, isSea } from 'node:sea';
import { crc32cJs } from '../format/crc32c-js.ts';
import { logger } from '../util/log.ts';

export const CRC32_ASSET = 'crc32.node';

type Crc32c = (data: Uint8Array, initial?: number) => number;

function load(): Crc32c {
  // outside a SEA (the bundle run by plain node) there is no asset
  if (process.env['KB_CRC32C'] === 'js' || !isSea()) return crc32cJs;
  const log = logger('crc32c');
  let dir: string | undefined;
  try {
    dir = mkdtempSync(join(tmpdir(), 'kafka-backup-'));
    const file = join(dir, CRC32_ASSET);
    writeFileSync(file, new Uint8Array(getRawAsset(CRC32_ASSET)), { mode: 0o700 });
    const addon = { exports: {} as { crc32c?: unknown } };
    process.dlopen(addon, file);
    if (typeof addon.exports.crc32c !== 'function') throw new Error('the addon has no crc32c function');
    log.debug('native CRC-32C loaded from the executable');
    return addon.exports.crc32c as Crc32c;
  } catch (e) {
    log.warn(
      `cannot load the native CRC-32C from a temporary copy (${(e as Error).message}); using the JavaScript one, ` +
        'about 6 times slower: point TMPDIR at a writable folder that allows executables, or set KB_CRC32C=js',
    );
    return crc32cJs;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

let impl: Crc32c | undefined;

/** The addon's signature: `initial` is the CRC of the bytes before `data`. */
export function crc32c(data: Uint8Array, initial?: number): number {
  impl ??= load();
  return impl(data, initial);
}
