/** Masking: word-wide XOR against a byte-wise reference at every alignment and length, with a kept Backing too, keys, maskInto. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MaskKeySource, applyMask, maskInto, randomMaskKey } from '../../src/frames/index.ts';
import { backingOf, maskRange, packMaskKey } from '../../src/frames/mask.ts';

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

test('maskInto writes masked bytes at any offset and leaves the source alone', () => {
  for (const length of [0, 1, 7, 64, 65, 300]) {
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
