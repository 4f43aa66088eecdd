/**
 * Masking (RFC 6455 section 5.3): XOR of the payload with a 4-byte mask key,
 * key byte `i % 4` for payload byte `i`. Ranges of 1 KiB and more go to the
 * WebAssembly SIMD kernel (xor-kernel.ts) where the runtime has one, which
 * can also mask on the way into another buffer (`maskCopy`). Else the
 * aligned middle of a long range is processed 64 bits at a time through a
 * `BigUint64Array` view of its ArrayBuffer (V8 lowers 64-bit BigInt XOR to
 * machine words), a view that a caller masking many ranges of one buffer
 * keeps in a `Backing`; the unaligned head and the tail go byte by byte with
 * the key rotated to the range's phase. Random keys come from a pooled
 * `randomFillSync` buffer.
 */
import { randomFillSync } from 'node:crypto';
import { wideXor } from './xor-kernel.ts';

/**
 * Below this many bytes the byte loop beats the word loop: when the caller
 * keeps the buffer's `Backing`, and when each call must look it up anew.
 */
const WIDE_MIN = 32;
const WIDE_MIN_UNKEPT = 64;
/** From this many bytes the WebAssembly SIMD kernel (xor-kernel.ts), where available, beats the word loop. */
const SIMD_MIN = 1024;

const wideScratch = new Uint8Array(8);
const wideScratchWord = new BigUint64Array(wideScratch.buffer);

/**
 * Where a buffer's bytes lie: its ArrayBuffer, its offset in it, and, made
 * on first need, a 64-bit word view of that whole ArrayBuffer. On Node 20
 * reading `.buffer` and `.byteOffset` is a call each and a view is an
 * allocation, so a parser that unmasks many payloads of one pushed chunk
 * takes the chunk's backing once and passes it to every `maskRange`.
 */
export interface Backing {
  readonly buffer: ArrayBufferLike;
  readonly byteOffset: number;
  words: BigUint64Array | undefined;
}

/** The backing of `buf` (see `Backing`), its word view not made yet. */
export function backingOf(buf: Uint8Array): Backing {
  return { buffer: buf.buffer, byteOffset: buf.byteOffset, words: undefined };
}

/**
 * The key as one signed 32-bit integer, big-endian (`key[0]` in the top
 * byte); signed so that it stays a small integer for V8.
 */
export function packMaskKey(maskKey: Uint8Array, at = 0): number {
  return (maskKey[at]! << 24) | (maskKey[at + 1]! << 16) | (maskKey[at + 2]! << 8) | maskKey[at + 3]!;
}

/**
 * The index of the 64-bit word holding byte `byteIndex`, which is also the
 * number of whole words in `byteIndex` bytes. Division, not `>>> 3`: that
 * wraps at 4 GiB, and `count << 3` (its inverse) turns negative at 2 GiB,
 * both reachable with `maxFrameSize` up to `buffer.constants.MAX_LENGTH`.
 * `Math.floor(n / 8)` and `count * 8` are exact for any safe integer, so
 * for any Buffer length. (A range of 2 GiB cannot be masked in a test
 * without allocating it, so this function is what the tests pin down.)
 */
export function wordIndex(byteIndex: number): number {
  return Math.floor(byteIndex / 8);
}

/** The packed key rotated so that its top byte applies to the byte at `phase` of the payload. */
function rotateKey(key: number, phase: number): number {
  const shift = (phase & 3) << 3;
  return shift === 0 ? key : (key << shift) | (key >>> (32 - shift));
}

function xorWords(words: BigUint64Array, from: number, to: number, key: bigint): void {
  let i = from;
  for (; i + 16 <= to; i += 16) {
    words[i]! ^= key;
    words[i + 1]! ^= key;
    words[i + 2]! ^= key;
    words[i + 3]! ^= key;
    words[i + 4]! ^= key;
    words[i + 5]! ^= key;
    words[i + 6]! ^= key;
    words[i + 7]! ^= key;
    words[i + 8]! ^= key;
    words[i + 9]! ^= key;
    words[i + 10]! ^= key;
    words[i + 11]! ^= key;
    words[i + 12]! ^= key;
    words[i + 13]! ^= key;
    words[i + 14]! ^= key;
    words[i + 15]! ^= key;
  }
  for (; i < to; i++) words[i]! ^= key;
}

/**
 * Masks (or unmasks) `buf[start..end)` in place with the packed key `key`
 * (see `packMaskKey`); `phase` is the position of `buf[start]` within the
 * masked payload, so a payload can be processed piece by piece. `backing`,
 * if given, is `backingOf(buf)`, kept by callers that mask many ranges of
 * one buffer.
 */
export function maskRange(
  buf: Uint8Array,
  start: number,
  end: number,
  key: number,
  phase: number,
  backing?: Backing,
): void {
  let k = rotateKey(key, phase);
  if (end - start >= SIMD_MIN && wideXor !== undefined) {
    // The range as a plain view (cheaper than `subarray`) when the caller keeps the buffer's backing.
    const range = backing === undefined ? buf.subarray(start, end) : new Uint8Array(backing.buffer, backing.byteOffset + start, end - start);
    wideXor(range, buf, start, k);
    return;
  }
  let i = start;
  if (end - start >= (backing === undefined ? WIDE_MIN_UNKEPT : WIDE_MIN)) {
    // Byte by byte up to an 8-byte boundary of the ArrayBuffer, then whole words.
    backing ??= backingOf(buf);
    const at = backing.byteOffset + i;
    for (const aligned = i + ((8 - (at & 7)) & 7); i < aligned; i++) {
      buf[i]! ^= k >>> 24;
      k = (k << 8) | (k >>> 24);
    }
    const from = wordIndex(backing.byteOffset + i);
    const count = wordIndex(end - i);
    const words = (backing.words ??= new BigUint64Array(backing.buffer, 0, Math.floor(backing.buffer.byteLength / 8)));
    wideScratch[0] = wideScratch[4] = k >>> 24;
    wideScratch[1] = wideScratch[5] = k >>> 16;
    wideScratch[2] = wideScratch[6] = k >>> 8;
    wideScratch[3] = wideScratch[7] = k;
    xorWords(words, from, from + count, wideScratchWord[0]!);
    i += count * 8; // a multiple of 8 bytes, so the rotation is unchanged
  }
  const k0 = k >>> 24;
  const k1 = k >>> 16;
  const k2 = k >>> 8;
  for (; i + 4 <= end; i += 4) {
    buf[i]! ^= k0;
    buf[i + 1]! ^= k1;
    buf[i + 2]! ^= k2;
    buf[i + 3]! ^= k;
  }
  if (i < end) {
    buf[i]! ^= k0;
    if (i + 1 < end) {
      buf[i + 1]! ^= k1;
      if (i + 2 < end) buf[i + 2]! ^= k2;
    }
  }
}

/**
 * Writes `src` masked with the packed key `key` into `dst` at `dstOffset`,
 * leaving `src` as it is; `phase` is the position of `src[0]` within the
 * masked payload (see `maskRange`). With the SIMD kernel, masking on the
 * way costs what masking in place does; else a copy, then the XOR in place.
 */
export function maskCopy(src: Uint8Array, dst: Uint8Array, dstOffset: number, key: number, phase: number): void {
  if (src.length >= SIMD_MIN && wideXor !== undefined) {
    wideXor(src, dst, dstOffset, rotateKey(key, phase));
    return;
  }
  dst.set(src, dstOffset);
  maskRange(dst, dstOffset, dstOffset + src.length, key, phase);
}

/** Throws a `RangeError` unless `maskKey` is 4 bytes long. */
export function checkMaskKey(maskKey: Uint8Array): void {
  if (maskKey.length !== 4) {
    throw new RangeError(`a mask key is 4 bytes, got ${maskKey.length}`);
  }
}

/**
 * Masks `buf` in place with the 4-byte `maskKey` (masking and unmasking are
 * the same operation). `offset` is the position of `buf[0]` within the masked
 * payload (default 0), for payloads processed in pieces.
 */
export function applyMask(buf: Uint8Array, maskKey: Uint8Array, offset = 0): void {
  checkMaskKey(maskKey);
  maskRange(buf, 0, buf.length, packMaskKey(maskKey), offset);
}

/**
 * Writes `src` masked with `maskKey` into `dst` at `dstOffset`, leaving `src`
 * untouched (see `maskCopy`).
 */
export function maskInto(src: Uint8Array, maskKey: Uint8Array, dst: Uint8Array, dstOffset: number): void {
  checkMaskKey(maskKey);
  if (dstOffset < 0 || dstOffset + src.length > dst.length) {
    throw new RangeError(`${src.length} bytes do not fit in the destination at offset ${dstOffset}`);
  }
  maskCopy(src, dst, dstOffset, packMaskKey(maskKey), 0);
}

/**
 * Hands out random 4-byte mask keys from a pooled buffer filled by
 * `randomFillSync`, one syscall per `poolSize / 4` keys. Each key is a view
 * of the pool; an exhausted pool is replaced, never refilled in place, so a
 * key handed out stays as it was.
 */
export class MaskKeySource {
  readonly #poolSize: number;
  #pool: Buffer;
  #next: number;

  /** `poolSize` bytes of randomness are drawn at a time (default 8 KiB; a multiple of 4). */
  constructor(poolSize = 8192) {
    if (!Number.isInteger(poolSize) || poolSize < 4 || poolSize % 4 !== 0) {
      throw new RangeError(`poolSize must be a positive multiple of 4, got ${poolSize}`);
    }
    this.#poolSize = poolSize;
    this.#pool = Buffer.alloc(0);
    this.#next = 0;
  }

  /** The next random key (4 bytes). */
  next(): Buffer {
    if (this.#next === this.#pool.length) {
      this.#pool = randomFillSync(Buffer.allocUnsafeSlow(this.#poolSize));
      this.#next = 0;
    }
    const key = this.#pool.subarray(this.#next, this.#next + 4);
    this.#next += 4;
    return key;
  }
}

const defaultKeys = new MaskKeySource();

/** A random 4-byte mask key from the process-wide pool. */
export function randomMaskKey(): Buffer {
  return defaultKeys.next();
}
