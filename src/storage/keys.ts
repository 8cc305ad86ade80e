/** Key validation shared by the backends: relative, '/'-separated, no empty or dot segments. */
import { StorageError } from '../errors.ts';

export function checkKey(key: string, location: string, isPrefix = false): void {
  const bad =
    (!isPrefix && key === '') ||
    key.startsWith('/') ||
    key.includes('\\') ||
    key.includes('\0') ||
    key
      .split('/')
      .some((seg, i, all) => seg === '..' || seg === '.' || (seg === '' && !(isPrefix && i === all.length - 1)));
  if (bad) {
    throw new StorageError(
      `invalid storage key '${key}' for ${location}: keys are relative, '/'-separated, without empty, '.' or '..' segments`,
      'permanent',
      {
        code: 'STORAGE_BAD_KEY',
      },
    );
  }
}
