import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runInNewContext } from 'node:vm';
import { isBuffer } from '../../../src/channels/is-buffer.ts';

test('isBuffer answers what Buffer.isBuffer answers', () => {
  const base = Buffer.from('hello world');
  const values: unknown[] = [
    base,
    base.subarray(2, 5),
    Buffer.alloc(0),
    Buffer.allocUnsafe(10_000),
    Buffer.allocUnsafeSlow(3),
    Buffer.from(new ArrayBuffer(8), 2, 4),
    new Uint8Array(4),
    new Uint16Array(2),
    new DataView(new ArrayBuffer(2)),
    new ArrayBuffer(4),
    runInNewContext('new Uint8Array(3)'),
    { length: 0 },
    'text',
    null,
    undefined,
    Object.create(Buffer.prototype),
  ];
  values.forEach((value, i) => assert.is(isBuffer(value), Buffer.isBuffer(value), `value ${i}`));
  assert.ok(isBuffer(base) && !isBuffer(new Uint8Array(4)));
});

test.run();
