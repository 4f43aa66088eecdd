/**
 * The server object sharing a node:http2 server of the application's own:
 * `attach` to a TLS server with `allowHTTP1` whose pages are served through
 * node's compatibility API (`'request'`, as frameworks on node:http2 do),
 * WebSockets over HTTP/2 and HTTP/1.1 next to the pages on one port; to a
 * cleartext server created without the extended CONNECT setting (attach
 * turns it on) with a `'stream'` listener of its own (the unknown-path
 * policy); `close()` leaving the server running, or closing it with GOAWAY
 * when asked; and `handleStream`, the stream-level counterpart of
 * `handleUpgrade`.
 */
import { once } from 'node:events';
import { constants, createSecureServer, createServer, type Http2Server } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../src/frames/frame.ts';
import { WebSocketServer } from '../../src/server/websocket-server.ts';
import type { DefaultWebSocketSession } from '../../src/session/default-session.ts';
import { UnexpectedStatusError } from '../../src/upgrade/client-errors.ts';
import { connect, type ConnectOptions } from '../../src/upgrade/connect.ts';
import { http2ServerOptions } from '../../src/upgrade/h2-serve.ts';
import { connectHeaders, h2Connect, plainHttp2Request, RawH2Stream, selfSignedCertificate } from '../support/h2.ts';
import { roundTrip } from '../support/server.ts';

const certificate = selfSignedCertificate();
const H2 = { http2: { idleTimeoutMs: 0 } } as const;

function recording(sessions: DefaultWebSocketSession<unknown>[]) {
  return async (session: DefaultWebSocketSession<unknown>): Promise<void> => {
    sessions.push(session);
    for await (const message of session) await session.send(`${session.request?.httpVersion}:${String(message)}`);
  };
}

async function status(url: string, options: ConnectOptions): Promise<number> {
  try {
    await (await connect(url, options)).close();
    return 200;
  } catch (error) {
    if (error instanceof UnexpectedStatusError) return error.status;
    throw error;
  }
}

test('attach to a TLS http2 server with allowHTTP1 and a compatibility-API app: pages and WebSockets over both HTTP versions, one port', async () => {
  const app = createSecureServer({ ...certificate, allowHTTP1: true, ...http2ServerOptions() }, (request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain' }).end(`page ${request.url} over ${request.httpVersion}`);
  });
  app.listen(0, '127.0.0.1');
  await once(app, 'listening');
  const { port } = app.address() as AddressInfo;
  const sessions: DefaultWebSocketSession<unknown>[] = [];
  const server = new WebSocketServer().route('/ws', recording(sessions));
  server.attach(app);
  const tls = { ca: certificate.cert };
  const client = await h2Connect(port, certificate);
  try {
    assert.is(await plainHttp2Request(client, '/home'), '200 page /home over 2.0');
    const overHttps = await new Promise<string>((resolve, reject) => {
      httpsRequest({ host: '127.0.0.1', port, path: '/home', ca: certificate.cert, agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve(body));
      })
        .on('error', reject)
        .end();
    });
    assert.is(overHttps, 'page /home over 1.1');
    assert.is(await roundTrip(`wss://127.0.0.1:${port}/ws`, 'a', { ...H2, tls }), '2.0:a');
    assert.is(await roundTrip(`wss://127.0.0.1:${port}/ws`, 'b', { tls }), '1.1:b');
    // node's compatibility layer would answer a CONNECT 405: the streams the server takes never reach it.
    const raw = await RawH2Stream.open(client, connectHeaders('/ws', { ':scheme': 'https' }));
    assert.is(raw.status, 200);
    raw.send(Opcode.Text, 'c');
    await raw.until(() => raw.texts.length === 1, 5000, 'the echo');
    assert.equal(raw.texts, ['2.0:c']);
    // An unknown WebSocket path: 404 (the app has no 'connect' listener of its own); a CONNECT for another protocol: node's 405.
    assert.is(await status(`wss://127.0.0.1:${port}/nope`, { ...H2, tls }), 404);
    const other = await RawH2Stream.open(client, connectHeaders('/ws', { ':scheme': 'https', ':protocol': 'connect-udp' }));
    assert.is(other.status, 405);
    assert.is(sessions.length, 3);
    // close() leaves the app's server running.
    await server.close();
    assert.equal(raw.closeFrame, { code: 1001, reason: '' });
    assert.ok(app.listening);
    assert.is(await plainHttp2Request(client, '/after'), '200 page /after over 2.0');
  } finally {
    client.destroy();
    app.close();
  }
});

test('attach to a cleartext http2 server without the setting: attach enables extended CONNECT; another stream listener keeps unknown paths', async () => {
  const app: Http2Server = createServer();
  const sessions: DefaultWebSocketSession<unknown>[] = [];
  const server = new WebSocketServer().route('/ws', recording(sessions));
  // The app's own streams: everything but the WebSockets the server takes.
  app.on('stream', (stream, headers) => {
    if (headers[':method'] === 'CONNECT' && server.handles(headers[':path'])) return;
    stream.respond({ ':status': 418 });
    stream.end('app');
  });
  server.attach(app);
  app.listen(0, '127.0.0.1');
  await once(app, 'listening');
  const { port } = app.address() as AddressInfo;
  const client = await h2Connect(port);
  try {
    assert.is(client.remoteSettings.enableConnectProtocol, true);
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/ws`, 'x', H2), '2.0:x');
    assert.equal(sessions.map((s) => s.request?.httpVersion), ['2.0'], 'over HTTP/2, not a fallback');
    const unknown = await RawH2Stream.open(client, connectHeaders('/elsewhere'));
    assert.is(unknown.status, 418, "'auto' leaves it to the app's listener");
    assert.is(await plainHttp2Request(client, '/'), '418 app');
  } finally {
    client.destroy();
    await server.close();
    app.close();
  }
});

test("attach with unknownPaths 'refuse' and closeHttpServer: 404 for unknown paths; close() closes the server with GOAWAY", async () => {
  const app = createServer(http2ServerOptions());
  const server = new WebSocketServer().route('/ws', recording([]));
  server.attach(app, { unknownPaths: 'refuse', closeHttpServer: true });
  app.listen(0, '127.0.0.1');
  await once(app, 'listening');
  const { port } = app.address() as AddressInfo;
  const client = await h2Connect(port);
  const goaway = once(client, 'goaway');
  const raw = await RawH2Stream.open(client, connectHeaders('/ws'));
  assert.is(raw.status, 200);
  const unknown = await RawH2Stream.open(client, connectHeaders('/elsewhere'));
  assert.is(unknown.status, 404);
  const closing = server.close();
  await raw.until(() => raw.closeFrame !== undefined, 5000, 'the close frame');
  raw.sendClose(1001);
  await closing;
  assert.not.ok(app.listening);
  const [code] = (await goaway) as [number];
  assert.is(code, constants.NGHTTP2_NO_ERROR);
  client.destroy();
});

test('attach with closeHttpServer to a TLS http2 server with allowHTTP1: close({ timeoutMs }) drops an HTTP/1.1 response still streaming on the fallback (node has no closeAllConnections there)', async () => {
  const app = createSecureServer({ ...http2ServerOptions(), ...certificate, allowHTTP1: true }, (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write('data: first\n\n'); // and never ends
  });
  const server = new WebSocketServer().route('/ws', recording([]));
  server.attach(app, { closeHttpServer: true });
  app.listen(0, '127.0.0.1');
  await once(app, 'listening');
  const { port } = app.address() as AddressInfo;
  let ended!: () => void;
  const streamEnded = new Promise<void>((resolve) => (ended = resolve));
  await new Promise<void>((resolve, reject) => {
    httpsRequest({ host: '127.0.0.1', port, path: '/events', ca: certificate.cert, agent: false }, (response) => {
      assert.is(response.httpVersion, '1.1');
      response.once('data', () => resolve());
      response.on('error', () => ended());
      response.on('close', () => ended());
      response.resume();
    })
      .on('error', () => ended())
      .end();
    setTimeout(() => reject(new Error('no event')), 3000);
  });
  const started = Date.now();
  const closed = await Promise.race([server.close({ timeoutMs: 300 }), new Promise((resolve) => setTimeout(resolve, 4000, 'not resolved after 4 s'))]);
  assert.equal(closed, { sessions: 0, dropped: 0 });
  assert.ok(Date.now() - started < 3000, `close() took ${Date.now() - started} ms`);
  assert.not.ok(app.listening);
  await streamEnded;
});

test('handleStream: the application routes streams itself; the server answers the ones it is given', async () => {
  const sessions: DefaultWebSocketSession<unknown>[] = [];
  const server = new WebSocketServer().route('/ws', recording(sessions));
  const app = createServer(http2ServerOptions());
  app.on('stream', (stream, headers) => {
    if (headers[':path']?.startsWith('/ws') || headers[':path'] === '/unknown') void server.handleStream(stream, headers);
    else stream.respond({ ':status': 204 }, { endStream: true });
  });
  app.listen(0, '127.0.0.1');
  await once(app, 'listening');
  const { port } = app.address() as AddressInfo;
  try {
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/ws?x=1`, 'hi', H2), '2.0:hi');
    assert.is(await status(`ws://127.0.0.1:${port}/unknown`, H2), 404);
    assert.is(sessions[0]!.request?.url, '/ws?x=1');
  } finally {
    await server.close();
    app.close();
  }
});

test.run();
