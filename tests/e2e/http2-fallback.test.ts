/**
 * `connect(url, { http2: true })` falls back to HTTP/1.1 when the server
 * does not offer WebSockets over HTTP/2, and says nothing about it (the
 * session just runs over HTTP/1.1):
 * - cleartext to an HTTP/1.1-only server (it answers the HTTP/2 preface
 *   with a 400): a new connection for HTTP/1.1;
 * - cleartext to a server speaking both, whose HTTP/2 side does not set
 *   SETTINGS_ENABLE_CONNECT_PROTOCOL: the HTTP/2 connection is closed, a
 *   new one carries HTTP/1.1;
 * - TLS whose ALPN picks h2 without the setting (`createSecureServer` with
 *   `allowHTTP1`, the upgrade through node:http's `upgrade` event): a new
 *   TLS connection offering only http/1.1;
 * - TLS whose ALPN picks http/1.1, or no ALPN at all: the same TLS
 *   connection carries the HTTP/1.1 handshake (concurrent calls: one of
 *   them gets it, the others connect on their own);
 * - a refused connection is a ConnectionRefusedError, no fallback;
 * - a fallback that times out reports `handshakeTimeoutMs`, not what the
 *   HTTP/2 attempt left of it.
 * Each session reports the HTTP version its handler saw.
 */
import { once } from 'node:events';
import { createSecureServer, createServer as createH2Server } from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnectionRefusedError, HandshakeTimeoutError } from '../../src/upgrade/client-errors.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { createWebSocketServer, handleUpgrade, serveSocket, type WebSocketHandler } from '../../src/upgrade/serve.ts';
import { freePort } from '../support/interop.ts';
import { selfSignedCertificate } from '../support/h2.ts';

const certificate = selfSignedCertificate();
const tls = { ca: certificate.cert };

/** Answers the first message with the HTTP version the handler saw, then echoes. */
const versionEcho: WebSocketHandler = async (session, request) => {
  await session.send(`HTTP/${request.httpVersion}`);
  for await (const message of session) await session.send(message);
};

async function listen<T extends NetServer | TlsServer>(server: T): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Connects with http2: true, checks the version seen and an echo, and closes. */
async function expectVersion(url: string, version: string): Promise<void> {
  const session = await connect(url, { http2: true, tls });
  assert.is(await session.receive(), `HTTP/${version}`);
  await session.send('echo');
  assert.is(await session.receive(), 'echo');
  await session.close();
}

test('cleartext, HTTP/1.1-only server: a new connection for HTTP/1.1', async () => {
  let connections = 0;
  const server = createWebSocketServer(versionEcho);
  server.on('connection', () => connections++);
  const port = await listen(server);
  try {
    await expectVersion(`ws://127.0.0.1:${port}/`, '1.1');
    assert.is(connections, 2, 'the HTTP/2 attempt, then HTTP/1.1');
  } finally {
    server.close();
  }
});

test('cleartext, both protocols, HTTP/2 without SETTINGS_ENABLE_CONNECT_PROTOCOL: HTTP/1.1 on a new connection', async () => {
  const h2 = createH2Server(); // extended CONNECT not enabled
  let h2Connections = 0;
  let h1Connections = 0;
  h2.on('stream', (stream) => {
    stream.respond({ ':status': 404 });
    stream.end();
  });
  const front = createNetServer((socket) => {
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      if (chunk.toString('latin1', 0, 3) === 'PRI') {
        h2Connections++;
        h2.emit('connection', socket);
      } else {
        h1Connections++;
        void serveSocket(socket, versionEcho);
      }
    });
  });
  const port = await listen(front);
  try {
    await expectVersion(`ws://127.0.0.1:${port}/`, '1.1');
    assert.equal([h2Connections, h1Connections], [1, 1]);
  } finally {
    front.close();
  }
});

test('TLS, ALPN h2 without the setting (allowHTTP1 + upgrade event): HTTP/1.1 on a new TLS connection', async () => {
  const server = createSecureServer({ ...certificate, allowHTTP1: true });
  const alpn: Array<string | false> = [];
  server.on('secureConnection', (socket) => alpn.push(socket.alpnProtocol ?? false));
  server.on('stream', (stream) => {
    stream.respond({ ':status': 404 });
    stream.end();
  });
  server.on('upgrade', (request, socket, head) => handleUpgrade(request, socket, head, versionEcho));
  const port = await listen(server as unknown as TlsServer);
  try {
    await expectVersion(`wss://localhost:${port}/`, '1.1');
    assert.equal(alpn, ['h2', 'http/1.1']);
  } finally {
    server.close();
  }
});

test('TLS, ALPN http/1.1 or none: the same TLS connection carries HTTP/1.1', async () => {
  for (const ALPNProtocols of [['http/1.1'], undefined]) {
    let connections = 0;
    const server = createTlsServer({ ...certificate, ...(ALPNProtocols ? { ALPNProtocols } : {}) }, (socket) => {
      connections++;
      void serveSocket(socket, versionEcho);
    });
    const port = await listen(server);
    try {
      await expectVersion(`wss://localhost:${port}/`, '1.1');
      assert.is(connections, 1, `one TLS connection (ALPN ${String(ALPNProtocols)})`);
      const sessions = await Promise.all(Array.from({ length: 5 }, () => connect(`wss://localhost:${port}/`, { http2: true, tls })));
      for (const session of sessions) assert.is(await session.receive(), 'HTTP/1.1');
      await Promise.all(sessions.map((session) => session.close()));
      assert.is(connections, 6, 'five concurrent calls: five connections, the probe reused by one of them');
    } finally {
      server.close();
    }
  }
});

test('a refused connection: ConnectionRefusedError, no fallback', async () => {
  const port = await freePort();
  try {
    await connect(`ws://127.0.0.1:${port}/`, { http2: true });
    assert.unreachable('connected to a closed port');
  } catch (error) {
    assert.instance(error, ConnectionRefusedError);
  }
});

test('a fallback that times out: the whole handshakeTimeoutMs, and the error says that much', async () => {
  let connections = 0;
  const server = createNetServer((socket) => {
    socket.on('error', () => {});
    // The first connection refuses the HTTP/2 preface slowly, as an HTTP/1.1-only server would; the fallback gets no answer.
    if (++connections === 1) socket.once('data', () => setTimeout(() => socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'), 150));
  });
  const port = await listen(server);
  const started = Date.now();
  try {
    await connect(`ws://127.0.0.1:${port}/`, { http2: true, handshakeTimeoutMs: 600 });
    assert.unreachable('connected to a silent server');
  } catch (error) {
    const elapsed = Date.now() - started;
    assert.instance(error, HandshakeTimeoutError);
    assert.is((error as HandshakeTimeoutError).timeoutMs, 600);
    assert.match((error as Error).message, /within 600 ms/);
    assert.ok(elapsed >= 580 && elapsed < 1500, `failed after ${elapsed} ms`);
    assert.is(connections, 2, 'the HTTP/2 probe, then the HTTP/1.1 fallback');
  } finally {
    server.close();
  }
});

test.run();
