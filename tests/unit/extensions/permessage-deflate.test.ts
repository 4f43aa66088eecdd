/**
 * permessage-deflate message transforms: the RFC 7692 section 7.2.3
 * examples, compress/decompress identity for every parameter combination,
 * window bits (including 8), threshold, context takeover and stream
 * release, size limit, invalid data, dispose, the process-wide limiter, and
 * interop with the `ws` implementation's codec.
 */
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import zlib from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProtocolError } from '../../../src/frames/errors.ts';
import { Opcode } from '../../../src/frames/frame.ts';
import { CodecClosedError, MessageDeflater, MessageInflater } from '../../../src/extensions/deflate-codec.ts';
import {
  permessageDeflate,
  PerMessageDeflate,
  type PerMessageDeflateOptions,
} from '../../../src/extensions/permessage-deflate.ts';
import { sharedZlibLimiter, ZlibLimiter } from '../../../src/extensions/zlib-limiter.ts';
import { ZlibPool } from '../../../src/extensions/zlib-pool.ts';
import { WsDeflate, type WsPerMessageDeflate } from '../../support/ws-deflate.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const RSV1 = 0b100;
const MiB = 1024 * 1024;

/** A negotiated server/client pair; the server's options and the client's offer options. */
function pair(server: PerMessageDeflateOptions = {}, client: PerMessageDeflateOptions = {}) {
  const accepted = permessageDeflate(server).negotiate([permessageDeflate(client).offer()]);
  assert.ok(accepted, 'offer declined');
  return { server: accepted.extension as PerMessageDeflate, client: permessageDeflate(client).accept(accepted.response) };
}

async function expectProtocolError(promise: Promise<unknown> | unknown, closeCode: number): Promise<void> {
  try {
    await promise;
    assert.unreachable(`expected a ProtocolError ${closeCode}`);
  } catch (error) {
    assert.instance(error, ProtocolError);
    assert.is((error as ProtocolError).closeCode, closeCode);
  }
}

/** Compressible text-like data of `n` bytes. */
function textLike(n: number, seed = 1): Buffer {
  const words = ['hello', 'world', 'chat', 'message', '{"id":', '"user":', 'deflate', 'ktor', '\n', 'é€'];
  const parts: string[] = [];
  let length = 0;
  let x = seed;
  while (length < n) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const w = words[x % words.length] as string;
    parts.push(w, ' ');
    length += Buffer.byteLength(w) + 1;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

test('RFC 7692 7.2.3.1: "Hello" compresses to f2 48 cd c9 c9 07 00', async () => {
  const { server, client } = pair({ threshold: 0 });
  const encoded = await server.encode(Opcode.Text, Buffer.from('Hello'));
  assert.is(encoded.rsv, RSV1);
  assert.is(encoded.payload.toString('hex'), 'f248cdc9c90700');
  assert.is((await client.decode(encoded.payload, RSV1, 100)).toString(), 'Hello');
  server.dispose();
  client.dispose();
});

test('RFC 7692 7.2.3.2: context takeover shrinks the second "Hello" to f2 00 11 00 00', async () => {
  const { server, client } = pair({ threshold: 0 });
  const first = await server.encode(Opcode.Text, Buffer.from('Hello'));
  const second = await server.encode(Opcode.Text, Buffer.from('Hello'));
  assert.is(first.payload.toString('hex'), 'f248cdc9c90700');
  assert.is(second.payload.toString('hex'), 'f200110000');
  assert.is((await client.decode(first.payload, RSV1, 100)).toString(), 'Hello');
  assert.is((await client.decode(second.payload, RSV1, 100)).toString(), 'Hello');
  server.dispose();
  client.dispose();
});

test('RFC 7692 7.2.3.2: without context takeover both are f2 48 cd c9 c9 07 00', async () => {
  const pool = new ZlibPool();
  const deflater = new MessageDeflater({
    windowBits: 15,
    level: -1,
    memLevel: 8,
    noContextTakeover: true,
    limiter: sharedZlibLimiter,
    pool,
  });
  const inflater = new MessageInflater({ windowBits: 15, noContextTakeover: true, limiter: sharedZlibLimiter, pool });
  for (let i = 0; i < 2; i++) {
    const out = await deflater.deflate(Buffer.from('Hello'));
    assert.is(out.toString('hex'), 'f248cdc9c90700');
    assert.not.ok(deflater.hasStream, 'the compressor goes back to the pool after each message');
    assert.is((await inflater.inflate(out, 100)).toString(), 'Hello');
    assert.not.ok(inflater.hasStream, 'the decompressor goes back to the pool after each message');
  }
  pool.clear();
});

test('RFC 7692 7.2.3.3-7.2.3.6: stored block, BFINAL block, two blocks, empty block decode', async () => {
  const { server, client } = pair();
  const examples: Array<[string, string]> = [
    ['00 05 00 fa ff 48 65 6c 6c 6f 00', 'Hello'], // 7.2.3.3 uncompressed block
    ['f3 48 cd c9 c9 07 00', 'Hello'], // 7.2.3.4 a block with BFINAL set
    ['f3 48 cd c9 c9 07 00 00', 'Hello'], // BFINAL followed by padding: ignored after the end
    ['f2 48 05 00 00 00 ff ff ca c9 c9 07 00', 'Hello'], // 7.2.3.5 two blocks in one message
    ['00', ''], // 7.2.3.6 an empty message
    ['f2 48 cd c9 c9 07 00', 'Hello'],
    ['f2 00 11 00 00', 'Hello'], // context takeover still works after the above
  ];
  for (const [bytes, text] of examples) {
    assert.is((await client.decode(hex(bytes), RSV1, 100)).toString(), text, bytes);
  }
  server.dispose();
  client.dispose();
});

test('uncompressed messages pass through decode; control frames, empty and small messages are not compressed', async () => {
  const { server, client } = pair();
  const small = Buffer.alloc(1023, 'a');
  const encodedSmall = await server.encode(Opcode.Text, small);
  assert.is(encodedSmall.rsv, 0);
  assert.is(encodedSmall.payload, small);
  const big = Buffer.alloc(1024, 'a');
  assert.is((await server.encode(Opcode.Text, big)).rsv, RSV1);
  const ping = Buffer.alloc(100, 'p');
  assert.is((await server.encode(Opcode.Ping, ping)).rsv, 0);
  const { server: eager } = pair({ threshold: 0 });
  const empty = await eager.encode(Opcode.Binary, Buffer.alloc(0));
  assert.is(empty.rsv, 0);
  assert.is(empty.payload.length, 0);
  const plain = Buffer.from('not compressed');
  assert.is(client.decode(plain, 0, 100), plain);
  server.dispose();
  client.dispose();
  eager.dispose();
});

test('without context takeover a message that does not shrink is sent as is', async () => {
  const { server, client } = pair({ threshold: 0, serverNoContextTakeover: true });
  const noise = randomBytes(4096);
  const encoded = await server.encode(Opcode.Binary, noise);
  assert.is(encoded.rsv, 0);
  assert.is(encoded.payload, noise);
  const text = textLike(4096);
  const compressed = await server.encode(Opcode.Text, text);
  assert.is(compressed.rsv, RSV1);
  assert.ok(compressed.payload.length < text.length);
  assert.ok((await client.decode(compressed.payload, RSV1, MiB)).equals(text));
  server.dispose();
  client.dispose();
});

const combos: PerMessageDeflateOptions[] = [];
for (const serverNoContextTakeover of [false, true]) {
  for (const clientNoContextTakeover of [false, true]) {
    for (const bits of [8, 9, 12, 15]) {
      combos.push({
        serverNoContextTakeover,
        clientNoContextTakeover,
        serverMaxWindowBits: bits,
        clientMaxWindowBits: 23 - bits,
      });
    }
  }
}

test('identity in both directions for every parameter combination and sizes 1 B to 1 MiB', async () => {
  const sizes = [1, 5, 1024, 4095, 70_000, MiB];
  for (const options of combos) {
    const { server, client } = pair({ ...options, threshold: 0 }, { ...options, threshold: 0 });
    for (const [from, to] of [
      [server, client],
      [client, server],
    ] as const) {
      for (const size of sizes) {
        for (const payload of [textLike(size, size), randomBytes(size)]) {
          const encoded = await from.encode(Opcode.Binary, payload);
          const decoded = await to.decode(encoded.payload, encoded.rsv, 2 * MiB);
          assert.ok(decoded.equals(payload), `${JSON.stringify(options)} ${from.role} -> ${to.role} ${size} B`);
        }
      }
    }
    server.dispose();
    client.dispose();
  }
});

test('identity for an 8 MiB text message, compressed well', async () => {
  const { server, client } = pair();
  const payload = textLike(8 * MiB);
  const encoded = await client.encode(Opcode.Text, payload);
  assert.is(encoded.rsv, RSV1);
  assert.ok(encoded.payload.length < payload.length / 2, `ratio ${encoded.payload.length / payload.length}`);
  assert.ok((await server.decode(encoded.payload, RSV1, 16 * MiB)).equals(payload));
  server.dispose();
  client.dispose();
});

test('window bits 8: output never reaches back more than 256 bytes; a larger window is rejected', async () => {
  const { server, client } = pair({ serverMaxWindowBits: 8, threshold: 0 });
  assert.is(server.params.serverMaxWindowBits, 8);
  // The server keeps its context between messages, so the independent inflater reads them as one
  // stream, as the peer's does: each message may reach back into the one before.
  const units: Buffer[] = [];
  const wire: Buffer[] = [];
  const sent: Buffer[] = [];
  for (const period of [200, 250, 251, 256, 257, 300, 511]) {
    const unit = randomBytes(period);
    units.push(unit);
    const payload = Buffer.concat(Array.from({ length: 64 }, () => unit));
    const encoded = await server.encode(Opcode.Binary, payload);
    wire.push(encoded.payload, hex('0000ffff'));
    sent.push(payload);
    // An independent 8-bit-window inflater accepts it (if not, the random units so far are printed).
    let independent: Buffer;
    try {
      independent = zlib.inflateRawSync(Buffer.concat(wire), { windowBits: 8, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    } catch (error) {
      throw new Error(`period ${period}, units ${units.map((u) => u.toString('hex')).join(' ')}: ${(error as Error).message}`);
    }
    assert.ok(independent.equals(Buffer.concat(sent)), `period ${period}`);
    assert.ok((await client.decode(encoded.payload, RSV1, MiB)).equals(payload), `period ${period}`);
  }
  // Data compressed with a 15-bit window and a distance of 1000 is refused by an 8-bit inflater (1007).
  const unit = randomBytes(1000);
  const far = zlib.deflateRawSync(Buffer.concat([unit, unit]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  await expectProtocolError(client.decode(far.subarray(0, far.length - 4), RSV1, MiB), 1007);
  server.dispose();
  client.dispose();
});

test('window bits 8..15: the negotiated window is what the compressor uses', async () => {
  for (let bits = 8; bits <= 15; bits++) {
    const { server, client } = pair({ threshold: 0 }, { clientMaxWindowBits: bits, threshold: 0 });
    assert.is(client.params.clientMaxWindowBits, bits);
    // zlib matches at most w_size - 262 bytes back (and compresses 8 with a 9-bit window).
    const unit = randomBytes((1 << Math.max(bits, 9)) - 272);
    const payload = Buffer.concat([unit, unit, unit]);
    const encoded = await client.encode(Opcode.Binary, payload);
    assert.is(encoded.rsv, RSV1);
    const check = zlib.inflateRawSync(Buffer.concat([encoded.payload, hex('0000ffff')]), {
      windowBits: bits,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    assert.ok(check.equals(payload), `bits ${bits}`);
    assert.ok(encoded.payload.length < payload.length * 0.7, `bits ${bits}: the repeat within the window is found`);
    assert.ok((await server.decode(encoded.payload, RSV1, MiB)).equals(payload));
    server.dispose();
    client.dispose();
  }
});

test('context takeover keeps zlib streams per connection; without, connections share pooled streams', async () => {
  const limiter = new ZlibLimiter(2);
  for (const noContextTakeover of [false, true]) {
    const pool = new ZlibPool();
    const connections = Array.from({ length: 5 }, () => ({
      deflater: new MessageDeflater({ windowBits: 15, level: -1, memLevel: 8, noContextTakeover, limiter, pool }),
      inflater: new MessageInflater({ windowBits: 15, noContextTakeover, limiter, pool }),
    }));
    for (const { deflater, inflater } of connections) {
      assert.not.ok(deflater.hasStream, 'created lazily');
      assert.not.ok(inflater.hasStream, 'created lazily');
    }
    for (let i = 0; i < 3; i++) {
      await Promise.all(
        connections.map(async ({ deflater, inflater }) => {
          const out = await deflater.deflate(textLike(2000, i));
          assert.ok((await inflater.inflate(out, MiB)).equals(textLike(2000, i)));
        }),
      );
      for (const { deflater, inflater } of connections) {
        assert.is(deflater.hasStream, !noContextTakeover);
        assert.is(inflater.hasStream, !noContextTakeover);
      }
      // Without context takeover, at most `concurrency` streams of each kind exist, all idle now.
      assert.ok(pool.size <= (noContextTakeover ? 2 * limiter.concurrency : 0), `pool holds ${pool.size}`);
      if (noContextTakeover) assert.ok(pool.size >= 2);
    }
    for (const { deflater, inflater } of connections) {
      deflater.close();
      inflater.close();
      assert.not.ok(deflater.hasStream);
      assert.not.ok(inflater.hasStream);
    }
    pool.clear();
    assert.is(pool.size, 0);
  }
});

test('ZlibPool keeps at most maxIdle streams per key and reuses them', () => {
  const pool = new ZlibPool();
  const streams = Array.from({ length: 3 }, () => zlib.createInflateRaw());
  for (const stream of streams) pool.give('inflate:15', stream, 2);
  assert.is(pool.size, 2);
  assert.ok(streams[2]?.destroyed, 'the one over the bound is closed');
  assert.is(pool.take('inflate:15'), streams[1]);
  assert.is(pool.take('inflate:9'), undefined);
  pool.clear();
  assert.is(pool.size, 0);
});

test('size limit: exactly maxSize inflates, one byte more fails with 1009', async () => {
  const { server, client } = pair({ threshold: 0 });
  const payload = textLike(100_000);
  const first = await client.encode(Opcode.Text, payload);
  assert.ok((await server.decode(first.payload, RSV1, 100_000)).equals(payload));
  const { server: server2, client: client2 } = pair({ threshold: 0 });
  const second = await client2.encode(Opcode.Text, payload);
  await expectProtocolError(server2.decode(second.payload, RSV1, 99_999), 1009);
  for (const extension of [server, client, server2, client2]) extension.dispose();
});

test('invalid compressed data fails with 1007', async () => {
  const { server, client } = pair();
  await expectProtocolError(server.decode(hex('ff ff ff ff'), RSV1, MiB), 1007);
  // A reserved block type (BTYPE 11).
  await expectProtocolError(client.decode(hex('07 00'), RSV1, MiB), 1007);
  server.dispose();
  client.dispose();
});

test('concurrent calls on one extension keep message order', async () => {
  const { server, client } = pair({ threshold: 0 });
  const messages = Array.from({ length: 30 }, (_, i) => textLike(500 + i * 97, i));
  const encoded = await Promise.all(messages.map((m) => server.encode(Opcode.Text, m)));
  const decoded = await Promise.all(encoded.map((e) => client.decode(e.payload, e.rsv, MiB)));
  decoded.forEach((d, i) => assert.ok(d.equals(messages[i] as Buffer), `message ${i}`));
  server.dispose();
  client.dispose();
});

test('dispose rejects waiting and running operations with CodecClosedError; later calls too', async () => {
  const { server, client } = pair({ threshold: 0 });
  const running = server.encode(Opcode.Binary, textLike(2 * MiB));
  const waiting = server.encode(Opcode.Binary, textLike(10_000));
  server.dispose();
  for (const promise of [running, waiting, server.encode(Opcode.Text, Buffer.from('after dispose'))]) {
    try {
      await promise;
      assert.unreachable('should reject');
    } catch (error) {
      assert.instance(error, CodecClosedError);
    }
  }
  client.dispose();
  client.dispose(); // idempotent
});

test('a codec keeps no message once its caller dropped it: neither the last decoded nor the last encoded one', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const { server, client } = pair({ threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true });
  const refs: WeakRef<ArrayBufferLike>[] = [];
  await (async () => {
    const encoded = await server.encode(Opcode.Binary, textLike(MiB));
    const decoded = await client.decode(encoded.payload, RSV1, 2 * MiB);
    assert.is(decoded.length, MiB);
    refs.push(new WeakRef(encoded.payload.buffer), new WeakRef(decoded.buffer));
  })();
  for (let i = 0; i < 5 && refs.some((ref) => ref.deref() !== undefined); i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  assert.is(refs[0]!.deref(), undefined, 'the deflater kept its last output');
  assert.is(refs[1]!.deref(), undefined, 'the inflater kept its last output');
  server.dispose();
  client.dispose();
});

test('a codec closed while its operation waits behind its earlier ones never takes a limiter slot', async () => {
  const limiter = new ZlibLimiter(1);
  let entered = 0;
  const run = limiter.run.bind(limiter);
  limiter.run = <T>(task: () => Promise<T>): Promise<T> => {
    entered++;
    return run(task);
  };
  const deflater = new MessageDeflater({ windowBits: 15, level: 6, memLevel: 8, noContextTakeover: false, limiter, pool: new ZlibPool() });
  const started = limiter.run(() => new Promise<void>((resolve) => setTimeout(resolve, 50))); // another session holds the slot
  const first = deflater.deflate(textLike(1000));
  const second = deflater.deflate(textLike(1000)); // behind `first` in this codec's chain
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(limiter.waiting, 1, 'only the first waits for the slot');
  deflater.close();
  for (const promise of [first, second]) {
    const error = await promise.then(() => undefined, (e: unknown) => e);
    assert.instance(error, CodecClosedError);
  }
  await started;
  assert.is(limiter.waiting, 0);
  assert.is(entered, 2, 'the other session and the first operation; the second was refused without a slot');
});

test('the process-wide limiter bounds concurrent zlib operations across sessions', async () => {
  const previous = sharedZlibLimiter.concurrency;
  const pairs = Array.from({ length: 24 }, () => pair({ threshold: 0, maxConcurrency: 3 }));
  assert.is(sharedZlibLimiter.concurrency, 3);
  let maxActive = 0;
  let maxWaiting = 0;
  const timer = setInterval(() => {
    maxActive = Math.max(maxActive, sharedZlibLimiter.active);
    maxWaiting = Math.max(maxWaiting, sharedZlibLimiter.waiting);
  }, 0);
  const payload = textLike(256 * 1024);
  await Promise.all(
    pairs.map(async ({ server, client }) => {
      const encoded = await server.encode(Opcode.Text, payload);
      maxActive = Math.max(maxActive, sharedZlibLimiter.active);
      assert.ok((await client.decode(encoded.payload, RSV1, MiB)).equals(payload));
    }),
  );
  clearInterval(timer);
  assert.ok(maxActive <= 3, `at most 3 at once, saw ${maxActive}`);
  assert.ok(maxActive >= 1);
  assert.ok(maxWaiting > 0, 'some operations had to wait');
  assert.is(sharedZlibLimiter.active, 0);
  assert.is(sharedZlibLimiter.waiting, 0);
  for (const { server, client } of pairs) {
    server.dispose();
    client.dispose();
  }
  sharedZlibLimiter.concurrency = previous;
});

test('ZlibLimiter: FIFO, bounded, raising the bound starts waiting tasks', async () => {
  const limiter = new ZlibLimiter(1);
  const order: number[] = [];
  const gates: Array<() => void> = [];
  const tasks = [0, 1, 2].map((i) =>
    limiter.run(async () => {
      order.push(i);
      await new Promise<void>((resolve) => gates.push(resolve));
      return i;
    }),
  );
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(order, [0]);
  assert.is(limiter.active, 1);
  assert.is(limiter.waiting, 2);
  limiter.concurrency = 3;
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(order, [0, 1, 2]);
  for (const gate of gates) gate();
  assert.equal(await Promise.all(tasks), [0, 1, 2]);
  assert.is(limiter.active, 0);
  await assert.not.throws(() => limiter.run(async () => Promise.reject(new Error('x'))).catch(() => {}));
  assert.throws(() => new ZlibLimiter(0), RangeError);
  assert.throws(() => {
    limiter.concurrency = 1.5;
  }, RangeError);
});


function wsCall(method: 'compress' | 'decompress', peer: WsPerMessageDeflate, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    peer[method](data, true, (error, result) => (error ? reject(error) : resolve(result as Buffer))),
  );
}

test('interop with the ws codec: our server against a ws client, every parameter combination', async () => {
  for (const options of combos) {
    const { server } = pair({ ...options, threshold: 0 }, options);
    // Hand ws the response we negotiated, in its parameter format.
    const wsClient = new WsDeflate({ isServer: false, clientMaxWindowBits: options.clientMaxWindowBits });
    const response: Record<string, Array<string | true>> = {};
    if (server.params.serverNoContextTakeover) response['server_no_context_takeover'] = [true];
    if (server.params.clientNoContextTakeover) response['client_no_context_takeover'] = [true];
    response['server_max_window_bits'] = [String(server.params.serverMaxWindowBits)];
    response['client_max_window_bits'] = [String(server.params.clientMaxWindowBits)];
    wsClient.accept([response]);
    for (const size of [1, 2000, 300_000]) {
      for (const payload of [textLike(size, size), randomBytes(size)]) {
        const label = `${JSON.stringify(options)} ${size} B`;
        const ours = await server.encode(Opcode.Binary, payload);
        const theirsDecoded = ours.rsv === RSV1 ? await wsCall('decompress', wsClient, ours.payload) : ours.payload;
        assert.ok(theirsDecoded.equals(payload), `ws inflates ours: ${label}`);
        const theirs = await wsCall('compress', wsClient, payload);
        assert.ok((await server.decode(theirs, RSV1, MiB)).equals(payload), `we inflate ws: ${label}`);
      }
    }
    wsClient.cleanup();
    server.dispose();
  }
});

test.run();
