import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32c as native } from '@node-rs/crc32';
import { crc32cJs } from '../../../src/format/crc32c-js.ts';

test('crc32cJs: the CRC-32C check value and the native addon on every length 0..100 and on 1 MiB', () => {
  assert.equal(crc32cJs(Buffer.from('123456789')), 0xe3069283);
  const data = Buffer.alloc(1 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 13;
  for (let len = 0; len <= 100; len++) {
    const part = data.subarray(7, 7 + len); // unaligned start too
    assert.equal(crc32cJs(part), native(part) >>> 0, `length ${len}`);
  }
  assert.equal(crc32cJs(data), native(data) >>> 0);
});

test('crc32cJs: chained like the addon (initial = CRC of the bytes before)', () => {
  const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) & 0xff));
  for (const cut of [0, 1, 7, 8, 1000, 4999, 5000]) {
    const a = data.subarray(0, cut);
    const b = data.subarray(cut);
    assert.equal(crc32cJs(b, crc32cJs(a)), native(data) >>> 0, `cut ${cut}`);
    assert.equal(crc32cJs(b, native(a)), native(b, native(a)) >>> 0, `cut ${cut}, mixed`);
  }
});
