/**
 * RFC 8441 request validation without I/O: a valid extended CONNECT and
 * what it negotiates (the same subprotocol, extension and origin rules as
 * HTTP/1.1), each bad request's status and message, the order of the
 * checks, and the 200 and error header blocks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HandshakeError } from '../../../src/upgrade/errors.ts';
import {
  HTTP2_VERSION,
  http2Call,
  http2ErrorResponse,
  http2ResponseHeaders,
  validateExtendedConnect,
  type Http2RequestHeaders,
} from '../../../src/upgrade/h2-handshake.ts';
import type { HandshakeOptions } from '../../../src/upgrade/handshake.ts';

const VALID: Http2RequestHeaders = {
  ':method': 'CONNECT',
  ':protocol': 'websocket',
  ':scheme': 'https',
  ':path': '/chat?room=1',
  ':authority': 'example.test',
  'sec-websocket-version': '13',
};

function headers(changes: Record<string, string | string[] | null>): Http2RequestHeaders {
  const result: Record<string, string | string[] | undefined> = { ...VALID };
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) delete result[name];
    else result[name] = value;
  }
  return result;
}

function refusal(block: Http2RequestHeaders, options?: HandshakeOptions): HandshakeError {
  try {
    validateExtendedConnect(http2Call(block), options);
  } catch (error) {
    assert.instance(error, HandshakeError);
    return error as HandshakeError;
  }
  assert.unreachable('the request was accepted');
  throw new Error('unreachable');
}

test('http2Call: CONNECT, :path as url, httpVersion 2.0, the header block as is', () => {
  const call = http2Call(VALID);
  assert.is(call.method, 'CONNECT');
  assert.is(call.url, '/chat?room=1');
  assert.is(call.httpVersion, HTTP2_VERSION);
  assert.is(call.headers, VALID);
});

test('a valid extended CONNECT: no key needed, offers read, protocol selected in the server order', () => {
  const offer = validateExtendedConnect(
    http2Call(headers({ 'sec-websocket-protocol': 'v1.chat, v2.chat', 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits', origin: 'https://a.test' })),
    { protocols: ['v2.chat', 'v1.chat'] },
  );
  assert.equal(offer.protocols, ['v1.chat', 'v2.chat']);
  assert.is(offer.protocol, 'v2.chat');
  assert.equal(offer.extensions, [{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] }]);
  assert.is(offer.origin, 'https://a.test');
});

test(':protocol is compared ASCII case-insensitively; a Sec-WebSocket-Key is ignored', () => {
  assert.ok(validateExtendedConnect(http2Call(headers({ ':protocol': 'WebSocket', 'sec-websocket-key': 'not even base64' }))));
});

test('a method other than CONNECT: 400', () => {
  const error = refusal(headers({ ':method': 'GET', ':protocol': null }));
  assert.is(error.status, 400);
  assert.match(error.message, /method GET cannot open a WebSocket over HTTP\/2/);
});

test('CONNECT without :protocol (a tunnel request): 400', () => {
  const error = refusal({ ':method': 'CONNECT', ':authority': 'example.test:443' });
  assert.is(error.status, 400);
  assert.match(error.message, /without :protocol/);
});

test('an unknown :protocol: 400 naming it', () => {
  const error = refusal(headers({ ':protocol': 'webtransport' }));
  assert.is(error.status, 400);
  assert.match(error.message, /"webtransport" is not served/);
});

for (const name of [':scheme', ':path', ':authority']) {
  test(`missing or empty ${name}: 400`, () => {
    assert.is(refusal(headers({ [name]: null })).status, 400);
    assert.is(refusal(headers({ [name]: '' })).status, 400);
    assert.match(refusal(headers({ [name]: null })).message, `missing ${name}`);
  });
}

test('a missing or wrong Sec-WebSocket-Version: 426 with sec-websocket-version 13', () => {
  for (const version of [null, '8', '13, 8']) {
    const error = refusal(headers({ 'sec-websocket-version': version }));
    assert.is(error.status, 426);
    assert.equal(error.headers, { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' });
    // Upgrade is connection-specific: the HTTP/2 answer leaves it out (RFC 9113 section 8.2.2).
    assert.equal(http2ErrorResponse(error).headers, {
      ':status': 426,
      'sec-websocket-version': '13',
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(error.message) + 1,
    });
  }
});

test('invalid Sec-WebSocket-Protocol / Sec-WebSocket-Extensions syntax: 400', () => {
  assert.is(refusal(headers({ 'sec-websocket-protocol': 'a b' })).status, 400);
  assert.is(refusal(headers({ 'sec-websocket-extensions': ';;' })).status, 400);
});

test('checkOrigin refusing: 403; it sees the origin and the call', () => {
  const seen: unknown[] = [];
  const error = refusal(headers({ origin: 'https://evil.test' }), {
    checkOrigin: (origin, call) => {
      seen.push(origin, call.httpVersion, call.url);
      return false;
    },
  });
  assert.is(error.status, 403);
  assert.equal(seen, ['https://evil.test', '2.0', '/chat?room=1']);
});

test('checks run in order: method, :protocol, pseudo-headers, version, offers', () => {
  assert.is(refusal(headers({ ':method': 'POST', 'sec-websocket-version': '8' })).status, 400);
  assert.is(refusal(headers({ ':protocol': 'x', 'sec-websocket-version': '8' })).status, 400);
  assert.is(refusal(headers({ ':path': null, 'sec-websocket-version': '8' })).status, 400);
  assert.is(refusal(headers({ 'sec-websocket-version': '8', 'sec-websocket-protocol': 'a b' })).status, 426);
});

test('header names from the prototype are never read', () => {
  const block = Object.create({ ':method': 'CONNECT', ':protocol': 'websocket' }) as Record<string, string>;
  assert.is(refusal(block).status, 400);
});

test('http2ResponseHeaders: 200 with the selected protocol and extensions, lower case', () => {
  const offer = validateExtendedConnect(http2Call(headers({ 'sec-websocket-protocol': 'chat' })), { protocols: ['chat'] });
  assert.equal(http2ResponseHeaders(offer, 'chat', 'permessage-deflate'), {
    ':status': 200,
    'sec-websocket-protocol': 'chat',
    'sec-websocket-extensions': 'permessage-deflate',
  });
  assert.equal(http2ResponseHeaders(offer, undefined, undefined), { ':status': 200 });
  assert.throws(() => http2ResponseHeaders(offer, 'other', undefined), TypeError);
});

test('http2ErrorResponse: status, the error headers lower-cased minus connection-specific ones, text body', () => {
  const error = new HandshakeError(426, 'unsupported version', { 'Sec-WebSocket-Version': '13', Connection: 'close', Upgrade: 'x' });
  const { headers: block, body } = http2ErrorResponse(error);
  assert.equal(block, {
    ':status': 426,
    'sec-websocket-version': '13',
    'content-type': 'text/plain; charset=utf-8',
    'content-length': body.length,
  });
  assert.is(body.toString(), 'unsupported version\n');
});

test.run();
