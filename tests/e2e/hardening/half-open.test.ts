/**
 * Many half-open connections at once (a slowloris): 500 clients each send
 * half a request head and stall. The server keeps accepting, a normal client
 * still upgrades and echoes meanwhile, and every stalled connection is
 * dropped at the head timeout, leaving the server with no socket open.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../../src/frames/frame.ts';
import { handshakeRequest, RawClient } from '../../support/raw-client.ts';
import { startServer } from '../../support/server.ts';
import { connectionCount, waitFor } from '../../support/resources.ts';
import { WireClient } from '../../support/wire-client.ts';

const STALLED = 500;
const HEAD_TIMEOUT_MS = 1500;

test(`${STALLED} half-open connections: a normal client still echoes, the stalled ones are dropped at the head timeout`, async () => {
  const server = await startServer(
    async (session) => {
      for await (const message of session) await session.send(message);
    },
    { requestHead: { timeoutMs: HEAD_TIMEOUT_MS } },
  );
  const half = handshakeRequest().slice(0, 60);
  const stalled: WireClient[] = [];
  for (let i = 0; i < STALLED; i += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, () => WireClient.connect(server.port)));
    for (const client of batch) client.write(half);
    stalled.push(...batch);
  }
  await waitFor(async () => (await connectionCount(server.server)) === STALLED, 5000, 'every stalled connection accepted');

  const client = await RawClient.open(server.port);
  assert.ok(client.responseHead.startsWith('HTTP/1.1 101 '));
  client.sendFrame(Opcode.Text, 'through the crowd');
  assert.is((await client.nextFrame()).payload.toString(), 'through the crowd');
  assert.ok(stalled.every((c) => !c.closed), 'a stalled connection was dropped before the timeout');
  client.sendFrame(Opcode.Close, Buffer.from([0x03, 0xe8]));
  await client.closed();

  await waitFor(() => stalled.every((c) => c.closed), HEAD_TIMEOUT_MS + 5000, 'the stalled connections to be dropped');
  assert.ok(stalled.every((c) => !c.received.toString('latin1').startsWith('HTTP/1.1 101')));
  await waitFor(async () => (await connectionCount(server.server)) === 0, 5000, 'no open socket on the server');
  await server.close();
});

test.run();
