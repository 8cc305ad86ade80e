import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { UsageError } from '../../../src/errors.ts';
import { resolveStorageOptions } from '../../../src/storage/open.ts';
import { parseStorageUrl } from '../../../src/storage/url.ts';

describe('storage URLs', () => {
  test('s3', () => {
    assert.deepEqual(parseStorageUrl('s3://my-bucket/backups/prod'), {
      backend: 's3',
      bucket: 'my-bucket',
      prefix: 'backups/prod',
    });
    assert.deepEqual(parseStorageUrl('s3://my-bucket'), { backend: 's3', bucket: 'my-bucket', prefix: '' });
    assert.deepEqual(parseStorageUrl('s3://my-bucket/a//b/'), { backend: 's3', bucket: 'my-bucket', prefix: 'a/b' });
  });

  test('azure', () => {
    assert.deepEqual(parseStorageUrl('azure://acct/cont/pre/fix'), {
      backend: 'azure',
      account: 'acct',
      container: 'cont',
      prefix: 'pre/fix',
    });
    assert.deepEqual(parseStorageUrl('azure://acct/cont'), {
      backend: 'azure',
      account: 'acct',
      container: 'cont',
      prefix: '',
    });
  });

  test('gcs', () => {
    assert.deepEqual(parseStorageUrl('gs://b/p'), { backend: 'gcs', bucket: 'b', prefix: 'p' });
    assert.deepEqual(parseStorageUrl('gcs://b'), { backend: 'gcs', bucket: 'b', prefix: '' });
  });

  test('file URLs and plain paths', () => {
    assert.deepEqual(parseStorageUrl('file:///var/backups/kafka'), {
      backend: 'filesystem',
      path: '/var/backups/kafka',
    });
    assert.deepEqual(parseStorageUrl('/var/backups'), { backend: 'filesystem', path: '/var/backups' });
    assert.deepEqual(parseStorageUrl('./rel/dir'), { backend: 'filesystem', path: resolve('rel/dir') });
    assert.deepEqual(parseStorageUrl('rel'), { backend: 'filesystem', path: resolve('rel') });
  });

  test('unknown scheme is a UsageError (exit 2) naming the URL and the accepted schemes', () => {
    assert.throws(
      () => parseStorageUrl('ftp://host/path'),
      (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.equal(e.exitCode, 2);
        assert.match(e.message, /ftp:\/\/host\/path/);
        assert.match(e.message, /unknown scheme 'ftp'/);
        assert.match(e.hint ?? '', /s3:\/\/.*azure:\/\/.*gs:\/\/.*file:\/\//);
        return true;
      },
    );
    assert.throws(() => parseStorageUrl('hdfs:/x'), UsageError);
  });

  test('credentials in a URL are refused without echoing them', () => {
    for (const url of [
      's3://AKIAXXXX:s3cr3tvalue@bucket/p',
      'azure://user:s3cr3tvalue@acct/c',
      'gs://tok3n@b',
      'user:s3cr3tvalue@host/x',
    ]) {
      assert.throws(
        () => parseStorageUrl(url),
        (e: unknown) => {
          assert.ok(e instanceof UsageError);
          assert.match(e.message, /credentials/);
          const text = `${e.message} ${e.hint}`;
          assert.ok(!text.includes('s3cr3tvalue') && !text.includes('AKIAXXXX') && !text.includes('tok3n'), text);
          return true;
        },
      );
    }
  });

  test('missing parts', () => {
    assert.throws(() => parseStorageUrl('s3://'), /missing a bucket/);
    assert.throws(() => parseStorageUrl('azure://acct'), /missing an account and a container/);
    assert.throws(() => parseStorageUrl(''), /empty/);
    assert.throws(() => parseStorageUrl('file://host/x'), /names a host/);
    assert.throws(() => parseStorageUrl('s3://b/p?sig=abc'), UsageError);
  });

  test('config fields override the URL; backend mismatch is an error', () => {
    assert.deepEqual(resolveStorageOptions({ url: 's3://b/p', region: 'eu-west-1', prefix: 'q' }), {
      backend: 's3',
      bucket: 'b',
      prefix: 'q',
      region: 'eu-west-1',
      url: 's3://b/p',
    });
    assert.throws(
      () => resolveStorageOptions({ url: 's3://b/p', backend: 'gcs' }),
      /backend is 'gcs' but storage.url is a s3 URL/,
    );
    assert.throws(() => resolveStorageOptions({}), /needs a url or a backend/);
  });
});
