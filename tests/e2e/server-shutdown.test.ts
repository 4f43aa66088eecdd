/**
 * Graceful shutdown of the server object over loopback: `close()` sends
 * every session a close frame (1001 by default), waits for the sessions up
 * to its timeout, drops the connections that are still open (a peer that
 * never answers the close, a handler that never returns), answers requests
 * in progress 503, and leaves nothing behind.
 */
import { once } from 'node:events';
import { connect as netConnect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { Job } from '../../src/channels/job.ts';
import { ServerClosedError } from '../../src/server/errors.ts';
import { WebSocketServer } from '../../src/server/websocket-server.ts';
import { ConnectionRefusedError } from '../../src/upgrade/client-errors.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { activeResources, resourceDiff, waitFor } from '../support/resources.ts';
import { rawExchange } from '../support/interop.ts';
import { handshakeRequest, RawClient } from '../support/raw-client.ts';

test('close(): every client gets 1001, every handler ends, the port is released, and nothing is left behind', async () => {
  const before = activeResources();
  const handlersDone: string[] = [];
  const server = new WebSocketServer().route('/room', async (session) => {
    for await (const message of session) await session.send(message);
    handlersDone.push(session.request?.headers['x-kind'] as string);
  });
  const { port } = await server.listen(0, '127.0.0.1');

  const ours = await connect(`ws://127.0.0.1:${port}/room`, { headers: { 'X-Kind': 'connect' } });
  const theirs = new WebSocket(`ws://127.0.0.1:${port}/room`, { headers: { 'X-Kind': 'ws' } });
  await once(theirs, 'open');
  const theirClose = once(theirs, 'close');
  const raw = await RawClient.open(port, handshakeRequest('/room', { 'X-Kind': 'raw' }));
  await waitFor(() => server.sessions.size === 3, 5000, '3 sessions');

  const closing = server.close();
  assert.ok(server.closing);
  // The raw client answers the close like a polite peer.
  const rawClose = await raw.closeFrame();
  assert.equal(rawClose, { code: 1001, reason: '' });
  raw.sendFrame(0x8, Buffer.from([0x03, 0xe9]));

  assert.equal(await closing, { sessions: 3, dropped: 0 });
  assert.equal(await ours.closeReason, { code: 1001, reason: '' });
  const [theirCode] = await theirClose;
  assert.is(theirCode, 1001);
  await raw.closed();
  assert.equal(handlersDone.sort(), ['connect', 'raw', 'ws']);
  assert.is(server.sessions.size, 0);

  try {
    await connect(`ws://127.0.0.1:${port}/room`);
    assert.unreachable('connected after close');
  } catch (error) {
    assert.instance(error, ConnectionRefusedError);
  }
  await waitFor(() => resourceDiff(before, activeResources()).length === 0, 5000, `no leftover resources: ${resourceDiff(before, activeResources()).join(', ')}`);
});

test('close({ code, reason }): the clients get that code and reason', async () => {
  const server = new WebSocketServer().route('/r', async (session) => {
    for await (const _ of session);
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await connect(`ws://127.0.0.1:${port}/r`);
  await waitFor(() => server.sessions.size === 1, 5000, 'the session');
  const closing = server.close({ code: 4000, reason: 'maintenance' });
  assert.equal(await client.closeReason, { code: 4000, reason: 'maintenance' });
  assert.equal(await closing, { sessions: 1, dropped: 0 });
});

test('the timeout path: a peer that never answers the close and a handler that never returns are dropped', async () => {
  let stuckSignal: AbortSignal | undefined;
  const server = new WebSocketServer()
    .route('/mute', async (session) => {
      for await (const _ of session);
    })
    .route('/stuck', async (session) => {
      stuckSignal = session.raw.job.signal;
      await new Promise(() => {}); // never returns, never reads
    });
  const { port } = await server.listen(0, '127.0.0.1');
  const mute = await RawClient.open(port, handshakeRequest('/mute'));
  const stuck = await connect(`ws://127.0.0.1:${port}/stuck`);
  await waitFor(() => server.sessions.size === 2, 5000, '2 sessions');

  const summary = await server.close({ timeoutMs: 200 });
  assert.equal(summary, { sessions: 2, dropped: 2 });
  // The mute peer got the close frame, never answered, and its connection is gone.
  assert.equal(await mute.closeFrame(), { code: 1001, reason: '' });
  await mute.closed();
  // The stuck handler's peer answered the close, but the session could not end: dropped, job cancelled.
  assert.is((await stuck.closeReason).code, 1001);
  assert.ok(stuckSignal?.aborted);
  assert.match(String(stuckSignal?.reason), /dropped by the server's close\(\) after 200 ms/);
  // The peer that never answered is not counted as live any more; the stuck handler's session stays until it returns.
  assert.equal([...server.sessions].map((s) => s.request?.url), ['/stuck']);
});

test('a handshake in its verify hook when close() is called gets 503 at once; its signal says why; no timer is left', async () => {
  const before = activeResources();
  let signal: AbortSignal | undefined;
  const server = new WebSocketServer({
    verify: (_, info) => {
      signal = info.signal;
      return new Promise(() => {}); // would never answer
    },
  }).route('/v', () => {});
  const { port } = await server.listen(0, '127.0.0.1');
  const exchange = rawExchange(port, handshakeRequest('/v'));
  await waitFor(() => signal !== undefined, 5000, 'verify to start');
  const summary = await server.close();
  assert.equal(summary, { sessions: 0, dropped: 0 });
  const { response } = await exchange;
  assert.ok(response.startsWith('HTTP/1.1 503 Service Unavailable\r\n'), response);
  assert.ok(response.endsWith('\r\n\r\nthe server is shutting down\n'), response);
  assert.instance(signal?.reason, ServerClosedError);
  // The verify deadline (10 s by default) went with the answer.
  const timers = (counts: Map<string, number>) => counts.get('Timeout') ?? 0;
  await waitFor(() => timers(activeResources()) <= timers(before), 5000, 'no timer left');
});

test('handleSocket: a connection still sending its request head when close() is called gets 503', async () => {
  const server = new WebSocketServer().route('/r', () => {});
  let accepted = 0;
  const tcp = createNetServer((socket) => {
    accepted++;
    void server.handleSocket(socket);
  });
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  const { port } = tcp.address() as AddressInfo;
  try {
    const socket = netConnect(port, '127.0.0.1');
    socket.setEncoding('latin1');
    let received = '';
    socket.on('data', (data: string) => (received += data));
    await once(socket, 'connect');
    socket.write('GET /r HTTP/1.1\r\nHost: x\r\n'); // not finished
    await waitFor(() => accepted === 1, 5000, 'the connection');
    const closing = server.close();
    await once(socket, 'close');
    assert.ok(received.startsWith('HTTP/1.1 503 Service Unavailable\r\n'), received);
    await closing;
    // After close, a new raw connection is refused at once.
    const late = await rawExchange(port, handshakeRequest('/r'));
    assert.ok(late.response.startsWith('HTTP/1.1 503 '), late.response);
  } finally {
    tcp.close();
  }
});

test('close() while listen() is still binding: listen rejects with ServerClosedError, close resolves', async () => {
  const server = new WebSocketServer().route('/r', () => {});
  const listening = server.listen(0, '127.0.0.1');
  const closing = server.close();
  try {
    await listening;
    assert.unreachable('listened');
  } catch (error) {
    assert.instance(error, ServerClosedError);
  }
  assert.equal(await closing, { sessions: 0, dropped: 0 });
});

test('cancelling the parent job (engineContext.job) closes the server: sessions get 1001', async () => {
  const parent = new Job();
  const server = new WebSocketServer({ engineContext: { job: parent, dispatcher: { dispatch: (task) => task() } } }).route('/r', async (session) => {
    for await (const _ of session);
  });
  assert.is(server.job.parent, parent);
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await connect(`ws://127.0.0.1:${port}/r`);
  await waitFor(() => server.sessions.size === 1, 5000, 'the session');
  parent.cancel();
  assert.ok(server.closing);
  assert.is((await client.closeReason).code, 1001);
  await server.close();
  await parent.join();
  assert.is(parent.state, 'cancelled');
});

test('a session that fails while others close normally: close() still resolves and counts it', async () => {
  const server = new WebSocketServer({ onError: () => {} })
    .route('/ok', async (session) => {
      for await (const _ of session);
    })
    .route('/fail-on-close', async (session) => {
      for await (const _ of session);
      throw new Error('cleanup bug');
    });
  const { port } = await server.listen(0, '127.0.0.1');
  const ok = await connect(`ws://127.0.0.1:${port}/ok`);
  const failing = await connect(`ws://127.0.0.1:${port}/fail-on-close`);
  await waitFor(() => server.sessions.size === 2, 5000, '2 sessions');
  assert.equal(await server.close(), { sessions: 2, dropped: 0 });
  assert.is((await ok.closeReason).code, 1001);
  assert.is((await failing.closeReason).code, 1001);
});

test.run();
