/**
 * The client handshake without sockets: the request head, the response-head
 * reader (split anywhere, leftover frames kept), the bounded error-body
 * reader, and every rule of the 101 check.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteChannel } from '../../../src/channels/byte-channel.ts';
import { computeAcceptKey } from '../../../src/upgrade/accept-key.ts';
import {
  AcceptKeyMismatchError,
  ConnectionFailedError,
  InvalidResponseError,
  UnexpectedExtensionError,
  UnexpectedProtocolError,
} from '../../../src/upgrade/client-errors.ts';
import {
  acceptHandshakeResponse,
  formatClientRequest,
  readResponseBody,
  readResponseHead,
  type ClientRequest,
  type ResponseHead,
} from '../../../src/upgrade/client-handshake.ts';
import type { ExtensionNegotiator, WebSocketExtension } from '../../../src/extensions/extension.ts';

/** A channel holding `bytes` cut into `pieces`-byte chunks, closed after them. */
function channelOf(bytes: Buffer, pieces = bytes.length || 1): ByteChannel {
  const channel = new ByteChannel(1 << 20);
  for (let i = 0; i < bytes.length; i += pieces) channel.tryWriteFully(bytes.subarray(i, i + pieces));
  channel.close();
  return channel;
}

function head(text: string): Promise<ResponseHead> {
  return readResponseHead(channelOf(Buffer.from(text, 'latin1')));
}

async function rejects(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

test('request: line, Host from the URL (default port omitted, IPv6 bracketed), key, version, offers', () => {
  const request = formatClientRequest(new URL('ws://example.com/chat?room=1#frag'), { protocols: ['v2', 'v1'] });
  const text = request.head.toString('latin1');
  assert.ok(text.startsWith('GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\n'), text);
  assert.ok(text.includes('Upgrade: websocket\r\nConnection: Upgrade\r\n'));
  assert.ok(text.includes(`Sec-WebSocket-Key: ${request.key}\r\nSec-WebSocket-Version: 13\r\n`));
  assert.ok(text.includes('Sec-WebSocket-Protocol: v2, v1\r\n'));
  assert.ok(text.endsWith('\r\n\r\n'));
  assert.is(Buffer.from(request.key, 'base64').length, 16);
  assert.is.not(formatClientRequest(new URL('ws://a/')).key, request.key);
  assert.ok(formatClientRequest(new URL('wss://[::1]:8443')).head.toString().startsWith('GET / HTTP/1.1\r\nHost: [::1]:8443\r\n'));
  assert.ok(formatClientRequest(new URL('wss://h:443/')).head.toString().includes('Host: h\r\n'));
});

test('request: extra headers are added, Host may be replaced, handshake headers may not', () => {
  const text = formatClientRequest(new URL('ws://a:1/'), {
    headers: { Origin: 'https://a', 'X-Token': 't', host: 'b.example' },
  }).head.toString();
  assert.ok(text.includes('Host: b.example\r\n'));
  assert.not.ok(text.includes('Host: a:1'));
  assert.ok(text.includes('Origin: https://a\r\nX-Token: t\r\n\r\n'));
  for (const name of ['Upgrade', 'connection', 'Sec-WebSocket-Key', 'sec-websocket-version', 'Sec-WebSocket-Protocol', 'Sec-WebSocket-Extensions']) {
    assert.throws(() => formatClientRequest(new URL('ws://a/'), { headers: { [name]: 'x' } }), TypeError, name);
  }
  assert.throws(() => formatClientRequest(new URL('ws://a/'), { headers: { 'X-Evil': 'a\r\nInjected: 1' } }), TypeError);
  assert.throws(() => formatClientRequest(new URL('ws://a/'), { headers: { 'Bad Name': 'x' } }), TypeError);
  assert.throws(() => formatClientRequest(new URL('ws://a/'), { protocols: ['a b'] }), TypeError);
  assert.throws(() => formatClientRequest(new URL('ws://a/'), { protocols: ['a', 'a'] }), TypeError);
});

test('response head: parsed under any chunking; the bytes after it stay in the channel', async () => {
  const text = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-A: 1\r\nx-a: 2\r\n\r\n';
  const frames = Buffer.from([0x81, 0x02, 0x68, 0x69]);
  for (const pieces of [1, 2, 7, 1000]) {
    const channel = channelOf(Buffer.concat([Buffer.from(text, 'latin1'), frames]), pieces);
    const parsed = await readResponseHead(channel);
    assert.is(parsed.status, 101);
    assert.is(parsed.statusText, 'Switching Protocols');
    assert.is(parsed.httpVersion, '1.1');
    assert.is(parsed.headers['x-a'], '1, 2');
    assert.equal(parsed.rawHeaders, ['Upgrade', 'websocket', 'X-A', '1', 'x-a', '2']);
    assert.equal(await channel.readRemaining(), frames);
  }
  assert.is((await head('HTTP/1.1 403\r\n\r\n')).statusText, '');
});

test('response head: malformed or oversized heads are InvalidResponseError, an early end ConnectionFailedError', async () => {
  for (const bad of ['HTTP/1.1 101 OK\n\n', 'HTTP/2 101 OK\r\n\r\n', 'HTTP/1.1 1011 x\r\n\r\n', 'ICY 200 OK\r\n\r\n', 'HTTP/1.1 101 OK\r\n folded\r\n\r\n', 'HTTP/1.1 101 OK\r\nA: 1\r\nSec-WebSocket-Accept: a\r\nsec-websocket-accept: b\r\n\r\n']) {
    assert.instance(await rejects(head(bad)), InvalidResponseError, JSON.stringify(bad));
  }
  const big = 'HTTP/1.1 101 OK\r\nX: ' + 'a'.repeat(200) + '\r\n\r\n';
  assert.instance(await rejects(readResponseHead(channelOf(Buffer.from(big)), { maxHeadSize: 100 })), InvalidResponseError);
  assert.instance(await rejects(readResponseHead(channelOf(Buffer.from('HTTP/1.1 101 OK\r\nA: 1\r\nB: 2\r\n\r\n')), { maxHeaders: 1 })), InvalidResponseError);
  const early = await rejects(head('HTTP/1.1 101 Switching'));
  assert.instance(early, ConnectionFailedError);
  assert.match((early as Error).message, /after 22 bytes/);
});

test('error body: Content-Length, chunked (decoded, stops at the last chunk), until EOF, bounded', async () => {
  const read = async (text: string, max?: number, keepOpen = false) => {
    const channel = new ByteChannel(1 << 20);
    channel.tryWriteFully(Buffer.from(text, 'latin1'));
    if (!keepOpen) channel.close();
    const parsed = await readResponseHead(channel);
    return (await readResponseBody(channel, parsed, max)).toString('latin1');
  };
  assert.is(await read('HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!extra', undefined, true), 'nope!');
  assert.is(await read('HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n', undefined, true), 'abcde');
  assert.is(await read('HTTP/1.1 500 Oops\r\n\r\nuntil the end'), 'until the end');
  assert.is(await read('HTTP/1.1 500 Oops\r\n\r\n' + 'x'.repeat(100), 10), 'x'.repeat(10));
  assert.is(await read('HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n', undefined, true), '');
  assert.throws(() => readResponseBody(new ByteChannel(), { status: 400 } as ResponseHead, -1), RangeError);
});

/** A fake extension that records what it was asked to accept. */
function fakeExtension(name: string, rsv = 0b100, reject = false): ExtensionNegotiator & { disposed: number } {
  const ext = {
    name,
    disposed: 0,
    negotiate: () => undefined, // client-side only
    offer: () => ({ name, params: [['p', true] as const] }),
    accept(): WebSocketExtension {
      if (reject) throw new Error('bad params');
      return {
        name,
        rsv,
        encode: (_opcode, payload) => ({ payload, rsv: 0 }),
        decode: (payload) => payload,
        dispose: () => void ext.disposed++,
      };
    },
  };
  return ext;
}

function response(request: ClientRequest, extra: Record<string, string> = {}, base: Record<string, string> | null = null): ResponseHead {
  const headers: Record<string, string> = base ?? {
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-accept': computeAcceptKey(request.key),
  };
  Object.assign(headers, extra);
  return { httpVersion: '1.1', status: 101, statusText: 'Switching Protocols', headers, rawHeaders: [] };
}

test('101 check: valid responses give the protocol and extensions', () => {
  const ext = fakeExtension('x-ext');
  const request = formatClientRequest(new URL('ws://a/'), { protocols: ['p1', 'p2'], extensions: [ext] });
  assert.ok(request.head.toString().includes('Sec-WebSocket-Extensions: x-ext; p\r\n'));
  assert.equal(acceptHandshakeResponse(request, response(request)), { protocol: undefined, extensions: [] });
  const accepted = acceptHandshakeResponse(request, response(request, { 'sec-websocket-protocol': 'p2', 'sec-websocket-extensions': 'X-Ext' }));
  assert.is(accepted.protocol, 'p2');
  assert.is(accepted.extensions.length, 1);
  const lenient = response(request, { upgrade: 'WebSocket', connection: 'keep-alive, upgrade' });
  assert.ok(acceptHandshakeResponse(request, lenient));
});

test('101 check: each violation has its typed error', () => {
  const request = formatClientRequest(new URL('ws://a/'), { protocols: ['p1'] });
  const cases: Array<[ResponseHead, new (...args: never[]) => Error]> = [
    [{ ...response(request), httpVersion: '1.0' }, InvalidResponseError],
    [response(request, { upgrade: 'h2c' }), InvalidResponseError],
    [response(request, { upgrade: 'websocket, h2c' }), InvalidResponseError],
    [response(request, { connection: 'keep-alive' }), InvalidResponseError],
    [response(request, {}, { upgrade: 'websocket', 'sec-websocket-accept': computeAcceptKey(request.key) }), InvalidResponseError],
    [response(request, { 'sec-websocket-accept': computeAcceptKey('dGhlIHNhbXBsZSBub25jZQ==') }), AcceptKeyMismatchError],
    [response(request, {}, { upgrade: 'websocket', connection: 'upgrade' }), AcceptKeyMismatchError],
    [response(request, { 'sec-websocket-protocol': 'p2' }), UnexpectedProtocolError],
    [response(request, { 'sec-websocket-protocol': 'p1, p1' }), UnexpectedProtocolError],
    [response(request, { 'sec-websocket-extensions': 'permessage-deflate' }), UnexpectedExtensionError],
  ];
  for (const [bad, type] of cases) {
    assert.throws(() => acceptHandshakeResponse(request, bad), (e: unknown) => e instanceof type, JSON.stringify(bad.headers));
  }
  const missing = (() => {
    try {
      acceptHandshakeResponse(request, response(request, {}, { upgrade: 'websocket', connection: 'upgrade' }));
    } catch (error) {
      return error as AcceptKeyMismatchError;
    }
    return undefined;
  })();
  assert.is(missing?.received, undefined);
  assert.is(missing?.expected, computeAcceptKey(request.key));
});

test('101 check: extension errors dispose what was already accepted', () => {
  const a = fakeExtension('a', 0b100);
  const b = fakeExtension('b', 0b100);
  const c = fakeExtension('c', 0b010, true);
  const request = formatClientRequest(new URL('ws://a/'), { extensions: [a, b, c] });
  const check = (header: string, pattern: RegExp) => {
    try {
      acceptHandshakeResponse(request, response(request, { 'sec-websocket-extensions': header }));
      assert.unreachable(header);
    } catch (error) {
      assert.instance(error, UnexpectedExtensionError);
      assert.match((error as Error).message, pattern);
    }
  };
  check('a, a', /more than once/);
  check('a, b', /RSV bit/);
  check('a, c', /not acceptable: bad params/);
  check('a; =', /invalid syntax/);
  check('a, z', /z was not offered/);
  assert.is(a.disposed, 4);
  assert.is(b.disposed, 1);
});

test.run();
