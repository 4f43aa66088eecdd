/** Tests of the Sec-WebSocket-Accept computation and client key generation. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { computeAcceptKey, generateKey } from '../../../src/upgrade/accept-key.ts';

test('RFC 6455 section 1.3 example', () => {
  assert.is(computeAcceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

test('generateKey: 24 base64 characters decoding to 16 bytes, different each time', () => {
  const keys = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const key = generateKey();
    assert.is(key.length, 24);
    assert.is(Buffer.from(key, 'base64').length, 16);
    assert.is(Buffer.from(key, 'base64').toString('base64'), key);
    keys.add(key);
  }
  assert.is(keys.size, 100);
});

test.run();
