/** Tests of the bounded HTTP/1.1 request-head parser over a real ByteChannel. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteChannel } from '../../../src/channels/byte-channel.ts';
import { HandshakeError, IncompleteRequestHeadError } from '../../../src/upgrade/errors.ts';
import { validateUpgradeRequest } from '../../../src/upgrade/handshake.ts';
import {
  DEFAULT_MAX_HEAD_SIZE,
  DEFAULT_MAX_HEADERS,
  readRequestHead,
} from '../../../src/upgrade/request-head.ts';
import type { RequestHeadOptions } from '../../../src/upgrade/request-head.ts';

const HEAD =
  'GET /chat?room=1 HTTP/1.1\r\n' +
  'Host: server.example.com\r\n' +
  'Upgrade: websocket\r\n' +
  'Connection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
  'Origin: http://example.com\r\n' +
  'Sec-WebSocket-Protocol: chat, superchat\r\n' +
  'Sec-WebSocket-Version: 13\r\n' +
  '\r\n';
const FRAME = Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x49, 0x67, 0x6f, 0x68, 0x6e]);

/** A channel holding `parts` (strings are Latin-1), each queued as its own chunk. */
function channelWith(...parts: Array<string | Buffer>): ByteChannel {
  const channel = new ByteChannel();
  for (const part of parts) {
    const chunk = typeof part === 'string' ? Buffer.from(part, 'latin1') : part;
    if (chunk.length > 0) assert.ok(channel.tryWriteFully(chunk));
  }
  return channel;
}

/** Parses `head` written as one chunk and closed; returns the rejection. */
async function rejection(head: string, options?: RequestHeadOptions): Promise<unknown> {
  const channel = channelWith(head);
  channel.close();
  try {
    await readRequestHead(channel, options);
  } catch (error) {
    return error;
  }
  assert.unreachable(`accepted ${JSON.stringify(head)}`);
  return undefined;
}

async function expectStatus(head: string, status: number, options?: RequestHeadOptions): Promise<void> {
  const error = await rejection(head, options);
  assert.instance(error, HandshakeError, JSON.stringify(head));
  assert.is((error as HandshakeError).status, status, JSON.stringify(head));
}

function remaining(channel: ByteChannel): Buffer {
  const parts: Buffer[] = [];
  for (let chunk = channel.tryReadChunk(); chunk !== undefined; chunk = channel.tryReadChunk()) parts.push(chunk);
  return Buffer.concat(parts);
}

test('parses the RFC 6455 example request', async () => {
  const head = await readRequestHead(channelWith(HEAD));
  assert.is(head.method, 'GET');
  assert.is(head.url, '/chat?room=1');
  assert.is(head.httpVersion, '1.1');
  assert.is(Object.getPrototypeOf(head.headers), null);
  assert.equal({ ...head.headers }, {
    host: 'server.example.com',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    origin: 'http://example.com',
    'sec-websocket-protocol': 'chat, superchat',
    'sec-websocket-version': '13',
  });
  assert.equal(head.rawHeaders.slice(0, 4), ['Host', 'server.example.com', 'Upgrade', 'websocket']);
  assert.is(head.rawHeaders.length, 14);
});

test('the head satisfies UpgradeCall: validateUpgradeRequest accepts it', async () => {
  const validated = validateUpgradeRequest(await readRequestHead(channelWith(HEAD)), { protocols: ['superchat'] });
  assert.is(validated.acceptKey, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  assert.is(validated.protocol, 'superchat');
});

test('bytes after the head stay in the channel', async () => {
  const channel = channelWith(Buffer.concat([Buffer.from(HEAD, 'latin1'), FRAME]));
  await readRequestHead(channel);
  assert.equal(remaining(channel), FRAME);
});

test('split at every position into two chunks: same head, leftover kept', async () => {
  const whole = Buffer.concat([Buffer.from(HEAD, 'latin1'), FRAME]);
  const expected = await readRequestHead(channelWith(HEAD));
  for (let at = 1; at < whole.length; at++) {
    const channel = channelWith(whole.subarray(0, at), whole.subarray(at));
    const head = await readRequestHead(channel);
    assert.equal({ ...head.headers }, { ...expected.headers }, `split at ${at}`);
    assert.equal(head.rawHeaders, expected.rawHeaders);
    assert.equal(remaining(channel), FRAME, `split at ${at}`);
  }
});

test('one byte per chunk, queued up front', async () => {
  const whole = Buffer.concat([Buffer.from(HEAD, 'latin1'), FRAME]);
  const channel = channelWith(...Array.from(whole, (byte) => Buffer.from([byte])));
  const head = await readRequestHead(channel);
  assert.is(head.url, '/chat?room=1');
  assert.equal(remaining(channel), FRAME);
});

test('one byte per chunk, arriving one at a time while the parser waits', async () => {
  const whole = Buffer.concat([Buffer.from(HEAD, 'latin1'), FRAME]);
  const channel = new ByteChannel();
  const reading = readRequestHead(channel);
  for (const byte of whole) {
    await new Promise((resolve) => setImmediate(resolve));
    await channel.writeFully(Buffer.from([byte]));
  }
  const head = await reading;
  assert.is(head.headers['sec-websocket-version'], '13');
  assert.equal(remaining(channel), FRAME);
});

test('a head already buffered is parsed without waiting (no promise per byte or line)', async () => {
  const channel = channelWith(HEAD);
  let waits = 0;
  const awaitContent = channel.awaitContent.bind(channel);
  channel.awaitContent = (min?: number) => {
    waits++;
    return awaitContent(min);
  };
  await readRequestHead(channel);
  assert.is(waits, 0);
});

test('repeated headers are joined like node:http (", ", cookie "; ")', async () => {
  const head = await readRequestHead(
    channelWith(
      'GET / HTTP/1.1\r\nSec-WebSocket-Protocol: a\r\nsec-websocket-protocol: b\r\n' +
        'Sec-WebSocket-Extensions: x; y=1\r\nSec-WebSocket-Extensions: z\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n',
    ),
  );
  assert.is(head.headers['sec-websocket-protocol'], 'a, b');
  assert.is(head.headers['sec-websocket-extensions'], 'x; y=1, z');
  assert.is(head.headers['cookie'], 'a=1; b=2');
  assert.is(head.rawHeaders.length, 12);
});

test('OWS around values is trimmed; inner whitespace and empty values kept', async () => {
  const head = await readRequestHead(channelWith('GET / HTTP/1.1\r\nA:  \t x \t y\t \r\nB:\r\nC: \r\n\r\n'));
  assert.is(head.headers['a'], 'x \t y');
  assert.is(head.headers['b'], '');
  assert.is(head.headers['c'], '');
});

test('leading empty lines before the request line are ignored (RFC 7230 3.5)', async () => {
  const head = await readRequestHead(channelWith('\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  assert.is(head.method, 'GET');
  assert.is(head.headers['host'], 'x');
});

test('a head without headers', async () => {
  const head = await readRequestHead(channelWith('GET / HTTP/1.0\r\n\r\n'));
  assert.is(head.httpVersion, '1.0');
  assert.equal(head.rawHeaders, []);
});

test('__proto__, constructor, hasOwnProperty are plain own headers; no prototype is touched', async () => {
  const head = await readRequestHead(
    channelWith('GET / HTTP/1.1\r\n__proto__: polluted\r\nConstructor: c\r\nhasOwnProperty: h\r\ntoString: t\r\n\r\n'),
  );
  assert.ok(Object.hasOwn(head.headers, '__proto__'));
  assert.is(head.headers['__proto__'], 'polluted');
  assert.is(head.headers['constructor'], 'c');
  assert.is(head.headers['hasownproperty'], 'h');
  assert.is(head.headers['tostring'], 't');
  assert.is(Object.getPrototypeOf(head.headers), null);
  assert.is(({} as Record<string, unknown>)['polluted'], undefined);
  assert.is(Object.prototype.toString.call({}), '[object Object]');
  const error = (() => {
    try {
      validateUpgradeRequest(head);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.instance(error, HandshakeError);
});

test('malformed heads are 400', async () => {
  const bad = [
    'GET / HTTP/1.1\nHost: x\r\n\r\n', // bare LF ending the request line
    'GET / HTTP/1.1\r\nHost: x\n\r\n', // bare LF ending a header
    'GET / HTTP/1.1\r\nHost: x\r\n\n', // bare LF ending the head
    'GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n', // bare CR in a value
    'GET /\r HTTP/1.1\r\n\r\n', // bare CR in the request line
    'GET / HTTP/1.1\r\nHost: x\r\n  folded\r\n\r\n', // obs-fold
    'GET / HTTP/1.1\r\nHost: x\r\n\tfolded\r\n\r\n', // obs-fold with HTAB
    'GET / HTTP/1.1\r\nNoColon\r\n\r\n',
    'GET / HTTP/1.1\r\nHost : x\r\n\r\n', // whitespace before the colon
    'GET / HTTP/1.1\r\n: x\r\n\r\n', // empty name
    'GET / HTTP/1.1\r\nBad(Name): x\r\n\r\n',
    'GET / HTTP/1.1\r\nX: a\u0000b\r\n\r\n', // NUL in a value
    'GET / HTTP/1.1\r\nX: a\u007fb\r\n\r\n', // DEL in a value
    'GET / HTTP/1.1\r\nX: a\u0001\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', // two Host headers
    'GET /\r\n\r\n', // no version
    'GET  / HTTP/1.1\r\n\r\n', // two spaces
    'GET / HTTP/1.1 \r\n\r\n', // trailing space
    'GET / x HTTP/1.1\r\n\r\n', // four parts
    ' GET / HTTP/1.1\r\n\r\n',
    'GET / http/1.1\r\n\r\n',
    'GET / HTTP/1\r\n\r\n',
    'GET / HTTP/1.10\r\n\r\n',
    'G(T / HTTP/1.1\r\n\r\n', // method not a token
    'GET /a\u0001b HTTP/1.1\r\n\r\n', // control character in the target
    'GET /\u00e9 HTTP/1.1\r\n\r\n', // non-ASCII in the target
    'GET\t/\tHTTP/1.1\r\n\r\n',
  ];
  for (const head of bad) await expectStatus(head, 400);
});

test('a request line of another major version than 1 is a 505 (HTTP/1.1 or a later 1.x is read)', async () => {
  for (const version of ['0.9', '2.0', '9.9']) await expectStatus(`GET / HTTP/${version}\r\nHost: x\r\n\r\n`, 505);
  assert.is((await readRequestHead(channelWith('GET / HTTP/1.2\r\nHost: x\r\n\r\n'))).httpVersion, '1.2');
});

test('maxHeadSize: a head of exactly the limit passes, one byte more is 431', async () => {
  const base = 'GET / HTTP/1.1\r\nX: \r\n\r\n';
  const limit = 200;
  const exact = base.replace('X: ', 'X: ' + 'a'.repeat(limit - base.length));
  assert.is(exact.length, limit);
  const head = await readRequestHead(channelWith(exact), { maxHeadSize: limit });
  assert.is(head.headers['x']?.length, limit - base.length);
  await expectStatus(exact.replace('X: ', 'X: a'), 431, { maxHeadSize: limit });
});

test('maxHeadSize: 431 as soon as the limit is passed, without waiting for a line end', async () => {
  const channel = channelWith('GET /' + 'a'.repeat(DEFAULT_MAX_HEAD_SIZE));
  const error = await readRequestHead(channel).catch((e: unknown) => e);
  assert.instance(error, HandshakeError);
  assert.is((error as HandshakeError).status, 431);
});

test('maxHeadSize: default is 16 KiB', async () => {
  const filler = 'GET / HTTP/1.1\r\nX: \r\n\r\n';
  const exact = filler.replace('X: ', 'X: ' + 'a'.repeat(DEFAULT_MAX_HEAD_SIZE - filler.length));
  await readRequestHead(channelWith(exact));
  await expectStatus(exact.replace('X: ', 'X: a'), 431);
});

test('maxHeaders: exactly the limit passes, one more is 431; default 100', async () => {
  const lines = (n: number): string => 'GET / HTTP/1.1\r\n' + 'X: 1\r\n'.repeat(n) + '\r\n';
  const head = await readRequestHead(channelWith(lines(5)), { maxHeaders: 5 });
  assert.is(head.headers['x'], '1, 1, 1, 1, 1');
  await expectStatus(lines(6), 431, { maxHeaders: 5 });
  await readRequestHead(channelWith(lines(DEFAULT_MAX_HEADERS)));
  await expectStatus(lines(DEFAULT_MAX_HEADERS + 1), 431);
  await readRequestHead(channelWith('GET / HTTP/1.1\r\n\r\n'), { maxHeaders: 0 });
});

test('timeout: a stalled head is 408 and the input is cancelled', async () => {
  const channel = channelWith('GET / HTTP/1.1\r\nHost: x\r\n');
  const started = Date.now();
  const error = await readRequestHead(channel, { timeoutMs: 50 }).catch((e: unknown) => e);
  assert.instance(error, HandshakeError);
  assert.is((error as HandshakeError).status, 408);
  assert.ok(Date.now() - started >= 45);
  assert.ok(channel.isClosedForRead);
  assert.is(channel.closedCause, error);
});

test('timeout covers the whole head: a trickle of bytes does not extend it', async () => {
  const channel = new ByteChannel();
  const reading = readRequestHead(channel, { timeoutMs: 80 }).catch((e: unknown) => e);
  const trickle = setInterval(() => {
    if (!channel.isClosedForWrite) channel.tryWriteFully(Buffer.from('X-Slow: 1\r\n'));
  }, 10);
  channel.tryWriteFully(Buffer.from('GET / HTTP/1.1\r\n'));
  const error = await reading;
  clearInterval(trickle);
  assert.instance(error, HandshakeError);
  assert.is((error as HandshakeError).status, 408);
});

test('no timer is left behind after success, failure or timeout', async () => {
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  await readRequestHead(channelWith(HEAD));
  await rejection('GET / HTTP/1.1\r\nbad\r\n\r\n');
  await readRequestHead(channelWith('GET / HTTP/1.1\r\n'), { timeoutMs: 20 }).catch(() => undefined);
  assert.is(timers(), before);
});

test('timeoutMs: Infinity disables the timer', async () => {
  const channel = new ByteChannel();
  const reading = readRequestHead(channel, { timeoutMs: Infinity });
  assert.is(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, 0);
  await channel.writeFully(Buffer.from(HEAD));
  assert.is((await reading).method, 'GET');
});

test('end of stream before the head ends: IncompleteRequestHeadError with the byte count', async () => {
  const error = await rejection('GET / HTTP/1.1\r\nHost: x\r\n');
  assert.instance(error, IncompleteRequestHeadError);
  assert.is((error as IncompleteRequestHeadError).bytesReceived, 25);
  assert.is((error as IncompleteRequestHeadError).cause, undefined);
  const empty = await rejection('');
  assert.instance(empty, IncompleteRequestHeadError);
  assert.is((empty as IncompleteRequestHeadError).bytesReceived, 0);
});

test('a failed input: IncompleteRequestHeadError carrying the cause', async () => {
  const channel = channelWith('GET / HT');
  const reading = readRequestHead(channel).catch((e: unknown) => e);
  const reset = new Error('ECONNRESET');
  await new Promise((resolve) => setImmediate(resolve));
  channel.close(reset);
  const error = await reading;
  assert.instance(error, IncompleteRequestHeadError);
  assert.is((error as IncompleteRequestHeadError).cause, reset);
  assert.is((error as IncompleteRequestHeadError).bytesReceived, 8);
});

test('invalid options are RangeErrors', async () => {
  const channel = channelWith(HEAD);
  for (const options of [
    { maxHeadSize: 0 },
    { maxHeadSize: 1.5 },
    { maxHeadSize: Number.NaN },
    { maxHeaders: -1 },
    { timeoutMs: 0 },
    { timeoutMs: Number.NaN },
  ]) {
    const error = await readRequestHead(channel, options).catch((e: unknown) => e);
    assert.instance(error, RangeError, JSON.stringify(options));
  }
});

test('a 16 KiB head one byte per chunk parses in linear time', async () => {
  const big = 'GET / HTTP/1.1\r\nX: ' + 'a'.repeat(DEFAULT_MAX_HEAD_SIZE - 24) + '\r\n\r\n';
  const bytes = Buffer.from(big, 'latin1');
  const started = performance.now();
  await readRequestHead(channelWith(...Array.from(bytes, (byte) => Buffer.from([byte]))));
  assert.ok(performance.now() - started < 1000);
});

test.run();
