/**
 * Memory must follow bytes, not the number of pieces they arrive in: a peer
 * that trickles one byte per TCP segment, or fragments a message into
 * 100,000 one-byte frames, must not make the server keep an object (or an
 * allocation) per piece. Measured with a forced GC on the server's side (it
 * runs in this process), then the data is checked to arrive intact.
 */
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../../src/frames/frame.ts';
import { startServer } from '../../support/server.ts';
import { liveMemory, sleep, waitFor } from '../../support/resources.ts';
import { maskedFrame, WireClient } from '../../support/wire-client.ts';
import { handshakeRequest } from '../../support/raw-client.ts';

/** A payload whose every byte depends on its position. */
function pattern(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

function sha1(data: Buffer | string): string {
  return createHash('sha1').update(data).digest('hex');
}


test('one byte per TCP segment while the handler is not reading: memory follows bytes, data intact', async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const digests: string[] = [];
  const server = await startServer(async (session) => {
    await released;
    for await (const message of session) {
      digests.push(sha1(message));
      if (typeof message !== 'string') break;
    }
  });
  const client = await WireClient.upgraded(server.port);
  // Fill the session's queues so its reader stops taking input.
  for (let i = 0; i < 60; i++) client.write(maskedFrame(Opcode.Text, `m${i}`));
  await sleep(100);

  const n = 20_000;
  const payload = pattern(n);
  const bytes = maskedFrame(Opcode.Binary, payload);
  const before = await liveMemory();
  for (let i = 0; i < n; i++) {
    client.write(bytes.subarray(i, i + 1));
    await new Promise((resolve) => setImmediate(resolve)); // one segment each
  }
  await sleep(100);
  const after = await liveMemory();
  const perByte = (after.heap + after.external - before.heap - before.external) / n;
  try {
    // Queued by reference, each one-byte segment cost ~200 bytes of heap (and
    // ~700 of RSS); coalesced, it costs a few. The bound leaves room for GC noise.
    assert.ok(perByte < 64, `${perByte.toFixed(1)} bytes of memory per byte trickled in`);
    client.write(bytes.subarray(n));
    release();
    await waitFor(() => digests.length === 61, 10_000, 'every message');
    assert.is(digests[0], sha1('m0'));
    assert.is(digests[59], sha1('m59'));
    assert.is(digests[60], sha1(payload));
  } finally {
    release();
    client.socket.destroy();
    await server.close();
  }
});

test('an idle connection keeps no copy slab from a time its reader was behind', async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const count = 100;
  const perClient = 40;
  let caughtUp = 0;
  const server = await startServer(async (session) => {
    await released;
    let n = 0;
    for await (const _ of session) if (++n === perClient) caughtUp++;
  });
  const clients: WireClient[] = [];
  for (let i = 0; i < count; i++) clients.push(await WireClient.upgraded(server.port));
  const before = await liveMemory();
  try {
    // Small messages, one segment each, while the handlers are not reading: the readers pause and
    // the small chunks that keep coming are copied into a slab (see socket-input.ts).
    for (let k = 0; k < perClient; k++) {
      for (const client of clients) client.write(maskedFrame(Opcode.Text, `m${k}`.padEnd(50, '.')));
      await sleep(2);
    }
    await sleep(100);
    release();
    await waitFor(() => caughtUp === count, 10_000, 'every handler to take every message');
    await sleep(50);
    const after = await liveMemory();
    const perConnection = (after.external - before.external) / count;
    // A 16 KiB slab kept by every connection that was once behind would show as ~16,000 bytes each.
    assert.ok(perConnection < 4096, `${perConnection.toFixed(0)} bytes of buffers kept per idle connection`);
  } finally {
    release();
    for (const client of clients) client.socket.destroy();
    await server.close();
  }
});

test('100,000 one-byte fragments of one message: memory follows bytes, the message is intact', async () => {
  let got: Buffer | undefined;
  const server = await startServer(async (session) => {
    for await (const message of session) {
      got = message as Buffer;
      break;
    }
  });
  const client = await WireClient.upgraded(server.port);
  const n = 100_000;
  const payload = pattern(n);
  const frames: Buffer[] = [maskedFrame(Opcode.Binary, payload.subarray(0, 1), false)];
  for (let i = 1; i < n - 1; i++) frames.push(maskedFrame(Opcode.Continuation, payload.subarray(i, i + 1), false));
  const before = await liveMemory();
  client.write(Buffer.concat(frames));
  await sleep(500);
  const after = await liveMemory();
  const perFragment = (after.heap + after.external - before.heap - before.external) / n;
  try {
    // Kept as views of the received chunks, each fragment cost ~100 bytes of
    // heap; copied into one buffer, a few. The bound leaves room for GC noise.
    assert.ok(perFragment < 40, `${perFragment.toFixed(1)} bytes of memory per one-byte fragment`);
    client.write(maskedFrame(Opcode.Continuation, payload.subarray(n - 1), true));
    await waitFor(() => got !== undefined, 10_000, 'the message');
    assert.ok(got!.equals(payload));
  } finally {
    client.socket.destroy();
    await server.close();
  }
});

test('fragments that share their TCP reads with pongs: memory follows the message, not the reads', async () => {
  // The parser hands out views of whole socket reads (up to 64 KiB). A peer
  // that sends each fragment of an unfinished message in a read padded with
  // ~63 KiB of unsolicited pongs made the server keep the whole read per
  // fragment: 60x the message's bytes for 1 KiB fragments (1 GiB for a
  // message at the default maxMessageSize), 10x for 6 KiB ones.
  const pong = maskedFrame(Opcode.Pong, Buffer.alloc(125, 0x70));
  const padding = Buffer.concat(Array.from({ length: 480 }, () => pong));
  for (const fragmentSize of [1024, 6 * 1024]) {
    let got: Buffer | undefined;
    const server = await startServer(async (session) => {
      for await (const message of session) {
        got = message as Buffer;
        break;
      }
    });
    const client = await WireClient.upgraded(server.port);
    const n = Math.ceil((1 << 20) / fragmentSize) + 1;
    const payload = pattern(n * fragmentSize);
    try {
      const before = await liveMemory();
      for (let i = 0; i < n - 1; i++) {
        const fragment = payload.subarray(i * fragmentSize, (i + 1) * fragmentSize);
        client.write(Buffer.concat([maskedFrame(i === 0 ? Opcode.Binary : Opcode.Continuation, fragment, false), padding]));
        await new Promise((resolve) => setImmediate(resolve)); // about one read per fragment
      }
      await sleep(200);
      const after = await liveMemory();
      const held = (after.heap + after.external - before.heap - before.external) / ((n - 1) * fragmentSize);
      assert.ok(held < 4, `${fragmentSize} B fragments: ${held.toFixed(1)} bytes of memory per byte of the message`);
      client.write(maskedFrame(Opcode.Continuation, payload.subarray((n - 1) * fragmentSize), true));
      await waitFor(() => got !== undefined, 10_000, 'the message');
      assert.ok(got!.equals(payload), `${fragmentSize} B fragments: the message is intact`);
    } finally {
      client.socket.destroy();
      await server.close();
    }
  }
});

test('request heads trickled in two-byte segments: memory follows the head, and the header arrives intact', async () => {
  const seen: string[] = [];
  const server = await startServer(async (session) => {
    seen.push(String(session.request?.headers['x-long']));
    await session.close();
  });
  const conns = 40;
  const value = Buffer.from(pattern(12_000).map((b) => 0x61 + (b % 26))).toString('latin1');
  const clients: WireClient[] = [];
  try {
    for (let i = 0; i < conns; i++) {
      const client = await WireClient.connect(server.port);
      client.write('GET / HTTP/1.1\r\nX-Long: ');
      clients.push(client);
    }
    await sleep(100);
    const before = await liveMemory();
    for (let at = 0; at < value.length; at += 2) {
      for (const client of clients) client.write(value.slice(at, at + 2));
      await new Promise((resolve) => setImmediate(resolve)); // about one read per segment
    }
    await sleep(200);
    const after = await liveMemory();
    const held = (after.heap + after.external - before.heap - before.external) / (conns * value.length);
    // Kept as a string per read, an unfinished line cost ~17 bytes per byte;
    // in one growing buffer it costs at most maxHeadSize (16 KiB) per head.
    assert.ok(held < 4, `${held.toFixed(1)} bytes of memory per byte of the pending heads`);
    const rest = handshakeRequest().slice('GET / HTTP/1.1\r\n'.length);
    for (const client of clients) client.write('\r\n' + rest);
    for (const client of clients) await waitFor(() => client.statusLine !== '', 5000, 'the answer');
    for (const client of clients) assert.is(client.statusLine, 'HTTP/1.1 101 Switching Protocols');
    await waitFor(() => seen.length === conns, 5000, 'every session');
    assert.ok(seen.every((got) => got === value), 'the trickled header value arrives intact');
  } finally {
    for (const client of clients) client.socket.destroy();
    await server.close();
  }
});

test('100,000 tiny fragments past maxMessageSize: 1009 once the limit is passed', async () => {
  const server = await startServer(
    async (session) => {
      for await (const _ of session);
    },
    { session: { maxMessageSize: 50_000 } },
  );
  const client = await WireClient.upgraded(server.port);
  const one = Buffer.from([0x2a]);
  const frames: Buffer[] = [maskedFrame(Opcode.Binary, one, false)];
  for (let i = 1; i < 100_000; i++) frames.push(maskedFrame(Opcode.Continuation, one, i === 99_999));
  client.write(Buffer.concat(frames));
  const close = await client.untilAfterHead(4);
  assert.is(close[0], 0x88);
  assert.is(close.readUInt16BE(2), 1009);
  await client.untilClosed();
  const job = await server.job();
  await job.join();
  await server.close();
});

test.run();
