/**
 * Slow and stalled peers over loopback: a ping flood from a peer that never
 * reads, a peer that never reads while the handler sends (also after its
 * FIN, and one large message that the socket takes whole, over TCP and over
 * an HTTP/2 stream whose window stays shut), a close handshake the peer
 * never answers; and a peer that reads a large message slowly but in time
 * keeps its connection. Memory held for each stays
 * under a bound computed from the options, and each such peer is eventually
 * dropped (1006) by
 * `writeTimeoutMs` or `closeTimeoutMs`; the session's job completes and the
 * server holds no socket afterwards.
 */
import { connect as http2Connect } from 'node:http2';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../../src/frames/frame.ts';
import { FrameParser } from '../../../src/frames/parser.ts';
import type { Job } from '../../../src/channels/job.ts';
import type { DefaultWebSocketSession } from '../../../src/session/default-session.ts';
import { WriteTimeoutError } from '../../../src/session/errors.ts';
import { DEFAULT_SESSION_DEFAULTS, RAW_SESSION_DEFAULTS } from '../../../src/session/options.ts';
import { connectHeaders, startH2Server } from '../../support/h2.ts';
import { startServer } from '../../support/server.ts';
import { connectionCount, liveMemory, sleep, waitFor } from '../../support/resources.ts';
import { maskedFrame, WireClient } from '../../support/wire-client.ts';

const KiB = 1024;
/** What the writer hands to the output in one turn (raw-session.ts BATCH_BYTES). */
const BATCH_BYTES = 256 * KiB;
/** The documented default of `messageQueueBytes`. */
const MESSAGE_QUEUE_BYTES = 1024 * KiB;
/** Default byte-channel capacities (node-adapter.ts). */
const CHANNEL_CAPACITY = 64 * KiB;

/**
 * Most bytes a connection can hold on the sending side while its peer reads
 * nothing: the frames in the outgoing queue and the one `send` holds, the
 * writer's batch, the output channel, and what node's socket accepted past
 * its high-water mark (at most one batch plus the mark). The queue is
 * bounded by its frame count and by its payload bytes, whichever is lower.
 */
function sendBound(frameSize: number): number {
  const { outgoingQueue, outgoingQueueBytes } = RAW_SESSION_DEFAULTS;
  const queued = Math.min(outgoingQueue * frameSize, Math.max(outgoingQueueBytes, frameSize));
  return queued + 2 * frameSize + 2 * BATCH_BYTES + CHANNEL_CAPACITY + 64 * KiB;
}


/** Writes `bytes` again and again, respecting backpressure, until the connection closes or `stop()`. */
function flood(client: WireClient, bytes: Buffer): { readonly sent: () => number; stop(): void } {
  let sent = 0;
  let stopped = false;
  void (async () => {
    while (!stopped && !client.closed && !client.socket.destroyed) {
      if (client.socket.write(bytes)) {
        sent++;
        if (sent % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      sent++;
      while (!stopped && !client.closed && client.socket.writableNeedDrain) await sleep(5);
    }
  })();
  return {
    sent: () => sent,
    stop: () => {
      stopped = true;
    },
  };
}

test('ping flood from a peer that never reads: pongs answered, memory bounded, dropped by writeTimeoutMs', async () => {
  let session!: DefaultWebSocketSession;
  let failure: unknown;
  const writeTimeoutMs = 1500;
  const server = await startServer(
    async (s) => {
      session = s;
      try {
        for await (const _ of s);
      } catch (error) {
        failure = error;
      }
    },
    { session: { writeTimeoutMs } },
  );
  const client = await WireClient.upgraded(server.port);
  const ping = maskedFrame(Opcode.Ping, Buffer.alloc(125, 0x70));
  // While the peer reads, every ping gets its pong.
  for (let i = 0; i < 10; i++) client.write(ping);
  await client.untilAfterHead(10 * 127);
  const parser = new FrameParser({ role: 'client' });
  parser.push(client.afterHead);
  for (let i = 0; i < 10; i++) assert.is(parser.next()?.opcode, Opcode.Pong);

  // Now it stops reading and floods.
  client.socket.pause();
  const before = await liveMemory();
  const pings = flood(client, ping);
  await sleep(writeTimeoutMs / 2);
  const during = await liveMemory();
  const grown = during.heap + during.external - before.heap - before.external;
  // Pong frames are 127 bytes; the input side holds its channel and queues of pings.
  const bound = sendBound(127) + CHANNEL_CAPACITY + 2 * RAW_SESSION_DEFAULTS.incomingQueue * 200 + client.socket.readableLength;
  console.log(`ping flood: ${grown} bytes held (bound ${bound})`);
  assert.ok(grown < bound + 1024 * KiB, `${grown} bytes held during the flood (bound ${bound})`);
  const job = server.jobs[0]!;
  await job.join();
  pings.stop();
  assert.equal(await session.closeReason, { code: 1006, reason: '' });
  assert.ok(failure !== undefined, 'the handler saw the connection fail');
  await waitFor(async () => (await connectionCount(server.server)) === 0, 5000, 'the server to drop the socket');
  client.socket.destroy();
  await server.close();
});

for (const frameSize of [64 * KiB, 512 * KiB]) {
  test(`a peer that never reads while the handler sends ${frameSize / KiB} KiB frames: send waits, memory bounded, dropped by writeTimeoutMs`, async () => {
    const writeTimeoutMs = 1500;
    let sent = 0;
    let sendError: unknown;
    let session!: DefaultWebSocketSession;
    let start!: () => void;
    const started = new Promise<void>((resolve) => (start = resolve));
    const server = await startServer(
      async (s) => {
        session = s;
        await started; // once the client has stopped reading
        try {
          for (let i = 0; i < 2000; i++) {
            await s.send(Buffer.alloc(frameSize, i)); // a fresh buffer each: queued ones stay alive
            sent++;
          }
        } catch (error) {
          sendError = error;
        }
      },
      { session: { writeTimeoutMs } },
    );
    const before = await liveMemory();
    const client = await WireClient.upgraded(server.port);
    client.socket.pause();
    start();
    // Wait until send stops making progress (kernel buffers full, then ours).
    let last = -1;
    while (sent !== last) {
      last = sent;
      await sleep(100);
    }
    const stalledAt = sent;
    const during = await liveMemory();
    const grown = during.heap + during.external - before.heap - before.external;
    // Plus what the paused client itself buffered (it lives in this process too).
    const bound = sendBound(frameSize) + client.socket.readableLength;
    console.log(`stalled peer: ${grown} bytes held by the server (bound ${bound}), ${sent} sends went through`);
    assert.ok(sent < 2000, 'every send went through to a peer that reads nothing');
    assert.ok(grown < bound + 1024 * KiB, `${grown} bytes held for a stalled peer (bound ${bound})`);
    await sleep(200);
    assert.is(sent, stalledAt, 'send kept going while nothing was read');
    const job = server.jobs[0]!;
    await job.join();
    assert.instance(sendError, Error);
    assert.equal(await session.closeReason, { code: 1006, reason: '' });
    assert.instance(session.raw.failure, WriteTimeoutError);
    // Dropped at once, not after the 5 s the adapter lets output linger on a normal end.
    await waitFor(async () => (await connectionCount(server.server)) === 0, 1000, 'the server to drop the socket');
    client.socket.destroy();
    await server.close();
  });
}

/** A handler that sends one `size`-byte message (once `ready` resolves) and then only waits; `sentAt` is when that send resolved. */
function sendOnceThenWait(size: number, ready?: Promise<void>) {
  const sent = { at: 0, session: undefined as DefaultWebSocketSession | undefined };
  const handler = async (session: DefaultWebSocketSession): Promise<void> => {
    sent.session = session;
    await ready;
    await session.send(Buffer.alloc(size, 1)); // taken at once, whole: nothing waits behind it
    sent.at = Date.now();
    await session.closeReason; // then waits, sending nothing
  };
  return { sent, handler };
}

/** Asserts that `job` ended, by `WriteTimeoutError`, no sooner than `writeTimeoutMs` after the send resolved (and within 5 s more). */
async function assertDroppedAfterSend(job: Job, sent: { readonly at: number; readonly session: DefaultWebSocketSession | undefined }, writeTimeoutMs: number): Promise<void> {
  const ended = await Promise.race([job.join().then(() => true), sleep(writeTimeoutMs + 5000).then(() => false)]);
  assert.ok(ended, `still connected ${writeTimeoutMs + 5000} ms after the send`);
  assert.ok(sent.at > 0, 'send resolved: the message was handed on whole');
  const waited = Date.now() - sent.at;
  assert.ok(waited >= writeTimeoutMs - 50, `dropped ${waited} ms after the send, before writeTimeoutMs`);
  assert.instance(sent.session!.raw.failure, WriteTimeoutError);
}

test('a peer that never reads while the handler sends one large message and nothing more: dropped by writeTimeoutMs (the socket holds the message, nothing waits behind it)', async () => {
  const writeTimeoutMs = 500;
  let start!: () => void;
  const { sent, handler } = sendOnceThenWait(8 * 1024 * KiB, new Promise<void>((resolve) => (start = resolve))); // far more than the kernel's buffers hold
  const server = await startServer(handler, { session: { writeTimeoutMs } });
  const client = await WireClient.upgraded(server.port);
  try {
    client.socket.pause();
    start(); // once the client has stopped reading
    await assertDroppedAfterSend(await server.job(), sent, writeTimeoutMs);
    assert.equal(await sent.session!.closeReason, { code: 1006, reason: '' });
    await waitFor(async () => (await connectionCount(server.server)) === 0, 1000, 'the server to drop the socket');
  } finally {
    client.socket.destroy();
    await server.close();
  }
});

test('HTTP/2: a peer whose stream window stays shut while the handler sends one large message and nothing more: dropped by writeTimeoutMs', async () => {
  const writeTimeoutMs = 500;
  const { sent, handler } = sendOnceThenWait(3 * 1024 * KiB); // none of it can go
  const server = await startH2Server(handler, { session: { writeTimeoutMs } });
  const client = http2Connect(`http://127.0.0.1:${server.port}`, { settings: { initialWindowSize: 0 } });
  client.on('error', () => {});
  try {
    const stream = client.request(connectHeaders('/'), { endStream: false });
    stream.on('error', () => {});
    await assertDroppedAfterSend(await server.job(), sent, writeTimeoutMs);
  } finally {
    client.destroy();
    await server.close();
  }
});

test('a peer that reads one large message slowly but steadily within writeTimeoutMs keeps its connection, and gets the message whole', async () => {
  const writeTimeoutMs = 1500;
  const size = 4 * 1024 * KiB;
  const server = await startServer(
    async (s) => {
      await s.send(Buffer.alloc(size, 7));
      await s.send('after');
      for await (const message of s) await s.send(message);
    },
    { session: { writeTimeoutMs } },
  );
  const client = await WireClient.upgraded(server.port);
  // Read in bursts, 5 ms in every 20: the message takes longer than at full speed, but well under the deadline.
  client.socket.pause();
  let pausing: NodeJS.Timeout | undefined;
  const reading = setInterval(() => {
    client.socket.resume();
    pausing = setTimeout(() => client.socket.pause(), 5);
  }, 20);
  const bigFrame = 10 + size; // a 64-bit length
  const afterFrame = 2 + 'after'.length;
  try {
    const started = Date.now();
    try {
      await client.untilAfterHead(bigFrame + afterFrame, 10_000);
    } finally {
      clearInterval(reading);
      clearTimeout(pausing);
      client.socket.resume();
    }
    console.log(`read ${size} B in bursts in ${Date.now() - started} ms (writeTimeoutMs ${writeTimeoutMs})`);
    assert.is(client.closed, false, 'dropped while it read');
    client.write(maskedFrame(Opcode.Text, 'still open'));
    await client.untilAfterHead(bigFrame + afterFrame + 2 + 'still open'.length);
    const parser = new FrameParser({ role: 'client', maxFrameSize: size });
    parser.push(client.afterHead);
    const big = parser.next()!;
    assert.is(big.opcode, Opcode.Binary);
    assert.is(big.payload.length, size);
    assert.ok(big.payload.every((byte) => byte === 7), 'the message arrived intact');
    assert.is(parser.next()?.payload.toString(), 'after');
    assert.is(parser.next()?.payload.toString(), 'still open');
  } finally {
    client.socket.destroy();
    await server.close();
  }
});

test('a peer that half-closes (FIN) and reads nothing while the handler sends: dropped by writeTimeoutMs, socket and all', async () => {
  const writeTimeoutMs = 300;
  const server = await startServer(
    async (s) => {
      try {
        for (;;) await s.send(Buffer.alloc(256 * KiB));
      } catch {
        // the connection was dropped
      }
    },
    { session: { writeTimeoutMs, closeTimeoutMs: 200 }, channels: { lingerMs: 300 } },
  );
  const client = await WireClient.upgraded(server.port);
  client.socket.pause();
  await sleep(100);
  client.socket.end(); // its FIN: the server reads its input to the end, while the output waits for a reader
  const job = await server.job();
  await job.join();
  // The input had ended and was drained when the session cancelled it: the socket went all the same.
  await waitFor(async () => (await connectionCount(server.server)) === 0, 3000, 'the server to drop the socket');
  client.socket.destroy();
  await server.close();
});

test('large messages faster than the handler takes them: reading pauses at messageQueueBytes, memory bounded, every message intact', async () => {
  const messageSize = 512 * KiB;
  let start!: () => void;
  const started = new Promise<void>((resolve) => (start = resolve));
  let received = 0;
  let corrupt = 0;
  const server = await startServer(async (s) => {
    await started; // the handler takes nothing until the test says so
    for await (const message of s) {
      received++;
      const bytes = message as Buffer;
      if (bytes.length !== messageSize || bytes[0] !== 0x5a || bytes[messageSize - 1] !== 0x5a) corrupt++;
    }
  });
  const before = await liveMemory();
  const client = await WireClient.upgraded(server.port);
  const messages = flood(client, maskedFrame(Opcode.Binary, Buffer.alloc(messageSize, 0x5a)));
  // Wait until the peer cannot send more (our reading paused, then the kernel buffers filled).
  let last = -1;
  while (messages.sent() !== last) {
    last = messages.sent();
    await sleep(200);
  }
  const during = await liveMemory();
  const grown = during.heap + during.external - before.heap - before.external;
  // Queued messages (the budget, or one message heavier than it, plus the one waiting for room),
  // the message being gathered, the input channel, and what the client's socket holds.
  assert.is(DEFAULT_SESSION_DEFAULTS.messageQueueBytes, MESSAGE_QUEUE_BYTES);
  const bound = MESSAGE_QUEUE_BYTES + 2 * messageSize + messageSize + CHANNEL_CAPACITY + client.socket.writableLength;
  console.log(`large messages, handler not reading: ${grown} bytes held (bound ${bound}), ${messages.sent()} messages sent`);
  // 16 queued messages (the count limit alone) would be 8 MiB.
  assert.ok(grown < bound + 512 * KiB, `${grown} bytes held while the handler does not read (bound ${bound})`);
  messages.stop();
  start();
  await waitFor(() => received === messages.sent(), 10_000, 'the handler to take every message sent');
  assert.is(corrupt, 0);
  client.socket.destroy();
  await server.close();
});

test('a close handshake the peer never answers: dropped after closeTimeoutMs, job completed', async () => {
  let session!: DefaultWebSocketSession;
  const server = await startServer(
    async (s) => {
      session = s;
      await s.close(1000, 'bye');
    },
    { session: { closeTimeoutMs: 300 } },
  );
  const client = await WireClient.upgraded(server.port);
  const close = await client.untilAfterHead(7);
  assert.is(close[0], 0x88);
  const job = server.jobs[0]!;
  await job.join();
  assert.equal(await session.closeReason, { code: 1006, reason: '' });
  await client.untilClosed(3000);
  await waitFor(async () => (await connectionCount(server.server)) === 0, 5000, 'the server to drop the socket');
  await server.close();
});

test('a close handshake to a peer that reads nothing (close frame stuck behind a full queue): dropped after closeTimeoutMs', async () => {
  let session!: DefaultWebSocketSession;
  const server = await startServer(
    async (s) => {
      session = s;
      for (let i = 0; i < 200; i++) void s.send(Buffer.alloc(64 * KiB)).catch(() => {});
      await s.close(1000);
    },
    { session: { closeTimeoutMs: 300, writeTimeoutMs: 0 } },
  );
  const client = await WireClient.upgraded(server.port);
  client.socket.pause();
  const job = server.jobs[0]!;
  await job.join();
  assert.equal(await session.closeReason, { code: 1006, reason: '' });
  await waitFor(async () => (await connectionCount(server.server)) === 0, 5000, 'the server to drop the socket');
  client.socket.destroy();
  await server.close();
});

test.run();
