/**
 * Bad opening handshakes over raw TCP, against both embeddings:
 *
 * - `createWebSocketServer` (node:net; this project's request-head parser
 *   reads the head, with `requestHead: { timeoutMs: 300 }`), and
 * - a node:http server calling `handleUpgrade` from its 'upgrade' event.
 *
 * Each refusal must carry its status line and `Connection: close`, the server
 * must close the connection itself (we never end our side first), and the
 * server must go on serving a normal `ws` client afterwards.
 *
 * What node:http does before `handleUpgrade` is reached (documented by the
 * node:http cases below):
 * - without an `Upgrade` header, or without the `upgrade` token in
 *   `Connection`, node does not emit 'upgrade' at all: the request goes to
 *   the 'request' listener, which decides (here: a 400 with Connection: close);
 * - an oversized head is refused by node itself (`maxHeaderSize`, 16 KiB):
 *   431 with `Connection: close`;
 * - a stalled head is node's `headersTimeout` (checked every
 *   `connectionsCheckingInterval`): 408 with `Connection: close`.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, type AddressInfo, type Server } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { DefaultWebSocketSession } from '../../../src/session/default-session.ts';
import { createWebSocketServer, handleUpgrade } from '../../../src/upgrade/serve.ts';
import { rawExchange, WsPeer, type RawExchange } from '../../support/interop.ts';

async function echo(session: DefaultWebSocketSession): Promise<void> {
  for await (const message of session) await session.send(message);
}

let netServer: Server;
let httpServer: HttpServer;
let netPort = 0;
let httpPort = 0;
let upgradeEvents = 0;
let requestEvents = 0;

test.before(async () => {
  netServer = createWebSocketServer(echo, { requestHead: { timeoutMs: 300 } });
  netServer.listen(0, '127.0.0.1');
  await once(netServer, 'listening');
  netPort = (netServer.address() as AddressInfo).port;

  httpServer = createHttpServer({ headersTimeout: 300, requestTimeout: 300, connectionsCheckingInterval: 50 }, (_request, response) => {
    requestEvents++;
    response.writeHead(400, { Connection: 'close', 'Content-Type': 'text/plain' }).end('not a WebSocket upgrade\n');
  });
  httpServer.on('upgrade', (request, socket, head) => {
    upgradeEvents++;
    handleUpgrade(request, socket, head, echo);
  });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  httpPort = (httpServer.address() as AddressInfo).port;
});

test.after(async () => {
  netServer.close();
  httpServer.close();
  httpServer.closeAllConnections();
  await Promise.all([once(netServer, 'close'), once(httpServer, 'close')]);
});

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A valid upgrade request head with `change` applied to its lines (null removes a header). */
function head(change: { requestLine?: string; headers?: Record<string, string | null> } = {}): string {
  const headers: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...change.headers,
  };
  const lines = Object.entries(headers)
    .filter((entry): entry is [string, string] => entry[1] !== null)
    .map(([name, value]) => `${name}: ${value}\r\n`);
  return `${change.requestLine ?? 'GET /chat HTTP/1.1'}\r\n${lines.join('')}\r\n`;
}

/** Status line and header block of a response (no body). */
function responseHead(exchange: RawExchange): { statusLine: string; headers: string[] } {
  const end = exchange.response.indexOf('\r\n\r\n');
  const lines = exchange.response.slice(0, end === -1 ? undefined : end).split('\r\n');
  return { statusLine: lines[0] ?? '', headers: lines.slice(1).map((l) => l.toLowerCase()) };
}

/** The refusal checks every case shares. */
function assertRefused(exchange: RawExchange, status: number, extraHeaders: readonly string[] = []): void {
  const { statusLine, headers } = responseHead(exchange);
  assert.match(statusLine, new RegExp(`^HTTP/1\\.1 ${status} `), `status line: ${JSON.stringify(exchange.response.slice(0, 120))}`);
  // A 426 names Upgrade in Connection too (RFC 9110 section 7.8).
  const connection = status === 426 ? 'connection: upgrade, close' : 'connection: close';
  assert.ok(headers.includes(connection), `${connection} in ${JSON.stringify(headers)}`);
  for (const extra of extraHeaders) assert.ok(headers.includes(extra.toLowerCase()), `${extra} in ${JSON.stringify(headers)}`);
  assert.ok(exchange.serverEnded, 'the server closed the connection (FIN) itself');
  assert.is(exchange.error, undefined, 'closed cleanly, not reset');
  assert.not.match(exchange.response, /HTTP\/1\.1 101/, 'never switched protocols');
}

/** A normal `ws` client still gets a session and an echo. */
async function assertStillServing(port: number): Promise<void> {
  const peer = await WsPeer.open(`ws://127.0.0.1:${port}/after`);
  await peer.send('still serving');
  const echoed = await peer.next(5000);
  assert.is(echoed.data.toString(), 'still serving');
  peer.socket.close(1000);
  assert.is((await peer.closed).code, 1000);
}

interface Case {
  readonly name: string;
  readonly request: string;
  readonly status: number;
  readonly extraHeaders?: readonly string[];
}

const COMMON: Case[] = [
  { name: 'wrong method (POST)', request: head({ requestLine: 'POST /chat HTTP/1.1' }), status: 400 },
  { name: 'HTTP/1.0', request: head({ requestLine: 'GET /chat HTTP/1.0' }), status: 400 },
  { name: 'HTTP/2.0 in a text request line', request: head({ requestLine: 'GET /chat HTTP/2.0' }), status: 505 },
  { name: 'missing Sec-WebSocket-Key', request: head({ headers: { 'Sec-WebSocket-Key': null } }), status: 400 },
  { name: 'bad Sec-WebSocket-Key (not 16 bytes)', request: head({ headers: { 'Sec-WebSocket-Key': 'AAAAAAAAAAAAAAAAAAAAAAA=' } }), status: 400 },
  { name: 'bad Sec-WebSocket-Key (not base64)', request: head({ headers: { 'Sec-WebSocket-Key': 'not base64 at all!!!!!!!' } }), status: 400 },
  {
    name: 'wrong Sec-WebSocket-Version (8)',
    request: head({ headers: { 'Sec-WebSocket-Version': '8' } }),
    status: 426,
    // RFC 9110 section 15.5.22: a 426 says which protocol to upgrade to.
    extraHeaders: ['sec-websocket-version: 13', 'upgrade: websocket'],
  },
  {
    name: 'missing Sec-WebSocket-Version',
    request: head({ headers: { 'Sec-WebSocket-Version': null } }),
    status: 426,
    // RFC 9110 section 15.5.22: a 426 says which protocol to upgrade to.
    extraHeaders: ['sec-websocket-version: 13', 'upgrade: websocket'],
  },
  { name: 'Upgrade: h2c instead of websocket', request: head({ headers: { Upgrade: 'h2c' } }), status: 400 },
  // A handshake request has no body (the bytes after its head are frames): one announced is a 400.
  { name: 'a body announced by Content-Length: 5', request: head({ headers: { 'Content-Length': '5' } }), status: 400 },
  { name: 'a body announced by Transfer-Encoding: chunked', request: head({ headers: { 'Transfer-Encoding': 'chunked' } }), status: 400 },
  // RFC 9112 section 3.2: a Host that is not uri-host[:port] is a 400.
  { name: 'Host with a space (a b)', request: head({ headers: { Host: 'a b' } }), status: 400 },
  { name: 'Host with userinfo (user@host)', request: head({ headers: { Host: 'user@example.com' } }), status: 400 },
  { name: 'Host with a non-numeric port (host:http)', request: head({ headers: { Host: 'example.com:http' } }), status: 400 },
];

const NET_ONLY: Case[] = [
  { name: 'missing Upgrade', request: head({ headers: { Upgrade: null } }), status: 400 },
  { name: 'missing Connection', request: head({ headers: { Connection: null } }), status: 400 },
  { name: 'Connection without the upgrade token (keep-alive)', request: head({ headers: { Connection: 'keep-alive' } }), status: 400 },
  { name: 'malformed request line', request: 'GET /chat\r\nHost: x\r\n\r\n', status: 400 },
  // node:http keeps the first of two Host lines; our own parser sees both (RFC 9112 section 3.2: 400).
  { name: 'two Host lines', request: head({ headers: { Host: 'a.example\r\nHost: b.example' } }), status: 400 },
  { name: 'HTTP/9.9 request line', request: head({ requestLine: 'GET /chat HTTP/9.9' }), status: 505 },
  { name: 'header line ending in a bare LF', request: head().replace('Upgrade: websocket\r\n', 'Upgrade: websocket\n'), status: 400 },
  {
    name: 'oversized head (20 KiB header > 16 KiB limit)',
    request: head({ headers: { 'X-Padding': 'p'.repeat(20 * 1024) } }),
    status: 431,
  },
  // Framing headers node:http refuses itself (RFC 9112 section 6.3; 11.2, request smuggling).
  { name: 'invalid Content-Length (abc)', request: head({ headers: { 'Content-Length': 'abc' } }), status: 400 },
  { name: 'invalid Content-Length (-1)', request: head({ headers: { 'Content-Length': '-1' } }), status: 400 },
  { name: 'two Content-Length lines (1, 2)', request: head({ headers: { 'Content-Length': '1\r\nContent-Length: 2' } }), status: 400 },
  {
    name: 'Transfer-Encoding with Content-Length',
    request: head({ headers: { 'Transfer-Encoding': 'chunked', 'Content-Length': '5' } }),
    status: 400,
  },
  {
    name: 'too many header lines (101 > 100)',
    request: head({ headers: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`X-H${i}`, 'v'])) }),
    status: 431,
  },
];

for (const c of [...COMMON, ...NET_ONLY]) {
  test(`createWebSocketServer: ${c.name} -> ${c.status}, Connection: close, closed by the server, still serving`, async () => {
    assertRefused(await rawExchange(netPort, c.request), c.status, c.extraHeaders);
    await assertStillServing(netPort);
  });
}

for (const c of COMMON) {
  test(`node:http + handleUpgrade: ${c.name} -> ${c.status}, Connection: close, closed by the server, still serving`, async () => {
    const before = upgradeEvents;
    assertRefused(await rawExchange(httpPort, c.request), c.status, c.extraHeaders);
    assert.is(upgradeEvents, before + 1, "the refusal came from handleUpgrade (node emitted 'upgrade')");
    await assertStillServing(httpPort);
  });
}

for (const [name, port] of [['createWebSocketServer', () => netPort], ['node:http + handleUpgrade', () => httpPort]] as const) {
  test(`${name}: Content-Length: 0 (no body, said out loud) is served`, async () => {
    const socket = connect(port(), '127.0.0.1');
    socket.setEncoding('latin1');
    await once(socket, 'connect');
    socket.write(head({ headers: { 'Content-Length': '0' } }));
    const [response] = (await once(socket, 'data')) as [string];
    assert.match(response, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    socket.destroy();
    await once(socket, 'close');
  });
}

test('createWebSocketServer: a head split over several writes is still served', async () => {
  // The control for the stall below: slow but complete heads are fine.
  const full = head();
  const parts = [full.slice(0, 10), full.slice(10, 60), full.slice(60)];
  const socket = connect(netPort, '127.0.0.1');
  socket.setEncoding('latin1');
  let received = '';
  socket.on('data', (s: string) => (received += s));
  await once(socket, 'connect');
  for (const part of parts) {
    socket.write(part);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const deadline = Date.now() + 2000;
  while (!received.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.match(received, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  socket.destroy();
  await once(socket, 'close');
});

test('createWebSocketServer: half a head then a stall gets 408 and is closed after the 300 ms head timeout; others are served meanwhile', async () => {
  const half = head().slice(0, 40);
  const stalled = rawExchange(netPort, half, { timeoutMs: 3000 });
  // While that client stalls, a normal client is served.
  await assertStillServing(netPort);
  const exchange = await stalled;
  assert.ok(exchange.closedAfterMs >= 250, `dropped after ${exchange.closedAfterMs} ms (timeout 300)`);
  assert.ok(exchange.closedAfterMs < 2000, `dropped after ${exchange.closedAfterMs} ms (timeout 300)`);
  // As node:http answers a head that does not complete in time.
  assertRefused(exchange, 408);
  await assertStillServing(netPort);
});

test('createWebSocketServer: a client that connects and sends nothing gets 408 and is closed after the head timeout', async () => {
  const exchange = await rawExchange(netPort, [], { timeoutMs: 3000 });
  assert.ok(exchange.closedAfterMs >= 250 && exchange.closedAfterMs < 2000, `dropped after ${exchange.closedAfterMs} ms`);
  assertRefused(exchange, 408);
  await assertStillServing(netPort);
});

test('node:http: missing Upgrade or Connection never reaches handleUpgrade (node emits "request" instead)', async () => {
  for (const request of [head({ headers: { Upgrade: null } }), head({ headers: { Connection: null } }), head({ headers: { Connection: 'keep-alive' } })]) {
    const upgrades = upgradeEvents;
    const requests = requestEvents;
    assertRefused(await rawExchange(httpPort, request), 400);
    assert.is(upgradeEvents, upgrades, "no 'upgrade' event");
    assert.is(requestEvents, requests + 1, "the 'request' listener answered");
  }
  await assertStillServing(httpPort);
});

test('node:http: an oversized head is refused by node itself (431) before any event', async () => {
  const upgrades = upgradeEvents;
  const exchange = await rawExchange(httpPort, head({ headers: { 'X-Padding': 'p'.repeat(20 * 1024) } }));
  assertRefused(exchange, 431);
  assert.is(upgradeEvents, upgrades);
  await assertStillServing(httpPort);
});

test('node:http: half a head then a stall is answered 408 by node (headersTimeout 300 ms)', async () => {
  const exchange = await rawExchange(httpPort, head().slice(0, 40), { timeoutMs: 5000 });
  assertRefused(exchange, 408);
  assert.ok(exchange.closedAfterMs >= 250, `closed after ${exchange.closedAfterMs} ms`);
  await assertStillServing(httpPort);
});

/** The server's open connection count. */
function connections(server: Server | HttpServer): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
}

/**
 * A refused client that keeps its own side open (allowHalfOpen, never ends):
 * resolves with the server's connection count `waitMs` after the refusal
 * arrived. The client socket is destroyed before returning.
 */
async function connectionsLeftByHalfOpenClient(server: Server | HttpServer, port: number, waitMs: number): Promise<{ response: string; left: number }> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  try {
    socket.setEncoding('latin1');
    let response = '';
    socket.on('data', (s: string) => (response += s));
    socket.on('error', () => {});
    const ended = once(socket, 'end');
    await once(socket, 'connect');
    assert.is(await connections(server), 1, 'only this client is connected');
    socket.write(head({ requestLine: 'POST /chat HTTP/1.1' }));
    await ended; // the response and the server's FIN arrived
    const deadline = Date.now() + waitMs;
    let left = await connections(server);
    while (left > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      left = await connections(server);
    }
    return { response, left };
  } finally {
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50)); // let the server see it go
  }
}

test('createWebSocketServer: a refused client that never closes its side is still disconnected by the server', async () => {
  const { response, left } = await connectionsLeftByHalfOpenClient(netServer, netPort, 3000);
  assert.match(response, /^HTTP\/1\.1 400 /);
  assert.is(left, 0, 'the server still holds the refused connection 3 s after answering it (half-open forever)');
});

test('node:http + handleUpgrade: a refused client that never closes its side is still disconnected by the server', async () => {
  const { response, left } = await connectionsLeftByHalfOpenClient(httpServer, httpPort, 3000);
  assert.match(response, /^HTTP\/1\.1 400 /);
  assert.is(left, 0, 'the server still holds the refused connection 3 s after answering it (half-open forever)');
});

test("control: node:http's own refusal (the 431 of an oversized head) does drop such a client at once", async () => {
  const socket = connect({ port: httpPort, host: '127.0.0.1', allowHalfOpen: true });
  try {
    socket.on('error', () => {});
    let response = '';
    socket.setEncoding('latin1').on('data', (s: string) => (response += s));
    await once(socket, 'connect');
    const ended = once(socket, 'end');
    socket.write(head({ headers: { 'X-Padding': 'p'.repeat(20 * 1024) } }));
    await ended;
    assert.match(response, /^HTTP\/1\.1 431 /);
    const deadline = Date.now() + 3000;
    while ((await connections(httpServer)) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    assert.is(await connections(httpServer), 0);
  } finally {
    socket.destroy();
  }
});

test('many refusals at once do not disturb a session already open', async () => {
  const peer = await WsPeer.open(`ws://127.0.0.1:${netPort}/long-lived`);
  try {
    const refusals = await Promise.all(
      Array.from({ length: 50 }, (_, i) => rawExchange(netPort, COMMON[i % COMMON.length]!.request)),
    );
    refusals.forEach((r, i) => assertRefused(r, COMMON[i % COMMON.length]!.status));
    await peer.send('after 50 refusals');
    assert.is((await peer.next()).data.toString(), 'after 50 refusals');
  } finally {
    peer.socket.close(1000);
    await peer.closed;
  }
});

test.run();
