/**
 * This project's client against this project's server
 * (`createWebSocketServer`) over loopback: 1,000 concurrent connections,
 * each sending text and binary messages that the server echoes (and
 * counts), all data accounted for on both sides, every session ending with
 * a clean close handshake and a completed job.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from '../../src/upgrade/connect.ts';
import { createWebSocketServer } from '../../src/upgrade/serve.ts';

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

test.run();
