/**
 * Hostile frames after a valid handshake, over loopback: absurd lengths,
 * over-long control frames, random garbage, a peer stalling mid-frame. Each
 * ends the one connection with the right close code (or drops it), the
 * session's job completes, and the server keeps serving.
 */
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isValidCloseCode } from '../../../src/frames/close.ts';
import { Opcode, type Frame } from '../../../src/frames/frame.ts';
import { FrameParser } from '../../../src/frames/parser.ts';
import type { DefaultWebSocketSession } from '../../../src/session/default-session.ts';
import { PartialFrameTimeoutError } from '../../../src/session/errors.ts';
import { RawClient } from '../../support/raw-client.ts';
import { startServer, type TestServer } from '../../support/server.ts';
import { connectionCount, liveMemory, waitFor } from '../../support/resources.ts';
import { MASK, maskedFrame, WireClient } from '../../support/wire-client.ts';

let server: TestServer;
let lastSession: DefaultWebSocketSession | undefined;
let lastError: unknown;

test.before(async () => {
  server = await startServer(
    async (session) => {
      lastSession = session;
      try {
        for await (const message of session) await session.send(message);
      } catch (error) {
        lastError = error;
      }
    },
    { session: { partialFrameTimeoutMs: 300 } },
  );
});

test.after(async () => {
  await server.close();
});


/** The close code of the close frame the server sent first (after the 101), once it arrived. */
async function closeCode(client: WireClient): Promise<number> {
  const bytes = await client.untilAfterHead(4);
  assert.is(bytes[0], 0x88, `first frame byte 0x${bytes[0]?.toString(16)}, expected a close frame`);
  return bytes.readUInt16BE(2);
}

/** A normal client still echoes. */
async function assertStillServing(): Promise<void> {
  const client = await RawClient.open(server.port);
  client.sendFrame(Opcode.Text, 'alive');
  assert.is((await client.nextFrame()).payload.toString(), 'alive');
  client.destroy();
}

test('a header announcing 2^63-1 bytes: 1009 at once, nothing allocated', async () => {
  const client = await WireClient.upgraded(server.port);
  const before = await liveMemory();
  const header = Buffer.from([0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  client.write(Buffer.concat([header, MASK]));
  assert.is(await closeCode(client), 1009);
  await client.untilClosed();
  const after = await liveMemory();
  assert.ok(after.external - before.external < 1024 * 1024, `${after.external - before.external} bytes of buffers grew`);
  assert.ok(after.heap - before.heap < 4 * 1024 * 1024, `${after.heap - before.heap} bytes of heap grew`);
});

test('a header announcing 2^32 + 1 bytes (over the 16 MiB default) before any payload: 1009', async () => {
  const client = await WireClient.upgraded(server.port);
  client.write(Buffer.from([0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 1]));
  assert.is(await closeCode(client), 1009);
  await client.untilClosed();
});

test('a 64-bit length with the top bit set: 1002', async () => {
  const client = await WireClient.upgraded(server.port);
  client.write(Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1]));
  assert.is(await closeCode(client), 1002);
  await client.untilClosed();
});

for (const [name, opcode] of [['ping', Opcode.Ping], ['pong', Opcode.Pong], ['close', Opcode.Close]] as const) {
  test(`a ${name} frame of 126 bytes (control frames are at most 125): 1002`, async () => {
    const client = await WireClient.upgraded(server.port);
    const payload = Buffer.alloc(126, 0x41);
    if (opcode === Opcode.Close) payload.writeUInt16BE(1000, 0);
    // Built by hand: the serializer refuses to produce this frame.
    const header = Buffer.from([0x80 | opcode, 0x80 | 126, 0, 126]);
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i]! ^= MASK[i % 4]!;
    client.write(Buffer.concat([header, MASK, masked]));
    assert.is(await closeCode(client), 1002);
    await client.untilClosed();
  });
}

test('a fragmented ping: 1002', async () => {
  const client = await WireClient.upgraded(server.port);
  // Built by hand: the serializer refuses to produce this frame.
  client.write(Buffer.from([Opcode.Ping, 0x81, ...MASK, 0x78 ^ MASK[0]!]));
  assert.is(await closeCode(client), 1002);
  await client.untilClosed();
});

test('random garbage after the handshake (200 rounds): a valid close code or a dropped connection, every time', async () => {
  for (let round = 0; round < 200; round++) {
    const client = await WireClient.upgraded(server.port);
    // Half the rounds start with a valid frame so the garbage lands mid-session.
    if (round % 2 === 0) client.write(maskedFrame(Opcode.Text, 'ok'));
    const garbage = randomBytes(1 + (round % 64) * 17);
    client.write(garbage);
    client.socket.end();
    await client.untilClosed();
    // The garbage may hold valid frames (a ping gets its pong): every frame must parse, and a
    // close frame, if any, comes last with a valid code.
    const parser = new FrameParser({ role: 'client' });
    parser.push(client.afterHead);
    const frames: Frame[] = [];
    for (let f = parser.next(); f !== undefined; f = parser.next()) frames.push(f);
    assert.is(parser.bufferedBytes, 0, `round ${round}: a partial frame on the wire`);
    const closeAt = frames.findIndex((f) => f.opcode === Opcode.Close);
    if (closeAt >= 0) {
      assert.is(closeAt, frames.length - 1, `round ${round}: frames after the close`);
      const payload = frames[closeAt]!.payload;
      if (payload.length > 0) {
        const code = payload.readUInt16BE(0);
        assert.ok(isValidCloseCode(code), `round ${round}: close code ${code}`);
      }
    }
  }
  await assertStillServing();
});

test('a peer stalling mid-frame is dropped after partialFrameTimeoutMs (1006); the job completes', async () => {
  const previous = lastSession;
  const client = await WireClient.upgraded(server.port);
  await waitFor(() => lastSession !== previous, 5000, 'the session');
  const session = lastSession!;
  const job = server.jobs[server.jobs.length - 1]!;
  // The header and 2 of 100 payload bytes, then nothing.
  client.write(maskedFrame(Opcode.Binary, Buffer.alloc(100)).subarray(0, 8));
  await client.untilClosed(3000);
  await job.join();
  assert.equal(await session.closeReason, { code: 1006, reason: '' });
  assert.instance(lastError, PartialFrameTimeoutError);
});

test('a peer stalling right after a complete header (payload not begun) is dropped too', async () => {
  const client = await WireClient.upgraded(server.port);
  client.write(maskedFrame(Opcode.Binary, Buffer.alloc(70_000)).subarray(0, 14));
  await client.untilClosed(3000);
});

test('a peer idle between frames is not dropped by partialFrameTimeoutMs', async () => {
  const client = await RawClient.open(server.port);
  client.sendFrame(Opcode.Text, 'one');
  assert.is((await client.nextFrame()).payload.toString(), 'one');
  await new Promise((resolve) => setTimeout(resolve, 700));
  assert.not.ok(client.ended);
  client.sendFrame(Opcode.Text, 'two');
  assert.is((await client.nextFrame()).payload.toString(), 'two');
  client.destroy();
});

test('after all of that the server serves, and holds only the sockets still open', async () => {
  await assertStillServing();
  await waitFor(async () => (await connectionCount(server.server)) === 0, 5000, 'every socket closed');
});

test.run();
