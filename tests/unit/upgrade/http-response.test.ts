/** Tests of the HTTP/1.1 response heads and the handshake error response. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HandshakeError } from '../../../src/upgrade/errors.ts';
import { formatErrorResponse, formatResponseHead } from '../../../src/upgrade/http-response.ts';

test('101 head: status line, headers in order, blank line', () => {
  const head = formatResponseHead(101, {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
  });
  assert.is(
    head.toString('latin1'),
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n',
  );
});

test('standard reason phrases', () => {
  const line = (status: number): string => formatResponseHead(status, {}).toString('latin1').split('\r\n')[0] ?? '';
  assert.is(line(400), 'HTTP/1.1 400 Bad Request');
  assert.is(line(403), 'HTTP/1.1 403 Forbidden');
  assert.is(line(408), 'HTTP/1.1 408 Request Timeout');
  assert.is(line(426), 'HTTP/1.1 426 Upgrade Required');
  assert.is(line(431), 'HTTP/1.1 431 Request Header Fields Too Large');
  assert.is(line(599), 'HTTP/1.1 599 Unknown');
  assert.is(formatResponseHead(200, {}).toString('latin1'), 'HTTP/1.1 200 OK\r\n\r\n');
});

test('CR, LF or NUL in a value, or a non-token name, is a TypeError', () => {
  for (const value of ['a\r\nSet-Cookie: x', 'a\rb', 'a\nb', 'a\u0000b', '\u2028']) {
    assert.throws(() => formatResponseHead(101, { X: value }), TypeError, JSON.stringify(value));
  }
  for (const name of ['', 'A B', 'A:B', 'A\r\nB', 'É']) {
    assert.throws(() => formatResponseHead(101, { [name]: 'v' }), TypeError, JSON.stringify(name));
  }
  assert.is(formatResponseHead(200, { X: 'tab\tand Latin-1 \u00e9' }).toString('latin1').split('\r\n')[1], 'X: tab\tand Latin-1 \u00e9');
});

test('a status outside 100-599 is a RangeError', () => {
  for (const status of [99, 600, 200.5, Number.NaN]) {
    assert.throws(() => formatResponseHead(status, {}), RangeError);
  }
});

test('error response: status, own headers, Connection: close, text body with its length', () => {
  const error = new HandshakeError(426, 'unsupported Sec-WebSocket-Version; the supported version is 13', {
    'Sec-WebSocket-Version': '13',
  });
  const text = formatErrorResponse(error).toString('utf8');
  const body = 'unsupported Sec-WebSocket-Version; the supported version is 13\n';
  assert.is(
    text,
    'HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\n' +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
});

test('error response with an Upgrade header (a 426): Connection names it, and close (RFC 9110 section 7.8)', () => {
  const error = new HandshakeError(426, 'no', { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' });
  assert.is(
    formatErrorResponse(error).toString('latin1'),
    'HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nConnection: Upgrade, close\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\nno\n',
  );
});

test('error response: Content-Length counts UTF-8 bytes; fixed headers cannot be overridden', () => {
  const error = new HandshakeError(400, 'bad “quote”', { connection: 'keep-alive', 'Content-Length': '0', X: 'y' });
  const response = formatErrorResponse(error);
  const text = response.toString('utf8');
  const [head = '', body = ''] = text.split('\r\n\r\n');
  assert.is(body, 'bad “quote”\n');
  assert.ok(head.includes(`Content-Length: ${Buffer.byteLength(body)}`));
  assert.not.ok(head.includes('keep-alive'));
  assert.is(head.match(/Content-Length/g)?.length, 1);
  assert.ok(head.includes('X: y'));
});

test('error response: a __proto__ header is written like any other', () => {
  const headers = JSON.parse('{"__proto__": "x"}') as Record<string, string>;
  const text = formatErrorResponse(new HandshakeError(400, 'no', headers)).toString('latin1');
  assert.ok(text.includes('\r\n__proto__: x\r\n'));
});

test('HandshakeError: fields, frozen headers, typed', () => {
  const error = new HandshakeError(431, 'request head larger than 16384 bytes');
  assert.instance(error, Error);
  assert.is(error.name, 'HandshakeError');
  assert.is(error.status, 431);
  assert.is(error.message, 'request head larger than 16384 bytes');
  assert.equal({ ...error.headers }, {});
  assert.ok(Object.isFrozen(error.headers));
  assert.throws(() => new HandshakeError(200, 'not an error'), RangeError);
  assert.throws(() => new HandshakeError(4000, 'no'), RangeError);
});

test.run();
