/**
 * Topics in one process, over loopback: `session.subscribe(topic)` and
 * `server.publish(topic, data)`, with our client, `ws` and raw sockets as
 * subscribers. Order (publish order, in order with the session's own sends,
 * subscribe/unsubscribe in order with publishes), sessions leaving their
 * topics when they end, slow subscribers (drop or close 1013, never delaying
 * the others, bounded memory), and framing once: one frame shared by plain
 * subscribers, one compressed frame per encoding key for permessage-deflate
 * without context takeover, per-connection compression with context
 * takeover.
 */
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import type { ExtensionNegotiator } from '../../src/extensions/extension.ts';
import { permessageDeflate } from '../../src/extensions/permessage-deflate.ts';
import type { WebSocketServerOptions } from '../../src/server/options.ts';
import { WebSocketServer } from '../../src/server/websocket-server.ts';
import type { DefaultWebSocketSession } from '../../src/session/default-session.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { sleep, waitFor } from '../support/resources.ts';
import { handshakeRequest } from '../support/raw-client.ts';
import { deflateWithEncode } from '../support/deflate-with-encode.ts';

type Session = DefaultWebSocketSession<undefined>;

/** A server whose `/topic/<name>` route subscribes the session to <name> and publishes what it sends ('!x' sends x to itself only). */
async function startTopicServer(options: WebSocketServerOptions<undefined> = {}): Promise<{ server: WebSocketServer; url: string }> {
  const server = new WebSocketServer<undefined>(options);
  server.route('*', async (session: Session) => {
    const topic = decodeURIComponent(new URL(session.request?.url ?? '/', 'http://x').pathname.slice('/topic/'.length));
    session.subscribe(topic);
    for await (const message of session) {
      if (typeof message === 'string' && message.startsWith('!')) void session.send(message.slice(1));
      else await server.publish(topic, message);
    }
  });
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, url: `ws://127.0.0.1:${port}` };
}

test('every subscriber gets every message of its topic, in publish order; other topics get nothing', async () => {
  const { server, url } = await startTopicServer();
  const a = await connect(`${url}/topic/news`);
  const b = await connect(`${url}/topic/news`);
  const other = await connect(`${url}/topic/sport`);
  await waitFor(() => server.subscriberCount('news') === 2 && server.subscriberCount('sport') === 1);
  const results = [];
  for (let i = 0; i < 100; i++) results.push(await server.publish('news', `n${i}`));
  await server.publish('news', Buffer.from([1, 2, 3]));
  assert.equal(results[0], { delivered: 2, dropped: 0, closed: 0 });
  for (const session of [a, b]) {
    for (let i = 0; i < 100; i++) assert.is(await session.receive(), `n${i}`);
    assert.equal(await session.receive(), Buffer.from([1, 2, 3]), 'binary stays binary');
  }
  await other.send('!ping');
  assert.is(await other.receive(), 'ping', 'nothing of "news" reached the "sport" subscriber before this');
  assert.equal(server.topicStats.published, 101);
  await server.close();
});

test("a session's own sends and the publishes it receives keep the order they were made in", async () => {
  const server = new WebSocketServer();
  server.route('/', async (session: Session) => {
    session.subscribe('t');
    await session.receive();
    void session.send('own 1');
    await server.publish('t', 'published 1');
    void session.send('own 2');
    session.unsubscribe('t');
    await server.publish('t', 'not for you');
    session.subscribe('t');
    await server.publish('t', 'published 2');
    void session.send('own 3');
    await session.receive();
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await connect(`ws://127.0.0.1:${port}/`);
  await client.send('go');
  const got = [];
  for (let i = 0; i < 5; i++) got.push(await client.receive());
  assert.equal(got, ['own 1', 'published 1', 'own 2', 'published 2', 'own 3']);
  await client.send('done');
  await server.close();
});

test('except skips one subscriber (its sender, say)', async () => {
  const server = new WebSocketServer();
  const sessions: Session[] = [];
  server.route('/', async (session: Session) => {
    session.subscribe('room');
    sessions.push(session);
    for await (const message of session) await server.publish('room', message, { except: session });
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const a = await connect(`ws://127.0.0.1:${port}/`);
  const b = await connect(`ws://127.0.0.1:${port}/`);
  await waitFor(() => server.subscriberCount('room') === 2);
  await a.send('from a');
  assert.is(await b.receive(), 'from a');
  await b.send('from b');
  assert.is(await a.receive(), 'from b', 'a did not get its own message back first');
  await server.close();
});

test('sessions leave their topics when they end', async () => {
  const { server, url } = await startTopicServer();
  const clients = await Promise.all([1, 2, 3].map(() => connect(`${url}/topic/t`)));
  await waitFor(() => server.subscriberCount('t') === 3);
  await clients[0]!.close();
  clients[1]!.raw.terminate();
  await waitFor(() => server.subscriberCount('t') === 1);
  assert.equal(await server.publish('t', 'x'), { delivered: 1, dropped: 0, closed: 0 });
  assert.is(await clients[2]!.receive(), 'x');
  await server.close();
  assert.is(server.subscriberCount('t'), 0);
});

test('subscribe throws a TypeError on a session no server accepted (a client session)', async () => {
  const { server, url } = await startTopicServer();
  const client = await connect(`${url}/topic/t`);
  assert.throws(() => client.subscribe('t'), (error: unknown) => error instanceof TypeError);
  await server.close();
});

test('a topic is a string: subscribe and unsubscribe throw a TypeError for anything else, publish rejects with one and sends nothing', async () => {
  const server = new WebSocketServer();
  const thrown: unknown[] = [];
  server.route('*', (session: Session) => {
    for (const topic of [42, undefined, { toString: () => 't' }] as unknown as string[]) {
      for (const call of [() => session.subscribe(topic), () => session.unsubscribe(topic)]) {
        try {
          call();
        } catch (error) {
          thrown.push(error);
        }
      }
    }
    session.subscribe('42');
    return session.consumeEach(() => {});
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await connect(`ws://127.0.0.1:${port}/`);
  try {
    await waitFor(() => server.subscriberCount('42') === 1);
    assert.is(thrown.length, 6);
    for (const error of thrown) assert.instance(error, TypeError);
    const published = await server.publish(42 as unknown as string, 'x').then(() => undefined, (error: unknown) => error);
    assert.instance(published, TypeError);
    await server.publish('42', 'y');
    assert.is(await client.receive(), 'y', 'the number 42 reached nobody');
  } finally {
    await client.close();
    await server.close();
  }
});

/** A raw subscriber that completes the handshake and then reads nothing (its kernel buffers fill up). */
async function stalledSubscriber(port: number, path: string, headers: Record<string, string> = {}): Promise<() => void> {
  const socket = createConnection({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(handshakeRequest(path, headers));
  await once(socket, 'data'); // the 101
  socket.pause();
  return () => socket.destroy();
}

for (const whenFull of ['drop', 'close'] as const) {
  test(`a slow subscriber (${whenFull}): bounded, never delays the others, who get everything`, async () => {
    const cap = 256 * 1024;
    const { server, url } = await startTopicServer({ topics: { maxQueuedBytes: cap, whenFull }, session: { closeTimeoutMs: 200 } });
    const port = Number(new URL(url).port);
    const drop = await stalledSubscriber(port, '/topic/feed');
    const fast = await connect(`${url}/topic/feed`, { session: { maxMessageSize: 1024 * 1024 } });
    await waitFor(() => server.subscriberCount('feed') === 2);
    const chunk = Buffer.alloc(64 * 1024, 7);
    const total = 400; // 25.6 MB: far more than the stalled peer's kernel buffers take
    let dropped = 0;
    let closed = 0;
    let peakBuffered = 0;
    for (let i = 0; i < total; i++) {
      const result = await server.publish('feed', chunk);
      dropped += result.dropped;
      closed += result.closed;
      for (const session of server.sessions) peakBuffered = Math.max(peakBuffered, session.bufferedAmount);
      // The fast subscriber keeps up (one message at a time), whatever the stalled one does.
      assert.equal(((await fast.receive()) as Buffer).length, chunk.length);
    }
    // The stalled one holds at most the cap plus one message and its frame header (plus what its socket took).
    assert.ok(peakBuffered <= cap + chunk.length + 16, `peak ${peakBuffered} bytes queued for one subscriber`);
    if (whenFull === 'drop') {
      assert.ok(dropped > total / 2, `${dropped} messages dropped for the stalled subscriber`);
      assert.is(closed, 0);
    } else {
      assert.is(closed, 1, 'closed once, then gone');
      assert.is(dropped, 0);
      await waitFor(() => server.subscriberCount('feed') === 1, 5000, 'the slow subscriber to be dropped after its close timed out');
    }
    drop();
    await server.close();
  });
}

test('a slow subscriber with permessage-deflate (close): counted and closed once, not once per publish while its 1013 waits behind the compressions', async () => {
  const cap = 64 * 1024;
  const { server, url } = await startTopicServer({
    topics: { maxQueuedBytes: cap, whenFull: 'close' },
    session: { closeTimeoutMs: 200 },
    extensions: [permessageDeflate({ serverNoContextTakeover: true, threshold: 0 })],
  });
  const port = Number(new URL(url).port);
  const drop = await stalledSubscriber(port, '/topic/feed', { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
  await waitFor(() => server.subscriberCount('feed') === 1);
  const [session] = [...server.sessions];
  let closed = 0;
  let delivered = 0;
  for (let i = 0; i < 200; i++) {
    const noise = Buffer.allocUnsafe(32 * 1024);
    for (let j = 0; j < noise.length; j++) noise[j] = (j * 7919 + i * 104729) % 251; // compresses poorly
    const result = await server.publish('feed', noise);
    closed += result.closed;
    delivered += result.delivered;
  }
  await waitFor(() => server.subscriberCount('feed') === 0, 5000, 'the slow subscriber to be dropped');
  drop();
  await server.close();
  assert.ok(session !== undefined && session.extensions.length === 1, 'permessage-deflate was negotiated');
  assert.is(closed, 1, 'closed once, then gone');
  assert.ok(delivered < 200 - 1, `${delivered} publishes counted as delivered`);
});

test('a shared compression that fails while every subscriber is still busy compressing its own sends is no unhandled rejection; the first to get there compresses it again, for both', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  // permessage-deflate without context takeover (one shared compression per publish) whose own sends
  // take 100 ms to compress, and whose first compression of 'published' fails after 20 ms, as when the
  // session doing it for everyone ends meanwhile (its codec is closed).
  let failed = false;
  let publishedEncodes = 0;
  const negotiator = deflateWithEncode({ serverNoContextTakeover: true, threshold: 0 }, async (encode, opcode, payload) => {
    const text = payload.toString();
    if (text === 'own') await sleep(100);
    if (text === 'published') publishedEncodes++;
    if (text === 'published' && !failed) {
      failed = true;
      await sleep(20);
      throw new Error('the codec was closed');
    }
    return encode(opcode, payload);
  });
  const server = new WebSocketServer({ extensions: [negotiator] });
  server.route('/', async (session: Session) => {
    session.subscribe('t');
    for await (const _ of session) {
      // Both sessions' send chains are busy with 'own' when the shared compression fails.
      for (const each of server.sessions) void each.send('own');
      void server.publish('t', 'published');
    }
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const a = await connect(`ws://127.0.0.1:${port}/`, { extensions: [permessageDeflate()] });
  const b = await connect(`ws://127.0.0.1:${port}/`, { extensions: [permessageDeflate()] });
  await waitFor(() => server.subscriberCount('t') === 2);
  await b.send('go');
  const got = [await a.receive(), await a.receive(), await b.receive(), await b.receive()];
  await sleep(50);
  process.off('unhandledRejection', onUnhandled);
  await a.close();
  await b.close();
  await server.close();
  assert.ok(failed, 'the shared compression failed');
  assert.equal(unhandled, []);
  assert.equal(got, ['own', 'published', 'own', 'published']);
  assert.is(publishedEncodes, 2, 'the failed shared compression, then one more for both');
});

test('the subscriber making the shared compressions ends while they wait: each message is compressed again once for all the others (not once per subscriber), none lost', async () => {
  // Compressions wait for the gate: the first subscriber, whose codec makes them, is gone by the time they run.
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  const counter = { encodes: 0 };
  const negotiator = deflateWithEncode({ serverNoContextTakeover: true, threshold: 0 }, async (encode, opcode, payload) => {
    await gate;
    counter.encodes++;
    return encode(opcode, payload);
  });
  const { server, url } = await startTopicServer({ extensions: [negotiator] });
  const { sockets, messages } = await wsSubscribers(`${url}/topic/z`, 4, { serverNoContextTakeover: true, threshold: 0 });
  try {
    await waitFor(() => server.subscriberCount('z') === 4);
    for (let i = 0; i < 5; i++) void server.publish('z', `message ${i}`);
    sockets[0]!.terminate();
    await waitFor(() => server.subscriberCount('z') === 3 && server.sessions.size === 3);
    openGate();
    await waitFor(() => messages.slice(1).every((m) => m.length === 5));
    for (const got of messages.slice(1)) assert.equal(got, ['message 0', 'message 1', 'message 2', 'message 3', 'message 4']);
    // Five that failed (the first subscriber's codec was closed), then five for the three others.
    assert.is(counter.encodes, 10);
  } finally {
    for (const socket of sockets) socket.close();
    await server.close();
  }
});

/** permessage-deflate that counts how often its sessions compress a message. */
function countingDeflate(settings: Parameters<typeof permessageDeflate>[0], counter: { encodes: number }): ExtensionNegotiator {
  return deflateWithEncode(settings, (encode, opcode, payload) => {
    counter.encodes++;
    return encode(opcode, payload);
  });
}

/** ws clients subscribed to `topic`, with permessage-deflate `perMessageDeflate` options. */
async function wsSubscribers(url: string, count: number, perMessageDeflate: WebSocket.PerMessageDeflateOptions | false): Promise<{ sockets: WebSocket[]; messages: (string | Buffer)[][] }> {
  const sockets: WebSocket[] = [];
  const messages: (string | Buffer)[][] = [];
  for (let i = 0; i < count; i++) {
    const socket = new WebSocket(url, { perMessageDeflate });
    const got: (string | Buffer)[] = [];
    socket.on('message', (data, isBinary) => got.push(isBinary ? (data as Buffer) : data.toString()));
    await once(socket, 'open');
    sockets.push(socket);
    messages.push(got);
  }
  return { sockets, messages };
}

test('permessage-deflate without context takeover: one compression per publish shared by every subscriber', async () => {
  const counter = { encodes: 0 };
  const { server, url } = await startTopicServer({ extensions: [countingDeflate({ serverNoContextTakeover: true, threshold: 0 }, counter)] });
  const { sockets, messages } = await wsSubscribers(`${url}/topic/z`, 5, { serverNoContextTakeover: true, threshold: 0 });
  await waitFor(() => server.subscriberCount('z') === 5);
  const text = 'compress me '.repeat(200);
  for (let i = 0; i < 10; i++) await server.publish('z', `${i}:${text}`);
  await waitFor(() => messages.every((m) => m.length === 10));
  for (const got of messages) assert.equal(got, Array.from({ length: 10 }, (_, i) => `${i}:${text}`));
  assert.is(counter.encodes, 10, 'one compression per publish, not per subscriber');
  for (const socket of sockets) socket.close();
  await server.close();
});

test('permessage-deflate with context takeover: compressed per connection, each stream intact', async () => {
  const counter = { encodes: 0 };
  const { server, url } = await startTopicServer({ extensions: [countingDeflate({ threshold: 0 }, counter)] });
  const { sockets, messages } = await wsSubscribers(`${url}/topic/z`, 3, { threshold: 0 });
  const plain = await wsSubscribers(`${url}/topic/z`, 1, false);
  await waitFor(() => server.subscriberCount('z') === 4);
  const text = 'context '.repeat(300);
  for (let i = 0; i < 10; i++) await server.publish('z', `${i}:${text}`);
  await waitFor(() => [...messages, ...plain.messages].every((m) => m.length === 10));
  for (const got of [...messages, ...plain.messages]) assert.equal(got, Array.from({ length: 10 }, (_, i) => `${i}:${text}`));
  assert.is(counter.encodes, 30, 'compressed once per message per deflate subscriber');
  for (const socket of [...sockets, ...plain.sockets]) socket.close();
  await server.close();
});

test.run();
