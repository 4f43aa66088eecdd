/**
 * Closing and misuse at the edges, over loopback: a close with an invalid
 * code or reason, a close after the connection was lost, a raw close frame
 * the peer never answers, a protocol error the handler never takes (two
 * close timers in a row), invalid frames handed to `send`, a close right
 * after an un-awaited send through permessage-deflate, pings after the
 * connection was lost, invalid limits, and an upgrade for a socket that is
 * already gone.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import WsClient from 'ws';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createConnection, createServer as createNetServer, Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteChannel } from '../../src/channels/byte-channel.ts';
import { Dispatchers } from '../../src/channels/context.ts';
import { Job } from '../../src/channels/job.ts';
import { ProtocolError } from '../../src/frames/errors.ts';
import { frame, Opcode } from '../../src/frames/frame.ts';
import type { DefaultWebSocketSession } from '../../src/session/default-session.ts';
import { ConnectionClosedError, SessionClosedError } from '../../src/session/errors.ts';
import { Pinger } from '../../src/session/pinger.ts';
import { RawWebSocketSession } from '../../src/session/raw-session.ts';
import { computeAcceptKey } from '../../src/upgrade/accept-key.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { CodecClosedError } from '../../src/extensions/deflate-codec.ts';
import type { ExtensionNegotiator } from '../../src/extensions/extension.ts';
import { permessageDeflate } from '../../src/extensions/permessage-deflate.ts';
import { createWebSocketServer, handleUpgrade } from '../../src/upgrade/serve.ts';
import { captureUncaught } from '../support/async.ts';
import { connectionCount, sleep, waitFor } from '../support/resources.ts';
import { handshakeRequest, RawClient } from '../support/raw-client.ts';
import { startServer } from '../support/server.ts';
import { deflateWithEncode } from '../support/deflate-with-encode.ts';


test('close() with a reason over 123 bytes or a code that may not be sent throws, and the session can still close', async () => {
  const errors: unknown[] = [];
  const server = await startServer(async (session) => {
    for (const [code, reason] of [
      [1011, 'x'.repeat(124)],
      [1005, ''],
      [1006, ''],
      [999, ''],
    ] as const) {
      try {
        void session.close(code, reason);
      } catch (error) {
        errors.push(error);
      }
    }
    await session.send('still open');
    assert.equal(await session.close(4000, 'done'), { code: 4000, reason: '' });
  });
  const client = await RawClient.open(server.port);
  const message = await client.nextFrame();
  assert.is(message.payload.toString(), 'still open');
  assert.equal(await client.closeFrame(), { code: 4000, reason: 'done' });
  client.sendFrame(Opcode.Close, Buffer.from([0x0f, 0xa0]));
  await (await server.job()).join();
  assert.is(errors.length, 4);
  for (const error of errors) assert.instance(error, RangeError);
  await server.close();
});

test('close() after the connection was lost resolves 1006 instead of throwing', async () => {
  let closed: unknown;
  const server = await startServer(async (session) => {
    try {
      for await (const _ of session);
    } catch {
      // the reset
    }
    closed = await session.close(1000);
  });
  const client = await RawClient.open(server.port);
  client.destroy();
  await (await server.job()).join();
  assert.equal(closed, { code: 1006, reason: '' });
  await server.close();
});

test('a raw close frame sent with send() starts the close timer: a peer that never answers is dropped after closeTimeoutMs', async () => {
  let raw!: RawWebSocketSession;
  const started = Date.now();
  const server = await startServer(
    async (session) => {
      raw = session.raw;
      await raw.send(frame(Opcode.Close, Buffer.from([0x03, 0xe8])));
    },
    { session: { closeTimeoutMs: 200 } },
  );
  const client = await RawClient.open(server.port);
  assert.equal(await client.closeFrame(), { code: 1000, reason: '' });
  await (await server.job()).join();
  assert.equal(await raw.closeReason, { code: 1006, reason: '' });
  assert.ok(Date.now() - started < 3000, 'dropped by the close timer, not by anything slower');
  client.destroy();
  await server.close();
});

/**
 * A raw peer that keeps its side open after our FIN (`allowHalfOpen`): it completes the
 * handshake, then sends a frame with the reserved opcode 3 (1002). What it receives after the
 * 101, whether our FIN came and its socket error, if any, are read from the returned object.
 */
async function halfOpenPeerBreakingTheProtocol(port: number) {
  const socket = createConnection({ port, host: '127.0.0.1', allowHalfOpen: true });
  const peer = { socket, received: Buffer.alloc(0), ended: false, failure: undefined as Error | undefined, afterHead: () => Buffer.alloc(0) };
  socket.on('error', (error) => (peer.failure = error));
  socket.on('data', (chunk: Buffer) => (peer.received = Buffer.concat([peer.received, chunk])));
  socket.on('end', () => (peer.ended = true));
  await once(socket, 'connect');
  socket.write(handshakeRequest('/'));
  await waitFor(() => peer.received.includes('\r\n\r\n'), 3000, 'the 101');
  const headEnd = peer.received.indexOf('\r\n\r\n') + 4;
  peer.afterHead = () => peer.received.subarray(headEnd);
  socket.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4])); // opcode 3 is reserved: 1002
  return peer;
}

/** Writes 5 KiB in five writes 20 ms apart, as a peer that has not read our close frame yet does. */
async function goOnSending(socket: Socket): Promise<void> {
  for (let i = 0; i < 5; i++) {
    socket.write(Buffer.alloc(1024, i));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a protocol error the handler never takes: 1002 after closeTimeoutMs, then dropped closeTimeoutMs later if the peer never answers', async () => {
  let raw!: RawWebSocketSession;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const server = await startServer(
    async (session) => {
      raw = session.raw;
      await released; // reads nothing until the test is over
    },
    { session: { closeTimeoutMs: 150 } },
  );
  // A peer that keeps its side open after our FIN and never answers the close frame.
  const peer = await halfOpenPeerBreakingTheProtocol(server.port);
  // The first timer waits for the handler to take the error, then fails the connection; the second
  // bounds the close handshake (a fired timer used to block it, leaving the socket open for good).
  await waitFor(() => peer.ended, 3000, 'our close frame and FIN');
  assert.equal([...peer.afterHead()], [0x88, 0x02, 0x03, 0xea]);
  await waitFor(async () => (await connectionCount(server.server)) === 0, 3000, 'the server to drop the socket');
  assert.equal(await raw.closeReason, { code: 1006, reason: '' });
  peer.socket.destroy();
  release();
  await server.close();
});

test('after a protocol error the server reads on to the peer\'s FIN: a peer still sending gets our 1002 and a FIN, not a reset', async () => {
  let seen: unknown;
  const server = await startServer(async (session) => {
    try {
      for await (const message of session) await session.send(message);
    } catch (error) {
      seen = error;
    }
  });
  // A peer that goes on sending after its bad frame, as one that has not read our close yet does.
  const peer = await halfOpenPeerBreakingTheProtocol(server.port);
  await waitFor(() => peer.ended, 3000, 'our close frame and FIN');
  // Closing our socket now would make the kernel answer these with a reset.
  await goOnSending(peer.socket);
  assert.is(peer.failure, undefined, 'the peer got a reset while it was still sending');
  assert.is(await connectionCount(server.server), 1, 'the server still reads, waiting for the peer\'s FIN');
  peer.socket.end();
  await once(peer.socket, 'close');
  await waitFor(async () => (await connectionCount(server.server)) === 0, 3000, 'the server to close after the FIN');
  assert.is(peer.failure, undefined);
  assert.equal([...peer.afterHead()], [0x88, 0x02, 0x03, 0xea]);
  assert.instance(seen, ProtocolError);
  assert.is((await server.job()).state, 'completed');
  await server.close();
});

test('after a protocol error the client reads on to the server\'s FIN too: the 101, a message and a bad frame in one write, then more bytes', async () => {
  // A server that sends a message and a reserved opcode with its 101 (one TCP write), as the
  // Autobahn fuzzing server may, then goes on sending as one that has not read our close yet.
  let peer!: Socket;
  let failure: Error | undefined;
  let received = Buffer.alloc(0);
  const tcp = createNetServer({ allowHalfOpen: true }, (socket) => {
    peer = socket;
    socket.on('error', (error) => (failure = error));
    let head = '';
    socket.on('data', function onData(chunk: Buffer) {
      if (head.includes('\r\n\r\n')) {
        received = Buffer.concat([received, chunk]);
        return;
      }
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
      const answer = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(key)}\r\n\r\n`;
      socket.write(Buffer.concat([Buffer.from(answer, 'latin1'), Buffer.from([0x81, 0x02, 0x68, 0x69, 0x8f, 0x00])]));
    });
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  const session = await connect(`ws://127.0.0.1:${(tcp.address() as AddressInfo).port}/`);
  let seen: unknown;
  try {
    for await (const message of session) await session.send(message);
  } catch (error) {
    seen = error;
  }
  assert.instance(seen, ProtocolError);
  await waitFor(() => peer.readableEnded, 3000, 'the client\'s FIN');
  await goOnSending(peer);
  assert.is(failure, undefined, 'the server got a reset while it was still sending');
  peer.end();
  await session.raw.job.join();
  // The echo of "hi" (masked), then the close 1002 (masked).
  assert.is(received.length, 2 + 4 + 2 + 2 + 4 + 2);
  assert.equal([received[0], received[1]! & 0x7f, received[8], received[9]! & 0x7f], [0x81, 2, 0x88, 2]);
  const closeKey = received.subarray(10, 14);
  assert.is(((received[14]! ^ closeKey[0]!) << 8) | (received[15]! ^ closeKey[1]!), 1002);
  assert.is(failure, undefined);
  tcp.close();
});

/**
 * A raw TCP server (half-open allowed) that answers the handshake, echoes the
 * client's close frame as soon as its 2 + 4 + 2 bytes are in, and ends its
 * side `endAfterMs` after that (never when undefined); it notes when the
 * client's FIN came, counted from the echo.
 */
async function serverClosingAfter(endAfterMs: number | undefined): Promise<{ url: string; finAfterMs: Promise<number>; close(): void }> {
  let echoedAt = 0;
  let fin!: (ms: number) => void;
  const finAfterMs = new Promise<number>((resolve) => (fin = resolve));
  const tcp = createNetServer({ allowHalfOpen: true }, (socket) => {
    let head = '';
    let frames = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('end', () => fin(Date.now() - echoedAt));
    socket.on('data', (chunk: Buffer) => {
      if (!head.includes('\r\n\r\n')) {
        head += chunk.toString('latin1');
        const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1];
        if (key !== undefined && head.includes('\r\n\r\n')) {
          socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(key)}\r\n\r\n`);
        }
        return;
      }
      frames = Buffer.concat([frames, chunk]);
      if (echoedAt !== 0 || frames.length < 8 || frames[0] !== 0x88) return;
      const code = frames.subarray(6, 8).map((byte, i) => byte ^ frames[2 + i]!);
      socket.write(Buffer.concat([Buffer.of(0x88, 0x02), code]));
      echoedAt = Date.now();
      if (endAfterMs !== undefined) setTimeout(() => socket.end(), endAfterMs);
    });
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  return { url: `ws://127.0.0.1:${(tcp.address() as AddressInfo).port}/`, finAfterMs, close: () => tcp.close() };
}

test('the client leaves closing TCP to the server (RFC 6455 section 7.1.1): its FIN follows the server\'s, or comes closeTimeoutMs after the handshake from a server that never closes', async () => {
  const closing = await serverClosingAfter(150);
  const session = await connect(closing.url, { session: { closeTimeoutMs: 3000 } });
  assert.equal(await session.close(), { code: 1000, reason: '' });
  const finAfterMs = await closing.finAfterMs;
  assert.ok(finAfterMs >= 140 && finAfterMs < 1500, `the client's FIN came ${finAfterMs} ms after the close handshake (the server ended its side at 150 ms)`);
  await session.raw.job.join();
  assert.ok(session.raw.job.isCompleted);
  closing.close();

  const staying = await serverClosingAfter(undefined);
  const waiting = await connect(staying.url, { session: { closeTimeoutMs: 300 } });
  assert.equal(await waiting.close(), { code: 1000, reason: '' });
  const waitedMs = await staying.finAfterMs;
  assert.ok(waitedMs >= 280 && waitedMs < 2000, `the client's FIN came ${waitedMs} ms after the close handshake (closeTimeoutMs 300)`);
  await waiting.raw.job.join();
  assert.ok(waiting.raw.job.isCompleted);
  staying.close();
});

test('close() while more messages arrived than the queue holds (nobody reading): the handshake completes at once; the queued ones stay readable', async () => {
  const server = await startServer(async (session) => {
    for (let i = 0; i < 40; i++) await session.send(`m${i}`);
    for await (const _ of session);
  });
  // closeTimeoutMs of a minute: the close must not wait for it (the reader was stuck behind the full queue).
  const client = await connect(`ws://127.0.0.1:${server.port}/`, { session: { closeTimeoutMs: 60_000 } });
  await sleep(200); // all 40 sent; 16 queued (messageQueue), the reader waits for room with the 17th
  const started = Date.now();
  assert.equal(await client.close(1000, 'bye'), { code: 1000, reason: '' }); // our server echoes the code
  assert.ok(Date.now() - started < 5000, `close() took ${Date.now() - started} ms`);
  const read: unknown[] = [];
  for await (const message of client) read.push(message);
  assert.equal(read, Array.from({ length: 16 }, (_, i) => `m${i}`), 'the queued messages, in order');
  await server.close();
});

test('close() from a handler that goes on reading: every message the peer sent before its close still reaches it', async () => {
  let read = 0;
  const server = await startServer(async (session) => {
    for await (const _ of session) {
      if (read++ === 0) void session.close(1000, 'finishing');
      await sleep(1); // a handler slower than the peer: the queue fills up
    }
  });
  const peer = new WsClient(`ws://127.0.0.1:${server.port}/`);
  await once(peer, 'open');
  for (let i = 0; i < 100; i++) peer.send(`m${i}`);
  const [code] = (await once(peer, 'close')) as [number];
  assert.is(code, 1000);
  await (await server.job()).join();
  assert.is(read, 100, 'all 100 read');
  await server.close();
});

test('a protocol error after a message the handler answers after an await: the answer still goes out before the close', async () => {
  const server = await startServer(async (session) => {
    try {
      for await (const message of session) {
        await sleep(20);
        await session.send(`reply:${String(message)}`);
      }
    } catch {
      // the ProtocolError
    }
  });
  const client = await RawClient.open(server.port);
  client.sendFrame(Opcode.Text, 'hello');
  client.socket.write(Buffer.from([0x81, 0x81, 1, 2, 3, 4, 0xff ^ 1])); // masked, one byte that is not UTF-8
  const reply = await client.nextFrame();
  assert.is(reply.payload.toString(), 'reply:hello');
  assert.is((await client.closeFrame()).code, 1007);
  await server.close();
});

test('a protocol error while the application reads nothing (it only sends): the close 1007 goes out at once, later sends are refused', async () => {
  const received: Buffer[] = [];
  let serverSocket: Socket | undefined;
  const tcp = createNetServer((socket) => {
    serverSocket = socket;
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      if (head.includes('\r\n\r\n')) return void received.push(chunk);
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(key)}\r\n\r\n`);
    });
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  // closeTimeoutMs of a minute: the close must not wait for it (it did, for a handler that never read).
  const session = await connect(`ws://127.0.0.1:${(tcp.address() as AddressInfo).port}/`, { session: { closeTimeoutMs: 60_000 } });
  await waitFor(() => serverSocket !== undefined, 2000, 'the server socket');
  serverSocket!.write(Buffer.from([0x81, 0x01, 0xff])); // a text frame that is not UTF-8
  await waitFor(() => Buffer.concat(received).length >= 8, 3000, 'the close frame');
  const bytes = Buffer.concat(received);
  assert.is(bytes[0], 0x88, 'a close frame, and nothing before it');
  assert.is(((bytes[6]! ^ bytes[2]!) << 8) | (bytes[7]! ^ bytes[3]!), 1007);
  const error = await session.send('after the error').then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof SessionClosedError || error instanceof ConnectionClosedError, String(error));
  serverSocket!.end();
  await session.raw.job.join();
  assert.is(Buffer.concat(received).length, 8, 'nothing sent after the close');
  tcp.close();
});

test('a protocol error after our close went out: nothing can follow it, so the connection closes at once, not after closeTimeoutMs', async () => {
  // The handler returns: close 1000 goes out and the session waits (up to a minute here) for the peer's.
  const server = await startServer(async () => {}, { session: { closeTimeoutMs: 60_000 } });
  const client = await RawClient.open(server.port);
  assert.equal(await client.closeFrame(), { code: 1000, reason: '' });
  client.socket.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4])); // opcode 3 is reserved: the peer fails the protocol
  let closed = true;
  await client.closed(5000).catch(() => (closed = false));
  // The server sent its FIN and read on until ours (the client's socket ends when the server's does).
  const job = await server.job();
  await waitFor(() => job.isCompleted, 2000, 'the session to end after the FIN');
  client.destroy();
  await server.close();
  assert.ok(closed, 'the server closed the connection without waiting for closeTimeoutMs');
  assert.is(job.state, 'completed');
});

test('raw send() rejects invalid frames at the caller and the connection goes on', async () => {
  const rejected: unknown[] = [];
  const server = await startServer(async (session) => {
    const raw = session.raw;
    for (const f of [
      frame(Opcode.Ping, Buffer.alloc(126)),
      { ...frame(Opcode.Pong, Buffer.alloc(1)), fin: false },
      frame(3 as Opcode, Buffer.alloc(1)),
      frame(Opcode.Close, Buffer.from([0x03])),
      frame(Opcode.Close, Buffer.from([0x03, 0xed])), // 1005 may not be sent
    ]) {
      rejected.push(await raw.send(f).then(() => 'sent', (error: unknown) => error));
    }
    await session.send('after');
    for await (const _ of session);
  });
  const client = await RawClient.open(server.port);
  assert.is((await client.nextFrame()).payload.toString(), 'after');
  client.sendFrame(Opcode.Close, Buffer.from([0x03, 0xe8]));
  assert.equal(await client.closeFrame(), { code: 1000, reason: '' });
  await (await server.job()).join();
  assert.is(rejected.length, 5);
  for (const error of rejected) assert.ok(error instanceof TypeError || error instanceof RangeError, String(error));
  await server.close();
});

test('with permessage-deflate, a close right after an un-awaited send goes out after the message', async () => {
  const server = await startServer(
    (session) => {
      void session.send('bye');
      void session.close(1000, 'done');
    },
    { extensions: [(await import('../../src/extensions/permessage-deflate.ts')).permessageDeflate({ threshold: 0 })] },
  );
  const client = await connect(`ws://127.0.0.1:${server.port}/`, { extensions: [permessageDeflate()] });
  assert.ok(client.extensions.length === 1, 'permessage-deflate was negotiated');
  const received: unknown[] = [];
  for await (const message of client) received.push(message);
  assert.equal(received, ['bye']);
  assert.equal(await client.closeReason, { code: 1000, reason: 'done' });
  await server.close();
});

test('with permessage-deflate, terminate() abandons compressions at once, not when the handler is done', async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let serverSession: DefaultWebSocketSession | undefined;
  const server = await startServer(
    async (session) => {
      serverSession = session;
      await gate; // the handler is busy (it may be waiting on a compression itself)
    },
    { extensions: [countingDisposals(permessageDeflate({ threshold: 0 }))] },
  );
  const client = await connect(`ws://127.0.0.1:${server.port}/`, { extensions: [permessageDeflate()] });
  await waitFor(() => serverSession !== undefined, 2000, 'the server session');
  const session = serverSession!;
  assert.is(session.raw.extensions.length, 1);
  session.terminate();
  const error = await Promise.resolve(session.raw.extensions[0]!.encode(Opcode.Text, Buffer.alloc(100_000, 'a'))).then(
    () => undefined,
    (e: unknown) => e,
  );
  release();
  assert.instance(error, CodecClosedError, 'the codec was closed by terminate()');
  await session.raw.job.join();
  await client.raw.job.join();
  await server.close();
  assert.is(disposals, 1, 'dispose() once, as Extension.dispose promises (terminate, then the end of the tasks)');
});

let disposals = 0;
/** `negotiator`, its extensions counting their `dispose()` calls in `disposals`. */
function countingDisposals(negotiator: ExtensionNegotiator): ExtensionNegotiator {
  return {
    name: negotiator.name,
    offer: () => negotiator.offer(),
    accept: (response) => negotiator.accept(response),
    negotiate(offers) {
      const negotiated = negotiator.negotiate(offers);
      if (negotiated === undefined) return undefined;
      const { extension } = negotiated;
      const dispose = extension.dispose.bind(extension);
      extension.dispose = () => {
        disposals++;
        dispose();
      };
      return negotiated;
    },
  };
}

test('a ping nobody awaits is no unhandled rejection when the connection ends before its pong or has ended; an awaited one still rejects', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  let awaited: unknown;
  const server = await startServer(async (session) => {
    void session.ping(); // its pong never comes: the peer goes away
    const pending = session.ping('awaited');
    try {
      for await (const _ of session);
    } catch {
      // the reset
    }
    void session.ping(); // after the end
    awaited = await pending.catch((error: unknown) => error);
  });
  const client = await RawClient.open(server.port);
  assert.is((await client.nextFrame()).opcode, Opcode.Ping);
  client.destroy();
  await (await server.job()).join();
  await sleep(50);
  process.off('unhandledRejection', onUnhandled);
  await server.close();
  assert.equal(unhandled, []);
  assert.instance(awaited, Error);
});

test('pings stop once the connection is gone: no exception out of the ping timer', async () => {
  const raw = new RawWebSocketSession(new ByteChannel(), new ByteChannel(), { job: new Job(), dispatcher: Dispatchers.Immediate }, { role: 'server' });
  raw.terminate();
  const uncaught = await captureUncaught(() => {
    const pinger = new Pinger(raw, 5, 1000);
    setTimeout(() => pinger.stop(), 40);
  });
  await sleep(60);
  assert.equal(uncaught, []);
});

test('invalid limits are RangeErrors when the server is made, not after a 101', () => {
  for (const options of [
    { session: { incomingQueueBytes: 0 } },
    { session: { outgoingQueue: 1.5 } },
    { session: { closeTimeoutMs: Infinity } },
    { session: { writeTimeoutMs: 2 ** 31 } },
    { defaultSession: { messageQueueBytes: 0 } },
    { defaultSession: { pingIntervalMs: -1 } },
    { channels: { inputCapacity: 0 } },
    { channels: { outputCapacity: 1.5 } },
    { channels: { lingerMs: Infinity } },
    { channels: { maxPendingWriteBytes: -1 } },
    { requestHead: { timeoutMs: 0 } },
    { requestHead: { timeoutMs: 2 ** 31 } },
    { requestHead: { timeoutMs: Number.NaN } },
    { requestHead: { maxHeaders: -1 } },
    { requestHead: { maxHeadSize: 0 } },
  ]) {
    assert.throws(() => createWebSocketServer(() => {}, options), RangeError, JSON.stringify(options));
  }
  createWebSocketServer(() => {}, { session: { incomingQueueBytes: Infinity, maxMessageSize: Infinity } }).close();
});

test('maxFrameSize and maxMessageSize Infinity: no bound of their own, and a frame no Buffer can hold still gets 1009', async () => {
  const server = await startServer((session) => session.consumeEach((message) => session.send(message)), {
    session: { maxFrameSize: Infinity, maxMessageSize: Infinity },
    requestHead: { timeoutMs: Infinity },
  });
  try {
    const client = await RawClient.open(server.port);
    client.sendFrame(Opcode.Binary, Buffer.alloc(70_000, 7));
    assert.equal((await client.nextFrame()).payload, Buffer.alloc(70_000, 7));
    // 2^32 + 1 bytes announced: over buffer.constants.MAX_LENGTH on Node 20 (and a far cry from any real frame).
    client.socket.write(Buffer.from([0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 3, 4]));
    assert.is((await client.closeFrame()).code, 1009);
    await client.closed();
  } finally {
    await server.close();
  }
});

test('requestHead timeoutMs Infinity: a head that takes its time is still answered', async () => {
  const server = await startServer((session) => session.consumeEach((message) => session.send(message)), {
    requestHead: { timeoutMs: Infinity },
  });
  try {
    const socket = createConnection({ host: '127.0.0.1', port: server.port });
    await once(socket, 'connect');
    await sleep(50); // a 1 ms timer (what setTimeout makes of Infinity) would have dropped it by now
    assert.is(socket.destroyed, false);
    socket.write(handshakeRequest());
    const [head] = (await once(socket, 'data')) as [Buffer];
    assert.ok(head.toString('latin1').startsWith('HTTP/1.1 101'), head.toString('latin1'));
    socket.destroy();
  } finally {
    await server.close();
  }
});

test('handleUpgrade for a socket that is already gone returns undefined without throwing', async () => {
  let result: unknown = 'not called';
  let thrown: unknown;
  const http = createHttpServer();
  http.on('upgrade', (request: IncomingMessage, socket, head: Buffer) => {
    // As an 'upgrade' listener that awaited its own checks would find it: the client reset meanwhile.
    socket.destroy();
    setImmediate(() => {
      try {
        result = handleUpgrade(request, socket, head, () => {});
      } catch (error) {
        thrown = error;
      }
    });
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const socket = new Socket();
  socket.on('error', () => {});
  socket.connect((http.address() as AddressInfo).port, '127.0.0.1', () => socket.write(handshakeRequest('/')));
  const deadline = Date.now() + 3000;
  while (result === 'not called' && thrown === undefined && Date.now() < deadline) await sleep(10);
  assert.is(thrown, undefined);
  assert.is(result, undefined);
  socket.destroy();
  http.close();
});

test('send after close rejects with SessionClosedError (the session stays usable for reading)', async () => {
  let error: unknown;
  const server = await startServer(async (session: DefaultWebSocketSession) => {
    void session.close(1000);
    error = await session.send('late').then(() => undefined, (e: unknown) => e);
    for await (const _ of session);
  });
  const client = await RawClient.open(server.port);
  assert.equal(await client.closeFrame(), { code: 1000, reason: '' });
  client.sendFrame(Opcode.Close, Buffer.from([0x03, 0xe8]));
  await (await server.job()).join();
  assert.instance(error, SessionClosedError);
  await server.close();
});

test('with permessage-deflate as without: a send after close rejects with SessionClosedError, one after the connection was lost with its ConnectionClosedError (not the codec\'s error), and nothing is compressed for them', async () => {
  const server = createWebSocketServer((session) => session.consumeEach((m) => session.send(m)), { extensions: [permessageDeflate()] });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    const closed = await connect(url, { extensions: [permessageDeflate()] });
    await closed.close();
    await closed.raw.job.join();
    const extension = closed.raw.extensions[0]!;
    const encode = extension.encode.bind(extension);
    let encodes = 0;
    extension.encode = (...args) => (encodes++, encode(...args));
    for (const size of [10, 5000]) {
      const error = await closed.send('x'.repeat(size)).then(() => undefined, (e: unknown) => e);
      assert.instance(error, SessionClosedError, `after close(), ${size} B`);
    }
    assert.is(encodes, 0);
    // A message being compressed when the connection is dropped: its codec is released with the session.
    const lost = await connect(url, { extensions: [permessageDeflate()] });
    const sent = lost.send('z'.repeat(100_000)).then(() => undefined, (e: unknown) => e);
    lost.terminate();
    assert.instance(await sent, ConnectionClosedError, 'a send racing the end of the connection');
    for (const extensions of [[permessageDeflate()], []]) {
      const gone = await connect(url, { extensions });
      gone.terminate();
      await gone.raw.job.join();
      for (const size of [10, 5000]) {
        const error = await gone.send('x'.repeat(size)).then(() => undefined, (e: unknown) => e);
        assert.instance(error, ConnectionClosedError, `after the connection was lost, ${size} B, ${extensions.length} extension(s)`);
      }
    }
  } finally {
    server.close();
  }
});

test('with permessage-deflate, a peer that sends its close and then reads nothing while our messages wait for room is dropped closeTimeoutMs later (writeTimeoutMs 0)', async () => {
  let ended = 0;
  const server = createWebSocketServer(
    (session) => {
      session.raw.job.invokeOnCompletion(() => (ended = Date.now()));
      return session.consumeEach(() => {
        for (let i = 0; i < 400; i++) void session.send(randomBytes(64 * 1024));
      });
    },
    { extensions: [permessageDeflate()], session: { closeTimeoutMs: 500, writeTimeoutMs: 0 } },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = await RawClient.open(
    (server.address() as AddressInfo).port,
    handshakeRequest('/', { 'Sec-WebSocket-Extensions': 'permessage-deflate' }),
    0x4,
  );
  try {
    client.sendFrame(Opcode.Text, 'go');
    await client.until(() => client.frames.length > 0); // the burst has begun
    client.socket.pause(); // and is never read again
    const closedAt = Date.now();
    client.sendFrame(Opcode.Close, Buffer.from([0x03, 0xe8]));
    await waitFor(() => ended !== 0, 5_000);
    assert.ok(ended - closedAt < 2_000, `ended ${ended - closedAt} ms after the peer's close`);
  } finally {
    client.destroy();
    server.close();
  }
});

test('with permessage-deflate, the close timer does not count our own compression: messages sent before the handler returns still arrive, then 1000 (closeTimeoutMs 100, compressions of 300 ms)', async () => {
  // Without an extension the same handler's messages are queued at once and the close after them: the timer then
  // counts only the time the peer takes to read them.
  const slow = deflateWithEncode({ threshold: 0 }, async (encode, opcode, payload) => {
    await sleep(300);
    return encode(opcode, payload);
  });
  const server = createWebSocketServer(
    async (session) => {
      void session.send('first');
      void session.send('second');
    },
    { extensions: [slow], session: { closeTimeoutMs: 100 } },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const client = await connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, { extensions: [permessageDeflate()] });
    const got: unknown[] = [];
    for await (const message of client) got.push(message);
    assert.equal(got, ['first', 'second']);
    assert.is((await client.closeReason).code, 1000);
  } finally {
    server.close();
  }
});

test('with permessage-deflate, close() after the close handshake finished arms no timer: a handler that goes on past closeTimeoutMs is not terminated', async () => {
  let session!: DefaultWebSocketSession;
  let closed: unknown;
  const server = createWebSocketServer(
    async (s) => {
      session = s;
      await s.send('x'.repeat(2000)); // compressed: the send chain has been used
      for await (const _ of s); // until the peer's close
      await sleep(50); // our answer is out: the handshake is over
      closed = await s.close();
      await sleep(300); // more work, three close timeouts long
    },
    { extensions: [permessageDeflate({ threshold: 0 })], session: { closeTimeoutMs: 100 } },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const client = await connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, { extensions: [permessageDeflate()] });
    assert.is(await client.receive(), 'x'.repeat(2000));
    await client.close(4000);
    await session.raw.job.join();
    assert.equal(closed, { code: 4000, reason: '' });
    assert.is(session.raw.failure, undefined, 'never terminated');
    assert.is(session.raw.job.state, 'completed');
  } finally {
    server.close();
  }
});

test('with permessage-deflate, a send refused after the close handshake (it waited behind our answer to the peer\'s close) arms no timer either', async () => {
  const slow = deflateWithEncode({ threshold: 0 }, async (encode, opcode, payload) => {
    await sleep(300);
    return encode(opcode, payload);
  });
  let session!: DefaultWebSocketSession;
  let late: unknown;
  const server = createWebSocketServer(
    async (s) => {
      session = s;
      void s.send('first'); // compressed for 300 ms: the send chain is busy
      await sleep(100); // the peer's close arrives meanwhile: our answer waits behind 'first'
      late = await s.send('late').then(() => 'sent', (error: unknown) => error); // behind the answer: refused
      await sleep(400); // more work, four close timeouts long
    },
    { extensions: [slow], session: { closeTimeoutMs: 100 } },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const client = await connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, { extensions: [permessageDeflate()] });
    void client.close(4000);
    const got: unknown[] = [];
    for await (const message of client) got.push(message);
    assert.equal(got, ['first']);
    await session.raw.job.join();
    assert.instance(late, SessionClosedError);
    assert.is(session.raw.failure, undefined, 'never terminated');
    assert.is((await session.closeReason).code, 4000);
  } finally {
    server.close();
  }
});

test.run();
