/**
 * Filesystem backend: keys are files under a root directory.
 *
 * Durability: put writes a temp file in the target directory, fsyncs it, renames it over the
 * key (or link()s it for ifAbsent, which fails atomically with EEXIST when the key exists) and
 * fsyncs the directory. The writer streams into a temp file at explicit positions (a retried
 * write rewrites the same bytes) and commit does fsync + rename + fsync dir. Temp files are
 * named `.<name>.kb-tmp-<random>` and never listed.
 */
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { type FileHandle, link, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { StorageError } from '../errors.ts';
import type {
  ByteRange,
  IncompleteWrite,
  LoadHints,
  ObjectInfo,
  ObjectWriter,
  PutOptions,
  StorageBackend,
} from './backend.ts';
import { checkKey } from './keys.ts';

const TMP_MARK = '.kb-tmp-';

export interface FilesystemOptions {
  path: string;
}

export function fsError(error: unknown, op: string, path: string, key?: string): StorageError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const what = `filesystem ${op} ${key === undefined ? path : `'${key}' (${path})`}`;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new StorageError(`${what}: not found`, 'not-found', { cause: error, code: 'STORAGE_NOT_FOUND' });
    case 'EEXIST':
      return new StorageError(`${what}: already exists`, 'already-exists', { cause: error, code: 'STORAGE_EXISTS' });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new StorageError(`${what}: permission denied (${code})`, 'permanent', {
        cause: error,
        code: 'STORAGE_PERMISSION',
        hint: `check the permissions of ${path} and that the filesystem is writable by this user`,
      });
    case 'ENOSPC':
    case 'EDQUOT':
      return new StorageError(`${what}: disk full (${code})`, 'permanent', {
        cause: error,
        code: 'STORAGE_DISK_FULL',
        hint: `free space on the filesystem holding ${path}`,
      });
    case 'EAGAIN':
    case 'EBUSY':
    case 'EMFILE':
    case 'ENFILE':
    case 'EINTR':
      return new StorageError(`${what}: ${code}`, 'transient', { cause: error, code: 'STORAGE_TRANSIENT' });
    default:
      return new StorageError(`${what}: ${error instanceof Error ? error.message : String(error)}`, 'permanent', {
        cause: error,
        code: 'STORAGE_IO',
      });
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (error) {
    // Some filesystems refuse fsync on directories; that is not worth failing a backup for.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw error;
  } finally {
    await fh?.close();
  }
}

function tmpPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}${TMP_MARK}${randomBytes(6).toString('hex')}`);
}

export class FilesystemBackend implements StorageBackend {
  readonly location: string;
  readonly root: string;

  constructor(options: FilesystemOptions) {
    this.root = resolve(options.path);
    this.location = this.root;
  }

  private pathOf(key: string): string {
    checkKey(key, this.location);
    return join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<void> {
    const file = this.pathOf(key);
    const dir = dirname(file);
    const tmp = tmpPathFor(file);
    try {
      await mkdir(dir, { recursive: true });
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (options.ifAbsent) {
        await link(tmp, file); // EEXIST when taken: atomic create-if-absent
        await unlink(tmp);
      } else {
        await rename(tmp, file);
      }
      await fsyncDir(dir);
    } catch (error) {
      await unlink(tmp).catch(() => {});
      throw fsError(error, 'put', file, key);
    }
  }

  async openWriter(key: string): Promise<ObjectWriter> {
    const file = this.pathOf(key);
    const dir = dirname(file);
    const tmp = tmpPathFor(file);
    let fh: FileHandle;
    try {
      await mkdir(dir, { recursive: true });
      fh = await open(tmp, 'wx', 0o644);
    } catch (error) {
      throw fsError(error, 'open writer for', file, key);
    }
    let written = 0;
    let state: 'open' | 'committed' | 'aborted' = 'open';
    let info: ObjectInfo | undefined;
    const closeQuietly = async () => {
      await fh.close().catch(() => {});
    };
    return {
      get bytesWritten() {
        return written;
      },
      async write(chunk: Uint8Array) {
        if (state !== 'open') throw new StorageError(`writer for '${key}' is ${state}`, 'permanent');
        try {
          // Positional: a retried write rewrites the same range.
          let done = 0;
          while (done < chunk.length) {
            const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, written + done);
            done += bytesWritten;
          }
        } catch (error) {
          throw fsError(error, 'write', file, key);
        }
        written += chunk.length;
      },
      async commit() {
        if (state === 'committed' && info) return info;
        if (state !== 'open') throw new StorageError(`writer for '${key}' is ${state}`, 'permanent');
        try {
          await fh.truncate(written);
          await fh.sync();
          await fh.close();
          await rename(tmp, file);
          await fsyncDir(dir);
        } catch (error) {
          throw fsError(error, 'commit', file, key);
        }
        state = 'committed';
        info = { key, size: written, lastModified: new Date() };
        return info;
      },
      async abort() {
        if (state !== 'open') return;
        state = 'aborted';
        await closeQuietly();
        await unlink(tmp).catch(() => {});
      },
    };
  }

  async load(key: string, range?: ByteRange, hints?: LoadHints): Promise<Readable> {
    const file = this.pathOf(key);
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (error) {
      throw fsError(error, 'load', file, key);
    }
    const start = range?.offset ?? 0;
    if (range?.length === 0) {
      await fh.close();
      return Readable.from([]);
    }
    const end = range?.length === undefined ? undefined : start + range.length - 1;
    return fh.createReadStream({
      start,
      ...(end === undefined ? {} : { end }),
      autoClose: true,
      ...(hints?.readBytes ? { highWaterMark: hints.readBytes } : {}),
    });
  }

  async get(key: string): Promise<Buffer> {
    const file = this.pathOf(key);
    try {
      return await readFile(file);
    } catch (error) {
      throw fsError(error, 'get', file, key);
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    const file = this.pathOf(key);
    try {
      const s = await stat(file);
      if (!s.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      return { key, size: s.size, lastModified: s.mtime };
    } catch (error) {
      throw fsError(error, 'stat', file, key);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    if (prefix) checkKey(prefix, this.location, true);
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash >= 0 ? prefix.slice(0, slash + 1) : '';
    const keys: string[] = [];
    await this.walk(baseKey, keys);
    const matched = keys.filter((k) => k.startsWith(prefix)).sort();
    for (const key of matched) {
      try {
        const s = await stat(join(this.root, ...key.split('/')));
        yield { key, size: s.size, lastModified: s.mtime };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted meanwhile
        throw fsError(error, 'list', this.root);
      }
    }
  }

  /**
   * The temporary files of writes that never completed (a process killed mid-write) whose key
   * starts with `prefix`. A write in flight has one too: callers go by startedAt (the file's
   * mtime, refreshed by every write) and a grace period.
   */
  async *listIncomplete(prefix: string): AsyncIterable<IncompleteWrite> {
    if (prefix) checkKey(prefix, this.location, true);
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash >= 0 ? prefix.slice(0, slash + 1) : '';
    const temps: string[] = [];
    await this.walk(baseKey, [], temps);
    for (const id of temps.sort()) {
      const slashAt = id.lastIndexOf('/');
      const dir = id.slice(0, slashAt + 1);
      const name = id.slice(slashAt + 1);
      const key = `${dir}${name.slice(1, name.lastIndexOf(TMP_MARK))}`;
      if (!key.startsWith(prefix)) continue;
      try {
        const s = await stat(join(this.root, ...id.split('/')));
        yield { key, id, size: s.size, startedAt: s.mtime };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // completed or removed meanwhile
        throw fsError(error, 'list', this.root);
      }
    }
  }

  async abortIncomplete(write: IncompleteWrite): Promise<void> {
    const name = write.id.slice(write.id.lastIndexOf('/') + 1);
    // only ever a temporary file: never an object
    if (!name.startsWith('.') || !name.includes(TMP_MARK))
      throw new StorageError(`filesystem: '${write.id}' is not a temporary file`, 'permanent');
    const file = join(this.root, ...write.id.split('/'));
    try {
      await unlink(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw fsError(error, 'delete', file, write.key);
    }
  }

  private async walk(dirKey: string, out: string[], temps?: string[]): Promise<void> {
    const dir = dirKey ? join(this.root, ...dirKey.slice(0, -1).split('/')) : this.root;
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw fsError(error, 'list', dir);
    }
    for (const e of entries) {
      if (e.isDirectory()) await this.walk(`${dirKey}${e.name}/`, out, temps);
      else if (e.isFile() && !e.name.includes(TMP_MARK)) out.push(`${dirKey}${e.name}`);
      else if (e.isFile() && e.name.startsWith('.')) temps?.push(`${dirKey}${e.name}`);
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    try {
      await unlink(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw fsError(error, 'delete', file, key);
    }
  }

  async close(): Promise<void> {}
}
