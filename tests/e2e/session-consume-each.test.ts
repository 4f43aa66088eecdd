/**
 * `session.consumeEach`, the callback way to read, over real loopback
 * connections: echo in order with backpressure, the clean end, a throwing
 * callback, a peer that breaks the protocol, the callback called inside the
 * read (and closing or throwing there, in the middle of a chunk), a
 * large message released once its callback is done while the connection
 * idles, and a handler that forgets to return it.
 */
import { constants, inflateRawSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProtocolError } from '../../src/frames/errors.ts';
import { Opcode } from '../../src/frames/frame.ts';
import { permessageDeflate } from '../../src/extensions/permessage-deflate.ts';
import type { Message } from '../../src/session/default-session.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { handshakeRequest, RawClient } from '../support/raw-client.ts';
import { maskedFrame } from '../support/wire-client.ts';
import { encodeClosePayload } from '../../src/frames/close.ts';
import { SessionClosedError } from '../../src/session/errors.ts';
import { assertHandlerFailed, startServer } from '../support/server.ts';
import { gc } from '../support/resources.ts';

test('echo: every message in order with its type; a clean close resolves it and the job completes', async () => {
  let ended = false;
  const server = await startServer(async (session) => {
    await session.consumeEach((message) => session.send(message));
    ended = true;
  });
  const client = await connect(`ws://127.0.0.1:${server.port}/`);
  const sent: Message[] = [];
  for (let i = 0; i < 200; i++) sent.push(i % 2 === 0 ? `text ${i}` : Buffer.from([i, i >> 8, 7]));
  for (const m of sent) void client.send(m);
  const got: Message[] = [];
  for (let i = 0; i < sent.length; i++) got.push(await client.receive());
  assert.equal(got, sent);
  assert.equal(await client.close(), { code: 1000, reason: '' });
  const job = await server.job();
  await job.join();
  assert.ok(ended, 'consumeEach resolved after the close handshake');
  assert.is(job.state, 'completed');
  await server.close();
});

test('the callback\'s promise holds back the next message (the rest waits in the queue)', async () => {
  const seen: Message[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const server = await startServer((session) =>
    session.consumeEach(async (message) => {
      seen.push(message);
      if (message === 'first') await held;
      await session.send(message);
    }),
  );
  const client = await connect(`ws://127.0.0.1:${server.port}/`);
  await client.send('first');
  await client.send('second');
  await client.ping();
  assert.equal(seen, ['first'], 'the second message is not handed on while the first is held');
  release();
  assert.is(await client.receive(), 'first');
  assert.is(await client.receive(), 'second');
  assert.equal(seen, ['first', 'second']);
  await client.close();
  await server.close();
});

test('a callback that throws: close 1011 and the job fails with its error', async () => {
  const boom = new Error('boom');
  const server = await startServer((session) =>
    session.consumeEach(() => {
      throw boom;
    }),
  );
  const client = await RawClient.open(server.port);
  client.sendFrame(Opcode.Text, 'go');
  await assertHandlerFailed(server, client, boom);
});

test('a peer that breaks the protocol: the reply to the message before goes first, then 1002; it rejects with the ProtocolError', async () => {
  let seen: unknown;
  const server = await startServer(async (session) => {
    await session.consumeEach((message) => session.send(message)).catch((error: unknown) => (seen = error));
  });
  const client = await RawClient.open(server.port);
  client.sendFrame(Opcode.Text, 'first');
  client.socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69])); // unmasked: a protocol error at a server
  const echo = await client.nextFrame();
  assert.is(echo.payload.toString(), 'first');
  assert.is((await client.closeFrame()).code, 1002);
  await client.closed();
  const job = await server.job();
  await job.join();
  assert.instance(seen, ProtocolError);
  assert.is((seen as ProtocolError).closeCode, 1002);
  await server.close();
});

/** Sends text frames in one TCP write, so that the server reads them in one chunk. */
function sendInOneWrite(client: RawClient, texts: readonly string[]): void {
  client.socket.cork();
  for (const text of texts) client.sendFrame(Opcode.Text, text);
  client.socket.uncork();
}

test('a waiting callback is called as each message is read: the messages of one chunk, with no microtask between them', async () => {
  const log: string[] = [];
  const server = await startServer((session) =>
    session.consumeEach((message) => {
      log.push(`message ${String(message)}`);
      queueMicrotask(() => log.push(`microtask after ${String(message)}`));
      void session.send(message); // returns nothing: a returned promise would hold the next message back until it settles
    }),
  );
  const client = await RawClient.open(server.port);
  await new Promise((r) => setTimeout(r, 20)); // the handler is waiting in consumeEach
  sendInOneWrite(client, ['a', 'b', 'c']);
  for (const text of ['a', 'b', 'c']) assert.is((await client.nextFrame()).payload.toString(), text);
  assert.equal(log, ['message a', 'message b', 'message c', 'microtask after a', 'microtask after b', 'microtask after c']);
  client.sendFrame(Opcode.Close, Buffer.from([0x03, 0xe8]));
  assert.is((await client.closeFrame()).code, 1000);
  await server.close();
});

test('a callback that closes the session in the middle of a chunk: the messages read before are still handed on, then 1000', async () => {
  const seen: string[] = [];
  let closing = false;
  const server = await startServer((session) =>
    session.consumeEach((message) => {
      seen.push(String(message));
      if (closing) return;
      if (message === 'two') {
        closing = true;
        return session.close(1000, 'enough').then(() => undefined);
      }
      return session.send(message);
    }),
  );
  const client = await RawClient.open(server.port);
  await new Promise((r) => setTimeout(r, 20));
  sendInOneWrite(client, ['one', 'two', 'three', 'four']);
  assert.is((await client.nextFrame()).payload.toString(), 'one');
  assert.equal(await client.closeFrame(), { code: 1000, reason: 'enough' });
  client.sendFrame(Opcode.Close, Buffer.from([0x03, 0xe8]));
  await client.closed();
  const job = await server.job();
  await job.join();
  assert.is(job.state, 'completed');
  assert.equal(seen, ['one', 'two', 'three', 'four'], 'every message already read reached the callback, in order');
  await server.close();
});

test('a callback that throws in the middle of a chunk: no later message reaches it, close 1011, the job fails with its error', async () => {
  const boom = new Error('boom');
  const seen: string[] = [];
  const server = await startServer((session) =>
    session.consumeEach((message) => {
      seen.push(String(message));
      if (message === 'two') throw boom;
      return session.send(message);
    }),
  );
  const client = await RawClient.open(server.port);
  await new Promise((r) => setTimeout(r, 20));
  sendInOneWrite(client, ['one', 'two', 'three']);
  assert.is((await client.nextFrame()).payload.toString(), 'one');
  await assertHandlerFailed(server, client, boom);
  assert.equal(seen, ['one', 'two']);
});

test('a connection idling after a 1 MiB message does not keep it (a for await loop would keep the last one)', async () => {
  let ref: WeakRef<Buffer> | undefined;
  const server = await startServer((session) =>
    session.consumeEach((message) => {
      ref = new WeakRef(message as Buffer);
      return session.send('got it');
    }),
  );
  const client = await connect(`ws://127.0.0.1:${server.port}/`);
  await client.send(Buffer.alloc(1 << 20, 1));
  assert.is(await client.receive(), 'got it');
  await new Promise((r) => setImmediate(r));
  gc();
  assert.ok(ref !== undefined);
  assert.is(ref.deref(), undefined, 'the message was collected while the session waits for the next one');
  await client.close();
  await server.close();
});

test('a message and the close in one chunk: a consumeEach reply goes out before our close; a for await reply is refused after it', async () => {
  const refused: unknown[] = [];
  const servers = [
    await startServer((session) => session.consumeEach((message) => session.send(`re:${String(message)}`))),
    await startServer(async (session) => {
      for await (const message of session) {
        try {
          await session.send(`re:${String(message)}`);
        } catch (error) {
          refused.push(error);
        }
      }
    }),
  ];
  const seen: Opcode[][] = [];
  try {
    for (const server of servers) {
      const client = await RawClient.open(server.port);
      client.socket.write(Buffer.concat([maskedFrame(Opcode.Text, 'q'), maskedFrame(Opcode.Close, encodeClosePayload({ code: 1000, reason: '' }))]));
      await client.closed();
      seen.push(client.frames.map((f) => f.opcode));
      if (seen.length === 1) assert.is(client.frames[0]!.payload.toString(), 're:q');
    }
  } finally {
    for (const server of servers) await server.close();
  }
  assert.equal(seen, [[Opcode.Text, Opcode.Close], [Opcode.Close]]);
  assert.is(refused.length, 1);
  assert.instance(refused[0], SessionClosedError);
});

test('with permessage-deflate, a message and the close in one chunk: the consumeEach reply (compressed or not) still goes out before our close', async () => {
  // With an extension a reply is encoded asynchronously: the close must wait for it, as `close()` does.
  const server = await startServer((session) => session.consumeEach((message) => session.send(`re:${String(message)}`)), {
    extensions: [permessageDeflate()],
  });
  try {
    for (const text of ['q', 'x'.repeat(4000)]) {
      const client = await RawClient.open(server.port, handshakeRequest('/', { 'Sec-WebSocket-Extensions': 'permessage-deflate' }), 0x4);
      assert.match(client.responseHead, /sec-websocket-extensions: permessage-deflate/i);
      client.socket.write(Buffer.concat([maskedFrame(Opcode.Text, text), maskedFrame(Opcode.Close, encodeClosePayload({ code: 1000, reason: '' }))]));
      await client.closed();
      assert.equal(client.frames.map((f) => [f.opcode, f.rsv1]), [[Opcode.Text, text.length > 1000], [Opcode.Close, false]]);
      const payload = client.frames[0]!.payload;
      assert.is((text.length > 1000 ? inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH }) : payload).toString(), `re:${text}`);
    }
  } finally {
    await server.close();
  }
});

test('two messages and the close in one chunk with an async action: the first reply goes out before our close, the second is refused (as the README says)', async () => {
  const server = await startServer((session) =>
    session.consumeEach(async (message) => {
      await session.send(`re:${String(message)}`);
    }),
  );
  try {
    const client = await RawClient.open(server.port);
    const close = maskedFrame(Opcode.Close, encodeClosePayload({ code: 1000, reason: '' }));
    client.socket.write(Buffer.concat([maskedFrame(Opcode.Text, 'a'), maskedFrame(Opcode.Text, 'b'), close]));
    await client.closed();
    assert.equal(client.frames.map((f) => f.opcode), [Opcode.Text, Opcode.Close]);
    assert.is(client.frames[0]!.payload.toString(), 're:a');
    const job = await server.job();
    await job.join();
    assert.is(job.state, 'failed');
    assert.instance(job.cause, SessionClosedError);
  } finally {
    await server.close();
  }
});

test('a handler that does not return its consumeEach: the session closes 1000, and the abandoned consumeEach is no unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  let left!: Promise<void>;
  const server = await startServer((session) => {
    left = session.consumeEach((message) => session.send(message)); // not returned: the handler is done at once
  });
  try {
    const client = await connect(`ws://127.0.0.1:${server.port}/`);
    assert.equal(await client.closeReason, { code: 1000, reason: '' });
    await (await server.job()).join();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(unhandled, []);
    assert.instance(await left.catch((error: unknown) => error), SessionClosedError, 'whoever awaits it still sees why');
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await server.close();
  }
});

test.run();
