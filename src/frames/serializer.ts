/**
 * Frames to bytes (RFC 6455 section 5.2), always with the minimal length
 * encoding. A `FrameSerializer` collects a batch for one vectored write:
 * headers and small payloads are coalesced into a shared slab, large
 * payloads go by reference (server) or masked into a fresh buffer together
 * with their header (client), never touching the caller's bytes. A server
 * sends a frame that carries its own `wire` bytes (`prepareFrame`) by
 * reference, with no copy: how one published message is framed once for
 * every subscriber.
 */
import { bufferView } from './buffer-view.ts';
import { isControl, Opcode, type Frame } from './frame.ts';
import { checkMaskKey, maskInto, randomMaskKey } from './mask.ts';

/** Default `coalesceLimit`: payloads up to 1 KiB are copied next to their header. */
export const DEFAULT_COALESCE_LIMIT = 1024;
/**
 * Size of the slabs headers and small frames are coalesced into: what one
 * stalled peer's unsent small frames can keep alive at most, beside their
 * own bytes.
 */
const SLAB_SIZE = 16 * 1024;
/**
 * The slab every serializer in the process coalesces into (like Node's
 * Buffer pool): append-only, each serializer's bytes a region of it handed
 * out as views; a full slab is replaced, and freed once the last view of it
 * is written. So a connection keeps no slab of its own between writes.
 * `buffer` is the slab's ArrayBuffer, read once per slab (each slab starts
 * its own, so a region's offset in it is its offset in the slab).
 */
const shared = { slab: Buffer.alloc(0), buffer: new ArrayBuffer(0) as ArrayBufferLike, used: 0 };
/** The slab of a serializer with no region (it never wrote, or its batch was taken): it pins no slab. */
const NO_SLAB = Buffer.alloc(0);

/** Configuration of a `FrameSerializer`. */
export interface FrameSerializerOptions {
  /** Which end writes: a client masks every frame (RFC 6455 section 5.3), a server never does. */
  readonly role: 'server' | 'client';
  /** Payloads up to this many bytes are copied next to their header (default 1024). */
  readonly coalesceLimit?: number | undefined;
  /** Where a client's mask keys come from (default `randomMaskKey`, a pooled CSPRNG). */
  readonly maskKey?: (() => Uint8Array) | undefined;
}

/** Throws a `TypeError` / `RangeError` for a frame that may not be sent as it is. */
export function checkFrame(frame: Frame): void {
  const opcode: number = frame.opcode;
  if (!Number.isInteger(opcode) || opcode < 0 || opcode > 0xf) {
    throw new TypeError(`opcode ${opcode} is not a 4-bit opcode; use one of Opcode's values`);
  }
  if (opcode > Opcode.Binary && (opcode < Opcode.Close || opcode > Opcode.Pong)) {
    throw new TypeError(`opcode ${opcode} is reserved; use one of Opcode's values`);
  }
  if (isControl(opcode)) {
    if (!frame.fin) throw new TypeError('control frames cannot be fragmented: set fin');
    if (frame.payload.length > 125) {
      throw new RangeError(`control frame payload of ${frame.payload.length} bytes; the limit is 125`);
    }
  }
}

/** The size of a header for `payloadLength` bytes, with or without a mask key. */
function headerSize(payloadLength: number, masked: boolean): number {
  return (payloadLength < 126 ? 2 : payloadLength < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
}

/** Writes the header of `frame` at `dst[at]`; returns where the payload goes. */
function writeHeader(dst: Buffer, at: number, frame: Frame, maskKey: Uint8Array | undefined): number {
  const length = frame.payload.length;
  dst[at] =
    (frame.fin ? 0x80 : 0) |
    (frame.rsv1 ? 0x40 : 0) |
    (frame.rsv2 ? 0x20 : 0) |
    (frame.rsv3 ? 0x10 : 0) |
    frame.opcode;
  const maskBit = maskKey === undefined ? 0 : 0x80;
  let p = at + 2;
  if (length < 126) {
    dst[at + 1] = maskBit | length;
  } else if (length < 0x10000) {
    dst[at + 1] = maskBit | 126;
    dst.writeUInt16BE(length, p);
    p += 2;
  } else {
    dst[at + 1] = maskBit | 127;
    dst.writeUInt32BE(Math.floor(length / 0x100000000), p);
    dst.writeUInt32BE(length >>> 0, p + 4);
    p += 8;
  }
  if (maskKey !== undefined) {
    dst.set(maskKey, p);
    p += 4;
  }
  return p;
}

/** Header and (masked) payload written at `dst[at]`; returns the end. */
function writeFrame(dst: Buffer, at: number, frame: Frame, maskKey: Uint8Array | undefined): number {
  const p = writeHeader(dst, at, frame, maskKey);
  // `set`, not `Buffer#copy`: the same native copy without `copy`'s argument handling (`_copy`, `_copyActual`).
  if (maskKey === undefined) dst.set(frame.payload, p);
  else maskInto(frame.payload, maskKey, dst, p);
  return p + frame.payload.length;
}

/**
 * The wire bytes of one frame in one new buffer: masked with `maskKey` if
 * given (client), unmasked otherwise (server). The payload is not modified.
 */
export function serializeFrame(frame: Frame, maskKey?: Uint8Array): Buffer {
  checkFrame(frame);
  if (maskKey !== undefined) checkMaskKey(maskKey);
  const out = Buffer.allocUnsafe(headerSize(frame.payload.length, maskKey !== undefined) + frame.payload.length);
  writeFrame(out, 0, frame, maskKey); // overwrites every byte of `out`
  return out;
}

/**
 * `frame` with its unmasked wire bytes attached (`Frame.wire`), serialized
 * once: a server's `FrameSerializer` then writes those bytes by reference
 * for every connection it is sent on (a client masks it afresh, as always).
 * Throws like `serializeFrame` for a frame that may not be sent.
 */
export function prepareFrame(frame: Frame): Frame {
  const prepared: Frame = { ...frame, wire: serializeFrame(frame) };
  PREPARED.add(prepared);
  return prepared;
}

/** Frames `prepareFrame` made: only their `wire` bytes are trusted (a hand-made `wire` is ignored). */
const PREPARED = new WeakSet<Frame>();

/**
 * Serializes frames into batches for vectored writes: `write` frames, then
 * `take` the batch. A server's large payloads are queued by reference, so
 * they must not change until written.
 */
export class FrameSerializer {
  readonly #masking: boolean;
  readonly #coalesceLimit: number;
  readonly #maskKey: () => Uint8Array;

  /** The batch's buffers so far (made by the first; `take` hands it over). */
  #batch: Buffer[] | undefined;
  #pendingBytes = 0;
  /**
   * This serializer's region of the shared slab not yet in the batch:
   * `[#slabStart, #slabUsed)` of `#slab`. (Its ArrayBuffer is `shared.buffer`
   * while `#slab` is the shared slab; it is not kept here: a young object
   * stored in an old one costs a write barrier's slow path.)
   */
  #slab: Buffer = NO_SLAB;
  #slabStart = 0;
  #slabUsed = 0;

  constructor(options: FrameSerializerOptions) {
    if (options.role !== 'server' && options.role !== 'client') {
      throw new TypeError(`role must be 'server' or 'client', got ${String(options.role)}`);
    }
    const coalesceLimit = options.coalesceLimit ?? DEFAULT_COALESCE_LIMIT;
    if (!Number.isInteger(coalesceLimit) || coalesceLimit < 0) {
      throw new RangeError(`coalesceLimit must be a non-negative integer, got ${coalesceLimit}`);
    }
    this.#masking = options.role === 'client';
    this.#coalesceLimit = coalesceLimit;
    this.#maskKey = options.maskKey ?? randomMaskKey;
  }

  /** Bytes written to the current batch and not yet taken. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /**
   * Appends the wire bytes of `frame` to the batch (a server takes a
   * prepared frame's `wire` by reference). A client masks with
   * `maskKey` if given, else with the next key from its source. Throws a
   * `TypeError` / `RangeError` for a reserved opcode, a fragmented control
   * frame or a control payload over 125 bytes.
   */
  write(frame: Frame, maskKey?: Uint8Array): void {
    checkFrame(frame);
    let key: Uint8Array | undefined;
    if (this.#masking) {
      key = maskKey ?? this.#maskKey();
      checkMaskKey(key);
    }
    const length = frame.payload.length;
    const size = headerSize(length, key !== undefined);
    const wire = frame.wire;
    if (wire !== undefined && key === undefined && PREPARED.has(frame)) {
      this.#flushSlab();
      this.#push(wire);
    } else if (length <= this.#coalesceLimit) {
      this.#reserve(size + length);
      this.#slabUsed = shared.used = writeFrame(this.#slab, this.#slabUsed, frame, key);
    } else if (key !== undefined) {
      this.#flushSlab();
      const out = Buffer.allocUnsafe(size + length);
      writeFrame(out, 0, frame, key); // overwrites every byte of `out`
      this.#push(out);
    } else {
      this.#reserve(size);
      this.#slabUsed = shared.used = writeHeader(this.#slab, this.#slabUsed, frame, undefined);
      this.#flushSlab();
      this.#push(frame.payload);
    }
    this.#pendingBytes += size + length;
  }

  /** The batch's buffers in wire order, ready for a vectored write; starts a new batch. */
  take(): Buffer[] {
    let batch = this.#batch;
    this.#batch = undefined;
    if (this.#slabUsed !== this.#slabStart) {
      // The region goes straight into the batch returned: a batch of small frames is never stored in `#batch`.
      const region = this.#region();
      if (batch === undefined) batch = [region];
      else batch.push(region);
    }
    // Let go of the slab: an idle serializer must not keep an old one alive.
    this.#slab = NO_SLAB;
    this.#slabStart = this.#slabUsed = 0;
    this.#pendingBytes = 0;
    return batch ?? [];
  }

  #push(bytes: Buffer): void {
    // A one-element literal has one slot, where `[]` plus `push` reserves seventeen (about 150 bytes per batch).
    const batch = this.#batch;
    if (batch === undefined) this.#batch = [bytes];
    else batch.push(bytes);
  }

  /**
   * Makes room for `size` contiguous bytes right after this serializer's
   * region: in the shared slab if nobody wrote there since (else the region
   * so far goes into the batch and a new one starts), or in a new slab.
   */
  #reserve(size: number): void {
    if (this.#slab === shared.slab && this.#slabUsed === shared.used && shared.slab.length - shared.used >= size) return;
    this.#flushSlab();
    if (shared.slab.length - shared.used < size) {
      // Only bytes written after this point leave the slab, so its uninitialized rest never reaches the wire.
      // Not from Node's pool: the slab starts its own ArrayBuffer.
      shared.slab = Buffer.allocUnsafeSlow(Math.max(SLAB_SIZE, size));
      shared.buffer = shared.slab.buffer;
      shared.used = 0;
    }
    this.#slab = shared.slab;
    this.#slabStart = this.#slabUsed = shared.used;
  }

  /** Moves the written, not yet batched region of the slab into the batch. */
  #flushSlab(): void {
    if (this.#slabUsed === this.#slabStart) return;
    this.#push(this.#region());
  }

  /** A view of the region written since the last one (there is one), which it ends. */
  #region(): Buffer {
    const slab = this.#slab;
    // The shared slab's ArrayBuffer was read once; a slab replaced since (rare) is asked (`.buffer` is a call on Node 20).
    const region = bufferView(slab === shared.slab ? shared.buffer : slab.buffer, this.#slabStart, this.#slabUsed - this.#slabStart);
    this.#slabStart = this.#slabUsed;
    return region;
  }
}
