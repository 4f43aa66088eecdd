/** Close codes and close payloads. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CloseCode, decodeClosePayload, encodeClosePayload, isValidCloseCode } from '../../../src/frames/index.ts';
import { assertProtocolError } from '../../support/frames.ts';

test('isValidCloseCode: 1000-1003, 1007-1014, 3000-4999 only', () => {
  const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999];
  const invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535, 1000.5, NaN];
  for (const code of valid) assert.ok(isValidCloseCode(code), String(code));
  for (const code of invalid) assert.not.ok(isValidCloseCode(code), String(code));
});

test('encode and decode round trip', () => {
  const payload = encodeClosePayload({ code: CloseCode.GoingAway, reason: 'bye \u20ac' });
  assert.equal(payload, Buffer.from([0x03, 0xe9, ...Buffer.from('bye \u20ac')]));
  assert.equal(decodeClosePayload(payload), { code: 1001, reason: 'bye \u20ac' });
  assert.equal(encodeClosePayload(), Buffer.alloc(0));
  assert.equal(decodeClosePayload(Buffer.alloc(0)), { code: CloseCode.NoStatusReceived, reason: '' });
});

test('encode refuses codes not allowed on the wire and reasons over 123 bytes', () => {
  assert.throws(() => encodeClosePayload({ code: 1005, reason: '' }), RangeError);
  assert.throws(() => encodeClosePayload({ code: 1000, reason: 'x'.repeat(124) }), RangeError);
  assert.throws(() => encodeClosePayload({ code: 1000, reason: '\u20ac'.repeat(42) }), RangeError);
  assert.is(encodeClosePayload({ code: 1000, reason: 'x'.repeat(123) }).length, 125);
});

test('decode: 1 byte or a bad code is 1002, a bad reason 1007', () => {
  const catchIt = (payload: Buffer): unknown => {
    try {
      decodeClosePayload(payload);
    } catch (error) {
      return error;
    }
    return undefined;
  };
  assertProtocolError(catchIt(Buffer.from([0x03])), 1002);
  assertProtocolError(catchIt(Buffer.from([0x03, 0xee])), 1002);
  assertProtocolError(catchIt(Buffer.from([0x03, 0xe8, 0xed, 0xa0, 0x80])), 1007);
});

test.run();
