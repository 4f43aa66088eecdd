/**
 * Every way `connect` can fail, each against a real misbehaving peer over
 * loopback, with its typed error and the connection closed: refused,
 * timed out, not 101 (status, headers and a bounded body), bad accept key,
 * unoffered subprotocol or extension, a bad Upgrade header, a server that
 * hangs up mid-head; and the programmer errors thrown before any I/O.
 */
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { computeAcceptKey } from '../../src/upgrade/accept-key.ts';
import {
  AcceptKeyMismatchError,
  ConnectError,
  ConnectionFailedError,
  ConnectionRefusedError,
  HandshakeTimeoutError,
  InvalidResponseError,
  UnexpectedExtensionError,
  UnexpectedProtocolError,
  UnexpectedStatusError,
} from '../../src/upgrade/client-errors.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { permessageDeflate } from '../../src/extensions/permessage-deflate.ts';

async function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A raw TCP server answering each handshake with `answer(key)`; resolves `closed` when the client's socket closes. */
async function rawServer(answer: (key: string) => string | undefined) {
  const sockets: Socket[] = [];
  let closed!: () => void;
  const socketClosed = new Promise<void>((resolve) => (closed = resolve));
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('close', () => closed());
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /Sec-WebSocket-Key: (\S+)/i.exec(head)?.[1] ?? '';
      const response = answer(key);
      if (response !== undefined) socket.write(response, 'latin1');
    });
  });
  const port = await listen(server);
  return {
    url: `ws://127.0.0.1:${port}/`,
    socketClosed,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, ConnectError);
    return error as Error;
  }
  throw new Error('connect should have failed');
}

function upgradeResponse(key: string, extra = ''): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(key)}\r\n${extra}\r\n`;
}

test('refused: a closed port gives ConnectionRefusedError wrapping ECONNREFUSED', async () => {
  const probe = createServer();
  const port = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
  const error = await failure(connect(`ws://127.0.0.1:${port}/`));
  assert.instance(error, ConnectionRefusedError);
  assert.is((error as ConnectionRefusedError).code, 'ECONNREFUSED');
  assert.is((error.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  assert.match(error.message, `127.0.0.1:${port}`);
});

test('timed out: a server that accepts and never answers; the socket is closed', async () => {
  const server = await rawServer(() => undefined);
  const started = Date.now();
  const error = await failure(connect(server.url, { handshakeTimeoutMs: 0.2 * 1000 + 0.5 })); // a fraction is fine
  assert.instance(error, HandshakeTimeoutError);
  assert.is((error as HandshakeTimeoutError).timeoutMs, 200.5);
  assert.ok(Date.now() - started >= 190);
  await server.socketClosed;
  server.close();
});

test('not 101: a node:http server answering 403 with a body', async () => {
  const http = createHttpServer((_request, response) => {
    response.writeHead(403, { 'Content-Type': 'text/plain', 'X-Why': 'no-entry' });
    response.end('go away, you are not on the list');
  });
  const port = await listen(http);
  const error = await failure(connect(`ws://127.0.0.1:${port}/secret`));
  assert.instance(error, UnexpectedStatusError);
  const status = error as UnexpectedStatusError;
  assert.is(status.status, 403);
  assert.is(status.statusText, 'Forbidden');
  assert.is(status.headers['x-why'], 'no-entry');
  assert.is(status.body.toString(), 'go away, you are not on the list');
  // The body is read only up to the bound.
  const bounded = (await failure(connect(`ws://127.0.0.1:${port}/`, { responseHead: { maxBodySize: 6 } }))) as UnexpectedStatusError;
  assert.is(bounded.body.toString(), 'go awa');
  http.close();
});

test('not 101: a chunked 500 from a keep-alive server ends at its last chunk, not at the timeout', async () => {
  const http = createHttpServer((_request, response) => {
    response.writeHead(500);
    response.write('part one, ');
    response.end('part two');
  });
  const port = await listen(http);
  const started = Date.now();
  const error = (await failure(connect(`ws://127.0.0.1:${port}/`, { handshakeTimeoutMs: 5000 }))) as UnexpectedStatusError;
  assert.is(error.status, 500);
  assert.is(error.body.toString(), 'part one, part two');
  assert.ok(Date.now() - started < 2000);
  http.closeAllConnections();
  http.close();
});

test('bad accept key: a raw server answering a wrong key', async () => {
  const server = await rawServer(() =>
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n',
  );
  const error = await failure(connect(server.url));
  assert.instance(error, AcceptKeyMismatchError);
  assert.is((error as AcceptKeyMismatchError).received, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  await server.socketClosed;
  server.close();
});

test('unoffered subprotocol, unoffered extension, and a wrong Upgrade header each fail', async () => {
  const protocol = await rawServer((key) => upgradeResponse(key, 'Sec-WebSocket-Protocol: superchat\r\n'));
  const error = await failure(connect(protocol.url, { protocols: ['chat'] }));
  assert.instance(error, UnexpectedProtocolError);
  assert.is((error as UnexpectedProtocolError).protocol, 'superchat');
  assert.equal((error as UnexpectedProtocolError).offered, ['chat']);
  assert.instance(await failure(connect(protocol.url)), UnexpectedProtocolError, 'no offer at all');
  await protocol.socketClosed;
  protocol.close();

  const extension = await rawServer((key) => upgradeResponse(key, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'));
  assert.instance(await failure(connect(extension.url)), UnexpectedExtensionError);
  extension.close();

  const deflateParams = await rawServer((key) => upgradeResponse(key, 'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=20\r\n'));
  const params = await failure(connect(deflateParams.url, { extensions: [permessageDeflate()] }));
  assert.instance(params, UnexpectedExtensionError);
  assert.ok(params.cause instanceof Error, 'the deflate negotiation error is the cause');
  deflateParams.close();

  const upgrade = await rawServer((key) => upgradeResponse(key).replace('Upgrade: websocket', 'Upgrade: h2c'));
  assert.instance(await failure(connect(upgrade.url)), InvalidResponseError);
  upgrade.close();
});

test('a server that hangs up in the middle of the head: ConnectionFailedError', async () => {
  const server = await rawServer(() => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n');
  const hangUp = createServer((socket) => socket.once('data', () => socket.end('HTTP/1.1 101 Switching')));
  const port = await listen(hangUp);
  const error = await failure(connect(`ws://127.0.0.1:${port}/`));
  assert.instance(error, ConnectionFailedError);
  assert.match(error.message, /closed after 22 bytes/);
  hangUp.close();
  server.close();
});

test('interim responses (100 Continue, 103 Early Hints) before the 101 are skipped; the frame in the same packet is kept', async () => {
  for (const interim of ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n']) {
    const hello = Buffer.from([0x81, 0x05, ...Buffer.from('hello')]);
    const server = await rawServer((key) => interim + upgradeResponse(key) + hello.toString('latin1'));
    try {
      const session = await connect(server.url);
      assert.is(await session.receive(), 'hello');
      session.abandon();
    } finally {
      server.close();
    }
  }
});

test('a final status after an interim one is still an UnexpectedStatusError', async () => {
  const server = await rawServer(() => 'HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno');
  try {
    const error = await failure(connect(server.url));
    assert.instance(error, UnexpectedStatusError);
    assert.is((error as UnexpectedStatusError).status, 403);
    assert.is((error as UnexpectedStatusError).body.toString(), 'no');
  } finally {
    server.close();
  }
});

test('programmer errors throw before any I/O', () => {
  assert.throws(() => connect('http://127.0.0.1:1/'), TypeError);
  assert.throws(() => connect('not a url'), TypeError);
  assert.throws(() => connect('ws://127.0.0.1:1/', { handshakeTimeoutMs: 0 }), RangeError);
  // Node's timers fire at once above 2^31-1 ms: every handshake would time out.
  assert.throws(() => connect('ws://127.0.0.1:1/', { handshakeTimeoutMs: 2 ** 31 }), RangeError);
  assert.throws(() => connect('ws://127.0.0.1:1/', { http2: true, handshakeTimeoutMs: Number.MAX_SAFE_INTEGER }), RangeError);
  assert.throws(() => connect('ws://127.0.0.1:1/', { handshakeTimeoutMs: NaN }), RangeError);
  assert.throws(() => connect('ws://127.0.0.1:1/', { headers: { 'Sec-WebSocket-Key': 'x' } }), TypeError);
  assert.throws(() => connect('ws://127.0.0.1:1/', { protocols: ['a,b'] }), TypeError);
  assert.throws(() => connect('ws://127.0.0.1:1/', { protocols: [42 as unknown as string] }), TypeError);
  assert.throws(() => connect('ws://127.0.0.1:1/', { protocols: { chat: true } as unknown as string[] }), TypeError);
  // Checked before the socket is opened: a socket opened first, then left without a listener, would
  // crash the process with ECONNREFUSED (port 1), over HTTP/1.1 and HTTP/2 alike.
  for (const http2 of [false, true]) {
    assert.throws(() => connect('ws://127.0.0.1:1/', { http2, channels: { inputCapacity: 0 } }), RangeError);
    assert.throws(() => connect('ws://127.0.0.1:1/', { http2, channels: { lingerMs: -1 } }), RangeError);
  }
  assert.throws(() => connect('ws://127.0.0.1:1/', { session: { maxFrameSize: -1 } }), RangeError);
  assert.throws(() => connect('ws://127.0.0.1:1/', { responseHead: { maxHeadSize: 0 } }), RangeError);
  assert.throws(() => connect('ws://127.0.0.1:1/', { extensions: [permessageDeflate({ serverMaxWindowBits: 99 })] }), RangeError);
});

test.run();
