/**
 * A user's `checkOrigin` or `protocols` selector that throws (say,
 * `new URL(origin)` on a malformed Origin) or breaks its contract (picks a
 * protocol the client did not offer) is the server's bug, but one request
 * must not take the process down: the client gets a 500, the error goes to
 * `onError` (stderr by default), and the server goes on serving.
 */
import { once } from 'node:events';
import type { AddressInfo, Server } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { DefaultWebSocketSession } from '../../../src/session/default-session.ts';
import { createWebSocketServer, type CreateWebSocketServerOptions } from '../../../src/upgrade/serve.ts';
import { rawExchange, WsPeer } from '../../support/interop.ts';
import { handshakeRequest } from '../../support/raw-client.ts';

async function echo(session: DefaultWebSocketSession): Promise<void> {
  for await (const message of session) await session.send(message);
}

const callbacks: CreateWebSocketServerOptions = {
  checkOrigin: (origin) => origin === undefined || new URL(origin).hostname === '127.0.0.1',
  protocols: (offered) => (offered.includes('break') ? 'never-offered' : offered[0]),
};

async function listen(options: CreateWebSocketServerOptions): Promise<{ server: Server; port: number }> {
  const server = createWebSocketServer(echo, options);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

/** A throwing origin check, then a selector's unoffered pick: each a 500 and closed; then a normal client echoes. */
async function misbehaveThenServe(port: number): Promise<void> {
  for (const extra of [{ Origin: 'not a url' }, { 'Sec-WebSocket-Protocol': 'chat, break' }]) {
    const { response } = await rawExchange(port, handshakeRequest('/', extra));
    assert.match(response, /^HTTP\/1\.1 500 /, `${JSON.stringify(extra)}: ${response.slice(0, 40)}`);
    assert.match(response, /\r\nConnection: close\r\n/);
  }
  const peer = await WsPeer.open(`ws://127.0.0.1:${port}/`, 'chat', { origin: 'http://127.0.0.1' });
  assert.is(peer.socket.protocol, 'chat');
  await peer.send('still here');
  assert.is((await peer.next()).data.toString(), 'still here');
  peer.socket.close(1000);
  await peer.closed;
}

test('createWebSocketServer: callbacks that throw or pick an unoffered protocol get 500, go to onError, and the server serves on', async () => {
  const reported: unknown[] = [];
  const { server, port } = await listen({ ...callbacks, onError: (error) => reported.push(error) });
  try {
    await misbehaveThenServe(port);
    assert.is(reported.length, 2, 'one report per failing request');
    assert.instance(reported[0], TypeError, 'the origin check threw new URL’s TypeError');
    assert.match(String(reported[1]), /never-offered/);
  } finally {
    server.close();
  }
});

test('createWebSocketServer without onError: the errors are printed, not an unhandled rejection (which would end the process)', async () => {
  const printed: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void printed.push(args);
  const { server, port } = await listen(callbacks);
  try {
    await misbehaveThenServe(port);
  } finally {
    console.error = original;
    server.close();
  }
  assert.is(printed.length, 2);
  assert.is(printed[0]![0], 'createWebSocketServer:');
  assert.instance(printed[0]![1], TypeError);
});

test.run();
