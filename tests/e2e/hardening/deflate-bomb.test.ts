/**
 * A decompression bomb over a real connection with permessage-deflate
 * negotiated: about 1 MiB on the wire that would inflate to 1 GiB. The
 * server stops inflating as soon as the message passes `maxMessageSize`
 * (1 MiB here, and the 16 MiB default), answers 1009, and its memory stays
 * near the limit; the server keeps serving. (The extension itself is tested
 * in tests/unit/extensions/permessage-deflate-bomb.test.ts.)
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import zlib from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeClosePayload } from '../../../src/frames/close.ts';
import { Opcode, type Frame } from '../../../src/frames/frame.ts';
import { FrameParser, Rsv } from '../../../src/frames/parser.ts';
import { serializeFrame } from '../../../src/frames/serializer.ts';
import { permessageDeflate } from '../../../src/extensions/permessage-deflate.ts';
import { handshakeRequest, RawClient } from '../../support/raw-client.ts';
import { startServer } from '../../support/server.ts';
import { waitFor } from '../../support/resources.ts';
import { MASK, WireClient } from '../../support/wire-client.ts';

const MiB = 1024 * 1024;

/** `copies` x `zeros` zero bytes as one permessage-deflate payload (sync-flushed blocks back to back, tail stripped). */
function bomb(zeros: number, copies: number): Buffer {
  const unit = zlib.deflateRawSync(Buffer.alloc(zeros), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const all = Buffer.concat(Array.from({ length: copies }, () => unit));
  return all.subarray(0, all.length - 4);
}

test('a 1 GiB bomb in one compressed frame against a 1 MiB limit: 1009, memory near the limit, still serving', async () => {
  const server = await startServer(
    async (session) => {
      try {
        for await (const message of session) await session.send(message);
      } catch {
        // the 1009
      }
    },
    { extensions: [permessageDeflate()], session: { maxMessageSize: MiB } },
  );
  const client = await WireClient.connect(server.port);
  client.write(handshakeRequest('/', { 'Sec-WebSocket-Extensions': 'permessage-deflate' }));
  await waitFor(() => client.statusLine !== '', 5000, 'the 101');
  assert.match(client.received.toString('latin1'), /sec-websocket-extensions: permessage-deflate/i);

  const payload = bomb(16 * MiB, 64);
  assert.ok(payload.length < 1 * MiB, `bomb of ${payload.length} bytes on the wire`);
  const frame = serializeFrame({ opcode: Opcode.Binary, fin: true, rsv1: true, rsv2: false, rsv3: false, payload }, MASK);

  const base = process.memoryUsage();
  let peak = 0;
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    peak = Math.max(peak, now.arrayBuffers - base.arrayBuffers);
  }, 1);
  client.write(frame);
  const close = await client.untilAfterHead(4, 20_000);
  clearInterval(sampler);
  assert.is(close[0], 0x88);
  assert.is(close.readUInt16BE(2), 1009);
  // The frame itself (it is under the limit), zlib's output chunks up to the limit, some slack.
  assert.ok(peak < 2 * payload.length + 8 * MiB, `array buffers grew by ${(peak / MiB).toFixed(1)} MiB`);
  await client.untilClosed();

  const normal = await RawClient.open(server.port);
  normal.sendFrame(Opcode.Text, 'after the bomb');
  assert.is((await normal.nextFrame()).payload.toString(), 'after the bomb');
  normal.destroy();
  await server.close();
});

test('a 1 GiB bomb from a raw client gets a 1009 close', async () => {
  const server = await startServer(
    async (session) => {
      for await (const message of session) await session.send(message);
    },
    { extensions: [permessageDeflate({})] },
  );
  const socket = connect({ port: server.port, host: '127.0.0.1' });
  try {
    await once(socket, 'connect');
    socket.write(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n',
    );
    const parser = new FrameParser({ role: 'client', rsvAllowed: Rsv.Rsv1 });
    const frames: Frame[] = [];
    let head = '';
    let headDone = false;
    const closeFrame = new Promise<Frame>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('close', () => reject(new Error(`closed without a close frame; head ${JSON.stringify(head)}`)));
      socket.on('data', (chunk: Buffer) => {
        let rest = chunk;
        if (!headDone) {
          head += chunk.toString('latin1');
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          headDone = true;
          rest = Buffer.from(head.slice(end + 4), 'latin1');
          head = head.slice(0, end);
          // A 1 GiB run of zeros as 64 copies of a self-contained 16 MiB unit, about 1 MiB in all.
          const payload = bomb(16 * MiB, 64);
          const f: Frame = { opcode: Opcode.Binary, fin: true, rsv1: true, rsv2: false, rsv3: false, payload };
          socket.write(serializeFrame(f, Buffer.from([9, 8, 7, 6])));
        }
        parser.push(rest);
        for (let f = parser.next(); f !== undefined; f = parser.next()) {
          frames.push(f);
          if (f.opcode === Opcode.Close) resolve(f);
        }
      });
    });
    const close = await closeFrame;
    assert.match(head, /^HTTP\/1\.1 101/);
    assert.match(head, /\r\nSec-WebSocket-Extensions: permessage-deflate\b/i);
    assert.is(decodeClosePayload(close.payload).code, 1009);
    assert.is(frames.length, 1, 'nothing was echoed');
  } finally {
    socket.destroy();
    await server.close();
  }
});

test.run();
