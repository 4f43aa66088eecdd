/**
 * The raw session through `WebSocketUpgrade` over a real loopback socket:
 * the handler sees every frame (no automatic pong, no reassembly), and
 * `flush`, `terminate`, `protocol`, `masking` and `maxFrameSize` behave as
 * documented.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { once } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dispatchers } from '../../src/channels/context.ts';
import type { Job } from '../../src/channels/job.ts';
import { socketChannels } from '../../src/channels/node-adapter.ts';
import { frame, Opcode, type Frame } from '../../src/frames/frame.ts';
import type { RawSessionOptions } from '../../src/session/options.ts';
import type { RawWebSocketSession } from '../../src/session/raw-session.ts';
import { formatResponseHead } from '../../src/upgrade/http-response.ts';
import { readRequestHead } from '../../src/upgrade/request-head.ts';
import { WebSocketUpgrade } from '../../src/upgrade/websocket-upgrade.ts';
import { handshakeRequest, RawClient } from '../support/raw-client.ts';

const engine = { dispatcher: Dispatchers.Immediate };

/** A node:net server that answers with `WebSocketUpgrade` and runs `handle` on the raw session. */
async function rawServer(
  handle: (session: RawWebSocketSession) => Promise<void>,
  session: RawSessionOptions = { maxFrameSize: 4096 },
): Promise<{ port: number; server: Server; job: Promise<Job> }> {
  let resolveJob!: (job: Job) => void;
  const job = new Promise<Job>((resolve) => (resolveJob = resolve));
  const server = createServer(async (socket) => {
    const { input, output } = socketChannels(socket);
    const request = await readRequestHead(input);
    const upgrade = new WebSocketUpgrade(request, ['chat'], handle, { session });
    output.tryWriteFully(formatResponseHead(upgrade.status, upgrade.headers));
    resolveJob(upgrade.upgrade(input, output, engine, engine));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, server, job };
}

test('the handler sees every frame as it arrives: fragments, pings and the close', async () => {
  const seen: Frame[] = [];
  let session!: RawWebSocketSession;
  const { port, server, job } = await rawServer(async (s) => {
    session = s;
    for await (const f of s.incoming) {
      seen.push(f);
      if (f.opcode === Opcode.Ping) await s.send(frame(Opcode.Pong, f.payload));
      if (f.opcode === Opcode.Close) await s.send(frame(Opcode.Close, f.payload));
    }
  });
  const client = await RawClient.open(port, handshakeRequest('/', { 'Sec-WebSocket-Protocol': 'chat' }));
  assert.match(client.responseHead, /Sec-WebSocket-Protocol: chat/);
  client.sendFrame(Opcode.Text, 'Hel', false);
  client.sendFrame(Opcode.Ping, 'p');
  client.sendFrame(Opcode.Continuation, 'lo', true);
  const pong = await client.nextFrame();
  assert.is(pong.opcode, Opcode.Pong);
  client.sendFrame(Opcode.Close, Buffer.from([0x03, 0xe8]));
  assert.equal(await client.closeFrame(), { code: 1000, reason: '' });
  await client.closed();
  await (await job).join();
  assert.equal(
    seen.map((f) => [f.opcode, f.fin, f.payload.toString('latin1')]),
    [
      [Opcode.Text, false, 'Hel'],
      [Opcode.Ping, true, 'p'],
      [Opcode.Continuation, true, 'lo'],
      [Opcode.Close, true, '\x03\xe8'],
    ],
  );
  assert.is(session.protocol, 'chat');
  assert.is(session.masking, false);
  assert.is(session.maxFrameSize, 4096);
  server.close();
});

test('incomingQueueBytes: frames the handler has not taken stop reading at the byte budget; none is lost', async () => {
  let session!: RawWebSocketSession;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const payloads: string[] = [];
  const { port, server, job } = await rawServer(
    async (s) => {
      session = s;
      await gate;
      for await (const f of s.incoming) {
        if (f.opcode === Opcode.Close) await s.send(frame(Opcode.Close, f.payload));
        else payloads.push(f.payload.toString('latin1'));
      }
    },
    { maxFrameSize: 4096, incomingQueue: 16, incomingQueueBytes: 8000 },
  );
  const client = await RawClient.open(port, handshakeRequest('/'));
  const sent = Array.from({ length: 12 }, (_, i) => String.fromCharCode(0x41 + i).repeat(3000));
  for (const payload of sent) client.sendFrame(Opcode.Binary, payload);
  await new Promise((resolve) => setTimeout(resolve, 200));
  // 16 frames would fit by count; the byte budget lets in two of 3000 bytes (a third would pass 8000).
  assert.is(session.incoming.size, 2);
  assert.is(session.incoming.bufferedWeight, 6000);
  open();
  client.sendFrame(Opcode.Close, Buffer.from([0x03, 0xe8]));
  assert.equal(await client.closeFrame(), { code: 1000, reason: '' });
  await (await job).join();
  assert.equal(payloads, sent);
  server.close();
});

test('a raw handler that returns without reading while frames are queued: the session still ends (closeTimeoutMs), its job completes', async () => {
  let session!: RawWebSocketSession;
  const { port, server, job } = await rawServer(
    async (s) => {
      session = s;
      await s.incoming.receive(); // one frame, then the handler is done
    },
    { maxFrameSize: 4096, incomingQueue: 2, closeTimeoutMs: 200 },
  );
  const client = await RawClient.open(port, handshakeRequest('/'));
  for (let i = 0; i < 20; i++) client.sendFrame(Opcode.Binary, 'x'.repeat(100));
  assert.equal(await client.closeFrame(), { code: 1000, reason: '' });
  client.sendFrame(Opcode.Close, Buffer.from([0x03, 0xe8])); // stuck behind the frames nobody reads
  const done = await Promise.race([(await job).join().then(() => 'completed'), new Promise((r) => setTimeout(r, 3000, 'still running'))]);
  assert.is(done, 'completed');
  assert.equal(await session.closeReason, { code: 1006, reason: '' });
  client.destroy();
  server.close();
});

test('flush resolves once every frame queued before it was handed to the output', async () => {
  let flushedAfter = -1;
  const { port, server, job } = await rawServer(async (s) => {
    for (let i = 0; i < 10; i++) await s.send(frame(Opcode.Binary, Buffer.alloc(1000, i)));
    await s.flush();
    flushedAfter = s.outgoing.size;
    await s.send(frame(Opcode.Close, Buffer.from([0x03, 0xe8])));
    for await (const _ of s.incoming);
  });
  const client = await RawClient.open(port);
  await client.until(() => client.frames.length >= 11);
  assert.is(flushedAfter, 0);
  assert.equal(client.frames.slice(0, 10).map((f) => f.payload[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.is(client.frames[10]!.opcode, Opcode.Close);
  client.sendFrame(Opcode.Close, Buffer.from([0x03, 0xe8]));
  await client.closed();
  await (await job).join();
  server.close();
});

test('terminate drops the connection at once, without a close frame; closeReason is 1006', async () => {
  let session!: RawWebSocketSession;
  const { port, server, job } = await rawServer(async (s) => {
    session = s;
    s.terminate();
  });
  const client = await RawClient.open(port);
  await client.closed();
  assert.equal(client.frames, [], 'no close frame');
  await (await job).join();
  assert.equal(await session.closeReason, { code: 1006, reason: '' });
  server.close();
});

test('a frame over maxFrameSize fails the session with 1009 before its payload is read', async () => {
  let failure: unknown;
  const { port, server, job } = await rawServer(async (s) => {
    try {
      for await (const _ of s.incoming);
    } catch (error) {
      failure = error;
    }
  });
  const client = await RawClient.open(port);
  client.socket.write(Buffer.from([0x82, 0xfe, 0x20, 0x00, 1, 2, 3, 4])); // masked binary, 8192 bytes announced
  assert.is((await client.closeFrame()).code, 1009);
  await (await job).join();
  assert.is((failure as { closeCode?: number }).closeCode, 1009);
  client.destroy();
  server.close();
});

test.run();
