/**
 * The server object sharing a port: attached to an existing node:http (and
 * node:https) server next to its plain requests, with other `upgrade`
 * listeners (the unknown-path policy), answering `upgrade` events routed by
 * the application (`handleUpgrade`, ws's noServer), and serving raw node:net
 * sockets (`handleSocket`). Closing leaves an attached server running unless
 * asked to close it.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createConnection, createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket, { WebSocketServer as WsServer } from 'ws';
import { WebSocketServer } from '../../src/server/websocket-server.ts';
import type { DefaultWebSocketSession } from '../../src/session/default-session.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { waitFor } from '../support/resources.ts';
import { rawExchange } from '../support/interop.ts';
import { handshakeRequest, RawClient } from '../support/raw-client.ts';
import { roundTrip } from '../support/server.ts';

async function echo(session: DefaultWebSocketSession<unknown>): Promise<void> {
  for await (const message of session) await session.send(message);
}

/** A node:http server answering plain requests with "app: <path>", listening on loopback. */
async function appServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => response.end(`app: ${request.url}`));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

async function closeApp(server: Server): Promise<void> {
  if (!server.listening) return;
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
}

function plainGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(`${response.statusCode} ${body}`));
    }).on('error', reject);
  });
}

test('attached to an app server: plain requests stay the app\'s, WebSockets share the port; an unknown path is a 404', async () => {
  const { server: app, port } = await appServer();
  const ws = new WebSocketServer().route('/chat', echo);
  ws.attach(app);
  try {
    assert.is(await plainGet(port, '/index.html'), '200 app: /index.html');
    assert.is(await plainGet(port, '/chat'), '200 app: /chat'); // a plain GET on the route is still the app's
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/chat`, 'shared'), 'shared');
    const raw = await rawExchange(port, handshakeRequest('/elsewhere'));
    assert.ok(raw.response.startsWith('HTTP/1.1 404 Not Found\r\n'), raw.response);
    assert.is(await plainGet(port, '/after'), '200 app: /after');
  } finally {
    await ws.close();
    await closeApp(app);
  }
});

test("unknownPaths 'auto': with another upgrade listener, unknown paths are left to it; routed ones are ours", async () => {
  const { server: app, port } = await appServer();
  const ws = new WebSocketServer().route('/chat', echo);
  ws.attach(app);
  const theirs: string[] = [];
  app.on('upgrade', (request: IncomingMessage, socket: Duplex) => {
    if (ws.handles(request.url)) return;
    theirs.push(request.url ?? '');
    socket.end('HTTP/1.1 418 I\'m a Teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  try {
    const raw = await rawExchange(port, handshakeRequest('/legacy'));
    assert.is(raw.response, "HTTP/1.1 418 I'm a Teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    assert.equal(theirs, ['/legacy']);
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/chat`, 'ours'), 'ours');
  } finally {
    await ws.close();
    await closeApp(app);
  }
});

test("unknownPaths 'auto' with two WebSocketServers on one HTTP server: each serves its routes, an unknown path gets one 404", async () => {
  const { server: app, port } = await appServer();
  const first = new WebSocketServer().route('/a', echo);
  const second = new WebSocketServer().route('/b', echo);
  first.attach(app);
  second.attach(app);
  try {
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/a`, 'to a'), 'to a');
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/b`, 'to b'), 'to b');
    const raw = await rawExchange(port, handshakeRequest('/unknown'));
    assert.ok(raw.response.startsWith('HTTP/1.1 404 Not Found\r\n'), raw.response);
    assert.is(raw.response.split('HTTP/1.1 ').length, 2, 'one response');
  } finally {
    await first.close();
    await second.close();
    await closeApp(app);
  }
});

test('an upgrade left to other listeners is theirs: a reset before any of them took it crashes nothing', async () => {
  const { server: app, port } = await appServer();
  const ws = new WebSocketServer().route('/a', echo);
  ws.attach(app);
  const left: Duplex[] = [];
  const silent = (_: IncomingMessage, socket: Duplex): void => void left.push(socket); // another listener, which answers nothing (yet)
  app.on('upgrade', silent);
  try {
    // node:http took the socket's error listener away before the event: a reset must find ours.
    const client = await RawClient.open(port, null);
    client.socket.write(handshakeRequest('/nobody'));
    await waitFor(() => left.length === 1, 2000, 'the upgrade event');
    client.socket.resetAndDestroy();
    await waitFor(() => left[0]!.destroyed, 2000, 'the reset');
    assert.is(client.responseHead, '', 'nothing answered it: it was the other listener\'s');
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/a`, 'still here'), 'still here');
  } finally {
    app.off('upgrade', silent);
    await ws.close();
    await closeApp(app);
  }
});

test('an upgrade another library took (ws, noServer, a verifyClient slower than requestHead.timeoutMs) is left to it', async () => {
  const { server: app, port } = await appServer();
  const ours = new WebSocketServer({ requestHead: { timeoutMs: 300 } }).route('/ours', echo);
  ours.attach(app);
  const theirs = new WsServer({ noServer: true, verifyClient: (_info: unknown, done: (ok: boolean) => void) => void setTimeout(() => done(true), 700) });
  theirs.on('connection', (socket) => socket.on('message', (data) => socket.send(`theirs:${String(data)}`)));
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (request.url === '/theirs') theirs.handleUpgrade(request, socket, head, (ws) => theirs.emit('connection', ws, request));
  };
  app.on('upgrade', onUpgrade);
  try {
    const client = new WebSocket(`ws://127.0.0.1:${port}/theirs`);
    const reply = await new Promise<string>((resolve, reject) => {
      client.on('open', () => client.send('hi'));
      client.on('message', (data) => resolve(String(data)));
      client.on('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
      client.on('error', reject);
    });
    assert.is(reply, 'theirs:hi');
    client.close();
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/ours`, 'ours'), 'ours');
  } finally {
    app.off('upgrade', onUpgrade);
    for (const socket of theirs.clients) socket.terminate();
    theirs.close();
    await ours.close();
    await closeApp(app);
  }
});

test("unknownPaths 'refuse' answers 404 even next to another listener; 'ignore' leaves it even when alone", async () => {
  const { server: app, port } = await appServer();
  const refusing = new WebSocketServer().route('/a', echo);
  refusing.attach(app, { unknownPaths: 'refuse' });
  let otherCalls = 0;
  const other = (): void => {
    otherCalls++;
  };
  app.on('upgrade', other);
  try {
    const raw = await rawExchange(port, handshakeRequest('/x'));
    assert.ok(raw.response.startsWith('HTTP/1.1 404 Not Found\r\n'), raw.response);
    assert.is(otherCalls, 1);
  } finally {
    await refusing.close();
    app.off('upgrade', other);
  }
  assert.is(app.listenerCount('upgrade'), 0, 'close() removed its listener');

  const ignoring = new WebSocketServer().route('/a', echo);
  ignoring.attach(app, { unknownPaths: 'ignore' });
  const client = await RawClient.open(port, null);
  try {
    // The ignoring server leaves the socket alone: it is still open, without an answer, and ours to end.
    let seen: Duplex | undefined;
    app.prependListener('upgrade', (_: IncomingMessage, socket: Duplex) => (seen = socket));
    client.socket.write(handshakeRequest('/x'));
    await waitFor(() => seen !== undefined, 5000, 'the upgrade event');
    assert.is(client.responseHead, '');
    assert.not.ok(seen?.destroyed);
    seen?.end('HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n');
    await client.until(() => client.responseHead !== '');
    assert.ok(client.responseHead.startsWith('HTTP/1.1 410 Gone'), client.responseHead);
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/a`, 'still ours'), 'still ours');
  } finally {
    client.destroy();
    await ignoring.close();
    await closeApp(app);
  }
});

test('close() on an attached server: sessions get 1001, upgrades meanwhile get 503, the app server keeps running', async () => {
  const { server: app, port } = await appServer();
  const ws = new WebSocketServer().route('/chat', async (session) => {
    for await (const _ of session);
  });
  ws.attach(app);
  try {
    const client = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    await once(client, 'open');
    const closed = once(client, 'close');
    // A peer that never answers the close keeps close() waiting while we try to upgrade.
    const mute = await RawClient.open(port, handshakeRequest('/chat'));
    await waitFor(() => ws.sessions.size === 2, 5000, '2 sessions');
    const closing = ws.close({ timeoutMs: 5000 });
    const [code] = await closed;
    assert.is(code, 1001);
    assert.equal(await mute.closeFrame(), { code: 1001, reason: '' });
    const late = await rawExchange(port, handshakeRequest('/chat'));
    assert.ok(late.response.startsWith('HTTP/1.1 503 Service Unavailable\r\n'), late.response);
    mute.sendFrame(0x8, Buffer.from([0x03, 0xe9])); // now it answers
    assert.equal(await closing, { sessions: 2, dropped: 0 });
    assert.ok(app.listening);
    assert.is(app.listenerCount('upgrade'), 0);
    assert.is(await plainGet(port, '/still'), '200 app: /still');
  } finally {
    await closeApp(app);
  }
});

test('attach with closeHttpServer: close() closes the app server too', async () => {
  const { server: app, port } = await appServer();
  const ws = new WebSocketServer().route('/chat', echo);
  ws.attach(app, { closeHttpServer: true });
  const session = await connect(`ws://127.0.0.1:${port}/chat`);
  assert.equal(await ws.close(), { sessions: 1, dropped: 0 });
  assert.is((await session.closeReason).code, 1001);
  assert.not.ok(app.listening);
});

test('attach with closeHttpServer: close({ timeoutMs }) bounds the app server too (a half-sent request, a streamed response, a WebSocket another library upgraded)', async () => {
  const app = createServer((_, response) => {
    response.writeHead(200, { 'Content-Type': 'text/event-stream' });
    response.write('data: first\n\n'); // and never ends, as a server-sent event stream
  });
  app.listen(0, '127.0.0.1');
  await once(app, 'listening');
  const { port } = app.address() as AddressInfo;
  const ws = new WebSocketServer().route('/chat', echo);
  ws.attach(app, { closeHttpServer: true });
  const streaming = new Promise<void>((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/events', agent: false }, (response) => {
      response.once('data', () => resolve());
      response.on('error', () => {});
      response.resume();
    }).on('error', () => {});
    setTimeout(() => reject(new Error('no event')), 3000);
  });
  await streaming;
  const halfSent = createConnection(port, '127.0.0.1');
  halfSent.on('error', () => {});
  halfSent.write('GET /slow HTTP/1.1\r\nHost: x\r\n'); // the head never ends
  await once(halfSent, 'connect');
  const theirs = new WsServer({ noServer: true });
  app.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (request.url === '/theirs') theirs.handleUpgrade(request, socket, head, () => {});
  });
  const foreign = new WebSocket(`ws://127.0.0.1:${port}/theirs`);
  await once(foreign, 'open');
  const foreignClosed = new Promise<number>((resolve) => foreign.on('close', (code) => resolve(code)));
  const started = Date.now();
  assert.equal(await ws.close({ timeoutMs: 300 }), { sessions: 0, dropped: 0 });
  const tookMs = Date.now() - started;
  assert.ok(tookMs < 3000, `close() took ${tookMs} ms (node waits for those connections: the head for 60 s, the stream and the foreign WebSocket for ever)`);
  assert.not.ok(app.listening);
  assert.is(await foreignClosed, 1006);
  halfSent.destroy();
  theirs.close();
});

test('attached to a node:https server: wss:// with a self-signed certificate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ktor-ws-server-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
      '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    const cert = readFileSync(join(dir, 'cert.pem'));
    const app = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (_, response) => response.end('tls app'));
    app.listen(0, '127.0.0.1');
    await once(app, 'listening');
    const { port } = app.address() as AddressInfo;
    const ws = new WebSocketServer().route('/secure', async (session) => {
      await session.send(`over TLS from ${session.remoteAddress}`);
      for await (const _ of session);
    });
    ws.attach(app, { closeHttpServer: true });
    const session = await connect(`wss://127.0.0.1:${port}/secure`, { tls: { ca: cert } });
    assert.is(await session.receive(), 'over TLS from 127.0.0.1');
    await ws.close();
    assert.is((await session.closeReason).code, 1001);
    assert.not.ok(app.listening);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('handleUpgrade (noServer): the application routes upgrade events itself', async () => {
  const { server: app, port } = await appServer();
  const chat = new WebSocketServer().route('/chat', echo);
  const admin = new WebSocketServer({ verify: () => ({ accept: false, status: 403 }) }).route('/admin', echo);
  const jobs: unknown[] = [];
  app.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const target = chat.handles(request.url) ? chat : admin; // admin answers 404 for the rest
    void target.handleUpgrade(request, socket, head).then((job) => jobs.push(job));
  });
  try {
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/chat`, 'routed'), 'routed');
    assert.ok((await rawExchange(port, handshakeRequest('/admin'))).response.startsWith('HTTP/1.1 403 Forbidden\r\n'));
    assert.ok((await rawExchange(port, handshakeRequest('/nope'))).response.startsWith('HTTP/1.1 404 Not Found\r\n'));
    await waitFor(() => jobs.length === 3, 5000, 'three answers');
    assert.ok(jobs[0] !== undefined);
    assert.equal(jobs.slice(1), [undefined, undefined]);
  } finally {
    await Promise.all([chat.close(), admin.close()]);
    await closeApp(app);
  }
});

test('handleSocket on a node:net server: routing, verify with data, the peer address, 400 for a bad head, close()', async () => {
  const server = new WebSocketServer<{ room: string }>({
    verify: (_, info) => ({ accept: true, data: { room: info.query.get('room') ?? 'lobby' } }),
  }).route('/chat', async (session) => {
    await session.send(`${session.data.room} ${session.remoteAddress}:${session.remotePort}`);
    for await (const message of session) await session.send(message);
  });
  const tcp = createNetServer((socket) => void server.handleSocket(socket));
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  const { port } = tcp.address() as AddressInfo;
  try {
    const raw = await RawClient.open(port, handshakeRequest('/chat?room=blue'));
    assert.ok(raw.responseHead.startsWith('HTTP/1.1 101 '), raw.responseHead);
    assert.is((await raw.nextFrame()).payload.toString(), `blue 127.0.0.1:${raw.socket.localPort}`);
    assert.ok((await rawExchange(port, 'GET /chat HTTP/1.1\nHost: x\n\n')).response.startsWith('HTTP/1.1 400 Bad Request\r\n'));
    assert.ok((await rawExchange(port, handshakeRequest('/other'))).response.startsWith('HTTP/1.1 404 Not Found\r\n'));
    const session = await connect(`ws://127.0.0.1:${port}/chat`);
    const greeting = await session.receive();
    const lobby = [...server.sessions].find((s) => s.request?.url === '/chat');
    assert.is(greeting, `lobby 127.0.0.1:${lobby?.remotePort}`);
    const closing = server.close();
    assert.equal(await raw.closeFrame(), { code: 1001, reason: '' });
    raw.sendFrame(0x8, Buffer.from([0x03, 0xe9]));
    assert.is((await session.closeReason).code, 1001);
    assert.equal(await closing, { sessions: 2, dropped: 0 });
  } finally {
    tcp.close();
  }
});

test('handleSocket: requestHead.timeoutMs bounds the first bytes and the head together (408 once, not after a second timeout)', async () => {
  const timeoutMs = 600;
  const server = new WebSocketServer({ requestHead: { timeoutMs } }).route('/chat', async (session) => {
    await session.close();
  });
  const tcp = createNetServer((socket) => void server.handleSocket(socket));
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  const { port } = tcp.address() as AddressInfo;
  const socket = createConnection(port, '127.0.0.1');
  try {
    let received = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
    await once(socket, 'connect');
    const started = Date.now();
    const closed = once(socket, 'close');
    // The first byte just before the deadline (it ends the HTTP/2 preface sniffing), then a byte every 30 ms.
    await new Promise((resolve) => setTimeout(resolve, timeoutMs - 150));
    const trickle = setInterval(() => socket.write('G'), 30);
    await closed;
    clearInterval(trickle);
    const ms = Date.now() - started;
    assert.match(received, /^HTTP\/1\.1 408 /);
    assert.match(received, /\r\n\r\nrequest head not received within 600 ms\n$/, 'the body names the configured timeout');
    // The sniffing and the head parser each had their own timeoutMs: the 408 came at about twice it.
    assert.ok(ms < timeoutMs * 1.5, `the 408 came after ${ms} ms (timeoutMs ${timeoutMs})`);
  } finally {
    socket.destroy();
    tcp.close();
    await server.close();
  }
});

test.run();
