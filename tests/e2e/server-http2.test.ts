/**
 * The server object over HTTP/2 (RFC 8441), on real sockets over loopback:
 * routes and 404 on a stream, the verify hook (accept: its headers on the
 * 200 and its data in the session; refuse: status, headers and body on the
 * stream), the live-session set, topics shared by HTTP/1.1 and HTTP/2
 * subscribers, `close()` (1001 to HTTP/2 sessions, GOAWAY, the connection
 * goes away), and both transports on one port: `listen` over cleartext
 * (prior knowledge recognised by the preface) and over TLS (ALPN), each with
 * our client in both modes (`connect(url, { http2: true })` and plain) and
 * Node's own http2 client. Every session records the HTTP version it
 * arrived with (`session.request.httpVersion`), which tells which transport
 * was used.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect as http2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { createInterface } from 'node:readline';
import { connect as tlsConnect } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../src/frames/frame.ts';
import { VerifyError } from '../../src/server/errors.ts';
import { WebSocketServer } from '../../src/server/websocket-server.ts';
import type { DefaultWebSocketSession } from '../../src/session/default-session.ts';
import { UnexpectedStatusError } from '../../src/upgrade/client-errors.ts';
import { connect, type ConnectOptions } from '../../src/upgrade/connect.ts';
import { connectHeaders, h2Connect, plainHttp2Request, RawH2Stream, selfSignedCertificate } from '../support/h2.ts';
import { rawExchange } from '../support/interop.ts';
import { waitFor } from '../support/resources.ts';
import { roundTrip } from '../support/server.ts';

const certificate = selfSignedCertificate();
const COUNTING_CLIENT = new URL('../support/counting-client.ts', import.meta.url).pathname;
const H2 = { http2: { idleTimeoutMs: 0 } } as const;

/** Echoes with a tag, and records the sessions it served. */
function recording<Data>(tag: string, sessions: DefaultWebSocketSession<Data>[] = []) {
  const handler = async (session: DefaultWebSocketSession<Data>): Promise<void> => {
    sessions.push(session);
    for await (const message of session) await session.send(`${tag}:${String(message)}`);
  };
  return { handler, sessions };
}

/** The refusal `connect` got. */
async function refusal(url: string, options: ConnectOptions = {}): Promise<UnexpectedStatusError> {
  try {
    const session = await connect(url, options);
    await session.close();
  } catch (error) {
    if (error instanceof UnexpectedStatusError) return error;
    throw error;
  }
  throw new Error(`${url} was accepted`);
}

/** Sends `parts` (20 ms apart) over a raw connection and resolves with the status line of the answer. */
async function statusLine(port: number, parts: readonly string[]): Promise<string> {
  const socket = netConnect(port, '127.0.0.1');
  await once(socket, 'connect');
  let received = '';
  const line = new Promise<string>((resolve, reject) => {
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\r\n');
      if (end !== -1) resolve(received.slice(0, end));
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed after ${JSON.stringify(received)}`)));
  });
  for (const [i, part] of parts.entries()) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    socket.write(part);
  }
  try {
    return await line;
  } finally {
    socket.destroy();
  }
}

/** The sessions' HTTP versions, in order. */
const versions = (sessions: readonly DefaultWebSocketSession<unknown>[]): (string | undefined)[] =>
  sessions.map((session) => session.request?.httpVersion);

test('cleartext listen: routes over HTTP/2 streams, 404 on its stream, and the connection keeps serving', async () => {
  const a = recording('a');
  const server = new WebSocketServer().route('/a', a.handler).route('/b', recording('b').handler);
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await h2Connect(port);
  try {
    const first = await RawH2Stream.open(client, connectHeaders('/a?room=1'));
    assert.is(first.status, 200);
    first.send(Opcode.Text, 'x');
    await first.until(() => first.texts.length === 1, 5000, 'the echo');
    assert.equal(first.texts, ['a:x']);
    for (const path of ['/c', '/a/', '/A', '/']) {
      const refused = await RawH2Stream.open(client, connectHeaders(path));
      assert.is(refused.status, 404, path);
      await refused.until(() => refused.closed, 5000, 'the refused stream to close');
      assert.is(refused.body, 'no WebSocket endpoint at this path\n');
    }
    // Not an extended CONNECT: 400 on a routed path, 404 elsewhere; the connection is still up.
    assert.match(await plainHttp2Request(client, '/a'), /^400 method GET cannot open a WebSocket over HTTP\/2/);
    assert.is(await plainHttp2Request(client, '/nope'), '404 no WebSocket endpoint at this path\n');
    first.send(Opcode.Text, 'y');
    await first.until(() => first.texts.length === 2, 5000, 'the second echo');
    assert.not.ok(client.closed || client.destroyed);
    assert.equal(versions(a.sessions), ['2.0']);
    assert.is(a.sessions[0]!.request?.method, 'CONNECT');
    assert.is(a.sessions[0]!.request?.url, '/a?room=1');
    assert.is(a.sessions[0]!.remoteAddress, '127.0.0.1');
    // Our client on the same port, HTTP/2 and HTTP/1.1.
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/b`, 'h2', H2), 'b:h2');
    assert.is((await refusal(`ws://127.0.0.1:${port}/zzz`, H2)).status, 404);
  } finally {
    client.destroy();
    await server.close();
  }
});

test('cleartext listen: one port serves HTTP/1.1 and HTTP/2 (preface sniffing) to our client, ws-style HTTP/1.1 and Node\'s http2 client', async () => {
  const echo = recording('e');
  const server = new WebSocketServer({ requestHead: { timeoutMs: 300 } }).route('/e', echo.handler);
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await h2Connect(port);
  try {
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/e`, 'one', H2), 'e:one');
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/e`, 'two'), 'e:two');
    const raw = await RawH2Stream.open(client, connectHeaders('/e'));
    raw.send(Opcode.Text, 'three');
    await raw.until(() => raw.texts.length === 1, 5000, 'the echo');
    assert.equal(raw.texts, ['e:three']);
    raw.sendClose(1000);
    await raw.until(() => raw.closeFrame !== undefined, 5000, 'the close frame');
    assert.equal(versions(echo.sessions), ['2.0', '1.1', '2.0']);
    // Plain HTTP/1.1 on the same port: 426 on a routed path, 404 elsewhere (node:http behind the sniffer).
    assert.is(await statusLine(port, ['GET /e HTTP/1.1\r\nHost: x\r\n\r\n']), 'HTTP/1.1 426 Upgrade Required');
    assert.is(await statusLine(port, ['GET /x HTTP/1.1\r\nHost: x\r\n\r\n']), 'HTTP/1.1 404 Not Found');
    // Sent in pieces, a head that starts like the preface (P, then O where the preface has R) is still HTTP/1.1.
    assert.is(await statusLine(port, ['P', 'O', 'ST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n']), 'HTTP/1.1 426 Upgrade Required');
    // A connection that sends nothing is dropped after requestHead.timeoutMs (rawExchange fails if it is not).
    const silent = await rawExchange(port, [], { timeoutMs: 5000 });
    assert.is(silent.response, '');
  } finally {
    client.destroy();
    await server.close();
  }
});

test('TLS listen: ALPN picks h2 or http/1.1 on one port, for our client, Node\'s http2 client and a plain HTTPS request', async () => {
  const echo = recording('t');
  const server = new WebSocketServer().route('/t', echo.handler);
  const { port } = await server.listen(0, '127.0.0.1', { tls: certificate });
  const tls = { ca: certificate.cert };
  const client = await h2Connect(port, certificate);
  try {
    assert.is(client.alpnProtocol, 'h2');
    assert.is(await roundTrip(`wss://127.0.0.1:${port}/t`, 'over h2', { ...H2, tls }), 't:over h2');
    assert.is(await roundTrip(`wss://127.0.0.1:${port}/t`, 'over 1.1', { tls }), 't:over 1.1');
    const raw = await RawH2Stream.open(client, connectHeaders('/t', { ':scheme': 'https' }));
    assert.is(raw.status, 200);
    raw.send(Opcode.Binary, Buffer.from('node'));
    raw.send(Opcode.Text, 'node');
    await raw.until(() => raw.texts.length === 1, 5000, 'the echo');
    assert.equal(raw.texts, ['t:node']);
    assert.equal(versions(echo.sessions), ['2.0', '1.1', '2.0']);
    // Plain requests: HTTP/1.1 gets 426 (routed) or 404, HTTP/2 gets 400 (routed, not a CONNECT) or 404.
    const plain = await new Promise<string>((resolve, reject) => {
      httpsRequest({ host: '127.0.0.1', port, path: '/t', ca: certificate.cert, agent: false }, (response) => {
        response.resume();
        response.on('end', () => resolve(`${response.statusCode} ${response.headers.upgrade}`));
      })
        .on('error', reject)
        .end();
    });
    assert.is(plain, '426 websocket');
    assert.match(await plainHttp2Request(client, '/t'), /^400 /);
    assert.match(await plainHttp2Request(client, '/elsewhere'), /^404 /);
  } finally {
    client.destroy();
    await server.close();
  }
});

test('listen: a plain HTTP/1.1 request is answered and its connection closed at once, even while its body still trickles in (cleartext and TLS, with and without HTTP/2)', async () => {
  for (const shape of [{ http2: true }, { http2: false }, { http2: true, tls: true }, { http2: false, tls: true }]) {
    const server = new WebSocketServer({ requestHead: { timeoutMs: 500 } }).route('/p', () => {});
    const { port } = await server.listen(0, '127.0.0.1', { http2: shape.http2, ...(shape.tls ? { tls: certificate } : {}) });
    try {
      for (const path of ['/p', '/elsewhere']) {
        const socket = shape.tls
          ? tlsConnect({ port, host: '127.0.0.1', ca: certificate.cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] })
          : netConnect(port, '127.0.0.1');
        await once(socket, shape.tls ? 'secureConnect' : 'connect');
        let received = '';
        socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
        const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
        socket.on('error', () => {});
        // A body announced long and sent a byte every 50 ms: node would read it for its 300 s request timeout.
        socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n`);
        const trickle = setInterval(() => socket.writable && socket.write('x'), 50);
        const sent = Date.now();
        const closedAt = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(resolve, 3000, -1))]);
        clearInterval(trickle);
        socket.destroy();
        const label = `${JSON.stringify(shape)} ${path}`;
        assert.match(received, path === '/p' ? /^HTTP\/1\.1 426 / : /^HTTP\/1\.1 404 /, label);
        assert.match(received, /\r\nConnection: (Upgrade, )?close\r\n/i, label);
        assert.ok(closedAt !== -1 && closedAt - sent < 2000, `${label}: still open after 3 s`);
      }
    } finally {
      await server.close();
    }
  }
});

test('HTTP/2: a refused stream whose client never takes the answer (its window shut) is reset channels.lingerMs after the answer, freeing its slot', async () => {
  const server = new WebSocketServer({
    channels: { lingerMs: 300 },
    verify: (_request, info) => (info.query.has('deny') ? { accept: false, status: 403, body: 'no\n' } : { accept: true }),
  }).route('/ws', () => {});
  const { port } = await server.listen(0, '127.0.0.1');
  const client = http2Connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 0 } });
  client.on('error', () => {});
  try {
    const requests = [
      { ':method': 'GET', ':path': '/ws' }, // 400: not an extended CONNECT
      connectHeaders('/nope'), // 404: no route
      connectHeaders('/ws?deny'), // 403: the verify hook's refusal
    ];
    const started = Date.now();
    const outcomes = await Promise.all(
      requests.map(
        (headers) =>
          new Promise<string>((resolve) => {
            const stream = client.request(headers);
            let status = 0;
            stream.on('response', (response) => (status = Number(response[':status'])));
            stream.on('error', () => {});
            stream.on('close', () => resolve(`${status} closed after ${Date.now() - started} ms`));
            setTimeout(() => resolve(`${status} still open after 3 s`), 3000);
          }),
      ),
    );
    for (const [i, outcome] of outcomes.entries()) {
      assert.match(outcome, [/^400 closed/, /^404 closed/, /^403 closed/][i]!, outcome);
    }
  } finally {
    client.destroy();
    await server.close();
  }
});

test('verify over HTTP/2: accept puts its headers on the 200 and its data in the session; refuse answers on the stream', async () => {
  const seen: DefaultWebSocketSession<{ user: string }>[] = [];
  const server = new WebSocketServer<{ user: string }>({
    verify: (request, info) => {
      const token = info.query.get('token');
      if (token === null) return { accept: false, status: 401, headers: { 'WWW-Authenticate': 'Bearer', 'X-Why': ['a', 'b'] }, body: 'log in first\n' };
      return { accept: true, headers: { 'Set-Cookie': ['s=1', 't=2'], 'X-Id': '7' }, data: { user: `${token}@${request.httpVersion}` } };
    },
  }).route('/v', async (session) => {
    seen.push(session);
    for await (const message of session) await session.send(`${session.data.user}:${String(message)}`);
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await h2Connect(port);
  try {
    const accepted = await RawH2Stream.open(client, connectHeaders('/v?token=ann'));
    assert.is(accepted.status, 200);
    assert.equal(accepted.response!['set-cookie'], ['s=1', 't=2']);
    assert.is(accepted.response!['x-id'], '7');
    accepted.send(Opcode.Text, 'hi');
    await accepted.until(() => accepted.texts.length === 1, 5000, 'the echo');
    assert.equal(accepted.texts, ['ann@2.0:hi']);
    assert.equal(seen[0]!.data, { user: 'ann@2.0' });

    const refused = await RawH2Stream.open(client, connectHeaders('/v'));
    assert.is(refused.status, 401);
    await refused.until(() => refused.closed, 5000, 'the refused stream to close');
    assert.is(refused.response!['www-authenticate'], 'Bearer');
    assert.is(refused.response!['x-why'], 'a, b');
    assert.is(refused.response!['content-type'], 'text/plain; charset=utf-8');
    assert.is(refused.body, 'log in first\n');
    // Our client sees the same refusal, and the connection still serves the accepted stream.
    const error = await refusal(`ws://127.0.0.1:${port}/v`, H2);
    assert.is(error.status, 401);
    assert.is(error.body.toString('utf8'), 'log in first\n');
    accepted.send(Opcode.Text, 'still');
    await accepted.until(() => accepted.texts.length === 2, 5000, 'the second echo');
  } finally {
    client.destroy();
    await server.close();
  }
});

test('verify over HTTP/2: a header HTTP/2 forbids on the 200 is the hook\'s invalid result: 500 on the stream, a VerifyError reported', async () => {
  const errors: unknown[] = [];
  const server = new WebSocketServer({
    verify: () => ({ accept: true, headers: { 'Keep-Alive': 'timeout=5' } }),
    onError: (error) => errors.push(error),
  }).route('/k', recording('k').handler);
  const { port } = await server.listen(0, '127.0.0.1');
  try {
    assert.is((await refusal(`ws://127.0.0.1:${port}/k`, H2)).status, 500);
    assert.is(errors.length, 1);
    assert.instance(errors[0], VerifyError);
    assert.is((errors[0] as VerifyError).failure, 'invalid-result');
    assert.match((errors[0] as VerifyError).message, /Keep-Alive/);
    // Over HTTP/1.1 the same header is allowed on the 101.
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/k`, 'x'), 'k:x');
  } finally {
    await server.close();
  }
});

test('sessions and topics: HTTP/1.1 and HTTP/2 subscribers share a topic; the live set counts both', async () => {
  const server = new WebSocketServer().route('/news', async (session) => {
    session.subscribe('news');
    for await (const message of session) await server.publish('news', `${session.request?.httpVersion}:${String(message)}`);
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const url = `ws://127.0.0.1:${port}/news`;
  const overH2 = await connect(url, H2);
  const overH1 = await connect(url);
  const secondH2 = await connect(url, H2);
  try {
    await waitFor(() => server.subscriberCount('news') === 3, 5000, 'three subscribers');
    assert.is(server.sessions.size, 3);
    assert.equal([...server.sessions].map((s) => s.request?.httpVersion).sort(), ['1.1', '2.0', '2.0']);
    // One publish at a time: two connections' messages have no order between them.
    const everyone = [overH2, overH1, secondH2];
    await server.publish('news', 'from the server');
    for (const session of everyone) assert.is(await session.receive(), 'from the server');
    await overH1.send('from h1');
    for (const session of everyone) assert.is(await session.receive(), '1.1:from h1');
    await overH2.send('from h2');
    for (const session of everyone) assert.is(await session.receive(), '2.0:from h2');
    await secondH2.close();
    await waitFor(() => server.sessions.size === 2 && server.subscriberCount('news') === 2, 5000, 'the closed session to leave');
  } finally {
    await Promise.all([overH2.close(), overH1.close()]);
    await server.close();
  }
});

test('topics: an HTTP/2 subscriber keeps up with publishes in slices, as one over TCP does (no 1013 at the default 1 MiB cap)', async () => {
  const server = new WebSocketServer().route('/t', async (session) => {
    session.subscribe('t');
    for await (const _ of session);
  });
  const { port } = await server.listen(0, '127.0.0.1');
  try {
    for (const http2 of ['0', '1']) {
      // The subscriber in a process of its own: our client reads as fast as a real peer would.
      const child = spawn(process.execPath, ['--import', 'tsx', COUNTING_CLIENT, `ws://127.0.0.1:${port}/t`, http2], { stdio: ['ignore', 'pipe', 'inherit'] });
      const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
      assert.is((await lines.next()).value, 'open');
      await waitFor(() => server.subscriberCount('t') === 1, 5000, 'the subscriber');
      const payload = 'x'.repeat(1000);
      // 10 MB in slices of 20 messages with a turn of the event loop between them, as the README advises.
      for (let i = 1; i <= 10_000; i++) {
        void server.publish('t', payload);
        if (i % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      assert.is(server.topicStats.closed, 0, `HTTP/2 ${http2}: no subscriber closed as too slow`);
      await waitFor(() => [...server.sessions].every((session) => session.bufferedAmount === 0), 10_000, 'everything sent');
      for (const session of server.sessions) await session.close();
      const line = (await lines.next()).value as string;
      assert.equal(JSON.parse(line), { received: 10_000, code: 1000 }, `HTTP/2 ${http2}`);
      await once(child, 'exit');
    }
  } finally {
    await server.close();
  }
});

test('close(): 1001 to HTTP/2 and HTTP/1.1 sessions, GOAWAY, and the HTTP/2 connection goes away; new streams get nothing but refusal', async () => {
  const server = new WebSocketServer().route('/c', recording('c').handler);
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await h2Connect(port);
  const goaway = once(client, 'goaway');
  const clientClosed = once(client, 'close');
  const raw = await RawH2Stream.open(client, connectHeaders('/c'));
  const ours = await connect(`ws://127.0.0.1:${port}/c`, H2);
  const overH1 = await connect(`ws://127.0.0.1:${port}/c`);
  assert.is(server.sessions.size, 3);
  const closing = server.close({ timeoutMs: 5000 });
  await raw.until(() => raw.closeFrame !== undefined, 5000, 'the close frame');
  assert.equal(raw.closeFrame, { code: 1001, reason: '' });
  raw.sendClose(1001);
  assert.equal(await ours.closeReason, { code: 1001, reason: '' });
  assert.equal(await overH1.closeReason, { code: 1001, reason: '' });
  const summary = await closing;
  assert.equal(summary, { sessions: 3, dropped: 0 });
  await goaway;
  await clientClosed;
  assert.ok(raw.closed);
  // Nothing listens any more.
  const refused = netConnect(port, '127.0.0.1');
  const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
  assert.is(error.code, 'ECONNREFUSED');
});

test('close() while an HTTP/2 handshake is in its verify hook: 503 on its stream, over cleartext and TLS, before the connection goes', async () => {
  for (const tls of [false, true]) {
    let verifying!: () => void;
    const inVerify = new Promise<void>((resolve) => (verifying = resolve));
    const server = new WebSocketServer({
      verify: async () => {
        verifying();
        await new Promise((resolve) => setTimeout(resolve, 2000));
        return { accept: true };
      },
    }).route('/v', recording('v').handler);
    const { port } = await server.listen(0, '127.0.0.1', tls ? { tls: certificate } : {});
    const answer = refusal(`${tls ? 'wss' : 'ws'}://127.0.0.1:${port}/v`, { ...H2, tls: { ca: certificate.cert } });
    await inVerify;
    await server.close({ timeoutMs: 3000 });
    const error = await answer;
    assert.is(error.status, 503, `${tls ? 'TLS' : 'cleartext'}: ${error.message}`);
    assert.ok(error.message.includes('HTTP/2'), error.message);
  }
});

test('close(): an HTTP/2 connection that comes up after close() began (its TLS handshake ended then) gets GOAWAY too; close() does not wait for it', async () => {
  const server = new WebSocketServer({ requestHead: { timeoutMs: Infinity } }).route('/slow', async (session) => {
    for await (const _ of session);
    await new Promise((resolve) => setTimeout(resolve, 300)); // close() waits for this handler
  });
  const { port } = await server.listen(0, '127.0.0.1', { tls: certificate });
  const session = await connect(`wss://127.0.0.1:${port}/slow`, { ...H2, tls: { ca: certificate.cert } });
  // Accepted now; its TLS handshake (and so its HTTP/2 connection) only once close() has begun.
  const raw = netConnect(port, '127.0.0.1');
  await once(raw, 'connect');
  const started = performance.now();
  const closing = server.close({ timeoutMs: 5000 }); // it used to wait for the late connection until this deadline
  await new Promise((resolve) => setTimeout(resolve, 50));
  const late = http2Connect(`https://127.0.0.1:${port}`, {
    createConnection: () => tlsConnect({ socket: raw, ca: certificate.cert, servername: 'localhost', ALPNProtocols: ['h2'] }),
  });
  late.on('error', () => {});
  const lateClosed = once(late, 'close');
  await once(late, 'goaway');
  assert.equal(await closing, { sessions: 1, dropped: 0 });
  assert.ok(performance.now() - started < 2000, `close() took ${Math.round(performance.now() - started)} ms`);
  await lateClosed;
  assert.equal(await session.closeReason, { code: 1001, reason: '' });
});

test('close() lets the HTTP/2 WebSockets finish their close handshake before the connection ends', async () => {
  let finished = false;
  const server = new WebSocketServer().route('/slow', async (session) => {
    for await (const message of session) await session.send(String(message));
    await new Promise((resolve) => setTimeout(resolve, 100)); // the handler's own cleanup
    finished = true;
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const session = await connect(`ws://127.0.0.1:${port}/slow`, H2);
  const summary = await server.close();
  assert.ok(finished, 'the handler ran to its end');
  assert.equal(summary, { sessions: 1, dropped: 0 });
  assert.equal(await session.closeReason, { code: 1001, reason: '' });
});

test('HTTP/2 off: listen({ http2: false }) serves HTTP/1.1 only, and our client falls back to it', async () => {
  const echo = recording('o');
  const server = new WebSocketServer().route('/o', echo.handler);
  const { port } = await server.listen(0, '127.0.0.1', { http2: false });
  try {
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/o`, 'x', H2), 'o:x');
    assert.equal(versions(echo.sessions), ['1.1']);
  } finally {
    await server.close();
  }
});

test('handleSocket: a raw connection opening with the HTTP/2 preface is served over HTTP/2, any other over HTTP/1.1', async () => {
  const { createServer } = await import('node:net');
  const echo = recording('r');
  const server = new WebSocketServer().route('/r', echo.handler);
  const tcp = createServer((socket) => void server.handleSocket(socket));
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  const port = (tcp.address() as { port: number }).port;
  try {
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/r`, 'a', H2), 'r:a');
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/r`, 'b'), 'r:b');
    assert.is((await refusal(`ws://127.0.0.1:${port}/none`, H2)).status, 404);
    assert.equal(versions(echo.sessions), ['2.0', '1.1']);
    const client = http2Connect(`http://127.0.0.1:${port}`);
    client.on('error', () => {});
    const raw = await RawH2Stream.open(client, connectHeaders('/r'));
    raw.send(Opcode.Text, 'c');
    await raw.until(() => raw.texts.length === 1, 5000, 'the echo');
    const closed = once(client, 'close');
    await server.close();
    assert.equal(raw.closeFrame, { code: 1001, reason: '' });
    await closed; // GOAWAY, then the server's side is gone
  } finally {
    tcp.close();
    await server.close();
  }
});

test.run();
