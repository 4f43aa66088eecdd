/**
 * Masking (RFC 6455 section 5.3): XOR of the payload with a 4-byte mask key,
 * key byte `i % 4` for payload byte `i`. Large ranges are processed 64 bits
 * at a time through a `BigUint64Array` view of the aligned middle (V8 lowers
 * 64-bit BigInt XOR to machine words); the unaligned head and the tail go
 * byte by byte. Random keys come from a pooled `randomFillSync` buffer.
 */
import { randomFillSync } from 'node:crypto';

/** Below this many bytes the byte loop beats setting up a word view. */
const WIDE_MIN = 64;

const wideScratch = new Uint8Array(8);
const wideScratchWord = new BigUint64Array(wideScratch.buffer);

/**
 * The key as one signed 32-bit integer, big-endian (`key[0]` in the top
 * byte); signed so that it stays a small integer for V8.
 */
export function packMaskKey(maskKey: Uint8Array, at = 0): number {
  return (maskKey[at]! << 24) | (maskKey[at + 1]! << 16) | (maskKey[at + 2]! << 8) | maskKey[at + 3]!;
}

/** The 64-bit word whose bytes, in memory order, are the key starting at key byte `phase`, twice. */
function wideKey(key: number, phase: number): bigint {
  for (let j = 0; j < 8; j++) wideScratch[j] = key >>> ((3 - ((phase + j) & 3)) << 3);
  return wideScratchWord[0]!;
}

function xorWords(words: BigUint64Array, key: bigint, count: number): void {
  let i = 0;
  for (; i + 8 <= count; i += 8) {
    words[i]! ^= key;
    words[i + 1]! ^= key;
    words[i + 2]! ^= key;
    words[i + 3]! ^= key;
    words[i + 4]! ^= key;
    words[i + 5]! ^= key;
    words[i + 6]! ^= key;
    words[i + 7]! ^= key;
  }
  for (; i < count; i++) words[i]! ^= key;
}

/**
 * Masks (or unmasks) `buf[start..end)` in place with the packed key `key`
 * (see `packMaskKey`); `phase` is the position of `buf[start]` within the
 * masked payload, so a payload can be processed piece by piece.
 */
export function maskRange(buf: Uint8Array, start: number, end: number, key: number, phase: number): void {
  let i = start;
  let p = phase & 3;
  if (end - start >= WIDE_MIN) {
    const misalignment = (buf.byteOffset + i) & 7;
    const alignedStart = misalignment === 0 ? i : i + 8 - misalignment;
    for (; i < alignedStart; i++, p = (p + 1) & 3) buf[i]! ^= key >>> ((3 - p) << 3);
    const count = (end - i) >>> 3;
    xorWords(new BigUint64Array(buf.buffer, buf.byteOffset + i, count), wideKey(key, p), count);
    i += count << 3; // a multiple of 8 bytes, so the phase is unchanged
  }
  for (; i < end; i++, p = (p + 1) & 3) buf[i]! ^= key >>> ((3 - p) << 3);
}

function checkKey(maskKey: Uint8Array): void {
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
  checkKey(maskKey);
  maskRange(buf, 0, buf.length, packMaskKey(maskKey), offset);
}

/**
 * Writes `src` masked with `maskKey` into `dst` at `dstOffset`, leaving `src`
 * untouched (a copy at memory speed, then the in-place XOR).
 */
export function maskInto(src: Uint8Array, maskKey: Uint8Array, dst: Uint8Array, dstOffset: number): void {
  checkKey(maskKey);
  if (dstOffset < 0 || dstOffset + src.length > dst.length) {
    throw new RangeError(`${src.length} bytes do not fit in the destination at offset ${dstOffset}`);
  }
  dst.set(src, dstOffset);
  maskRange(dst, dstOffset, dstOffset + src.length, packMaskKey(maskKey), 0);
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
