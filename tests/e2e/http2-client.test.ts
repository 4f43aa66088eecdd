/**
 * Our client, `connect(url, { http2: true })`, against our server
 * (`handleHttp2Stream` on node:http2), cleartext with prior knowledge and
 * TLS with ALPN h2:
 * - echo of text and a 1 MiB binary message, subprotocol negotiated, the
 *   client's receive windows raised (16 MiB for the connection, 8 MiB per
 *   stream, or as its `http2` options say), the session's close
 *   handshake ends the stream only;
 * - ten concurrent calls share one connection; after the last session
 *   closes, the connection stays for `idleTimeoutMs`, is reused within it,
 *   and closes after it (the next call opens a new one);
 * - permessage-deflate negotiated and used over a stream;
 * - a server limit of N concurrent streams: the next call opens a second
 *   connection instead of waiting;
 * - strict checks of the answer, each a typed error, against a hand-written
 *   node:http2 server: a status other than 200 (with its body, or as much
 *   of it as came within the timeout), a subprotocol or extension that was
 *   not offered, a reset before the answer, no answer within
 *   `handshakeTimeoutMs`; the connection goes on serving good streams after
 *   each.
 */
import { once } from 'node:events';
import { constants, createServer, type Http2Server, type Http2Session } from 'node:http2';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { permessageDeflate } from '../../src/extensions/permessage-deflate.ts';
import {
  ConnectionFailedError,
  HandshakeTimeoutError,
  InvalidResponseError,
  UnexpectedExtensionError,
  UnexpectedProtocolError,
  UnexpectedStatusError,
} from '../../src/upgrade/client-errors.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { handleHttp2Stream, http2ServerOptions } from '../../src/upgrade/h2-serve.ts';
import { sleep, waitFor } from '../support/resources.ts';
import { echo, selfSignedCertificate, startH2Server, type H2TestServer } from '../support/h2.ts';

let server: H2TestServer;
const certificate = selfSignedCertificate();

test.before(async () => {
  server = await startH2Server(echo, { protocols: ['chat'], extensions: [permessageDeflate()] });
});

test.after(async () => {
  await server.close();
});

test('echo over a stream: text, 1 MiB binary, subprotocol; the close ends the stream, not the connection', async () => {
  const before = server.connections.length;
  const session = await connect(`ws://127.0.0.1:${server.port}/echo`, { http2: true, protocols: ['chat'] });
  assert.is(session.protocol, 'chat');
  const serverSide = server.connections.at(-1)!;
  await waitFor(() => (serverSide.state.remoteWindowSize ?? 0) > 16_000_000, 2000, 'the client to raise its connection window');
  assert.is(serverSide.remoteSettings.initialWindowSize, 8 << 20, 'and its streams\' window');
  await session.send('over h2');
  assert.is(await session.receive(), 'over h2');
  const big = Buffer.alloc(1024 * 1024, 0x5a);
  await session.send(big);
  assert.ok(big.equals((await session.receive()) as Buffer));
  assert.equal(await session.close(1000, 'done'), { code: 1000, reason: '' });
  await session.raw.job.join();
  assert.is(session.raw.job.state, 'completed');
  await server.jobs.at(-1)!.join();
  assert.is(server.connections.length, before + 1);
  const connection = server.connections.at(-1)!;
  assert.not.ok(connection.closed || connection.destroyed, 'the connection outlives the session');
});

test('http2 options: the stream window a connection announces is its first call\'s initialWindowSize', async () => {
  const own = await startH2Server(echo);
  try {
    const session = await connect(`ws://127.0.0.1:${own.port}/echo`, { http2: { initialWindowSize: 300_000, idleTimeoutMs: 0 } });
    assert.is(own.connections.at(-1)!.remoteSettings.initialWindowSize, 300_000);
    await session.close();
  } finally {
    await own.close();
  }
});

test('ten concurrent calls share one connection; it idles, is reused, then closes after idleTimeoutMs', async () => {
  // The previous test's connection idles for the default 1 s: start from none.
  await waitFor(() => server.connections.every((c) => c.closed || c.destroyed), 3000, 'idle connections to close');
  const before = server.connections.length;
  const http2 = { idleTimeoutMs: 300 };
  const url = `ws://127.0.0.1:${server.port}/shared`;
  const sessions = await Promise.all(Array.from({ length: 10 }, () => connect(url, { http2 })));
  assert.is(server.connections.length, before + 1, 'one connection for ten sessions');
  await Promise.all(sessions.map(async (session, i) => {
    await session.send(`m${i}`);
    assert.is(await session.receive(), `m${i}`);
  }));
  for (const session of sessions) await session.close();
  const connection = server.connections.at(-1)!;
  await sleep(50);
  assert.not.ok(connection.closed || connection.destroyed, 'still open while idle');

  const reused = await connect(url, { http2 });
  assert.is(server.connections.length, before + 1, 'reused within the idle time');
  await reused.close();

  await waitFor(() => connection.closed || connection.destroyed, 3000, 'the idle connection to close');
  const fresh = await connect(url, { http2 });
  assert.is(server.connections.length, before + 2, 'a new connection after the idle close');
  await fresh.close();
});

// Servers answer a burst of stream resets on one connection with GOAWAY (Node's, through nghttp2, after
// about a thousand: the rapid-reset guard), which ends every WebSocket on it.
test('1,100 sessions closed cleanly one after another on one pooled connection send no reset: the connection and a bystander on it stay', async () => {
  const url = `ws://127.0.0.1:${server.port}/churn`;
  const bystander = await connect(url, { http2: true });
  const connections = server.connections.length;
  for (let i = 0; i < 1100; i++) await (await connect(url, { http2: true })).close();
  await bystander.send('still here');
  assert.is(await bystander.receive(), 'still here', 'the connection was not torn down by a GOAWAY');
  assert.is(server.connections.length, connections, 'every session on the same connection');
  await bystander.close();
});

test('1,100 sessions terminated one after another (each a reset) move to a fresh connection before the server\'s guard would end it', async () => {
  const url = `ws://127.0.0.1:${server.port}/churn`;
  const bystander = await connect(url, { http2: true });
  const connections = server.connections.length;
  for (let i = 0; i < 1100; i++) (await connect(url, { http2: true })).raw.terminate();
  await bystander.send('still here');
  assert.is(await bystander.receive(), 'still here', 'the connection was not torn down by a GOAWAY');
  assert.is(server.connections.length, connections + 2, 'a fresh connection after every 500 resets');
  await bystander.close();
});

test('permessage-deflate negotiated and used over a stream', async () => {
  const session = await connect(`ws://127.0.0.1:${server.port}/deflate`, { http2: true, extensions: [permessageDeflate()] });
  assert.is(session.extensions.length, 1);
  const text = 'compress me '.repeat(2000);
  await session.send(text);
  assert.is(await session.receive(), text);
  await session.close();
});

test('at the server\'s SETTINGS_MAX_CONCURRENT_STREAMS, the next call opens another connection', async () => {
  const limited = await startH2Server(echo, { limits: { maxConcurrentStreams: 3 } });
  try {
    const url = `ws://127.0.0.1:${limited.port}/`;
    const first = await Promise.all(Array.from({ length: 3 }, () => connect(url, { http2: true })));
    assert.is(limited.connections.length, 1);
    const more = await Promise.all(Array.from({ length: 4 }, () => connect(url, { http2: true, handshakeTimeoutMs: 3000 })));
    assert.is(limited.connections.length, 3, '3 + 3 + 1 streams');
    for (const [i, session] of [...first, ...more].entries()) {
      await session.send(`s${i}`);
      assert.is(await session.receive(), `s${i}`);
    }
    await Promise.all([...first, ...more].map((session) => session.close()));
  } finally {
    await limited.close();
  }
});

test('wss:// with ALPN h2: echo; concurrent calls share the TLS connection', async () => {
  const secure = await startH2Server(echo, { tls: certificate });
  try {
    const tls = { ca: certificate.cert };
    const url = `wss://localhost:${secure.port}/secure`;
    const sessions = await Promise.all(Array.from({ length: 5 }, () => connect(url, { http2: true, tls })));
    assert.is(secure.connections.length, 1);
    for (const [i, session] of sessions.entries()) {
      await session.send(`tls ${i}`);
      assert.is(await session.receive(), `tls ${i}`);
    }
    const request = secure.sessions[0]!.request as { httpVersion?: string; headers: Record<string, unknown> };
    assert.is(request.httpVersion, '2.0');
    assert.is(request.headers[':scheme'], 'https');
    await Promise.all(sessions.map((session) => session.close()));
    const otherTls = await connect(url, { http2: true, tls: { ca: certificate.cert } });
    assert.is(secure.connections.length, 2, 'another tls options object: another connection');
    await otherTls.close();
  } finally {
    await secure.close();
  }
});

// A hand-written server that answers each path its own way.
let rogue: Http2Server;
let roguePort = 0;
const rogueSessions: Http2Session[] = [];

test('strict checks: each bad answer is a typed error; the connection serves good streams after each', async () => {
  rogue = createServer(http2ServerOptions());
  rogue.on('session', (session) => rogueSessions.push(session));
  rogue.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    switch (headers[':path']) {
      case '/404':
        stream.respond({ ':status': 404, 'x-why': 'nothing here' });
        stream.end('no such endpoint');
        return;
      case '/404-unended':
        stream.respond({ ':status': 404 });
        stream.write('partial');
        return;
      case '/wrong-protocol':
        stream.respond({ ':status': 200, 'sec-websocket-protocol': 'not-offered' });
        return;
      case '/wrong-extension':
        stream.respond({ ':status': 200, 'sec-websocket-extensions': 'x-unknown' });
        return;
      case '/reset':
        stream.close(constants.NGHTTP2_REFUSED_STREAM);
        return;
      case '/silent':
        return;
      case '/many-headers':
        stream.respond({ ':status': 200, ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`x-h${i}`, 'v'])) });
        return;
      case '/big-header':
        stream.respond({ ':status': 200, 'x-big': 'b'.repeat(2000) });
        return;
      default:
        handleHttp2Stream(stream, headers, echo);
    }
  });
  rogue.listen(0, '127.0.0.1');
  await once(rogue, 'listening');
  roguePort = (rogue.address() as AddressInfo).port;
  const url = (path: string): string => `ws://127.0.0.1:${roguePort}${path}`;

  const good = async (): Promise<void> => {
    const session = await connect(url('/good'), { http2: true });
    await session.send('fine');
    assert.is(await session.receive(), 'fine');
    await session.close();
  };
  await good();

  try {
    await connect(url('/404'), { http2: true });
    assert.unreachable('404 accepted');
  } catch (error) {
    assert.instance(error, UnexpectedStatusError);
    const e = error as UnexpectedStatusError;
    assert.is(e.status, 404);
    assert.is(e.headers['x-why'], 'nothing here');
    assert.is(e.body.toString(), 'no such endpoint');
    assert.match(e.message, 'instead of 200');
  }
  await good();

  try {
    await connect(url('/404-unended'), { http2: true, handshakeTimeoutMs: 300 });
    assert.unreachable('404 accepted');
  } catch (error) {
    assert.instance(error, UnexpectedStatusError);
    assert.is((error as UnexpectedStatusError).body.toString(), 'partial', 'the body as far as it came within the timeout');
  }
  await good();

  try {
    await connect(url('/wrong-protocol'), { http2: true, protocols: ['chat'] });
    assert.unreachable('unoffered protocol accepted');
  } catch (error) {
    assert.instance(error, UnexpectedProtocolError);
    assert.is((error as UnexpectedProtocolError).protocol, 'not-offered');
  }
  await good();

  try {
    await connect(url('/wrong-extension'), { http2: true });
    assert.unreachable('unoffered extension accepted');
  } catch (error) {
    assert.instance(error, UnexpectedExtensionError);
  }
  await good();

  try {
    await connect(url('/reset'), { http2: true });
    assert.unreachable('reset stream accepted');
  } catch (error) {
    assert.instance(error, ConnectionFailedError);
    assert.match((error as Error).message, 'NGHTTP2_REFUSED_STREAM');
  }
  await good();

  // The responseHead limits hold over HTTP/2 too (the header fields counted and sized as HTTP/1.1 lines).
  for (const [path, limit] of [['/many-headers', 'more than 5 response header lines'], ['/big-header', 'larger than 1000 bytes']]) {
    try {
      await connect(url(path!), { http2: true, responseHead: { maxHeaders: 5, maxHeadSize: 1000 } });
      assert.unreachable(`${path} accepted`);
    } catch (error) {
      assert.instance(error, InvalidResponseError);
      assert.match((error as Error).message, limit!);
    }
    await good();
  }

  try {
    await connect(url('/silent'), { http2: true, handshakeTimeoutMs: 200 });
    assert.unreachable('no answer accepted');
  } catch (error) {
    assert.instance(error, HandshakeTimeoutError);
  }
  await good();
  assert.is(rogueSessions.length, 1, 'one connection for all of it');
  rogue.close();
  for (const session of rogueSessions) session.destroy();
});

test('a stream a GOAWAY left unprocessed (a server dropping an idle connection as the stream was opened) is retried on another connection', async () => {
  let connections = 0;
  let streams = 0;
  const server = createServer(http2ServerOptions());
  server.on('session', (session: Http2Session) => {
    // The first connection goes away at once, as our server drops an idle one: its GOAWAY says no stream was processed.
    if (++connections === 1) {
      session.goaway(constants.NGHTTP2_NO_ERROR, 0);
      session.close();
    }
  });
  server.on('stream', (stream, headers) => {
    streams++;
    handleHttp2Stream(stream, headers, echo);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const session = await connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, { http2: true });
    await session.send('retried');
    assert.is(await session.receive(), 'retried');
    await session.close();
    assert.is(connections, 2, 'the retry went to a new connection');
    assert.is(streams, 1, 'the first stream never reached the server');
  } finally {
    server.close();
  }
});

test('concurrent calls to a silent server: each fails on its own handshake timeout, not on the first caller\'s', async () => {
  const silent = createNetServer((socket) => socket.on('error', () => {})); // accepts, never answers
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  const url = `ws://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
  try {
    const started = Date.now();
    const settled = async (promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> => {
      try {
        await promise;
      } catch (error) {
        return { error, ms: Date.now() - started };
      }
      throw new Error('connected to a silent server');
    };
    const [short, long] = await Promise.all([
      settled(connect(url, { http2: true, handshakeTimeoutMs: 200 })),
      settled(connect(url, { http2: true, handshakeTimeoutMs: 1000 })),
    ]);
    assert.instance(short.error, HandshakeTimeoutError);
    assert.instance(long.error, HandshakeTimeoutError);
    assert.match((long.error as Error).message, /1000 ms/);
    assert.ok(short.ms < 900, `the short call took ${short.ms} ms`);
    assert.ok(long.ms >= 950, `the long call failed after ${long.ms} ms, on the short call's deadline`);
  } finally {
    silent.close();
  }
});

test('options HTTP/2 cannot carry are refused before any I/O', () => {
  assert.throws(() => connect('ws://127.0.0.1:1/', { http2: true, headers: { Connection: 'keep-alive' } }), TypeError);
  assert.throws(() => connect('ws://127.0.0.1:1/', { http2: true, headers: { 'Transfer-Encoding': 'chunked' } }), TypeError);
  assert.throws(() => connect('ws://127.0.0.1:1/', { http2: true, headers: { 'X-Ctl': 'a\x01b' } }), TypeError);
  assert.throws(() => connect('ws://127.0.0.1:1/', { http2: { idleTimeoutMs: -1 } }), RangeError);
  assert.throws(() => connect('ws://127.0.0.1:1/', { http2: { initialWindowSize: 1000 } }), RangeError);
  assert.throws(() => connect('ws://127.0.0.1:1/', { http2: { connectionWindowSize: 2 ** 31 } }), RangeError);
  // What tls.connect throws over HTTP/1.1 at the call, HTTP/2 throws at the call too (not a later rejection).
  for (const tls of [{ minVersion: 'bogus' as 'TLSv1.3' }, { ciphers: 'NOPE-NOT-A-CIPHER' }]) {
    assert.throws(() => connect('wss://127.0.0.1:1/', { tls }));
    assert.throws(() => connect('wss://127.0.0.1:1/', { http2: true, tls }));
  }
});

test.run();
