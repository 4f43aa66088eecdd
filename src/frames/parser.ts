/**
 * The incremental, I/O-free frame parser (RFC 6455 section 5). The caller
 * pushes received chunks and pulls complete frames one at a time; every
 * violation of section 5 is a `ProtocolError` with the close code to send.
 *
 * Zero-copy: a payload inside one pushed chunk is returned as a view of it,
 * unmasked in place. A payload that straddles chunks is UTF-8-checked piece
 * by piece as bytes arrive (unmasked first), and copied once into a buffer
 * of exactly its length:
 * - while the pieces are large and few (see `MIN_PIECE`), they are held as
 *   views of the received chunks and copied when the last one arrives
 *   (unmasked on the way, when nothing had to check them before), so
 *   the payload's buffer is allocated at the end and dies young (a buffer
 *   allocated at the first byte lives through the whole transfer, is
 *   promoted by the GC and is fresh memory for every message: measured,
 *   several times the page faults per 1 MiB message);
 * - otherwise they go into a gather buffer, allocated when the pieces turn
 *   out small or many: up to `GATHER_EXACT_MAX` it has the payload's exact
 *   size, a larger payload starts in a `GATHER_EXACT_MAX` buffer that doubles
 *   (capped at the exact size) as bytes arrive.
 * Either way memory follows the bytes received, not the length a header
 * announces.
 */
import { constants as bufferConstants } from 'node:buffer';
import { CloseCode, decodeClosePayload } from './close.ts';
import { ProtocolError } from './errors.ts';
import { Opcode, type Frame } from './frame.ts';
import { bufferView } from './buffer-view.ts';
import { backingOf, maskCopy, maskRange, packMaskKey, type Backing } from './mask.ts';
import { Utf8Validator } from './utf8.ts';

/** Default `maxFrameSize`: 16 MiB of payload. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;

/**
 * Largest straddling payload gathered into a buffer of its exact size as
 * soon as its first byte arrives (1 MiB). A larger one starts in a buffer of
 * this size that doubles as bytes arrive, so a header announcing
 * `maxFrameSize` followed by a byte and a stall costs this much, not
 * `maxFrameSize`; the cost is at most one extra copy of the payload's bytes.
 */
export const GATHER_EXACT_MAX = 1024 * 1024;

/**
 * The size of the gather buffer of a `length`-byte payload that must now
 * hold `needed` bytes, `current` being the size it has (0 before the first).
 */
function gatherCapacity(length: number, current: number, needed: number): number {
  if (length <= GATHER_EXACT_MAX) return length;
  let capacity = Math.max(current, GATHER_EXACT_MAX);
  while (capacity < needed) capacity *= 2;
  return Math.min(capacity, length);
}

/**
 * A straddling payload is held as views of the received chunks while each
 * piece (but the first and the last) is at least this large (8 KiB) and
 * there are at most `MAX_PIECES` (64) of them; otherwise what is held is
 * copied into a gather buffer, so a payload trickled in tiny segments never
 * costs a Buffer object per segment, and views never keep much more memory
 * than the bytes they show.
 */
const MIN_PIECE = 8 * 1024;
const MAX_PIECES = 64;

/** Where a header's length field ends, by its 7-bit length (126: 16-bit length, 127: 64-bit). */
function lengthEnd(length7: number): number {
  return length7 === 126 ? 4 : length7 === 127 ? 10 : 2;
}

/** Copies `pieces` one after another into `target` from its start, unmasking them with `maskKey` when given (they are the payload from its first byte). */
function copyPieces(pieces: readonly Buffer[], target: Buffer, maskKey: number | undefined): void {
  let at = 0;
  for (const piece of pieces) {
    if (maskKey === undefined) piece.copy(target, at);
    else maskCopy(piece, target, at, maskKey, at);
    at += piece.length;
  }
}

/** RSV bits as they appear in the `rsvAllowed` mask. */
export const Rsv = { Rsv1: 0b100, Rsv2: 0b010, Rsv3: 0b001 } as const;

/** Configuration of a `FrameParser`. */
export interface FrameParserOptions {
  /** Which end this parser runs at: a server requires masked frames, a client unmasked ones. */
  readonly role: 'server' | 'client';
  /**
   * Largest payload of one frame, in bytes (default 16 MiB; `Infinity`: no
   * bound of its own). Larger fails with 1009, as does any frame larger than
   * a Buffer can be (`buffer.constants.MAX_LENGTH`) whatever the bound.
   */
  readonly maxFrameSize?: number | undefined;
  /**
   * Largest sum of the payload lengths of one message's frames, as on the
   * wire (compressed, if an extension compresses), in bytes. Larger fails
   * with 1009. Default: `maxFrameSize`, so fragmenting a message never lets
   * it grow beyond what one frame could carry. `Infinity`: no bound of its
   * own (a message larger than a Buffer can be is still 1009).
   */
  readonly maxMessageSize?: number | undefined;
  /**
   * RSV bits claimed by negotiated extensions, as a mask of `Rsv` values
   * (default 0: none). A bit not claimed fails with 1002 on any frame. A
   * claimed bit is a per-message bit, as every extension this library
   * supports defines it (permessage-deflate's RSV1, RFC 7692 section 6): it
   * may be set only on the first frame of a data message (Text or Binary).
   * Set on a control frame or a continuation frame it fails with 1002 too,
   * as no extension gives it a meaning there (RFC 6455 section 5.2).
   */
  readonly rsvAllowed?: number | undefined;
  /**
   * Validate the UTF-8 of text messages (default true). Messages whose first
   * frame has RSV1 set (compressed) are never validated here: the extension
   * validates after inflating.
   */
  readonly validateUtf8?: boolean | undefined;
}

const EMPTY = Buffer.alloc(0);
const NO_BACKING = backingOf(EMPTY);

/** The longest header: 2 bytes, a 64-bit length and a mask key. */
const MAX_HEADER_SIZE = 14;

function fail(closeCode: number, message: string): never {
  throw new ProtocolError(closeCode, message);
}

/** The number (1 to 3) of the highest RSV bit set in the non-zero mask `rsv`. */
function rsvNumber(rsv: number): number {
  return rsv & Rsv.Rsv1 ? 1 : rsv & Rsv.Rsv2 ? 2 : 3;
}

/** Fails for claimed RSV bits outside the first frame of a data message (see `rsvAllowed`). */
function failMisplacedRsv(rsv: number, where: string): never {
  fail(
    CloseCode.ProtocolError,
    `RSV${rsvNumber(rsv)} is set on ${where}; negotiated extensions use it only on the first frame of a message`,
  );
}

function checkLimit(name: string, value: number): number {
  if (value !== Infinity && !(Number.isSafeInteger(value) && value >= 0)) {
    throw new RangeError(`${name} must be a non-negative integer or Infinity, got ${value}`);
  }
  return value;
}

/**
 * Turns bytes into frames. Push each received chunk with `push`, then call
 * `next` until it returns `undefined` (more bytes needed) before pushing the
 * next chunk: that way the parser never holds more than one header plus
 * the current frame's payload. Frames are returned in order; the first
 * violation is thrown by `next` after every frame before it was returned,
 * and is thrown again by every later call.
 */
export class FrameParser {
  readonly #server: boolean;
  readonly #maxFrameSize: number;
  /** `#maxFrameSize`, or less when a Buffer could not hold such a payload. */
  readonly #frameLimit: number;
  readonly #maxMessageSize: number;
  /** `#maxMessageSize`, but never more than a Buffer can hold: the message is one Buffer once reassembled. */
  readonly #messageLimit: number;
  readonly #rsvAllowed: number;
  readonly #validateUtf8: boolean;
  /** Validates a text message's UTF-8 as it arrives (made by the first text message). */
  #utf8: Utf8Validator | undefined;

  /**
   * Pushed bytes not yet consumed: `#chunk` from `#offset` on, then the
   * chunks queued behind it (`#queued` from `#queuedHead`; the array is made
   * only when a chunk arrives before the previous one is consumed).
   */
  #chunk: Buffer = EMPTY;
  #queued: Buffer[] | undefined;
  #queuedHead = 0;
  #offset = 0;
  #unconsumed = 0;
  /** Where `#chunk` lies in its ArrayBuffer: read once per chunk, used for payload views and unmasking. */
  #backing: Backing = NO_BACKING;

  /** Header bytes copied so far when the header straddles chunks (made the first time one does). */
  #headerBytes: Buffer | undefined;
  #headerLength = 0;
  /** Header checks done: 0 none, 1 the first two bytes, 2 the length too. */
  #headerStage = 0;
  /** Where the whole header ends, once the first two bytes are checked (the length ends at `lengthEnd(#length7)`). */
  #headerSize = 0;
  /** True once the header is complete and the payload is being read. */
  #inPayload = false;

  // The current frame's header fields.
  #fin = false;
  #rsv = 0;
  #opcode = 0;
  #masked = false;
  #length7 = 0;
  #payloadLength = 0;
  #maskKey = 0;

  /**
   * A straddling payload's bytes received so far (`#gathered` of them): held
   * as `#pieces`, views of the pushed chunks (unmasked and checked in place),
   * while those are large and few; else copied into `#gather`, of the
   * payload's exact size up to `GATHER_EXACT_MAX` and growing with the bytes
   * received beyond (see `gatherCapacity`).
   */
  #pieces: Buffer[] | undefined;
  #gather: Buffer | undefined;
  #gathered = 0;

  // The data message in progress.
  #inMessage = false;
  #messageBytes = 0;
  #messageIsCheckedText = false;

  #error: ProtocolError | undefined;

  /**
   * Throws the `TypeError` or `RangeError` the constructor would throw for
   * `options`, without making a parser: an owner that makes its parser on
   * first use (the session's `Protocol`) checks its options up front.
   */
  static checkOptions(options: FrameParserOptions): void {
    if (options.role !== 'server' && options.role !== 'client') {
      throw new TypeError(`role must be 'server' or 'client', got ${String(options.role)}`);
    }
    const maxFrameSize = checkLimit('maxFrameSize', options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE);
    checkLimit('maxMessageSize', options.maxMessageSize ?? maxFrameSize);
    const rsvAllowed = options.rsvAllowed ?? 0;
    if (!Number.isInteger(rsvAllowed) || rsvAllowed < 0 || rsvAllowed > 0b111) {
      throw new RangeError(`rsvAllowed must be a mask of Rsv bits (0 to 0b111), got ${rsvAllowed}`);
    }
  }

  constructor(options: FrameParserOptions) {
    FrameParser.checkOptions(options);
    this.#server = options.role === 'server';
    this.#maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#frameLimit = Math.min(this.#maxFrameSize, bufferConstants.MAX_LENGTH);
    this.#maxMessageSize = options.maxMessageSize ?? this.#maxFrameSize;
    this.#messageLimit = Math.min(this.#maxMessageSize, bufferConstants.MAX_LENGTH);
    this.#rsvAllowed = options.rsvAllowed ?? 0;
    this.#validateUtf8 = options.validateUtf8 ?? true;
  }

  /**
   * Bytes received that the parser holds: pushed and not yet looked at,
   * plus a partial header and the partial payload being gathered. Between
   * pulls this is at most one header plus one frame's payload. It counts
   * bytes, not allocation: a partly received payload is held as views of the
   * chunks it came in (at least `MIN_PIECE` bytes each but the first), or sits
   * in a buffer of its exact size when that is at most `GATHER_EXACT_MAX`,
   * else in one of at most max(`GATHER_EXACT_MAX`, 2 x the bytes gathered).
   */
  get bufferedBytes(): number {
    return this.#unconsumed + this.#headerLength + this.#gathered;
  }

  /**
   * True in the middle of a frame: part of its header or payload has been
   * pushed, but not all of it (so the peer owes more bytes).
   */
  get isInFrame(): boolean {
    return this.#inPayload || this.bufferedBytes > 0;
  }

  /**
   * Hands a received chunk to the parser, which owns it from now on: it may
   * unmask it in place and return views of it. Ignored after a failure.
   */
  push(chunk: Buffer): void {
    if (this.#error !== undefined || chunk.length === 0) return;
    if (this.#unconsumed === 0) {
      this.#chunk = chunk;
      this.#backing = backingOf(chunk);
    } else {
      (this.#queued ??= []).push(chunk);
    }
    this.#unconsumed += chunk.length;
  }

  /**
   * The next complete frame, or `undefined` when more bytes are needed.
   * Throws the `ProtocolError` of the first violation, now and on every
   * later call.
   */
  next(): Frame | undefined {
    if (this.#error !== undefined) throw this.#error;
    try {
      if (!this.#inPayload && !this.#readHeader()) return undefined;
      return this.#readPayload();
    } catch (error) {
      if (error instanceof ProtocolError) this.#failWith(error);
      throw error;
    }
  }

  #failWith(error: ProtocolError): void {
    this.#error = error;
    this.#chunk = EMPTY;
    this.#queued = undefined;
    this.#queuedHead = 0;
    this.#offset = 0;
    this.#unconsumed = 0;
    this.#backing = NO_BACKING;
    this.#headerLength = 0;
    this.#pieces = undefined;
    this.#gather = undefined;
    this.#gathered = 0;
  }

  /** Drops `count` bytes from the front of the first chunk (they fit in it). */
  #consume(count: number): void {
    this.#offset += count;
    this.#unconsumed -= count;
    if (this.#offset !== this.#chunk.length) return;
    this.#offset = 0;
    const queued = this.#queued;
    if (queued === undefined || this.#queuedHead === queued.length) {
      this.#chunk = EMPTY;
      this.#backing = NO_BACKING;
      return;
    }
    const next = queued[this.#queuedHead++]!;
    if (this.#queuedHead === queued.length) {
      queued.length = 0;
      this.#queuedHead = 0;
    }
    this.#chunk = next;
    this.#backing = backingOf(next);
  }

  /**
   * Reads and checks the header, each check as soon as its bytes are there:
   * the first two bytes, then the length, then the mask key. False when
   * more bytes are needed.
   */
  #readHeader(): boolean {
    if (this.#headerLength === 0 && this.#unconsumed >= 2) {
      // Fast path: the header lies in the first chunk; read it there.
      const chunk = this.#chunk;
      const at = this.#offset;
      const available = chunk.length - at;
      if (available >= 2) {
        this.#checkFirstTwo(chunk[at]!, chunk[at + 1]!);
        if (available >= this.#headerSize) {
          this.#checkLength(chunk, at);
          this.#accept(chunk, at);
          this.#consume(this.#headerSize);
          return true;
        }
      }
    }
    // Slow path: copy header bytes into `#headerBytes` as they arrive (with none, no buffer is made:
    // the reader asks once more after the last frame of every chunk).
    if (this.#unconsumed === 0) return false;
    const headerBytes = (this.#headerBytes ??= Buffer.allocUnsafe(MAX_HEADER_SIZE));
    for (;;) {
      const stage = this.#headerStage;
      const wanted = stage === 0 ? 2 : stage === 1 ? lengthEnd(this.#length7) : this.#headerSize;
      while (this.#headerLength < wanted && this.#unconsumed > 0) {
        const chunk = this.#chunk;
        const count = Math.min(wanted - this.#headerLength, chunk.length - this.#offset);
        chunk.copy(headerBytes, this.#headerLength, this.#offset, this.#offset + count);
        this.#headerLength += count;
        this.#consume(count);
      }
      if (this.#headerLength < wanted) return false;
      if (stage === 0) this.#checkFirstTwo(headerBytes[0]!, headerBytes[1]!);
      else if (stage === 1) this.#checkLength(headerBytes, 0);
      else {
        this.#accept(headerBytes, 0);
        this.#headerLength = 0;
        return true;
      }
    }
  }

  /** Checks what the first two header bytes alone decide, and learns the header size. */
  #checkFirstTwo(byte0: number, byte1: number): void {
    const fin = (byte0 & 0x80) !== 0;
    const rsv = (byte0 >>> 4) & 0b111;
    const opcode = byte0 & 0x0f;
    const masked = (byte1 & 0x80) !== 0;
    const length7 = byte1 & 0x7f;
    const unclaimed = rsv & ~this.#rsvAllowed;
    if (unclaimed !== 0) {
      fail(CloseCode.ProtocolError, `RSV${rsvNumber(unclaimed)} is set but no negotiated extension claims it`);
    }
    if (opcode >= 0x8) {
      if (opcode > Opcode.Pong) fail(CloseCode.ProtocolError, `reserved control opcode 0x${opcode.toString(16)}`);
      if (!fin) fail(CloseCode.ProtocolError, 'fragmented control frame');
      if (length7 > 125) fail(CloseCode.ProtocolError, 'control frame payload longer than 125 bytes');
      if (rsv !== 0) failMisplacedRsv(rsv, 'a control frame');
    } else {
      if (opcode > Opcode.Binary) fail(CloseCode.ProtocolError, `reserved data opcode 0x${opcode.toString(16)}`);
      if (opcode === Opcode.Continuation) {
        if (!this.#inMessage) fail(CloseCode.ProtocolError, 'continuation frame without a message to continue');
        if (rsv !== 0) failMisplacedRsv(rsv, 'a continuation frame');
      } else if (this.#inMessage) {
        fail(CloseCode.ProtocolError, 'new data frame inside a fragmented message');
      }
    }
    if (masked !== this.#server) {
      fail(
        CloseCode.ProtocolError,
        this.#server ? 'unmasked frame from a client' : 'masked frame from a server',
      );
    }
    this.#fin = fin;
    this.#rsv = rsv;
    this.#opcode = opcode;
    this.#masked = masked;
    this.#length7 = length7;
    this.#headerSize = lengthEnd(length7) + (masked ? 4 : 0);
    this.#headerStage = 1;
  }

  /** Reads the (extended) length of the header at `bytes[at]` and checks it against the rules and limits. */
  #checkLength(bytes: Buffer, at: number): void {
    let length = this.#length7;
    if (length === 126) {
      length = bytes.readUInt16BE(at + 2);
      if (length < 126) fail(CloseCode.ProtocolError, 'non-minimal 16-bit payload length');
    } else if (length === 127) {
      const high = bytes.readUInt32BE(at + 2);
      if (high >= 0x80000000) fail(CloseCode.ProtocolError, '64-bit payload length with the top bit set');
      length = high * 0x100000000 + bytes.readUInt32BE(at + 6);
      if (length < 0x10000) fail(CloseCode.ProtocolError, 'non-minimal 64-bit payload length');
    }
    if (length > this.#frameLimit) {
      fail(
        CloseCode.MessageTooBig,
        length > this.#maxFrameSize
          ? `frame payload of ${length} bytes exceeds maxFrameSize ${this.#maxFrameSize}`
          : `frame payload of ${length} bytes is larger than a Buffer can be (${bufferConstants.MAX_LENGTH} bytes)`,
      );
    }
    if (this.#opcode < 0x8) {
      const messageBytes = (this.#opcode === Opcode.Continuation ? this.#messageBytes : 0) + length;
      if (messageBytes > this.#messageLimit) {
        fail(
          CloseCode.MessageTooBig,
          messageBytes > this.#maxMessageSize
            ? `message of at least ${messageBytes} bytes exceeds maxMessageSize ${this.#maxMessageSize}`
            : `message of at least ${messageBytes} bytes is larger than a Buffer can be (${bufferConstants.MAX_LENGTH} bytes)`,
        );
      }
    }
    this.#payloadLength = length;
    this.#headerStage = 2;
  }

  /** Reads the mask key of the header at `bytes[at]` and starts the frame's payload (and message). */
  #accept(bytes: Buffer, at: number): void {
    const opcode = this.#opcode;
    if (opcode < 0x8) {
      if (opcode !== Opcode.Continuation) {
        this.#inMessage = true;
        this.#messageBytes = 0;
        this.#messageIsCheckedText =
          opcode === Opcode.Text && this.#validateUtf8 && (this.#rsv & Rsv.Rsv1) === 0;
        if (this.#messageIsCheckedText) (this.#utf8 ??= new Utf8Validator()).reset();
      }
      this.#messageBytes += this.#payloadLength;
    }
    if (this.#masked) this.#maskKey = packMaskKey(bytes, at + lengthEnd(this.#length7));
    this.#headerStage = 0;
    this.#inPayload = true;
  }

  /** Reads the payload of the accepted header; undefined when more bytes are needed. */
  #readPayload(): Frame | undefined {
    const length = this.#payloadLength;
    if (length === 0) return this.#complete(EMPTY);
    const gather = this.#gather;
    if (gather === undefined && this.#pieces === undefined) {
      if (this.#unconsumed === 0) return undefined;
      const chunk = this.#chunk;
      const start = this.#offset;
      if (chunk.length - start >= length) {
        // Zero-copy: the payload lies in this chunk.
        const backing = this.#backing;
        this.#consume(length);
        if (this.#masked) maskRange(chunk, start, start + length, this.#maskKey, 0, backing);
        const payload = bufferView(backing.buffer, backing.byteOffset + start, length);
        this.#checkUtf8(payload, 0, length);
        return this.#complete(payload);
      }
    }
    if (gather === undefined) {
      const payload = this.#holdPieces(length);
      if (payload !== null) return payload;
    }
    return this.#gatherCopies(length);
  }

  /**
   * Takes the straddling payload's bytes as views of the pushed chunks
   * while every piece but the first and the last is at least `MIN_PIECE`
   * bytes and there are at most `MAX_PIECES`; the payload is then copied
   * once, when complete, into a buffer that is not kept (allocated late, it
   * dies young instead of living through the whole transfer, as `ws` does
   * too). Pieces of a text message being validated are unmasked and checked
   * in place as they come; the others stay masked and are unmasked as they
   * are copied (one pass over the bytes fewer). Returns the frame,
   * `undefined` when more bytes are needed, or `null` once the pieces
   * turned out small or many: they are then copied (unmasked) into the
   * gather buffer, which takes it from there.
   */
  #holdPieces(length: number): Frame | undefined | null {
    // The key to unmask the held pieces with as they are copied; undefined when they are unmasked already (or never were masked).
    const copyKey = this.#masked && !this.#checksUtf8() ? this.#maskKey : undefined;
    while (this.#unconsumed > 0) {
      const from = this.#gathered;
      const chunk = this.#chunk;
      const start = this.#offset;
      const count = Math.min(length - from, chunk.length - start);
      const pieces = (this.#pieces ??= []);
      // The first and the last piece may be short (a frame rarely starts or ends on a chunk boundary).
      if (from + count < length && ((count < MIN_PIECE && pieces.length > 0) || pieces.length === MAX_PIECES)) {
        this.#gather = this.#growGather(length, 0, Math.min(length, from + this.#unconsumed));
        copyPieces(pieces, this.#gather, copyKey);
        this.#pieces = undefined;
        return null;
      }
      const backing = this.#backing;
      this.#consume(count);
      if (this.#masked && copyKey === undefined) maskRange(chunk, start, start + count, this.#maskKey, from, backing);
      const piece = bufferView(backing.buffer, backing.byteOffset + start, count);
      this.#checkUtf8(piece, 0, count);
      pieces.push(piece);
      this.#gathered = from + count;
      if (from + count === length) {
        const payload = Buffer.allocUnsafe(length);
        copyPieces(pieces, payload, copyKey);
        this.#pieces = undefined;
        this.#gathered = 0;
        return this.#complete(payload);
      }
    }
    return undefined;
  }

  /** Copies what is pushed of the payload into the gather buffer (growing it as needed); the frame once complete. */
  #gatherCopies(length: number): Frame | undefined {
    const from = this.#gathered;
    let gather = this.#gather;
    const needed = Math.min(length, from + this.#unconsumed);
    if (gather === undefined || needed > gather.length) gather = this.#growGather(length, from, needed);
    let filled = from;
    const end = gather.length; // at most `length`, and room for every byte pushed so far
    while (filled < end && this.#unconsumed > 0) {
      const chunk = this.#chunk;
      const count = Math.min(end - filled, chunk.length - this.#offset);
      chunk.copy(gather, filled, this.#offset, this.#offset + count);
      filled += count;
      this.#consume(count);
    }
    this.#gathered = filled;
    if (this.#masked) maskRange(gather, from, filled, this.#maskKey, from);
    this.#checkUtf8(gather, from, filled);
    if (filled < length) return undefined;
    this.#gather = undefined;
    this.#gathered = 0;
    return this.#complete(gather);
  }

  /**
   * Makes the gather buffer of a `length`-byte payload, or grows it, so it
   * holds `needed` bytes, keeping the `from` bytes already gathered (see
   * `gatherCapacity`). Returned only once every byte is written; small ones
   * come from Node's shared pool.
   */
  #growGather(length: number, from: number, needed: number): Buffer {
    const old = this.#gather;
    const grown = Buffer.allocUnsafe(gatherCapacity(length, old?.length ?? 0, needed));
    old?.copy(grown, 0, 0, from);
    return (this.#gather = grown);
  }

  /** True when this frame's payload is UTF-8-checked as it arrives: a data frame of a text message being validated. */
  #checksUtf8(): boolean {
    return this.#messageIsCheckedText && this.#opcode < 0x8;
  }

  /** Checks the UTF-8 of the unmasked payload bytes `bytes[start..end)`, if due. */
  #checkUtf8(bytes: Buffer, start: number, end: number): void {
    if (this.#checksUtf8() && this.#utf8!.push(bytes, start, end) !== -1) {
      fail(CloseCode.InvalidPayload, 'invalid UTF-8 in a text message');
    }
  }

  /** Final checks on a complete frame; returns it and gets ready for the next header. */
  #complete(payload: Buffer): Frame {
    const opcode = this.#opcode;
    if (opcode === Opcode.Close) {
      decodeClosePayload(payload);
    } else if (opcode < 0x8 && this.#fin) {
      if (this.#messageIsCheckedText && !this.#utf8!.finish()) {
        fail(CloseCode.InvalidPayload, 'text message ends inside a UTF-8 sequence');
      }
      this.#inMessage = false;
      this.#messageBytes = 0;
    }
    this.#inPayload = false;
    const rsv = this.#rsv;
    return {
      opcode: opcode as Opcode,
      fin: this.#fin,
      rsv1: (rsv & Rsv.Rsv1) !== 0,
      rsv2: (rsv & Rsv.Rsv2) !== 0,
      rsv3: (rsv & Rsv.Rsv3) !== 0,
      payload,
    };
  }
}
