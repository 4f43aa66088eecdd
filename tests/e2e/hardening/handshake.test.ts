/**
 * Hostile handshakes over loopback, against both embeddings: the raw
 * `createWebSocketServer`/`serveSocket` path (our bounded request-head parser)
 * and node:http's `upgrade` event with `handleUpgrade`. Each refusal gets its
 * HTTP status and a closed socket, nothing throws, and the server keeps
 * serving a normal client afterwards.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../../src/frames/frame.ts';
import { handleUpgrade, type WebSocketHandler } from '../../../src/upgrade/serve.ts';
import { handshakeRequest, RawClient } from '../../support/raw-client.ts';
import { startServer, type TestServer } from '../../support/server.ts';
import { connectionCount, sleep, waitFor } from '../../support/resources.ts';
import { WireClient } from '../../support/wire-client.ts';

const GOOD_LINES =
  'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

const echo: WebSocketHandler = async (session) => {
  for await (const message of session) await session.send(message);
};

let server: TestServer;
let http: HttpServer;
let httpPort = 0;

test.before(async () => {
  // A larger head limit than the default, so the 64 KiB pathological values
  // below reach the header parsers instead of being refused for size.
  server = await startServer(echo, {
    protocols: ['chat'],
    requestHead: { maxHeadSize: 256 * 1024, timeoutMs: 400 },
  });
  http = createHttpServer((_, response) => response.end('plain'));
  http.maxHeadersCount = 8;
  http.on('upgrade', (request, socket, head) => {
    handleUpgrade(request, socket, head, echo, { protocols: ['chat'] });
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  httpPort = (http.address() as AddressInfo).port;
});

test.after(async () => {
  http.close();
  await server.close();
});

/** Sends `head` and returns the server's whole answer once it closed the connection. */
async function exchange(port: number, head: string | Buffer): Promise<string> {
  const client = await WireClient.connect(port);
  client.write(head);
  await client.untilClosed();
  return client.received.toString('latin1');
}

/** A normal client upgrades, echoes one message and closes cleanly. */
async function assertStillServing(port: number): Promise<void> {
  const client = await RawClient.open(port);
  assert.ok(client.responseHead.startsWith('HTTP/1.1 101 '), client.responseHead);
  client.sendFrame(Opcode.Text, 'still here');
  const reply = await client.nextFrame();
  assert.is(reply.payload.toString(), 'still here');
  client.sendFrame(Opcode.Close, Buffer.from([0x03, 0xe8]));
  assert.is((await client.closeFrame()).code, 1000);
  await client.closed();
}

test('an oversized request line is 431 and the socket is closed', async () => {
  const response = await exchange(server.port, `GET /${'a'.repeat(300 * 1024)} HTTP/1.1\r\n\r\n`);
  assert.ok(response.startsWith('HTTP/1.1 431 '), response.slice(0, 40));
});

test('oversized headers (default 16 KiB limit) are 431 on the raw path', async () => {
  const small = await startServer(echo);
  const response = await exchange(small.port, GOOD_LINES + `X-Big: ${'b'.repeat(17 * 1024)}\r\n\r\n`);
  assert.ok(response.startsWith('HTTP/1.1 431 '), response.slice(0, 40));
  await assertStillServing(small.port);
  await small.close();
});

test('too many header lines (default 100) are 431', async () => {
  const many = Array.from({ length: 101 }, (_, i) => `X-H${i}: v\r\n`).join('');
  const response = await exchange(server.port, GOOD_LINES + many + '\r\n');
  assert.ok(response.startsWith('HTTP/1.1 431 '), response.slice(0, 40));
});

test('a head trickling in one byte at a time gets 408 and is closed at the head timeout (400 ms here)', async () => {
  const client = await WireClient.connect(server.port);
  const head = handshakeRequest();
  let sent = 0;
  // One byte per 50 ms: the whole head would take about 6 s.
  while (!client.closed && sent < head.length) {
    client.write(head[sent++]!);
    await sleep(50);
  }
  assert.ok(client.closed, 'the server waited for the whole trickled head');
  assert.ok(sent < head.length / 2, `sent ${sent} of ${head.length} bytes before the drop`);
  assert.ok(client.received.toString('latin1').startsWith('HTTP/1.1 408 Request Timeout\r\n'), client.received.toString('latin1'));
});

test('invalid Sec-WebSocket-Protocol syntax is 400 on both paths', async () => {
  for (const port of [server.port, httpPort]) {
    const response = await exchange(port, GOOD_LINES + 'Sec-WebSocket-Protocol: chat, "quoted"\r\n\r\n');
    assert.ok(response.startsWith('HTTP/1.1 400 '), response.slice(0, 40));
  }
});

test('invalid Sec-WebSocket-Extensions syntax is 400 on both paths', async () => {
  for (const port of [server.port, httpPort]) {
    const response = await exchange(port, GOOD_LINES + 'Sec-WebSocket-Extensions: permessage-deflate; x="unterminated\r\n\r\n');
    assert.ok(response.startsWith('HTTP/1.1 400 '), response.slice(0, 40));
  }
});

// 64 KiB pathological values, the shapes of the ws and websocket-extensions
// ReDoS advisories. A quadratic parser needs seconds to minutes on these; one
// linear scan needs well under a millisecond, so the bound is generous.
const PATHOLOGICAL: [string, string][] = [
  ['protocol: spaces then a bad character', `Sec-WebSocket-Protocol: a${' '.repeat(64 * 1024)}"`],
  ['protocol: 21 Ki empty list elements', `Sec-WebSocket-Protocol: ${',  '.repeat(21 * 1024)}"`],
  ['protocol: one 64 KiB token then a bad character', `Sec-WebSocket-Protocol: ${'a'.repeat(64 * 1024)}@`],
  ['extensions: unterminated quoted string of backslashes', `Sec-WebSocket-Extensions: x; a="${'\\a'.repeat(32 * 1024)}`],
  ['extensions: 64 KiB of parameters then a bad one', `Sec-WebSocket-Extensions: x${'; a=b'.repeat(13 * 1024)}; =`],
  ['extensions: spaces around separators', `Sec-WebSocket-Extensions: x${' ;'.repeat(32 * 1024)}`],
];

for (const [name, line] of PATHOLOGICAL) {
  test(`64 KiB pathological value answered in linear time: ${name}`, async () => {
    const started = performance.now();
    const response = await exchange(server.port, GOOD_LINES + line + '\r\n\r\n');
    const elapsed = performance.now() - started;
    assert.ok(response.startsWith('HTTP/1.1 400 '), response.slice(0, 40));
    assert.ok(elapsed < 1500, `${elapsed.toFixed(0)} ms for a 64 KiB value`);
  });
}

test('__proto__, constructor and hasOwnProperty header names upgrade normally and pollute nothing', async () => {
  for (const port of [server.port, httpPort]) {
    const request = GOOD_LINES + '__proto__: {"polluted":1}\r\nconstructor: x\r\nhasOwnProperty: y\r\nprototype: z\r\n\r\n';
    const client = await RawClient.open(port, request);
    assert.ok(client.responseHead.startsWith('HTTP/1.1 101 '), client.responseHead);
    client.sendFrame(Opcode.Text, 'proto');
    assert.is((await client.nextFrame()).payload.toString(), 'proto');
    client.destroy();
    assert.is((Object.prototype as Record<string, unknown>)['polluted'], undefined);
  }
});

test('__proto__ in place of a required header is a 400, not a crash', async () => {
  for (const port of [server.port, httpPort]) {
    const response = await exchange(port, GOOD_LINES.replace('Sec-WebSocket-Key', '__proto__') + '\r\n');
    assert.ok(response.startsWith('HTTP/1.1 400 '), response.slice(0, 40));
  }
});

test('each required header missing in turn: an HTTP error, never a crash', async () => {
  // (A missing Host is accepted by the validator, as ws and node:http's upgrade path do; not a crash either.)
  // (Without Upgrade or Connection, node:http treats the request as plain HTTP: it never reaches handleUpgrade.)
  const paths: [number, string[]][] = [
    [server.port, ['Upgrade', 'Connection', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version']],
    [httpPort, ['Sec-WebSocket-Key', 'Sec-WebSocket-Version']],
  ];
  for (const [port, required] of paths) {
    for (const name of required) {
      const head = GOOD_LINES.replace(new RegExp(`${name}: [^\\r]*\\r\\n`), '') + '\r\n';
      const response = await exchange(port, head);
      assert.match(response, /^HTTP\/1\.1 (400|426) /, `${name} missing on port ${port}: ${response.slice(0, 40)}`);
    }
  }
});

test('headers dropped by node:http maxHeadersCount (the ws CVE-2024-37890 shape) are a 400, not a crash', async () => {
  // maxHeadersCount is 8: the key and version after 8 filler lines never reach the handler.
  const filler = Array.from({ length: 8 }, (_, i) => `X-Filler-${i}: v\r\n`).join('');
  const head =
    'GET / HTTP/1.1\r\n' + filler + 'Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
    'Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n';
  const response = await exchange(httpPort, head);
  assert.match(response, /^HTTP\/1\.1 (400|426) /, response.slice(0, 40));
});

test('a refused client that never ends its side is still disconnected (no half-open socket left)', async () => {
  for (const [port, net] of [[server.port, server.server], [httpPort, http]] as const) {
    await waitFor(async () => (await connectionCount(net)) === 0, 3000, 'earlier sockets to close');
    const client = await WireClient.connect(port, true);
    client.write(GOOD_LINES.replace('Version: 13', 'Version: 8') + '\r\n');
    await waitFor(() => client.ended, 3000, 'the response and FIN');
    assert.ok(client.received.toString('latin1').startsWith('HTTP/1.1 426 '));
    // Our side stays open; the server must still let go of its socket.
    await waitFor(async () => (await connectionCount(net)) === 0, 3000, 'the server to drop the refused socket');
    client.socket.destroy();
  }
});

test('both servers keep serving after every refusal above', async () => {
  await assertStillServing(server.port);
  await assertStillServing(httpPort);
});

test.run();
