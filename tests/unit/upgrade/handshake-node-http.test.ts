/**
 * The handshake functions against real peers over loopback: node:http's
 * `upgrade` event hands over an `IncomingMessage` (with node's joining of
 * repeated headers), the `ws` client checks the 101 response, and raw
 * sockets check each refusal's status and that the server keeps serving.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { HandshakeError } from '../../../src/upgrade/errors.ts';
import { responseHeaders, validateUpgradeRequest } from '../../../src/upgrade/handshake.ts';
import type { ValidatedRequest } from '../../../src/upgrade/handshake.ts';
import { formatErrorResponse, formatResponseHead } from '../../../src/upgrade/http-response.ts';

let server: Server;
let port = 0;
let lastValidated: ValidatedRequest | undefined;

/** Answers every upgrade with a 101 (then closes) or the refusal. */
function onUpgrade(request: IncomingMessage, socket: Socket): void {
  try {
    lastValidated = validateUpgradeRequest(request, {
      protocols: ['v2.chat', 'v1.chat'],
      checkOrigin: (origin) => origin !== 'https://evil.example',
    });
    socket.end(formatResponseHead(101, responseHeaders(lastValidated, lastValidated.protocol)));
  } catch (error) {
    if (!(error instanceof HandshakeError)) throw error;
    socket.end(formatErrorResponse(error));
  }
}

/** Sends `head` over a raw socket and returns everything the server wrote before closing. */
async function exchange(head: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.setEncoding('latin1');
  let received = '';
  socket.on('data', (data: string) => {
    received += data;
  });
  socket.write(head);
  await once(socket, 'close');
  return received;
}

const GOOD =
  'GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

test.before(async () => {
  server = createServer((_, response) => response.end('plain http'));
  server.on('upgrade', onUpgrade);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

test.after(async () => {
  server.close();
  await once(server, 'close');
});

test('the ws client accepts our 101 and the negotiated protocol (server preference)', async () => {
  const client = new WebSocket(`ws://127.0.0.1:${port}/chat`, ['v1.chat', 'v2.chat']);
  await once(client, 'open');
  assert.is(client.protocol, 'v2.chat');
  client.terminate();
  await once(client, 'close');
});

test('the raw 101 carries the RFC 6455 accept value', async () => {
  const response = await exchange(GOOD + '\r\n');
  assert.ok(response.startsWith('HTTP/1.1 101 Switching Protocols\r\n'));
  assert.ok(response.includes('\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n'));
  assert.not.ok(response.includes('Sec-WebSocket-Protocol'));
});

test("node's joining of repeated Sec-WebSocket-Protocol and Extensions lines is understood", async () => {
  await exchange(
    GOOD +
      'Sec-WebSocket-Protocol: x\r\nSec-WebSocket-Protocol: v1.chat\r\n' +
      'Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Extensions: x-y; a=1\r\n\r\n',
  );
  assert.equal(lastValidated?.protocols, ['x', 'v1.chat']);
  assert.is(lastValidated?.protocol, 'v1.chat');
  assert.equal(lastValidated?.extensions, [
    { name: 'permessage-deflate', params: [] },
    { name: 'x-y', params: [['a', '1']] },
  ]);
});

// (Without `Connection: upgrade` node:http emits 'request', not 'upgrade': that case is a unit test.)
const refusals: Array<[string, string, number]> = [
  ['wrong method', GOOD.replace('GET', 'POST') + '\r\n', 400],
  ['HTTP/1.0', GOOD.replace('HTTP/1.1', 'HTTP/1.0') + '\r\n', 400],
  ['missing key', GOOD.replace(/Sec-WebSocket-Key: [^\r]*\r\n/, '') + '\r\n', 400],
  ['bad key', GOOD.replace('dGhlIHNhbXBsZSBub25jZQ==', 'short') + '\r\n', 400],
  ['two keys (joined by node)', GOOD + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n', 400],
  ['wrong version', GOOD.replace('Version: 13', 'Version: 8') + '\r\n', 426],
  ['invalid Sec-WebSocket-Protocol', GOOD + 'Sec-WebSocket-Protocol: a b\r\n\r\n', 400],
  ['invalid Sec-WebSocket-Extensions', GOOD + 'Sec-WebSocket-Extensions: x; a="\\\r\n\r\n', 400],
  ['refused origin', GOOD + 'Origin: https://evil.example\r\n\r\n', 403],
  ['a __proto__ header instead of the key', GOOD.replace('Sec-WebSocket-Key', '__proto__') + '\r\n', 400],
  ['a constructor header instead of the version', GOOD.replace('Sec-WebSocket-Version', 'constructor') + '\r\n', 426],
];

for (const [name, head, status] of refusals) {
  test(`refused over loopback: ${name} -> ${status}, socket closed`, async () => {
    const response = await exchange(head);
    assert.ok(response.startsWith(`HTTP/1.1 ${status} `), response.split('\r\n')[0]);
    if (status === 426) {
      // RFC 9110 sections 15.5.22 and 7.8: a 426 names the protocol in Upgrade, and Upgrade in Connection.
      assert.ok(response.includes('\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nConnection: Upgrade, close\r\n'), response);
    } else {
      assert.ok(response.includes('\r\nConnection: close\r\n'));
    }
  });
}

test("a pathological Sec-WebSocket-Protocol near node's 16 KiB head limit is refused quickly", async () => {
  const started = performance.now();
  const response = await exchange(GOOD + `Sec-WebSocket-Protocol: b${' '.repeat(15_000)}x\r\n\r\n`);
  assert.ok(response.startsWith('HTTP/1.1 400 '));
  assert.ok(performance.now() - started < 1000);
});

test('the server keeps serving after all those refusals', async () => {
  const client = new WebSocket(`ws://127.0.0.1:${port}/`);
  await once(client, 'open');
  client.terminate();
  await once(client, 'close');
});

test.run();
