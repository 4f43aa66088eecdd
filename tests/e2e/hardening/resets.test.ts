/**
 * A TCP reset at every phase of a connection: during the request head, in the
 * middle of a frame, while the server writes a large message, during the
 * close handshake, and while the handler is not reading. Each session ends
 * with closeReason 1006, its job completes, the server's socket count returns
 * to zero, and no handle or timer is left behind: the active resources of the
 * process (`process.getActiveResourcesInfo()`) are what they were before.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Job } from '../../../src/channels/job.ts';
import { Opcode } from '../../../src/frames/frame.ts';
import type { DefaultWebSocketSession } from '../../../src/session/default-session.ts';
import type { WebSocketHandler } from '../../../src/upgrade/serve.ts';
import { handshakeRequest } from '../../support/raw-client.ts';
import { startServer, type TestServer } from '../../support/server.ts';
import { activeResources, connectionCount, resourceDiff, sleep, waitFor } from '../../support/resources.ts';
import { maskedFrame, WireClient } from '../../support/wire-client.ts';

/** What the current phase's handler does; set by each test. */
let behaviour: WebSocketHandler = () => {};
let sessions: DefaultWebSocketSession[] = [];
let server: TestServer;

test.before(async () => {
  server = await startServer(
    async (session, request) => {
      sessions.push(session);
      await behaviour(session, request);
    },
    // Long timeouts: any cleanup seen below comes from the reset, not a timer.
    { session: { closeTimeoutMs: 30_000, writeTimeoutMs: 30_000 }, requestHead: { timeoutMs: 30_000 } },
  );
});

test.after(async () => {
  await server.close();
});


/**
 * Runs one phase: `act` opens connections and resets them. Afterwards every
 * session ended with 1006, every job completed, the server holds no socket
 * and the process's active resources are back to what they were.
 */
async function phase(handler: WebSocketHandler, act: () => Promise<void>): Promise<void> {
  behaviour = handler;
  sessions = [];
  const jobsBefore = server.jobs.length;
  await sleep(20);
  const before = activeResources();
  await act();
  const jobs: Job[] = server.jobs.slice(jobsBefore);
  await Promise.all(jobs.map((job) => job.join()));
  for (const job of jobs) assert.ok(job.isCompleted, `a job ended ${job.state}`);
  for (const session of sessions) assert.equal(await session.closeReason, { code: 1006, reason: '' });
  await waitFor(async () => (await connectionCount(server.server)) === 0, 5000, 'no socket on the server');
  await waitFor(() => resourceDiff(before, activeResources()).length === 0, 5000, 'active resources back to before').catch(() => {
    assert.unreachable(`left behind: ${resourceDiff(before, activeResources()).join(', ')}`);
  });
}

const reader: WebSocketHandler = async (session) => {
  try {
    for await (const message of session) await session.send(message);
  } catch {
    // the reset
  }
};

test('reset during the request head: the socket goes, the head timer is cleared', async () => {
  await phase(reader, async () => {
    for (let i = 0; i < 20; i++) {
      const client = await WireClient.connect(server.port);
      client.write(handshakeRequest().slice(0, 10 + i * 3));
      await sleep(5);
      client.socket.resetAndDestroy();
    }
  });
});

test('reset in the middle of a frame: 1006, job completes', async () => {
  await phase(reader, async () => {
    for (let i = 0; i < 20; i++) {
      const client = await WireClient.upgraded(server.port);
      const frame = maskedFrame(Opcode.Binary, Buffer.alloc(100_000, i));
      client.write(frame.subarray(0, 2 + i * 997));
      await sleep(5);
      client.socket.resetAndDestroy();
    }
  });
});

test('reset while the server writes a large message: 1006, the send settles, job completes', async () => {
  let settled = 0;
  await phase(
    async (session) => {
      try {
        await session.send(Buffer.alloc(8 * 1024 * 1024, 1));
        await session.send(Buffer.alloc(8 * 1024 * 1024, 2));
      } catch {
        // the reset
      }
      settled++;
      for await (const _ of session);
    },
    async () => {
      for (let i = 0; i < 5; i++) {
        const client = await WireClient.upgraded(server.port);
        await client.untilAfterHead(100_000);
        client.socket.resetAndDestroy();
      }
    },
  );
  assert.is(settled, 5);
});

test('reset during the close handshake (our close sent, no answer): 1006, close timer cleared', async () => {
  await phase(
    async (session) => {
      await session.close(1000, 'bye');
    },
    async () => {
      for (let i = 0; i < 10; i++) {
        const client = await WireClient.upgraded(server.port);
        await client.untilAfterHead(5);
        client.socket.resetAndDestroy();
      }
    },
  );
});

test('reset while the handler does not read and the queues are full: 1006, job completes', async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await phase(
    async (session) => {
      await released;
      try {
        for await (const _ of session);
      } catch {
        // the reset
      }
    },
    async () => {
      const clients: WireClient[] = [];
      for (let i = 0; i < 5; i++) {
        const client = await WireClient.upgraded(server.port);
        for (let k = 0; k < 200; k++) client.write(maskedFrame(Opcode.Text, `message ${k}`));
        clients.push(client);
      }
      await sleep(50);
      for (const client of clients) client.socket.resetAndDestroy();
      await sleep(50);
      release();
    },
  );
});

test('a handler that returns without reading while the peer keeps sending: the job still completes once the peer resets', async () => {
  await phase(
    () => {},
    async () => {
      for (let i = 0; i < 5; i++) {
        const client = await WireClient.upgraded(server.port);
        for (let k = 0; k < 200; k++) client.write(maskedFrame(Opcode.Text, `message ${k}`));
        await sleep(20);
        client.socket.resetAndDestroy();
      }
    },
  );
});

test.run();
