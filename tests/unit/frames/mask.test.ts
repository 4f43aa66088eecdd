/**
 * Masking: word-wide XOR and the WebAssembly SIMD kernel against a byte-wise reference at every alignment, phase and
 * length, with a kept Backing too; the JavaScript path where WebAssembly is missing; keys, maskInto.
 */
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MaskKeySource, applyMask, maskInto, randomMaskKey } from '../../../src/frames/index.ts';
import { backingOf, maskRange, packMaskKey, wordIndex, type Backing } from '../../../src/frames/mask.ts';
import { wideXor } from '../../../src/frames/xor-kernel.ts';
import { checkLongRange, LONG_LENGTHS } from '../../support/mask-check.ts';

function reference(bytes: Uint8Array, key: Uint8Array, offset = 0): Buffer {
  return Buffer.from(bytes.map((b, i) => b ^ key[(offset + i) & 3]!));
}

const key = Buffer.from([0x9a, 0x01, 0xfe, 0x37]);

test('applyMask matches the byte-wise definition for alignments 0..7 and lengths 0..70', () => {
  const backing = new ArrayBuffer(128);
  for (let align = 0; align < 8; align++) {
    for (let length = 0; length <= 70; length++) {
      const view = Buffer.from(backing, align, length);
      for (let i = 0; i < length; i++) view[i] = (i * 31 + align) & 0xff;
      const expected = reference(view, key);
      const guard = Buffer.from(backing, align + length, 8);
      guard.fill(0xee);
      applyMask(view, key);
      assert.equal(view, expected, `align ${align} length ${length}`);
      assert.ok(guard.every((b) => b === 0xee), 'no byte past the end touched');
    }
  }
});

test('large buffers at every alignment and phase offset', () => {
  const backing = new ArrayBuffer(5000);
  for (let align = 0; align < 8; align++) {
    for (const offset of [0, 1, 2, 3, 6]) {
      const view = Buffer.from(backing, align, 4096 + align);
      for (let i = 0; i < view.length; i++) view[i] = (i * 7) & 0xff;
      const expected = reference(view, key, offset);
      applyMask(view, key, offset);
      assert.equal(view, expected, `align ${align} offset ${offset}`);
    }
  }
});

test('maskRange with a kept Backing: ranges of one chunk at every alignment, phase and length 0..140', () => {
  // As the parser unmasks payloads: one Backing for the whole chunk, its word view made once.
  const chunk = Buffer.from(new ArrayBuffer(400), 3, 390);
  const backing = backingOf(chunk);
  for (let start = 0; start < 8; start++) {
    for (let phase = 0; phase < 4; phase++) {
      for (let length = 0; length <= 140; length++) {
        for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 29 + length) & 0xff;
        const before = Buffer.from(chunk);
        const expected = reference(chunk.subarray(start, start + length), key, phase);
        maskRange(chunk, start, start + length, packMaskKey(key), phase, backing);
        const where = `start ${start} phase ${phase} length ${length}`;
        assert.equal(chunk.subarray(start, start + length), expected, where);
        assert.equal(chunk.subarray(0, start), before.subarray(0, start), `${where}: before the range`);
        assert.equal(chunk.subarray(start + length), before.subarray(start + length), `${where}: after the range`);
      }
    }
  }
  assert.ok(backing.words !== undefined, 'the word view was made and kept');
});

test('wordIndex: exact past 2 GiB and 4 GiB (where >>> 3 wraps and << 3 turns negative)', () => {
  for (const bytes of [0, 7, 8, 2 ** 31 - 8, 2 ** 31, 2 ** 31 + 15, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 9, 2 ** 33 + 64, 2 ** 53 - 1]) {
    const words = wordIndex(bytes);
    assert.is(words, Math.floor(bytes / 8), `${bytes} bytes`);
    // maskRange advances by `words * 8`: a non-negative multiple of 8 within 7 bytes of the range.
    assert.ok(words * 8 <= bytes && bytes - words * 8 < 8, `${bytes} bytes`);
  }
  assert.is(wordIndex(2 ** 32 + 16), 2 ** 29 + 2);
  assert.is(wordIndex(2 ** 31 + 8) * 8, 2 ** 31 + 8);
});

test('maskRange with a Backing past 4 GiB XORs the words at the right index', () => {
  // A stand-in for a buffer lying 4 GiB into its ArrayBuffer (Node 22+ allows that much): the
  // byte-wise head and tail touch `buf`, the words go to a recording view, nothing is allocated.
  const touched: number[] = [];
  const words = new Proxy({}, {
    get: () => 0n,
    set: (_, index) => (touched.push(Number(index)), true),
  }) as unknown as BigUint64Array;
  const byteOffset = 2 ** 32 + 5;
  const buf = Buffer.alloc(64, 0x11);
  const backing: Backing = { buffer: buf.buffer, byteOffset, words };
  maskRange(buf, 0, 64, packMaskKey(key), 0, backing);
  // Bytes 0..2 lie before the first 8-byte boundary (2^32 + 8), then 7 whole words, then 5 tail bytes.
  assert.equal(touched, [0, 1, 2, 3, 4, 5, 6].map((n) => 2 ** 29 + 1 + n));
  const expected = reference(Buffer.alloc(64, 0x11), key);
  assert.equal(buf.subarray(0, 3), expected.subarray(0, 3), 'head');
  assert.equal(buf.subarray(59), expected.subarray(59), 'tail, with the key phase carried past the words');
  assert.ok(buf.subarray(3, 59).every((b) => b === 0x11), 'the word part went to the words view');
});

test('masking twice restores; masking in pieces with offsets equals masking whole', () => {
  const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff));
  const whole = Buffer.from(data);
  applyMask(whole, key);
  const pieces = Buffer.from(data);
  for (const [from, to] of [[0, 3], [3, 100], [100, 101], [101, 1000]] as const) {
    applyMask(pieces.subarray(from, to), key, from);
  }
  assert.equal(pieces, whole);
  applyMask(whole, key);
  assert.equal(whole, data);
});

test('maskInto writes masked bytes at any offset and leaves the source alone (short and SIMD lengths)', () => {
  for (const length of [0, 1, 7, 64, 65, 300, 1023, 1024, 1027, 2048, 4099, 70_001]) {
    for (let dstOffset = 0; dstOffset < 8; dstOffset++) {
      const src = Buffer.from(Array.from({ length }, (_, i) => (i * 13) & 0xff));
      const before = Buffer.from(src);
      const dst = Buffer.alloc(length + 16, 0xaa);
      maskInto(src, key, dst, dstOffset);
      assert.equal(src, before);
      assert.equal(dst.subarray(dstOffset, dstOffset + length), reference(src, key));
      assert.ok(dst.subarray(0, dstOffset).every((b) => b === 0xaa));
      assert.ok(dst.subarray(dstOffset + length).every((b) => b === 0xaa));
    }
  }
  assert.throws(() => maskInto(Buffer.alloc(10), key, Buffer.alloc(5), 0), RangeError);
});

test('the WebAssembly SIMD kernel is there on this runtime (long ranges use it)', () => {
  assert.type(wideXor, 'function');
});

test('long ranges (around the SIMD threshold and its 64 KiB blocks) at every alignment and phase', () => {
  for (const length of LONG_LENGTHS) {
    for (let align = 0; align < 8; align++) {
      for (let phase = 0; phase < 4; phase++) checkLongRange(length, align, phase);
    }
  }
});

test('without WebAssembly (node --jitless) long ranges are masked by the JavaScript loop, just as right', () => {
  const script = `
    import { wideXor } from './src/frames/xor-kernel.ts';
    import { checkLongRange, LONG_LENGTHS } from './tests/support/mask-check.ts';
    if (wideXor !== undefined) throw new Error('the kernel compiled without WebAssembly');
    for (const length of LONG_LENGTHS) for (const align of [0, 3, 5]) for (const phase of [0, 1, 3]) checkLongRange(length, align, phase);
    console.log('ok');`;
  const out = execFileSync(process.execPath, ['--jitless', '--no-warnings', '--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  assert.is(out.trim(), 'ok');
});

test('keys must be 4 bytes', () => {
  assert.throws(() => applyMask(Buffer.alloc(4), Buffer.alloc(3)), RangeError);
});

test('random keys: 4 bytes each, stable after the pool is replaced', () => {
  const source = new MaskKeySource(8);
  const a = source.next();
  const snapshot = Buffer.from(a);
  source.next();
  source.next(); // a new pool
  assert.is(a.length, 4);
  assert.equal(a, snapshot);
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) seen.add(randomMaskKey().toString('hex'));
  assert.ok(seen.size > 990);
  assert.throws(() => new MaskKeySource(6), RangeError);
});

test.run();
