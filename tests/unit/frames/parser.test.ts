/** Parser behaviour beyond single rules: zero-copy, chunking, early UTF-8 failure, order, memory bounds. */
import { constants } from 'node:buffer';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameParser, Opcode, ProtocolError, frame, type Frame } from '../../../src/frames/index.ts';
import { GATHER_EXACT_MAX } from '../../../src/frames/parser.ts';
import { thrown } from '../../support/async.ts';
import { KEY, assertProtocolError, bytewise, drain, splitAt, wire } from '../../support/frames.ts';

const FIN = 0x80;

test('a payload inside one chunk is a view of it, unmasked in place', () => {
  const chunk = Buffer.concat([wire(FIN | Opcode.Binary, 'first', KEY), wire(FIN | Opcode.Text, 'second', KEY)]);
  const parser = new FrameParser({ role: 'server' });
  parser.push(chunk);
  const a = parser.next()!;
  const b = parser.next()!;
  assert.is(parser.next(), undefined);
  assert.is(a.payload.buffer, chunk.buffer);
  assert.is(b.payload.buffer, chunk.buffer);
  assert.is(a.payload.toString(), 'first');
  assert.is(b.payload.toString(), 'second');
  assert.is(a.payload.byteOffset, chunk.byteOffset + 6);
});

test('a payload in the chunk after its header is still a view', () => {
  const bytes = wire(FIN | Opcode.Binary, Buffer.alloc(300, 7), KEY);
  const [header, body] = splitAt(bytes, [8]);
  const parser = new FrameParser({ role: 'server' });
  parser.push(header!);
  assert.is(parser.next(), undefined);
  assert.is(parser.bufferedBytes, 0, 'the header is consumed');
  parser.push(body!);
  const f = parser.next()!;
  assert.is(f.payload.buffer, body!.buffer);
  assert.equal(f.payload, Buffer.alloc(300, 7));
});

test('isInFrame: false between frames, true from the first header byte until the payload is complete', () => {
  const bytes = wire(FIN | Opcode.Binary, Buffer.alloc(300, 7), KEY);
  const parser = new FrameParser({ role: 'server' });
  assert.is(parser.isInFrame, false);
  parser.push(bytes.subarray(0, 1));
  assert.is(parser.next(), undefined);
  assert.is(parser.isInFrame, true, 'part of a header');
  parser.push(bytes.subarray(1, 8));
  assert.is(parser.next(), undefined);
  assert.is(parser.isInFrame, true, 'a whole header, no payload yet');
  parser.push(bytes.subarray(8, 100));
  assert.is(parser.next(), undefined);
  assert.is(parser.isInFrame, true, 'part of the payload');
  parser.push(bytes.subarray(100));
  assert.is(parser.next()?.payload.length, 300);
  assert.is(parser.isInFrame, false);
});

test('a straddling payload is gathered once into a buffer of its exact size', () => {
  const payload = Buffer.alloc(1000, 3);
  const bytes = wire(FIN | Opcode.Binary, payload, KEY);
  const parser = new FrameParser({ role: 'server' });
  const chunks = splitAt(bytes, [100, 500, 900]).map((c) => Buffer.from(Uint8Array.from(c).buffer));
  let f: Frame | undefined;
  for (const chunk of chunks) {
    parser.push(chunk);
    f = parser.next();
    if (f === undefined) assert.ok(parser.bufferedBytes <= 1008, `holds ${parser.bufferedBytes}`);
  }
  assert.ok(f);
  assert.is(f.payload.length, 1000);
  assert.equal(f.payload, payload);
  for (const chunk of chunks) assert.is.not(f.payload.buffer === chunk.buffer, true);
});

test('one byte at a time gives the same frames as one chunk', () => {
  const bytes = Buffer.concat([
    wire(Opcode.Text, 'Hel', KEY),
    wire(FIN | Opcode.Ping, 'p', KEY),
    wire(FIN | Opcode.Continuation, 'lo \u20ac', KEY),
    wire(FIN | Opcode.Binary, Buffer.alloc(70000, 9), KEY),
    wire(FIN | Opcode.Close, Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65]), KEY),
  ]);
  const whole = drain({ role: 'server' }, [bytes]);
  const single = drain({ role: 'server' }, bytewise(bytes));
  assert.is(whole.error, undefined);
  assert.is(single.error, undefined);
  assert.is(whole.frames.length, 5);
  assert.equal(single.frames, whole.frames);
});

test('invalid UTF-8 fails mid-frame, before the rest of the frame arrives', () => {
  const payload = Buffer.concat([Buffer.from('valid text '), Buffer.from([0xc0]), Buffer.alloc(5000, 0x61)]);
  const bytes = wire(FIN | Opcode.Text, payload, KEY);
  const parser = new FrameParser({ role: 'server' });
  parser.push(Buffer.from(bytes.subarray(0, 8 + 5)));
  assert.is(parser.next(), undefined, 'valid so far');
  parser.push(Buffer.from(bytes.subarray(8 + 5, 8 + 12)));
  assert.throws(() => parser.next(), (e: unknown) => e instanceof ProtocolError && e.closeCode === 1007);
});

test('a sequence split across chunks mid-frame is accepted; a bad continuation fails at once', () => {
  const good = wire(FIN | Opcode.Text, 'a\u{1F600}b', KEY);
  for (let cut = 1; cut < good.length; cut++) {
    const { frames, error } = drain({ role: 'server' }, splitAt(good, [cut]));
    assert.is(error, undefined);
    assert.is(frames[0]!.payload.toString(), 'a\u{1F600}b');
  }
  const bad = wire(FIN | Opcode.Text, Buffer.from([0x61, 0xf0, 0x9f, 0x41, 0x62, 0x63, 0x64]), KEY);
  const parser = new FrameParser({ role: 'server' });
  parser.push(Buffer.from(bad.subarray(0, 6 + 4)));
  assert.throws(() => parser.next(), (e: unknown) => e instanceof ProtocolError && e.closeCode === 1007);
});

test('frames before an error come first; the error then sticks', () => {
  const bytes = Buffer.concat([
    wire(FIN | Opcode.Text, 'one', KEY),
    wire(FIN | Opcode.Binary, 'two', KEY),
    Buffer.from([FIN | 0x03, 0x80, 0, 0, 0, 0]),
    wire(FIN | Opcode.Text, 'never', KEY),
  ]);
  const parser = new FrameParser({ role: 'server' });
  parser.push(bytes);
  assert.is(parser.next()!.payload.toString(), 'one');
  assert.is(parser.next()!.payload.toString(), 'two');
  let first: unknown;
  try {
    parser.next();
  } catch (error) {
    first = error;
  }
  assertProtocolError(first, 1002);
  parser.push(wire(FIN | Opcode.Text, 'more', KEY));
  assert.throws(() => parser.next(), (e: unknown) => e === first);
  assert.is(parser.bufferedBytes, 0, 'buffers are released after a failure');
});

test('empty payloads, and a control frame between fragments', () => {
  const { frames } = drain({ role: 'client' }, [
    wire(Opcode.Binary, ''),
    wire(FIN | Opcode.Pong, ''),
    wire(FIN | Opcode.Continuation, ''),
    wire(FIN | Opcode.Close, ''),
  ]);
  assert.equal(frames, [
    frame(Opcode.Binary, Buffer.alloc(0), false),
    frame(Opcode.Pong),
    frame(Opcode.Continuation),
    frame(Opcode.Close),
  ]);
});

test('bufferedBytes counts bytes held: unconsumed, partial header, partial payload', () => {
  const bytes = wire(FIN | Opcode.Binary, Buffer.alloc(200), KEY);
  const parser = new FrameParser({ role: 'server' });
  parser.push(bytes.subarray(0, 3));
  assert.is(parser.bufferedBytes, 3);
  assert.is(parser.next(), undefined);
  assert.is(parser.bufferedBytes, 3);
  parser.push(bytes.subarray(3, 50));
  assert.is(parser.next(), undefined);
  assert.is(parser.bufferedBytes, 42, 'the 8 header bytes are consumed, 42 payload bytes gathered');
  parser.push(bytes.subarray(50));
  assert.ok(parser.next());
  assert.is(parser.bufferedBytes, 0);
});

/** A masked header announcing `length` bytes of binary payload (64-bit length form). */
function bigHeader(length: number): Buffer {
  const head = Buffer.alloc(14);
  head[0] = FIN | Opcode.Binary;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(BigInt(length), 2);
  KEY.copy(head, 10);
  return head;
}

test('a header announcing 8 MiB and a few payload bytes costs about GATHER_EXACT_MAX, not 8 MiB', () => {
  const parsers: FrameParser[] = [];
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 4; i++) {
    const parser = new FrameParser({ role: 'server' });
    parser.push(bigHeader(8 * 1024 * 1024));
    parser.push(Buffer.from([1, 2, 3, 4, 5]));
    assert.is(parser.next(), undefined);
    assert.is(parser.bufferedBytes, 5, 'bytes received, header consumed');
    parsers.push(parser);
  }
  const growth = process.memoryUsage().arrayBuffers - before;
  assert.ok(growth < 4 * (GATHER_EXACT_MAX + 64 * 1024), `4 parsers grew arrayBuffers by ${growth} bytes`);
  assert.is(parsers.length, 4); // held until measured
});

test('a payload over GATHER_EXACT_MAX in random chunks: byte-exact, in a buffer of exactly its length', () => {
  // Text with 3-byte sequences, so UTF-8 checking also runs across the chunk and growth boundaries.
  const text = Buffer.from('ab\u20accd'.repeat(Math.ceil((2 * GATHER_EXACT_MAX + 4321) / 7)));
  const bytes = wire(FIN | Opcode.Text, text, KEY);
  let seed = 12345;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  for (let round = 0; round < 3; round++) {
    const parser = new FrameParser({ role: 'server', maxFrameSize: 4 * GATHER_EXACT_MAX });
    let pushed = 0;
    let f: Frame | undefined;
    while (pushed < bytes.length) {
      const size = Math.min(bytes.length - pushed, 1 + random(round === 0 ? 300_000 : 40_000));
      parser.push(Buffer.from(bytes.subarray(pushed, pushed + size)));
      pushed += size;
      f = parser.next();
      if (f === undefined) {
        assert.is(parser.bufferedBytes, pushed >= 14 ? pushed - 14 : pushed, 'bufferedBytes counts the bytes received');
      }
    }
    assert.ok(f, `round ${round}: a frame`);
    assert.is(parser.next(), undefined);
    assert.is(f.payload.length, text.length);
    assert.is(f.payload.buffer.byteLength, text.length, 'the final buffer is exactly the payload');
    assert.ok(f.payload.equals(text), `round ${round}: byte-exact`);
    assert.is(parser.bufferedBytes, 0);
  }
  // All of it pushed before the first pull: one buffer of the exact size at once.
  const parser = new FrameParser({ role: 'server', maxFrameSize: 4 * GATHER_EXACT_MAX });
  for (const chunk of splitAt(bytes, [20, 1000, GATHER_EXACT_MAX + 7])) parser.push(Buffer.from(chunk));
  const whole = parser.next();
  assert.ok(whole?.payload.equals(text));
});

/** `bytes` in chunks of `size` bytes, each in an ArrayBuffer of its own (as socket reads arrive). */
function chunksOf(bytes: Buffer, size: number, first = size): Buffer[] {
  const chunks = [Buffer.from(bytes.subarray(0, first))];
  for (let at = first; at < bytes.length; at += size) chunks.push(Buffer.from(bytes.subarray(at, at + size)));
  return chunks;
}

test('a payload in large chunks is held as views until complete, then copied once into a buffer allocated at the end', () => {
  const payload = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  const bytes = wire(FIN | Opcode.Binary, payload, KEY);
  const parser = new FrameParser({ role: 'server' });
  const chunks = chunksOf(bytes, 64 * 1024, 1000); // a frame rarely starts on a chunk boundary
  const before = process.memoryUsage().arrayBuffers;
  let f: Frame | undefined;
  let pushed = 0;
  for (const chunk of chunks) {
    parser.push(chunk);
    pushed += chunk.length;
    f = parser.next();
    if (f === undefined) {
      assert.is(parser.bufferedBytes, pushed - 14, 'held bytes are counted');
      const grown = process.memoryUsage().arrayBuffers - before;
      assert.ok(grown < pushed + 64 * 1024, `nothing but the chunks held until the end (grew ${grown} for ${pushed} pushed)`);
    }
  }
  assert.ok(f);
  assert.is(f.payload.buffer.byteLength, payload.length, 'a buffer of exactly the payload');
  assert.ok(f.payload.equals(payload), 'byte-exact, unmasked');
  assert.is(parser.bufferedBytes, 0);
});

/** Each way of cutting the wire into chunks parses to one frame whose payload is `payload`, in a buffer of exactly its size. */
function assertOneFrameOf(payload: Buffer, cases: readonly Buffer[][]): void {
  for (const [i, chunks] of cases.entries()) {
    const { frames, error } = drain({ role: 'server' }, chunks);
    assert.is(error, undefined, `case ${i}`);
    assert.is(frames.length, 1, `case ${i}`);
    assert.is(frames[0]!.payload.buffer.byteLength, payload.length, `case ${i}: exact buffer`);
    assert.ok(frames[0]!.payload.equals(payload), `case ${i}: byte-exact`);
  }
}

test('held pieces that turn small, or too many, go into the gather buffer: byte-exact either way', () => {
  const text = Buffer.from('xy\u00e9\u20ac'.repeat(100_000)); // 700 KB; 2- and 3-byte sequences cut across pieces
  const bytes = wire(FIN | Opcode.Text, text, KEY);
  const cases = [
    // large pieces, then small ones (a slow link)
    [...chunksOf(bytes.subarray(0, 100_000), 20_000), ...chunksOf(bytes.subarray(100_000), 300)],
    // pieces just over the minimum, more (85) than are held as views (64)
    chunksOf(bytes, 8 * 1024 + 1),
    // large pieces, then one byte at a time for a while, then large again
    [...chunksOf(bytes.subarray(0, 50_000), 16_000), ...chunksOf(bytes.subarray(50_000, 50_100), 1), ...chunksOf(bytes.subarray(50_100), 30_000)],
  ];
  assertOneFrameOf(text, cases);
});

test('binary pieces stay masked while held and are unmasked as they are copied: byte-exact, into the gather buffer too', () => {
  const payload = Buffer.alloc(700_001);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 131 + (i >>> 9)) & 0xff;
  const bytes = wire(FIN | Opcode.Binary, payload, KEY);
  const cases = [
    // 64 KiB chunks, as a socket delivers them (pieces go through the SIMD kernel)
    chunksOf(bytes, 64 * 1024),
    // every piece at an odd phase of the mask key: the header and 3 payload bytes, then 40,001-byte chunks
    [bytes.subarray(0, 17), ...chunksOf(bytes.subarray(17), 40_001)],
    // large pieces, then small ones (the held pieces are copied into the gather buffer, unmasked)
    [...chunksOf(bytes.subarray(0, 100_000), 20_000), ...chunksOf(bytes.subarray(100_000), 300)],
    // pieces just over the minimum, more (85) than are held as views (64)
    chunksOf(bytes, 8 * 1024 + 1),
  ];
  assertOneFrameOf(payload, cases);
});

test('invalid UTF-8 in a held piece fails as that piece arrives, before the rest of the frame', () => {
  const text = Buffer.alloc(200_000, 0x61);
  text[70_000] = 0xff;
  const chunks = chunksOf(wire(FIN | Opcode.Text, text, KEY), 64 * 1024);
  const parser = new FrameParser({ role: 'server' });
  parser.push(chunks[0]!);
  assert.is(parser.next(), undefined, 'the first 64 KiB are valid');
  parser.push(chunks[1]!);
  assertProtocolError(thrown(() => parser.next()), 1007);
});

test('option misuse throws typed errors', () => {
  assert.throws(() => new FrameParser({ role: 'peer' as 'server' }), TypeError);
  assert.throws(() => new FrameParser({ role: 'server', maxFrameSize: -1 }), RangeError);
  assert.throws(() => new FrameParser({ role: 'server', maxFrameSize: 1.5 }), RangeError);
  assert.throws(() => new FrameParser({ role: 'server', rsvAllowed: 8 }), RangeError);
  assert.throws(() => new FrameParser({ role: 'server', maxMessageSize: Number.NaN }), RangeError);
});

test('maxFrameSize Infinity (or past what a Buffer holds) is no bound of its own: a frame no Buffer can hold is still 1009', () => {
  for (const maxFrameSize of [Infinity, 2 ** 40]) {
    const parser = new FrameParser({ role: 'server', maxFrameSize, maxMessageSize: Infinity });
    parser.push(bigHeader(8 * 1024 * 1024));
    assert.is(parser.next(), undefined, 'an 8 MiB frame is accepted: its payload is awaited');
    const tooBig = new FrameParser({ role: 'server', maxFrameSize });
    tooBig.push(bigHeader(constants.MAX_LENGTH + 1));
    assertProtocolError(thrown(() => tooBig.next()), 1009);
  }
});

test('asking for a frame with no bytes left allocates nothing (an idle connection keeps no header buffer)', () => {
  const parser = new FrameParser({ role: 'server' });
  parser.push(wire(0x82, 'hello', KEY));
  assert.is(parser.next()?.payload.toString(), 'hello');
  const allocUnsafe = Buffer.allocUnsafe;
  let allocations = 0;
  Buffer.allocUnsafe = (size: number) => {
    allocations++;
    return allocUnsafe(size);
  };
  try {
    assert.is(parser.next(), undefined);
    assert.is(parser.next(), undefined);
  } finally {
    Buffer.allocUnsafe = allocUnsafe;
  }
  assert.is(allocations, 0);
});

test.run();
