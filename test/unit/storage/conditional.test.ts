/**
 * The retry wrapper and create-if-absent puts whose answer was lost: the first attempt is
 * applied but fails (transient), the retry finds the key taken.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StorageError } from '../../../src/errors.ts';
import { retrying } from '../../../src/storage/retrying.ts';
import { MemoryStorage } from '../inspect/fixtures.ts';

/** Applies the next `lose` conditional puts, then fails them as a reset would. */
class LosingAnswers extends MemoryStorage {
  lose = 0;
  puts = 0;
  override async put(key: string, body: Uint8Array, options: { ifAbsent?: boolean } = {}): Promise<void> {
    this.puts++;
    await super.put(key, body, options);
    if (options.ifAbsent && this.lose > 0) {
      this.lose--;
      throw new StorageError(`put ${key}: socket hang up (will retry)`, 'transient');
    }
  }
}

const fast = { max_retries: 3, initial_delay_ms: 1, max_delay_ms: 2 };

describe('retrying: create-if-absent with a lost answer', () => {
  test('the retry that finds our own bytes succeeds', async () => {
    const inner = new LosingAnswers();
    inner.lose = 1;
    const s = retrying(inner, fast);
    await s.put('line/log/0000000001.json', Buffer.from('commit 1'), { ifAbsent: true });
    assert.equal(inner.puts, 2, 'sent twice');
    assert.equal((await s.get('line/log/0000000001.json')).toString(), 'commit 1');
  });

  test('the retry that finds other bytes is still already-exists', async () => {
    const inner = new LosingAnswers();
    await inner.put('k', Buffer.from('theirs'));
    // our put fails transiently without reaching the server (503), the retry finds the key taken
    let first = true;
    const flaky = Object.assign(Object.create(inner) as LosingAnswers, {
      put: async (key: string, body: Uint8Array, o?: { ifAbsent?: boolean }) => {
        if (first) {
          first = false;
          throw new StorageError('503 SlowDown (will retry)', 'transient');
        }
        return inner.put(key, body, o);
      },
    });
    const s = retrying(flaky, fast);
    await assert.rejects(
      s.put('k', Buffer.from('ours'), { ifAbsent: true }),
      (e: unknown) => e instanceof StorageError && e.storageKind === 'already-exists',
    );
    assert.equal((await inner.get('k')).toString(), 'theirs');
  });

  test('already-exists on the first attempt is not second-guessed, even with our bytes', async () => {
    const inner = new LosingAnswers();
    await inner.put('k', Buffer.from('same'));
    const s = retrying(inner, fast);
    await assert.rejects(
      s.put('k', Buffer.from('same'), { ifAbsent: true }),
      (e: unknown) => e instanceof StorageError && e.storageKind === 'already-exists',
    );
  });
});
