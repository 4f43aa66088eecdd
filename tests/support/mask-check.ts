/** Checks masking of long ranges against a byte-wise reference (shared by mask.test.ts and the --jitless child it spawns). */
import { backingOf, maskRange, packMaskKey } from '../../src/frames/mask.ts';

const key = Buffer.from([0x9a, 0x01, 0xfe, 0x37]);

/** Lengths around the SIMD threshold (2 KiB) and its 64 KiB blocks. */
export const LONG_LENGTHS = [1023, 1024, 1025, 1026, 1027, 1028, 1039, 1087, 2047, 2048, 2049, 2050, 2051, 2052, 2063, 2111, 4099, 65535, 65536, 65537, 65600, 2 * 65536 + 3];

/** Masks `length` bytes at `align` in a fresh buffer with phase `phase`; throws unless every byte matches the reference and the guards are untouched. */
export function checkLongRange(length: number, align: number, phase: number): void {
  // A view 24 bytes into its ArrayBuffer (same alignment), so that a range taken from the backing without
  // the view's byteOffset would be caught.
  const buf = Buffer.alloc(24 + align + length + 70, 0xee).subarray(24);
  for (let i = 0; i < length; i++) buf[align + i] = (i * 151 + (i >>> 8)) & 0xff;
  const expected = Buffer.from(buf.subarray(align, align + length).map((b, i) => b ^ key[(phase + i) & 3]!));
  maskRange(buf, align, align + length, packMaskKey(key), phase, align % 2 === 0 ? backingOf(buf) : undefined);
  const where = `length ${length} align ${align} phase ${phase}`;
  if (!buf.subarray(align, align + length).equals(expected)) throw new Error(`${where}: wrong bytes`);
  if (!buf.subarray(0, align).every((b) => b === 0xee)) throw new Error(`${where}: a byte before the range touched`);
  if (!buf.subarray(align + length).every((b) => b === 0xee)) throw new Error(`${where}: a byte past the range touched`);
}
