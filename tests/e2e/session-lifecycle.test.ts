/**
 * The job `upgrade` returns links the reader, writer and handler: each way a
 * session can end, over a real loopback connection with a hand-driven client.
 */
import type { Socket } from 'node:net';
import { runInNewContext } from 'node:vm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../src/frames/frame.ts';
import { ProtocolError } from '../../src/frames/errors.ts';
import type { DefaultWebSocketSession, Message } from '../../src/session/default-session.ts';
import { handshakeRequest, RawClient } from '../support/raw-client.ts';
import { serializeFrame } from '../../src/frames/serializer.ts';
import { encodeClosePayload } from '../../src/frames/close.ts';
import { assertHandlerFailed, startServer } from '../support/server.ts';
import { ConnectionClosedError, PingTimeoutError } from '../../src/session/errors.ts';
import { sleep, waitFor } from '../support/resources.ts';
import { maskedFrame } from '../support/wire-client.ts';
import { Job } from '../../src/channels/job.ts';
import { Dispatchers } from '../../src/channels/context.ts';

test('handler returns: close 1000 is sent, output closed after the handshake, job completes', async () => {
  const server = await startServer(async (session) => {
    await session.send('bye soon');
  });
  const client = await RawClient.open(server.port);
  assert.ok(client.responseHead.startsWith('HTTP/1.1 101'));
  const text = await client.nextFrame();
  assert.is(text.payload.toString(), 'bye soon');
  assert.equal(await client.closeFrame(), { code: 1000, reason: '' });
  client.sendFrame(Opcode.Close, Buffer.from([0x03, 0xe8]));
  await client.closed();
  const job = await server.job();
  await job.join();
  assert.is(job.state, 'completed');
  await server.close();
});

test('handler throws: close 1011 is sent and the job fails with that error', async () => {
  const boom = new Error('boom');
  const server = await startServer(async () => {
    throw boom;
  });
  await assertHandlerFailed(server, await RawClient.open(server.port), boom);
});

test('handler throws and the peer answers the close 1011: closeReason is the peer\'s close, not 1006', async () => {
  let session!: DefaultWebSocketSession;
  const server = await startServer(async (s) => {
    session = s;
    await s.receive();
    throw new Error('boom');
  });
  const client = await RawClient.open(server.port);
  client.sendFrame(Opcode.Text, 'go');
  assert.is((await client.closeFrame()).code, 1011);
  client.sendFrame(Opcode.Close, Buffer.concat([Buffer.from([0x03, 0xf3]), Buffer.from('seen')]));
  await client.closed();
  const job = await server.job();
  await job.join();
  client.destroy();
  await server.close();
  assert.is(job.state, 'failed');
  assert.equal(await session.closeReason, { code: 1011, reason: 'seen' });
});

test('protocol error: frames before it reach the handler, its reply precedes the close 1002', async () => {
  let seen: unknown;
  const got: Message[] = [];
  const server = await startServer(async (session) => {
    try {
      for await (const message of session) {
        got.push(message);
        await session.send(message);
      }
    } catch (error) {
      seen = error;
    }
  });
  const client = await RawClient.open(server.port);
  // A valid masked text frame and an unmasked one in the same packet.
  const unmasked = Buffer.from([0x81, 0x02, 0x68, 0x69]);
  client.sendFrame(Opcode.Text, 'first');
  client.socket.write(unmasked);
  const echo = await client.nextFrame();
  assert.is(echo.opcode, Opcode.Text);
  assert.is(echo.payload.toString(), 'first');
  assert.is((await client.closeFrame()).code, 1002);
  await client.closed();
  const job = await server.job();
  await job.join();
  assert.equal(got, ['first']);
  assert.instance(seen, ProtocolError);
  assert.is((seen as ProtocolError).closeCode, 1002);
  assert.is(job.state, 'completed');
  await server.close();
});

test('frames that arrive with the handshake, before the session exists, are all processed: ping, messages, close', async () => {
  const got: Message[] = [];
  const server = await startServer(async (s) => {
    for await (const message of s) got.push(message);
  });
  const client = await RawClient.open(server.port, null);
  const key = Buffer.from([9, 8, 7, 6]);
  const masked = (opcode: Opcode, payload: Buffer): Buffer =>
    serializeFrame({ opcode, fin: true, rsv1: false, rsv2: false, rsv3: false, payload }, key);
  // One write: the request head, then a ping, two messages and a close, all read before the handler runs.
  client.socket.write(
    Buffer.concat([
      Buffer.from(handshakeRequest()),
      masked(Opcode.Ping, Buffer.from('p')),
      masked(Opcode.Text, Buffer.from('one')),
      masked(Opcode.Binary, Buffer.from([1, 2])),
      masked(Opcode.Close, encodeClosePayload({ code: 1000, reason: '' })),
    ]),
  );
  const pong = await client.nextFrame();
  assert.is(pong.opcode, Opcode.Pong);
  assert.is(pong.payload.toString(), 'p');
  assert.is((await client.closeFrame()).code, 1000, 'the close is echoed');
  await client.closed();
  const job = await server.job();
  await job.join();
  assert.equal(got, ['one', Buffer.from([1, 2])]);
  assert.is(job.state, 'completed');
  await server.close();
});

test('peer vanishes mid-frame: closeReason is 1006 and every task ends', async () => {
  let session!: DefaultWebSocketSession;
  const server = await startServer(async (s) => {
    session = s;
    for await (const _ of s);
  });
  const client = await RawClient.open(server.port);
  client.socket.write(Buffer.from([0x82, 0x85, 1, 2, 3])); // header of a 5-byte frame, then nothing
  const job = await server.job();
  await new Promise((r) => setTimeout(r, 20));
  client.socket.resetAndDestroy();
  await job.join();
  assert.equal(await session.closeReason, { code: 1006, reason: '' });
  assert.ok(job.isCompleted);
  await server.close();
});

test('peer vanishes while the reader waits for a handler that reads nothing: closeReason is 1006 closeTimeoutMs later and every task ends', async () => {
  for (const vanish of ['reset', 'FIN'] as const) {
    let session!: DefaultWebSocketSession;
    const server = await startServer(
      async (s) => {
        session = s;
        await s.closeReason; // sends only, say: never reads
      },
      { session: { closeTimeoutMs: 200 } },
    );
    const client = await RawClient.open(server.port);
    for (let i = 0; i < 40; i++) client.sendFrame(Opcode.Text, `message ${i}`); // more than the message queue (16)
    const job = await server.job();
    await sleep(50);
    const gone = Date.now();
    if (vanish === 'reset') client.socket.resetAndDestroy();
    else client.socket.end();
    await job.join();
    const waited = Date.now() - gone;
    assert.equal(await session.closeReason, { code: 1006, reason: '' }, vanish);
    assert.ok(job.isCompleted, `${vanish}: ${job.state}`);
    assert.ok(waited >= 150 && waited < 2000, `${vanish}: ended ${waited} ms after the peer went`);
    await server.close();
  }
});

test('peer vanishes (its FIN, no close frame) while the reader waits for a slow handler: every message it sent still reaches the handler, then the loop throws ConnectionClosedError', async () => {
  const received: string[] = [];
  let thrown: unknown;
  const server = await startServer(
    async (s) => {
      await sleep(100); // behind: the peer is gone by now
      try {
        for await (const message of s) received.push(message as string);
      } catch (error) {
        thrown = error;
      }
    },
    { session: { closeTimeoutMs: 2000 } },
  );
  const client = await RawClient.open(server.port);
  for (let i = 0; i < 40; i++) client.sendFrame(Opcode.Text, `message ${i}`);
  await sleep(20);
  client.socket.end();
  const job = await server.job();
  await job.join();
  assert.equal(received, Array.from({ length: 40 }, (_, i) => `message ${i}`));
  assert.instance(thrown, ConnectionClosedError);
  await server.close();
});

test('job.cancel(): close 1001 is sent and every task stops', async () => {
  const server = await startServer(async (session) => {
    for await (const _ of session);
  });
  const client = await RawClient.open(server.port);
  const job = await server.job();
  job.cancel();
  assert.is((await client.closeFrame()).code, 1001);
  await job.join();
  assert.is(job.state, 'cancelled');
  client.destroy();
  await server.close();
});

test('job.cancel() while the handler keeps sending: the send refused after the 1001 ends the job cancelled, not failed; a plain parent job and its other sessions go on', async () => {
  const parent = new Job();
  const server = await startServer(
    async (session) => {
      for (;;) {
        await session.send('tick');
        await sleep(5);
      }
    },
    { engineContext: { job: parent, dispatcher: Dispatchers.Immediate } },
  );
  const cancelled = await RawClient.open(server.port);
  const sibling = await RawClient.open(server.port);
  const [job, siblingJob] = [await server.job(0), await server.job(1)];
  await sleep(30);
  job.cancel();
  assert.is((await cancelled.closeFrame()).code, 1001);
  await job.join();
  assert.is(job.state, 'cancelled');
  await sleep(30);
  assert.ok(parent.isActive, `parent ${parent.state}`);
  assert.ok(siblingJob.isActive, `sibling ${siblingJob.state}`);
  assert.ok(!sibling.frames.some((f) => f.opcode === Opcode.Close), 'the sibling got no close frame');
  cancelled.destroy();
  sibling.destroy();
  await server.close();
});

test('a session started under an engine job already cancelled: the handler does not run, close 1001 goes out and the job ends cancelled without waiting for the peer', async () => {
  const parent = new Job();
  parent.cancel();
  let ran = false;
  const server = await startServer(
    () => {
      ran = true;
    },
    { engineContext: { job: parent, dispatcher: Dispatchers.Immediate }, session: { closeTimeoutMs: 10_000 } },
  );
  const client = await RawClient.open(server.port);
  assert.is((await client.closeFrame()).code, 1001);
  const job = await server.job();
  await job.join(); // long before closeTimeoutMs: nothing waits for the peer's answer
  assert.is(job.state, 'cancelled');
  assert.not.ok(ran);
  client.destroy();
  await server.close();
});

test('terminate(): the connection is dropped at once with no close frame, the waiting for await throws ConnectionClosedError, closeReason is 1006', async () => {
  let thrown: unknown;
  let session!: DefaultWebSocketSession;
  const server = await startServer(async (s) => {
    session = s;
    try {
      for await (const message of s) if (message === 'kick me') s.terminate();
    } catch (error) {
      thrown = error;
    }
  });
  const client = await RawClient.open(server.port);
  client.sendFrame(Opcode.Text, 'kick me');
  await client.closed();
  assert.equal(client.frames, [], 'no close frame, nothing else');
  const job = await server.job();
  await job.join();
  assert.instance(thrown, ConnectionClosedError);
  assert.is((await session.closeReason).code, 1006);
  session.terminate(); // again: nothing happens
  await server.close();
});

test('job.cancel() while the handler is done and the close 1000 awaits its answer: the job\'s cancellation handlers run', async () => {
  const server = await startServer(async () => {});
  const client = await RawClient.open(server.port);
  assert.is((await client.closeFrame()).code, 1000);
  const job = await server.job();
  const seen: string[] = [];
  job.invokeOnCancellation(() => seen.push('cancellation'));
  job.invokeOnCompletion(() => seen.push('completion'));
  // Every task stops inside the cancel: the writer had nothing left, the reader is cancelled.
  job.cancel();
  await job.join();
  client.destroy();
  await server.close();
  assert.is(job.state, 'cancelled');
  assert.equal(seen, ['cancellation', 'completion']);
});

test('peer closes: its code is echoed and closeReason carries code and reason', async () => {
  let session!: DefaultWebSocketSession;
  const server = await startServer(async (s) => {
    session = s;
    for await (const _ of s);
  });
  const client = await RawClient.open(server.port);
  client.sendFrame(Opcode.Close, Buffer.concat([Buffer.from([0x0f, 0xa0]), Buffer.from('done')])); // 4000
  assert.equal(await client.closeFrame(), { code: 4000, reason: '' });
  await client.closed();
  const job = await server.job();
  await job.join();
  assert.equal(await session.closeReason, { code: 4000, reason: 'done' });
  assert.is(job.state, 'completed');
  await server.close();
});

test('ping is answered with a pong carrying the same payload', async () => {
  const server = await startServer(async (session) => {
    for await (const _ of session);
  });
  const client = await RawClient.open(server.port);
  client.sendFrame(Opcode.Ping, 'are you there');
  const pong = await client.nextFrame();
  assert.is(pong.opcode, Opcode.Pong);
  assert.is(pong.payload.toString(), 'are you there');
  client.destroy();
  await server.close();
});

test('fragmented message with an interleaved ping is reassembled', async () => {
  const server = await startServer(async (session) => {
    for await (const message of session) await session.send(message);
  });
  const client = await RawClient.open(server.port);
  client.sendFrame(Opcode.Text, 'Hel', false);
  client.sendFrame(Opcode.Ping, 'p');
  client.sendFrame(Opcode.Continuation, 'lo', false);
  client.sendFrame(Opcode.Continuation, ' world', true);
  const pong = await client.nextFrame();
  assert.is(pong.opcode, Opcode.Pong);
  const echo = await client.nextFrame();
  assert.is(echo.payload.toString(), 'Hello world');
  client.destroy();
  await server.close();
});

test('message over maxMessageSize: close 1009', async () => {
  const server = await startServer(
    async (session) => {
      for await (const _ of session);
    },
    { session: { maxMessageSize: 1000 } },
  );
  const client = await RawClient.open(server.port);
  client.sendFrame(Opcode.Binary, Buffer.alloc(600), false);
  client.sendFrame(Opcode.Continuation, Buffer.alloc(600), true);
  assert.is((await client.closeFrame()).code, 1009);
  client.destroy();
  await server.close();
});

test('close handshake the peer never answers: dropped after closeTimeoutMs', async () => {
  let session!: DefaultWebSocketSession;
  const server = await startServer(
    async (s) => {
      session = s;
      await s.close(1000, 'leaving');
    },
    { session: { closeTimeoutMs: 150 } },
  );
  const client = await RawClient.open(server.port);
  assert.equal(await client.closeFrame(), { code: 1000, reason: 'leaving' });
  const started = Date.now();
  await client.closed(3000);
  assert.ok(Date.now() - started < 2000);
  const job = await server.job();
  await job.join();
  assert.equal(await session.closeReason, { code: 1006, reason: '' });
  await server.close();
});

test('ping timeout: a peer that never answers pings is dropped with 1006; the loop throws a PingTimeoutError, a ConnectionClosedError', async () => {
  let session!: DefaultWebSocketSession;
  let thrown: unknown;
  const server = await startServer(
    async (s) => {
      session = s;
      try {
        for await (const _ of s);
      } catch (error) {
        thrown = error;
      }
    },
    { defaultSession: { pingIntervalMs: 50, pingTimeoutMs: 100 } },
  );
  const client = await RawClient.open(server.port);
  const ping = await client.nextFrame();
  assert.is(ping.opcode, Opcode.Ping);
  await client.closed(3000);
  assert.equal(await session.closeReason, { code: 1006, reason: '' });
  await waitFor(() => thrown !== undefined, 3000, 'the loop to throw');
  assert.instance(thrown, PingTimeoutError);
  assert.instance(thrown, ConnectionClosedError, 'a timeout is one way the connection was lost');
  assert.is((thrown as PingTimeoutError).name, 'PingTimeoutError');
  assert.is((thrown as PingTimeoutError).closeCode, 1006);
  await server.close();
});

test('ping(): a peer that never answers is dropped pingTimeoutMs later (no keep-alive), the ping rejects with PingTimeoutError; pongs restart the deadline', async () => {
  let answered: unknown;
  let unanswered: unknown;
  const server = await startServer(
    async (s) => {
      answered = await s.ping('first'); // the client answers this one
      unanswered = await s.ping('second').catch((error: unknown) => error);
    },
    { defaultSession: { pingTimeoutMs: 200 } },
  );
  const client = await RawClient.open(server.port);
  const first = await client.nextFrame();
  assert.is(first.opcode, Opcode.Ping);
  client.socket.write(maskedFrame(Opcode.Pong, first.payload));
  const started = Date.now();
  assert.is((await client.nextFrame()).opcode, Opcode.Ping); // 'second': never answered
  await client.closed(3000);
  const elapsed = Date.now() - started;
  assert.type(answered, 'number');
  assert.instance(unanswered, PingTimeoutError);
  assert.ok(elapsed >= 150 && elapsed < 2000, `dropped after ${elapsed} ms`);
  await server.close();
});

test('a pong to the keep-alive ping settles a ping() sent before it (a peer may answer only the latest ping)', async () => {
  let settled: unknown = 'pending';
  const server = await startServer(
    async (s) => {
      void s.ping('mine').then((rtt) => (settled = typeof rtt), (error: Error) => (settled = error.name));
      for await (const _ of s);
    },
    { defaultSession: { pingIntervalMs: 100, pingTimeoutMs: 1000 } },
  );
  const client = await RawClient.open(server.port);
  const mine = await client.nextFrame();
  assert.equal([mine.opcode, mine.payload.toString()], [Opcode.Ping, 'mine']); // not answered
  const keepAlive = await client.nextFrame();
  assert.is(keepAlive.opcode, Opcode.Ping);
  client.socket.write(maskedFrame(Opcode.Pong, keepAlive.payload)); // the latest one only
  await waitFor(() => settled !== 'pending', 900, 'the pong to settle the earlier ping()');
  assert.is(settled, 'number');
  await sleep(300);
  assert.not.ok(client.socket.destroyed, 'the connection stays');
  client.destroy();
  await server.close();
});

test('pingTimeoutMs 0 with a keep-alive: the pings go on while the peer answers none', async () => {
  const server = await startServer(async (s) => {
    for await (const _ of s);
  }, { defaultSession: { pingIntervalMs: 50, pingTimeoutMs: 0 } });
  const client = await RawClient.open(server.port);
  for (let i = 0; i < 5; i++) assert.is((await client.nextFrame()).opcode, Opcode.Ping);
  client.destroy();
  await server.close();
});

test('pingTimeoutMs 0: no deadline; a ping() waits for its pong as long as the connection lasts', async () => {
  let outcome = 'pending';
  const server = await startServer(
    async (s) => {
      void s.ping().then(() => (outcome = 'answered'), (error: Error) => (outcome = error.name));
      for await (const _ of s);
    },
    { defaultSession: { pingTimeoutMs: 0 } },
  );
  const client = await RawClient.open(server.port);
  const ping = await client.nextFrame();
  await sleep(300);
  assert.is(outcome, 'pending');
  client.socket.write(maskedFrame(Opcode.Pong, ping.payload));
  await waitFor(() => outcome !== 'pending', 2000, 'the pong to settle the ping');
  assert.is(outcome, 'answered');
  client.destroy();
  await server.close();
});

test('bufferedAmount counts every byte accepted by send and not yet handed to the socket, also the batch the writer holds while the output is full', async () => {
  let socket!: Socket;
  let handed = -1;
  let buffered = -1;
  const size = 40_000;
  const count = 400; // 16 MB: far more than a stalled peer's kernel buffers take
  const server = await startServer(async (session) => {
    const before = socket.bytesWritten; // the 101 went out already
    for (let i = 0; i < count; i++) void session.send(Buffer.alloc(size, i));
    // Wait until nothing moves any more: the socket stopped taking bytes, the writer waits for room.
    let last = -1;
    while (socket.bytesWritten !== last) {
      last = socket.bytesWritten;
      await new Promise((r) => setTimeout(r, 100));
    }
    handed = socket.bytesWritten - before;
    buffered = session.bufferedAmount;
    session.raw.terminate();
  });
  server.server.on('connection', (s: Socket) => (socket = s));
  const client = await RawClient.open(server.port);
  client.socket.pause();
  await (await server.job()).join();
  client.destroy();
  await server.close();
  const payload = count * size;
  const wire = count * (size + 4); // a 16-bit length: 4-byte headers
  assert.ok(handed > 0 && handed < payload / 2, `the socket took ${handed} bytes`);
  // Headers are counted once a frame is serialized, so the sum lies between the payload and the wire bytes.
  assert.ok(buffered + handed >= payload, `${payload - buffered - handed} accepted bytes neither buffered nor handed to the socket`);
  assert.ok(buffered + handed <= wire, `${buffered + handed - wire} bytes counted twice`);
});

test('slow peer: send waits instead of buffering without bound', async () => {
  let sent = 0;
  const server = await startServer(async (session) => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    for (let i = 0; i < 200; i++) {
      await session.send(chunk);
      sent++;
    }
    await session.close();
  }, { session: { closeTimeoutMs: 100 } });
  const client = await RawClient.open(server.port);
  client.socket.pause();
  await new Promise((r) => setTimeout(r, 300));
  // 200 x 64 KiB = 12.5 MiB; kernel buffers plus our bounded queues hold far less.
  assert.ok(sent < 150, `sent ${sent} messages to a peer that reads nothing`);
  client.socket.resume();
  await client.until(() => client.frames.filter((f) => f.opcode === Opcode.Binary).length === 200, 10_000);
  assert.is(sent, 200);
  client.destroy();
  await server.close();
});

test('send takes the byte forms ws takes (ArrayBuffer, typed arrays, DataView) as binary messages; anything else rejects with a TypeError', async () => {
  let rejected: unknown;
  const server = await startServer(async (session) => {
    const bytes = new Uint8Array([1, 2, 3, 4, 5, 6]);
    await session.send(bytes.buffer);
    await session.send(new Uint16Array(bytes.buffer, 2, 2));
    await session.send(new DataView(bytes.buffer, 1, 3));
    await session.send(Buffer.from('b'));
    await session.send(runInNewContext('new Uint8Array([7, 8]).buffer') as ArrayBuffer); // another realm's ArrayBuffer
    rejected = await session.send(42 as unknown as string).then(
      () => 'sent',
      (error: unknown) => error,
    );
    await session.send('after');
  });
  const client = await RawClient.open(server.port);
  await client.until(() => client.frames.length >= 6);
  assert.equal(
    client.frames.slice(0, 6).map((f) => [f.opcode, [...f.payload]]),
    [
      [Opcode.Binary, [1, 2, 3, 4, 5, 6]],
      [Opcode.Binary, [3, 4, 5, 6]],
      [Opcode.Binary, [2, 3, 4]],
      [Opcode.Binary, [0x62]],
      [Opcode.Binary, [7, 8]],
      [Opcode.Text, [...Buffer.from('after')]],
    ],
  );
  assert.instance(rejected, TypeError);
  assert.match((rejected as Error).message, /got number/);
  client.destroy();
  await server.close();
});

test.run();
