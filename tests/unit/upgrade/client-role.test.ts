/**
 * The client role over in-memory byte channels (`connectChannels`), with
 * this project's own server-side pieces playing the server: the request is
 * a valid upgrade, frames sent in the same write as the 101 reach the
 * session, every outgoing frame is masked with a fresh key, and a masked
 * frame from the server fails the connection with 1002.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteChannel } from '../../../src/channels/byte-channel.ts';
import { decodeClosePayload } from '../../../src/frames/close.ts';
import { ProtocolError } from '../../../src/frames/errors.ts';
import { Opcode, frame, type Frame } from '../../../src/frames/frame.ts';
import { FrameParser } from '../../../src/frames/parser.ts';
import { serializeFrame } from '../../../src/frames/serializer.ts';
import { connectChannels } from '../../../src/upgrade/connect.ts';
import { responseHeaders, validateUpgradeRequest } from '../../../src/upgrade/handshake.ts';
import { formatResponseHead } from '../../../src/upgrade/http-response.ts';
import { readRequestHead } from '../../../src/upgrade/request-head.ts';

/** Starts a client over two channels and answers its handshake with a 101 followed by `first`. */
async function handshake(first: Buffer = Buffer.alloc(0)) {
  const toClient = new ByteChannel(1 << 20);
  const toServer = new ByteChannel(1 << 20);
  const connecting = connectChannels(toClient, toServer, 'ws://example.test/live?x=1');
  const request = await readRequestHead(toServer);
  assert.is(request.url, '/live?x=1');
  assert.is(request.headers['host'], 'example.test');
  const validated = validateUpgradeRequest(request);
  toClient.tryWriteFully(Buffer.concat([formatResponseHead(101, responseHeaders(validated)), first]));
  return { session: await connecting, toClient, toServer };
}

/** Splits the raw bytes the client wrote into frames with their mask keys (payloads under 126 bytes). */
function rawFrames(bytes: Buffer): Array<{ masked: boolean; key: string; opcode: number }> {
  const out = [];
  for (let pos = 0; pos < bytes.length; ) {
    const length = bytes[pos + 1]! & 0x7f;
    assert.ok(length < 126, 'test frames are small');
    out.push({ masked: (bytes[pos + 1]! & 0x80) !== 0, key: bytes.toString('hex', pos + 2, pos + 6), opcode: bytes[pos]! & 0x0f });
    pos += 6 + length;
  }
  return out;
}

test('frames sent with the 101 reach the session; every outgoing frame is masked with a fresh key', async () => {
  const greeting = serializeFrame(frame(Opcode.Text, Buffer.from('welcome')));
  const { session, toServer } = await handshake(greeting);
  assert.is(await session.receive(), 'welcome');
  assert.ok(session.raw.masking);
  for (let i = 0; i < 50; i++) await session.send(i % 2 === 0 ? `message ${i}` : Buffer.from([i]));
  await session.sendFrame(frame(Opcode.Ping, Buffer.from('p')));
  await session.raw.flush();
  const chunks: Buffer[] = [];
  for (let chunk = toServer.tryReadChunk(); chunk !== undefined; chunk = toServer.tryReadChunk()) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  const frames = rawFrames(bytes);
  assert.is(frames.length, 51);
  assert.ok(frames.every((f) => f.masked));
  assert.is(new Set(frames.map((f) => f.key)).size, 51, 'a fresh key per frame');
  // The server-role parser (which requires masks) reads them back unchanged.
  const parser = new FrameParser({ role: 'server' });
  parser.push(bytes);
  const parsed: Frame[] = [];
  for (let f = parser.next(); f !== undefined; f = parser.next()) parsed.push(f);
  assert.is(parsed[0]!.payload.toString(), 'message 0');
  assert.equal([...parsed[1]!.payload], [1]);
  assert.is(parsed[50]!.opcode, Opcode.Ping);
  session.raw.terminate();
});

test('a masked frame from the server fails the connection with 1002', async () => {
  const masked = serializeFrame(frame(Opcode.Text, Buffer.from('sneaky')), Buffer.from([1, 2, 3, 4]));
  const { session, toServer } = await handshake(masked);
  try {
    await session.receive();
    assert.unreachable('a masked frame must not be delivered');
  } catch (error) {
    assert.instance(error, ProtocolError);
    assert.is((error as ProtocolError).closeCode, 1002);
  }
  const closing = await toServer.readRemaining();
  const parser = new FrameParser({ role: 'server' });
  parser.push(closing);
  const close = parser.next();
  assert.is(close?.opcode, Opcode.Close);
  assert.is(decodeClosePayload(close!.payload).code, 1002);
  await session.raw.job.join();
});

test('after a clean close the client waits for the server to end TCP, then ends', async () => {
  const { session, toClient, toServer } = await handshake();
  const closing = session.close(1000, 'bye');
  const parser = new FrameParser({ role: 'server' });
  parser.push((await toServer.readChunk())!);
  assert.is(parser.next()?.opcode, Opcode.Close);
  toClient.tryWriteFully(serializeFrame(frame(Opcode.Close, Buffer.from([0x03, 0xe8]))));
  assert.equal(await closing, { code: 1000, reason: '' });
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.not.ok(session.raw.job.isCompleted, 'still waiting for the server to close');
  toClient.close();
  await session.raw.job.join();
  assert.is(session.raw.job.state, 'completed');
  assert.ok(toServer.isClosedForWrite);
});

test.run();
