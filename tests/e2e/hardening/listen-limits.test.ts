/**
 * The server object's own listeners (`listen`) against peers that hold a
 * connection without making a request, over loopback: an HTTP/2 connection
 * that never opens a stream, or whose HEADERS never end, is dropped after
 * `requestHead.timeoutMs` as a trickled HTTP/1.1 head is (while one with an
 * open WebSocket stream stays however quiet), and let go without waiting
 * for a FIN the peer never sends (also when `close()` ends it); an HTTP/1.1 CONNECT on the TLS
 * port's HTTP/1.1 fallback gets 405 and is closed, and a TLS handshake that
 * never comes is dropped at the same timeout; `requestHead.maxHeaders`
 * holds for upgrade requests read by node:http (431), on `listen` and with
 * a standalone `handleUpgrade`, and two Host lines are a 400 there as on
 * the raw path.
 */
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Job } from '../../../src/channels/job.ts';
import { WebSocketServer } from '../../../src/server/websocket-server.ts';
import { handleUpgrade } from '../../../src/upgrade/serve.ts';
import { Opcode } from '../../../src/frames/frame.ts';
import { connectHeaders, h2Connect, RawH2Stream, selfSignedCertificate } from '../../support/h2.ts';
import { handshakeRequest } from '../../support/raw-client.ts';
import { sleep, tcpSockets } from '../../support/resources.ts';
import { maskedFrame } from '../../support/wire-client.ts';

const HEAD_TIMEOUT_MS = 300;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** An empty SETTINGS frame (RFC 9113 section 6.5). */
const SETTINGS = Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
/** A HEADERS frame on stream 1 without END_HEADERS: a header block that CONTINUATION frames would have to finish. */
const OPEN_HEADERS = Buffer.from([0, 0, 1, 0x1, 0, 0, 0, 0, 1, 0x82]);

async function echoServer(): Promise<{ server: WebSocketServer; port: number }> {
  const server = new WebSocketServer({ requestHead: { timeoutMs: HEAD_TIMEOUT_MS } });
  server.route('/echo', (session) => session.consumeEach((message) => session.send(message)));
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

/** Milliseconds until `socket` closes, or `undefined` if it is still open after `withinMs`. */
async function closesWithin(socket: Socket, withinMs: number): Promise<number | undefined> {
  const started = Date.now();
  socket.on('error', () => {});
  socket.resume();
  const closed = once(socket, 'close').then(() => Date.now() - started);
  return Promise.race([closed, sleep(withinMs).then(() => undefined)]);
}

async function rawConnection(port: number, bytes: Buffer): Promise<Socket> {
  const socket = netConnect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(bytes);
  return socket;
}

test('an HTTP/2 connection that never opens a stream is dropped after requestHead.timeoutMs', async () => {
  const { server, port } = await echoServer();
  try {
    const socket = await rawConnection(port, Buffer.concat([PREFACE, SETTINGS]));
    const ms = await closesWithin(socket, 10 * HEAD_TIMEOUT_MS);
    socket.destroy();
    assert.ok(ms !== undefined, `still open after ${10 * HEAD_TIMEOUT_MS} ms`);
    assert.ok(ms >= HEAD_TIMEOUT_MS - 50, `dropped after ${ms} ms, before the timeout`);
  } finally {
    await server.close();
  }
});

/** A client that never ends its side, even after the server ended its own (a gone or hostile peer that sends no FIN). */
async function halfOpenConnection(port: number, bytes: Buffer): Promise<Socket> {
  const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  socket.on('error', () => {});
  socket.resume();
  socket.write(bytes);
  return socket;
}

test('an HTTP/2 connection dropped for idleness is let go at once: a peer that never sends its FIN holds no socket of ours, and close() does not wait for it', async () => {
  const { server, port } = await echoServer();
  const before = tcpSockets();
  const peers = await Promise.all([1, 2, 3].map(() => halfOpenConnection(port, Buffer.concat([PREFACE, SETTINGS]))));
  try {
    await Promise.all(peers.map((peer) => once(peer, 'end'))); // the server's GOAWAY and FIN came
    const deadline = Date.now() + 2000;
    while (tcpSockets() > before + peers.length && Date.now() < deadline) await sleep(20);
    // At most: a socket of an earlier test counted in `before` may have closed meanwhile.
    assert.ok(tcpSockets() <= before + peers.length, `only the peers' sockets are left (${tcpSockets()} TCP sockets, ${before} before)`);
    const closed = await Promise.race([server.close({ timeoutMs: Infinity }).then(() => true), sleep(2000).then(() => false)]);
    assert.ok(closed, 'close() waited for the peers');
  } finally {
    for (const peer of peers) peer.destroy();
    await server.close();
  }
});

test('close(): an HTTP/2 connection whose last WebSocket went is let go without the peer\'s FIN, so close() returns', async () => {
  const server = new WebSocketServer({ requestHead: { timeoutMs: 60_000 }, session: { closeTimeoutMs: 200 } });
  server.route('/echo', (session) => session.consumeEach((message) => session.send(message)));
  const { port } = await server.listen(0, '127.0.0.1');
  const before = tcpSockets();
  const open = literalHeaders({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': '/echo', ':authority': 'x', 'sec-websocket-version': '13' });
  // Opens a WebSocket, then answers nothing: not our 1001, and no FIN after the GOAWAY.
  const peer = await halfOpenConnection(port, Buffer.concat([PREFACE, SETTINGS, h2Frame(0x1, 0x4, 1, open)]));
  try {
    for (let waited = 0; server.sessions.size === 0 && waited < 2000; waited += 10) await sleep(10);
    assert.is(server.sessions.size, 1, 'the WebSocket opened');
    const started = Date.now();
    const closed = await Promise.race([server.close({ timeoutMs: Infinity }).then(() => true), sleep(3000).then(() => false)]);
    assert.ok(closed, 'close() waited for the peer');
    assert.ok(Date.now() - started >= 150, 'the WebSocket had its closeTimeoutMs first');
    const deadline = Date.now() + 2000;
    while (tcpSockets() > before + 1 && Date.now() < deadline) await sleep(20);
    assert.ok(tcpSockets() <= before + 1, `only the peer's socket is left (${tcpSockets()} TCP sockets, ${before} before)`);
  } finally {
    peer.destroy();
    await server.close();
  }
});

test('an HTTP/2 connection whose HEADERS never end is dropped after requestHead.timeoutMs', async () => {
  const { server, port } = await echoServer();
  try {
    const socket = await rawConnection(port, Buffer.concat([PREFACE, SETTINGS, OPEN_HEADERS]));
    const ms = await closesWithin(socket, 10 * HEAD_TIMEOUT_MS);
    socket.destroy();
    assert.ok(ms !== undefined, `still open after ${10 * HEAD_TIMEOUT_MS} ms`);
  } finally {
    await server.close();
  }
});

test('an HTTP/2 connection with a WebSocket open stays however quiet, and goes once idle that long after its last stream', async () => {
  const { server, port } = await echoServer();
  const client = await h2Connect(port);
  try {
    const closed = once(client, 'close');
    const stream = await RawH2Stream.open(client, connectHeaders('/echo'));
    assert.is(stream.status, 200);
    await sleep(3 * HEAD_TIMEOUT_MS);
    assert.is(client.closed || client.destroyed, false, 'dropped with a WebSocket open');
    stream.send(Opcode.Text, 'still here');
    await stream.until(() => stream.texts.length === 1, 5000, 'the echo');
    assert.equal(stream.texts, ['still here']);
    stream.sendClose();
    await stream.until(() => stream.closed, 5000, 'the stream to close');
    const started = Date.now();
    await Promise.race([closed, sleep(10 * HEAD_TIMEOUT_MS).then(() => assert.unreachable('the idle connection was kept'))]);
    assert.ok(Date.now() - started >= HEAD_TIMEOUT_MS - 50, 'dropped before the timeout');
  } finally {
    client.destroy();
    await server.close();
  }
});

/** An HTTP/2 frame (RFC 9113 section 4.1). */
function h2Frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** A header block of literal fields with new names, not indexed (RFC 7541 section 6.2.2): no HPACK state needed. */
function literalHeaders(headers: Record<string, string>): Buffer {
  return Buffer.concat(Object.entries(headers).flatMap(([name, value]) => [Buffer.from([0, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]));
}

test('an HTTP/2 connection left for dead by a connection error (GOAWAY, then node neither reads nor writes) is dropped with its WebSockets', async () => {
  const { server, port } = await echoServer();
  try {
    const open = literalHeaders({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': '/echo', ':authority': 'x', 'sec-websocket-version': '13' });
    const socket = await rawConnection(port, Buffer.concat([PREFACE, SETTINGS, h2Frame(0x1, 0x4, 1, open), h2Frame(0x0, 0, 1, maskedFrame(Opcode.Text, 'hello'))]));
    socket.on('error', () => {});
    socket.resume();
    for (let waited = 0; server.sessions.size === 0 && waited < 2000; waited += 10) await sleep(10);
    assert.is(server.sessions.size, 1, 'the WebSocket opened');
    socket.write(h2Frame(0x0, 0, 25, Buffer.from('x'))); // DATA on an idle stream: a connection error (RFC 9113 section 5.1)
    await sleep(50);
    socket.end(); // the peer goes; node reads nothing more and would never see it
    const deadline = Date.now() + 10 * HEAD_TIMEOUT_MS;
    while (server.sessions.size > 0 && Date.now() < deadline) await sleep(20);
    assert.is(server.sessions.size, 0, 'the WebSocket on the dead connection was ended');
    socket.destroy();
  } finally {
    await server.close();
  }
});

test('an HTTP/2 connection whose peer reads nothing (not even PING) is dropped with its WebSockets, its socket reset', async () => {
  const server = new WebSocketServer({ requestHead: { timeoutMs: HEAD_TIMEOUT_MS } });
  server.route('/flood', async (session) => {
    try {
      for (let i = 0; i < 2000; i++) await session.send(Buffer.alloc(64 * 1024, 1));
    } catch {
      // the connection was dropped
    }
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const before = tcpSockets();
  try {
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(0x4, 0); // SETTINGS_INITIAL_WINDOW_SIZE: as large as can be, so that the server sends until TCP pushes back
    settings.writeUInt32BE(0x7fffffff, 2);
    const windowUpdate = Buffer.alloc(4);
    windowUpdate.writeUInt32BE(0x7fffffff - 65_535, 0);
    const open = literalHeaders({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': '/flood', ':authority': 'x', 'sec-websocket-version': '13' });
    const socket = await rawConnection(port, Buffer.concat([PREFACE, h2Frame(0x4, 0, 0, settings), h2Frame(0x4, 0x1, 0, Buffer.alloc(0)), h2Frame(0x8, 0, 0, windowUpdate), h2Frame(0x1, 0x4, 1, open)]));
    socket.on('error', () => {});
    socket.pause(); // reads nothing from now on
    for (let waited = 0; server.sessions.size === 0 && waited < 2000; waited += 10) await sleep(10);
    assert.is(server.sessions.size, 1, 'the WebSocket opened');
    const deadline = Date.now() + 15 * HEAD_TIMEOUT_MS;
    while ((server.sessions.size > 0 || tcpSockets() > before + 1) && Date.now() < deadline) await sleep(20);
    assert.is(server.sessions.size, 0, 'the WebSocket was ended');
    // At most: a socket of an earlier test counted in `before` may have closed meanwhile.
    assert.ok(tcpSockets() <= before + 1, `only the client's socket is left: the server's was reset (${tcpSockets()} TCP sockets, ${before} before)`);
    socket.destroy();
  } finally {
    await server.close();
  }
});

test('requestHead.timeoutMs Infinity on listen: a connection that takes its time to send its first bytes is kept', async () => {
  const server = new WebSocketServer({ requestHead: { timeoutMs: Infinity } });
  server.route('/echo', (session) => session.consumeEach((message) => session.send(message)));
  const { port } = await server.listen(0, '127.0.0.1');
  try {
    const socket = await rawConnection(port, Buffer.alloc(0));
    // The preface sniff (HTTP/2 or HTTP/1.1?) made a 1 ms timer of Infinity: such a socket was dropped at once.
    assert.is(await closesWithin(socket, 200), undefined, 'dropped while silent');
    socket.write(handshakeRequest('/echo'));
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    assert.match(chunk.toString('latin1'), /^HTTP\/1\.1 101 /);
  } finally {
    await server.close();
  }
});

test('TLS listen: an HTTP/1.1 CONNECT on the HTTP/1.1 fallback gets 405 and is closed', async () => {
  const certificate = selfSignedCertificate();
  const server = new WebSocketServer({ requestHead: { timeoutMs: 10_000 } });
  server.route('/echo', (session) => session.consumeEach((message) => session.send(message)));
  const { port } = await server.listen(0, '127.0.0.1', { tls: certificate });
  try {
    const socket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    await once(socket, 'secureConnect');
    let received = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
    socket.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    const ms = await closesWithin(socket as unknown as Socket, 3000);
    socket.destroy();
    assert.ok(ms !== undefined, 'still open after 3 s');
    assert.match(received, /^HTTP\/1\.1 405 /);
  } finally {
    await server.close();
  }
});

test('cleartext listen (with and without HTTP/2): an HTTP/1.1 CONNECT gets 405 and is closed, as on the TLS port', async () => {
  for (const http2 of [true, false]) {
    const server = new WebSocketServer();
    server.route('/echo', (session) => session.consumeEach((message) => session.send(message)));
    const { port } = await server.listen(0, '127.0.0.1', { http2 });
    try {
      let received = '';
      const socket = await rawConnection(port, Buffer.from('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 'latin1'));
      socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
      const ms = await closesWithin(socket, 3000);
      socket.destroy();
      assert.ok(ms !== undefined, `http2 ${http2}: still open after 3 s`);
      assert.match(received, /^HTTP\/1\.1 405 /, `http2 ${http2}: ${JSON.stringify(received)}`);
    } finally {
      await server.close();
    }
  }
});

test('TLS listen: a connection that never completes its TLS handshake is dropped after requestHead.timeoutMs', async () => {
  const server = new WebSocketServer({ requestHead: { timeoutMs: HEAD_TIMEOUT_MS } });
  server.route('/echo', (session) => session.consumeEach((message) => session.send(message)));
  const { port } = await server.listen(0, '127.0.0.1', { tls: selfSignedCertificate() });
  try {
    const socket = await rawConnection(port, Buffer.alloc(0)); // TCP only: no ClientHello
    const ms = await closesWithin(socket, 10 * HEAD_TIMEOUT_MS);
    socket.destroy();
    assert.ok(ms !== undefined, `still open after ${10 * HEAD_TIMEOUT_MS} ms (node's own default is 120 s)`);
  } finally {
    await server.close();
  }
});

/** A server of each shape that lets node:http read the head: the server object's `listen`, and `handleUpgrade` on an app's node:http server. */
const NODE_READ_HEADS = {
  async listen(requestHead: { maxHeaders: number }): Promise<{ port: number; close(): Promise<unknown> }> {
    const server = new WebSocketServer({ requestHead });
    server.route('/echo', (session) => session.consumeEach((message) => session.send(message)));
    const { port } = await server.listen(0, '127.0.0.1');
    return { port, close: () => server.close() };
  },
  async handleUpgrade(requestHead: { maxHeaders: number }): Promise<{ port: number; close(): Promise<unknown> }> {
    const app = createHttpServer();
    const jobs: Job[] = [];
    app.on('upgrade', (request, socket, head) => {
      const job = handleUpgrade(request, socket, head, (session) => session.consumeEach((message) => session.send(message)), { requestHead });
      if (job !== undefined) jobs.push(job);
    });
    app.listen(0, '127.0.0.1');
    await once(app, 'listening');
    return {
      port: (app.address() as AddressInfo).port,
      close: async () => {
        for (const job of jobs) job.cancel();
        app.closeAllConnections();
        app.close();
      },
    };
  },
};

for (const [shape, start] of Object.entries(NODE_READ_HEADS)) {
  test(`${shape}: an upgrade request with more than requestHead.maxHeaders header lines gets 431, one with two Host lines 400`, async () => {
    const server = await start({ maxHeaders: 20 });
    const { port } = server;
    const statusOf = async (extra: number): Promise<string> => {
      const headers = Object.fromEntries(Array.from({ length: extra }, (_, i) => [`x-extra-${i}`, 'a']));
      const socket = await rawConnection(port, Buffer.from(handshakeRequest('/echo', headers), 'latin1'));
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      socket.destroy();
      return chunk.toString('latin1').split('\r\n', 1)[0]!;
    };
    try {
      // handshakeRequest sends 5 header lines of its own.
      assert.is(await statusOf(15), 'HTTP/1.1 101 Switching Protocols');
      assert.match(await statusOf(16), /^HTTP\/1\.1 431 /);
      // A second Host line (node:http would keep the first and drop it): 400, as on the raw path.
      const twoHosts = handshakeRequest('/echo').replace('\r\n\r\n', '\r\nhost: elsewhere.example\r\n\r\n');
      const socket = await rawConnection(port, Buffer.from(twoHosts, 'latin1'));
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      socket.destroy();
      assert.match(chunk.toString('latin1'), /^HTTP\/1\.1 400 /);
    } finally {
      await server.close();
    }
  });
}

test('listen with requestHead.maxHeaders of 2^31 or more (node doubles maxHeadersCount in 32 bits): upgrades still work', async () => {
  for (const maxHeaders of [2 ** 29 - 1, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
    const server = new WebSocketServer({ requestHead: { maxHeaders } });
    server.route('/echo', (session) => session.consumeEach((message) => session.send(message)));
    const { port } = await server.listen(0, '127.0.0.1', { http2: false });
    try {
      const socket = await rawConnection(port, Buffer.from(handshakeRequest('/echo'), 'latin1'));
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      socket.destroy();
      assert.match(chunk.toString('latin1'), /^HTTP\/1\.1 101 /, `maxHeaders ${maxHeaders}`);
    } finally {
      await server.close();
    }
  }
});

test('listen with requestHead.maxHeaders above node:http\'s 2000: a second Host after 2,000 lines is still seen (400), on every listener', async () => {
  const certificate = selfSignedCertificate();
  const filler = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`x-filler-${i}`, 'a']));
  const request = handshakeRequest('/echo', filler).replace('\r\n\r\n', '\r\nHost: elsewhere.example\r\n\r\n');
  for (const shape of ['cleartext, HTTP/2 too', 'cleartext, http2: false', 'TLS, HTTP/2 too'] as const) {
    const server = new WebSocketServer({ requestHead: { maxHeaders: 5000, maxHeadSize: 128 * 1024 } });
    server.route('/echo', (session) => session.consumeEach((message) => session.send(message)));
    const tls = shape.startsWith('TLS') ? { tls: certificate } : {};
    const { port } = await server.listen(0, '127.0.0.1', { ...tls, http2: shape !== 'cleartext, http2: false' });
    try {
      const socket = shape.startsWith('TLS')
        ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
        : netConnect(port, '127.0.0.1');
      await once(socket, shape.startsWith('TLS') ? 'secureConnect' : 'connect');
      let received = '';
      socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
      socket.write(request);
      const ms = await closesWithin(socket as unknown as Socket, 3000);
      socket.destroy();
      // node:http dropped the lines after its maxHeadersCount (2000): the second Host never reached the check (101).
      assert.match(received, /^HTTP\/1\.1 400 /, `${shape}: ${received.slice(0, 40)}`);
      assert.ok(ms !== undefined, `${shape}: still open after 3 s`);
    } finally {
      await server.close();
    }
  }
});

test.run();
