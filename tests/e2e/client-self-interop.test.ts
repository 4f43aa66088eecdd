/**
 * This project's client against this project's server
 * (`createWebSocketServer`) over loopback: 1,000 concurrent connections,
 * each sending text and binary messages that the server echoes (and
 * counts), all data accounted for on both sides, every session ending with
 * a clean close handshake and a completed job.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, connectSocket } from '../../src/upgrade/connect.ts';
import { createWebSocketServer, serveSocket } from '../../src/upgrade/serve.ts';

const CONNECTIONS = 1000;
const MESSAGES = 5;

test(`${CONNECTIONS} concurrent connections exchange ${MESSAGES} messages each, all data accounted for`, async () => {
  const received = { messages: 0, bytes: 0, closes: 0 };
  const server = createWebSocketServer(async (session) => {
    for await (const message of session) {
      received.messages++;
      received.bytes += typeof message === 'string' ? Buffer.byteLength(message) : message.length;
      await session.send(message);
    }
    if ((await session.closeReason).code === 1000) received.closes++;
  });
  server.listen({ port: 0, host: '127.0.0.1', backlog: CONNECTIONS * 2 });
  await once(server, 'listening');
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/load`;
  const started = Date.now();

  let sentBytes = 0;
  let echoedBytes = 0;
  const clients = Array.from({ length: CONNECTIONS }, async (_, id) => {
    const session = await connect(url, { handshakeTimeoutMs: 20_000 });
    for (let i = 0; i < MESSAGES; i++) {
      const message = i % 2 === 0 ? `client ${id} message ${i} `.repeat(1 + (id % 7)) : Buffer.alloc(1 + ((id * 31 + i) % 3000), id & 0xff);
      sentBytes += typeof message === 'string' ? Buffer.byteLength(message) : message.length;
      await session.send(message);
      const back = await session.receive();
      if (typeof message === 'string') assert.is(back, message);
      else assert.ok(Buffer.isBuffer(back) && message.equals(back), `connection ${id} message ${i}`);
      echoedBytes += typeof back === 'string' ? Buffer.byteLength(back) : back.length;
    }
    assert.equal(await session.close(1000, 'done'), { code: 1000, reason: '' });
    await session.raw.job.join();
    assert.is(session.raw.job.state, 'completed');
  });
  await Promise.all(clients);
  const elapsed = Date.now() - started;

  await new Promise((resolve) => server.close(resolve));
  assert.is(received.messages, CONNECTIONS * MESSAGES);
  assert.is(received.bytes, sentBytes);
  assert.is(echoedBytes, sentBytes);
  assert.is(received.closes, CONNECTIONS);
  assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
  console.log(`${CONNECTIONS} connections, ${sentBytes} bytes each way in ${elapsed} ms`);
});

/** Two in-memory `Duplex` ends: what one writes the other reads, pushed from inside the write (no tick). */
function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  for (const other of [1, 0]) {
    ends.push(
      new Duplex({
        read() {},
        write(chunk: Buffer, _encoding, callback) {
          ends[other]!.push(chunk);
          callback();
        },
        final(callback) {
          ends[other]!.push(null);
          callback();
        },
      }),
    );
  }
  return [ends[0]!, ends[1]!];
}

test('server and client sessions over in-memory Duplex pairs (writes that reach the peer at once) echo every message', async () => {
  const PAIRS = 3;
  const ROUNDS = 50;
  const results = await Promise.all(
    Array.from({ length: PAIRS }, async (_, pair) => {
      const [serverEnd, clientEnd] = duplexPair();
      serveSocket(serverEnd, (session) => session.consumeEach((message) => session.send(message)));
      const session = await connectSocket(clientEnd, 'ws://memory/echo');
      let got = 0;
      const echoed = new Promise<void>((resolve) => {
        void session.consumeEach((message) => {
          assert.is(message, `pair ${pair}`);
          if (++got === ROUNDS) return resolve();
          return session.send(message);
        });
      });
      await session.send(`pair ${pair}`);
      const outcome = await Promise.race([echoed.then(() => 'done'), new Promise((resolve) => setTimeout(resolve, 2000, 'stalled'))]);
      await session.close();
      return { outcome, got };
    }),
  );
  assert.equal(results, Array.from({ length: PAIRS }, () => ({ outcome: 'done', got: ROUNDS })));
});

test.run();
