/**
 * `ByteChannel`: the in-memory byte pipe behind `ByteReadChannel` and
 * `ByteWriteChannel` — a queue of chunks held by reference, bounded by a
 * capacity, with one reader and FIFO writers that park (without polling)
 * when they cannot proceed.
 *
 * Capacity rule: `writeFully(src)` queues `src` at once when the channel is
 * empty or when `buffered + src.length <= capacity`; otherwise it waits until
 * the reader has made room (writes stay in order). So the buffered count never
 * exceeds `max(capacity, largest single write)`: a chunk larger than the
 * capacity is accepted whole, but only into an empty channel. `tryWriteAll`
 * applies the rule to a batch of chunks as one write (how the session's
 * writer hands over a turn's frames, header and payload together).
 *
 * Two rules keep a reader and a writer from waiting on each other forever:
 * - with `autoFlush = false`, a write that has to wait flushes first (the
 *   reader could not otherwise make room);
 * - a reader waiting in `awaitContent(min)` for more than is buffered, while
 *   the head write does not fit, is given a view of that write's first
 *   `capacity - buffered` bytes (still no copy; the rest waits for room).
 *
 * Synchronous fast path: `tryReadChunk`, `peekChunk` and `tryWriteFully`
 * never allocate a promise; the async reads resolve from the buffer through
 * `Promise.resolve` (no parking), and `awaitContent`/`writeFully` return a
 * shared pre-resolved promise when they need not wait.
 *
 * Wake-ups: bytes becoming readable resume a reader parked in a promise
 * read once the writer's burst of writes is over (`scheduleWake`,
 * wake-queue.ts): from `process.nextTick`, which Node runs once the
 * microtasks queued so far (and those they queue) have run, or at the end
 * of the socket's `'data'` callback the writes happen in. So such a reader is resumed once per burst, not once
 * per chunk, and finds the whole burst buffered. No latency is added beyond
 * that burst: a writer that has to wait, `close` and `cancel` resume the
 * reader at once. A reader parked with `whenReadable` (a listener, no
 * promise) is called back synchronously instead, from inside the write that
 * made bytes readable: the session's reader parses in the socket's `'data'`
 * callback. `tryWriteAll` makes its batch readable in one piece (the
 * listener is called once, after the last chunk), and hands it over whole
 * to a parked listener that takes batches (`takeChunks`: the socket
 * adapter's pump writes it to the socket then and there) when the channel
 * is empty, rather than queueing it to be read back.
 */
import type { ByteReadChannel, ByteWriteChannel, ReadableListener } from './byte-channel-types.ts';
import {
  CancellationError,
  ChannelClosedError,
  ConcurrentReadError,
  EndOfStreamError,
  LimitExceededError,
} from './errors.ts';
import { isBuffer } from './is-buffer.ts';
import { callHandler } from './report.ts';
import { emptyRing, releaseIfIdle, ringFor } from './ring.ts';
import { append, disposerOf } from './small-list.ts';
import { scheduleWake } from './wake-queue.ts';

/** Default capacity of a `ByteChannel`, in bytes. */
export const DEFAULT_BYTE_CHANNEL_CAPACITY = 64 * 1024;

const RESOLVED: Promise<void> = Promise.resolve();
const TRUE: Promise<boolean> = Promise.resolve(true);
const FALSE: Promise<boolean> = Promise.resolve(false);
const EMPTY: Buffer = Buffer.alloc(0);

const OPEN = 0;
/** The writer closed: readers drain what is buffered, then see the end (or the cause). */
const CLOSED = 1;
/** The reader cancelled: the buffer is dropped and every operation fails with `cause`. */
const CANCELLED = 2;
type State = typeof OPEN | typeof CLOSED | typeof CANCELLED;

/** A `writeFully` waiting for room. `src` shrinks when a reader is given a prefix of it. */
interface PendingWrite {
  src: Buffer;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

type Decode<R> = (buf: Buffer, at: number) => R;
const u8: Decode<number> = (b, at) => b[at] as number;
const u16: Decode<number> = (b, at) => b.readUInt16BE(at);
const u32: Decode<number> = (b, at) => b.readUInt32BE(at);
const u64: Decode<bigint> = (b, at) => b.readBigUInt64BE(at);

/**
 * An asynchronous byte pipe with backpressure: one reader, any number of
 * writers (served in order). Chunks are queued by reference and read back as
 * the same buffer or as views of it.
 */
export class ByteChannel implements ByteReadChannel, ByteWriteChannel {
  /** Bytes the channel buffers before `writeFully` waits (see the capacity rule above). */
  readonly capacity: number;

  /**
   * The oldest queued chunk, `undefined` when none is: a channel that holds
   * one chunk at a time (a socket's input, read as it comes) never touches
   * a ring.
   */
  private head: Buffer | undefined = undefined;
  /** The chunks queued behind `head` (the shared empty ring while there are none, unless the ring grew for a burst). */
  private chunks = emptyRing<Buffer>();
  /** Bytes of the head chunk already consumed. */
  private headOffset = 0;
  /** Queued bytes not yet read, flushed or not. */
  private size = 0;
  /** Bytes at the tail not yet flushed (whole chunks; always 0 with autoFlush). */
  private unflushed = 0;
  private auto = true;
  /** Writes waiting for room (the shared empty ring until the first one). */
  private writers = emptyRing<PendingWrite>();
  private state: State = OPEN;
  private cause: Error | undefined;

  /** The one reader parked with `whenReadable` (it waits for any byte, or the end). */
  private listener: ReadableListener | undefined;
  /** The one reader parked in a promise: it waits for `readerMin` readable bytes. */
  private readerMin = 0;
  private readerResolve: ((ready: boolean) => void) | undefined;
  private readerReject: ((error: Error) => void) | undefined;

  /** Where a number split across chunks is gathered (allocated on first use). */
  private scratch: Buffer | undefined;
  private cancelHandlers: ((cause: Error) => void)[] | undefined;
  private wakeScheduled = false;
  /**
   * The deferred wake-up (see "Wake-ups"); it re-checks, since the reader may
   * be gone. Static and given its channel by `scheduleWake`, so a channel
   * carries no closure of its own.
   */
  private static wakeLater(channel: ByteChannel): void {
    channel.wakeScheduled = false;
    if (channel.readerResolve !== undefined && channel.size - channel.unflushed >= channel.readerMin) channel.wakeReader();
  }

  /**
   * @param capacity bytes buffered before writers wait (a positive integer);
   *   default 64 KiB.
   */
  constructor(capacity: number = DEFAULT_BYTE_CHANNEL_CAPACITY) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`ByteChannel capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  // ---- state -------------------------------------------------------------

  get availableForRead(): number {
    return this.size - this.unflushed;
  }

  get availableForWrite(): number {
    return this.state === OPEN && this.writers.length === 0 ? Math.max(0, this.capacity - this.size) : 0;
  }

  get bufferedBytes(): number {
    return this.size;
  }

  get isClosedForRead(): boolean {
    return this.state !== OPEN && this.size === 0;
  }

  get isClosedForWrite(): boolean {
    return this.state !== OPEN;
  }

  get closedCause(): Error | undefined {
    return this.cause;
  }

  /** Setting it to true flushes what was written so far. */
  get autoFlush(): boolean {
    return this.auto;
  }

  set autoFlush(value: boolean) {
    this.auto = value;
    if (value) this.flush();
  }

  // ---- reading -----------------------------------------------------------

  awaitContent(min = 1): Promise<boolean> {
    if (!isCount(min, 0, false)) {
      return Promise.reject(new RangeError(`awaitContent(min) needs a non-negative integer, got ${min}`));
    }
    if (this.size - this.unflushed >= min) return TRUE;
    if (this.state !== OPEN) return this.cause === undefined ? FALSE : Promise.reject(this.cause);
    if (!(min <= this.capacity)) {
      return Promise.reject(
        new RangeError(`awaitContent(${min}) can never be satisfied: the capacity is ${this.capacity}`),
      );
    }
    if (this.readerResolve !== undefined || this.listener !== undefined) return Promise.reject(new ConcurrentReadError());
    return new Promise<boolean>((resolve, reject) => {
      this.readerMin = min;
      this.readerResolve = resolve;
      this.readerReject = reject;
      if (this.writers.length !== 0) this.feedParkedReader();
    });
  }

  whenReadable(listener: ReadableListener): boolean {
    if (this.size - this.unflushed !== 0 || this.state !== OPEN) return true;
    if (this.readerResolve !== undefined || (this.listener !== undefined && this.listener !== listener)) {
      throw new ConcurrentReadError();
    }
    this.listener = listener;
    return false;
  }

  tryReadChunk(max = Infinity): Buffer | undefined {
    if (!isCount(max, 1, true)) throw new RangeError(`tryReadChunk(max) needs a positive integer or Infinity, got ${max}`);
    if (this.size - this.unflushed === 0) {
      if (this.state !== OPEN && this.cause !== undefined) throw this.cause;
      return undefined;
    }
    const head = this.head as Buffer;
    return this.takeView(head, Math.min(head.length - this.headOffset, max));
  }

  peekChunk(): Buffer | undefined {
    if (this.size - this.unflushed === 0) return undefined;
    const head = this.head as Buffer;
    return this.headOffset === 0 ? head : head.subarray(this.headOffset);
  }

  readChunk(max = Infinity): Promise<Buffer | null> {
    if (!isCount(max, 1, true)) {
      return Promise.reject(new RangeError(`readChunk(max) needs a positive integer or Infinity, got ${max}`));
    }
    if (this.size - this.unflushed !== 0) {
      const head = this.head as Buffer;
      return Promise.resolve(this.takeView(head, Math.min(head.length - this.headOffset, max)));
    }
    return this.awaitContent(1).then((ready) => (ready ? this.readChunk(max) : null));
  }

  readAvailable(dst: Uint8Array, offset = 0, length = dst.length - offset): Promise<number> {
    if (!isRange(offset, length, dst.length)) {
      return Promise.reject(
        new RangeError(`readAvailable: offset ${offset} + length ${length} outside 0..${dst.length}`),
      );
    }
    if (length === 0) return Promise.resolve(0);
    const available = this.size - this.unflushed;
    if (available !== 0) {
      const n = Math.min(available, length);
      this.take(dst, offset, n);
      return Promise.resolve(n);
    }
    return this.awaitContent(1).then((ready) => (ready ? this.readAvailable(dst, offset, length) : -1));
  }

  readFully(n: number): Promise<Buffer> {
    if (!isCount(n, 0, false)) {
      return Promise.reject(new RangeError(`readFully(n) needs a non-negative integer, got ${n}`));
    }
    if (n === 0) return Promise.resolve(EMPTY);
    if (this.size - this.unflushed >= n) {
      const head = this.head as Buffer;
      if (head.length - this.headOffset >= n) return Promise.resolve(this.takeView(head, n));
      const out = Buffer.allocUnsafe(n);
      this.take(out, 0, n);
      return Promise.resolve(out);
    }
    return this.fill(Buffer.allocUnsafe(n), n);
  }

  readByte(): Promise<number> {
    return this.readScalar(1, u8);
  }

  readShort(): Promise<number> {
    return this.readScalar(2, u16);
  }

  readInt(): Promise<number> {
    return this.readScalar(4, u32);
  }

  readLong(): Promise<bigint> {
    return this.readScalar(8, u64);
  }

  discard(n: number): Promise<number> {
    if (!isCount(n, 0, true)) {
      return Promise.reject(new RangeError(`discard(n) needs a non-negative integer or Infinity, got ${n}`));
    }
    const skipped = Math.min(n, this.size - this.unflushed);
    if (skipped !== 0) this.take(undefined, 0, skipped);
    return skipped === n ? Promise.resolve(n) : this.discardSlow(n, skipped);
  }

  async readRemaining(limit = Infinity): Promise<Buffer> {
    if (!isCount(limit, 0, true)) {
      throw new RangeError(`readRemaining(limit) needs a non-negative integer or Infinity, got ${limit}`);
    }
    const parts: Buffer[] = [];
    let total = 0;
    do {
      for (let chunk = this.tryReadChunk(); chunk !== undefined; chunk = this.tryReadChunk()) {
        total += chunk.length;
        if (total > limit) throw new LimitExceededError(limit, `readRemaining: more than ${limit} bytes`);
        parts.push(chunk);
      }
    } while (await this.awaitContent(1));
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, total);
  }

  /**
   * Stops reading: drops the buffer, fails waiting and later writes with
   * `cause` (a `CancellationError` when omitted) and runs `invokeOnCancel`
   * handlers. A no-op once the channel is closed and drained, or cancelled.
   * If the writer already closed with a cause, that cause is kept.
   */
  cancel(cause?: Error): void {
    if (this.state === CANCELLED || (this.state === CLOSED && this.size === 0)) return;
    const reason = this.cause ?? cause ?? new CancellationError('byte channel was cancelled');
    this.state = CANCELLED;
    this.cause = reason;
    this.head = undefined;
    this.chunks = emptyRing();
    this.size = this.unflushed = this.headOffset = 0;
    for (let w = this.writers.shift(); w !== undefined; w = this.writers.shift()) w.reject(reason);
    const reject = this.readerReject;
    if (reject !== undefined) {
      this.readerResolve = this.readerReject = undefined;
      reject(reason);
    }
    this.callListener();
    const handlers = this.cancelHandlers;
    this.cancelHandlers = undefined;
    if (handlers !== undefined) for (const h of handlers) callHandler(h, reason);
  }

  /**
   * Runs `handler` once when the reader cancels the channel (at once if it
   * already did) — how an adapter learns to stop its source. A handler that
   * throws is reported as an uncaught exception. Returns a disposer.
   */
  invokeOnCancel(handler: (cause: Error) => void): () => void {
    if (this.state === CANCELLED) {
      callHandler(handler, this.cause as Error);
      return () => {};
    }
    const handlers = (this.cancelHandlers = append(this.cancelHandlers, handler));
    return disposerOf(handlers, handler);
  }

  // ---- writing -----------------------------------------------------------

  writeFully(src: Uint8Array): Promise<void> {
    if (!isBytes(src)) return Promise.reject(new TypeError('writeFully(src) needs a Uint8Array'));
    if (this.state !== OPEN) return Promise.reject(this.writeError());
    const n = src.length;
    if (n === 0) return RESOLVED;
    const buf = isBuffer(src) ? src : Buffer.from(src.buffer, src.byteOffset, n);
    if (this.writers.length === 0 && (this.size === 0 || this.size + n <= this.capacity)) {
      this.enqueue(buf);
      return RESOLVED;
    }
    return new Promise<void>((resolve, reject) => {
      this.writers = ringFor(this.writers);
      this.writers.push({ src: buf, resolve, reject });
      // Invariant: while a write waits, everything queued is visible.
      this.unflushed = 0;
      if (this.readerResolve !== undefined) this.feedParkedReader();
      else this.callListener();
    });
  }

  tryWriteFully(src: Uint8Array): boolean {
    if (!isBytes(src)) throw new TypeError('tryWriteFully(src) needs a Uint8Array');
    if (this.state !== OPEN) throw this.writeError();
    const n = src.length;
    if (n === 0) return true;
    if (this.writers.length !== 0 || (this.size !== 0 && this.size + n > this.capacity)) return false;
    this.enqueue(isBuffer(src) ? src : Buffer.from(src.buffer, src.byteOffset, n));
    return true;
  }

  tryWriteAll(chunks: readonly Uint8Array[]): boolean {
    if (this.state !== OPEN) throw this.writeError();
    let total = 0;
    /** Every chunk a non-empty Buffer: the batch can be handed over as it is. */
    let asIs = true;
    for (const chunk of chunks) {
      if (!isBuffer(chunk)) {
        if (!isBytes(chunk)) throw new TypeError('tryWriteAll(chunks) needs Uint8Arrays');
        asIs = false;
      } else if (chunk.length === 0) asIs = false;
      total += chunk.length;
    }
    if (this.writers.length !== 0 || (this.size !== 0 && this.size + total > this.capacity)) return false;
    if (total === 0) return true;
    const listener = this.listener;
    if (asIs && this.size === 0 && this.auto && listener?.takeChunks !== undefined) {
      this.listener = undefined;
      if (listener.takeChunks(chunks as readonly Buffer[])) return true;
      this.listener ??= listener;
    }
    for (const chunk of chunks) {
      if (chunk.length !== 0) this.queueChunk(isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    }
    this.written(total);
    return true;
  }

  /** Accepts -128..255; negative values are written in two's complement. */
  writeByte(value: number): Promise<void> {
    return this.writeNumber(1, value);
  }

  /** Accepts -32768..65535; negative values are written in two's complement. */
  writeShort(value: number): Promise<void> {
    return this.writeNumber(2, value);
  }

  /** Accepts -2^31..2^32-1; negative values are written in two's complement. */
  writeInt(value: number): Promise<void> {
    return this.writeNumber(4, value);
  }

  /** Accepts -2^63..2^64-1; negative values are written in two's complement. */
  writeLong(value: bigint): Promise<void> {
    if (value < -(1n << 63n) || value >= 1n << 64n) {
      return Promise.reject(new RangeError(`writeLong: ${value} does not fit in 64 bits`));
    }
    const buf = Buffer.allocUnsafe(8);
    buf.writeBigUInt64BE(BigInt.asUintN(64, value));
    return this.writeFully(buf);
  }

  flush(): void {
    if (this.unflushed === 0) return;
    this.unflushed = 0;
    if (this.listener !== undefined) this.callListener();
    else if (this.readerResolve !== undefined && this.size >= this.readerMin) this.scheduleWake();
  }

  /**
   * Closes the writing side. Writes still waiting for room are queued first
   * (they were issued before the close, and resolve), and everything is
   * flushed. A reader waiting for more than will ever come is released: with
   * `false` (normal close) or the `cause`.
   */
  close(cause?: Error): boolean {
    if (this.state !== OPEN) return false;
    for (let w = this.writers.shift(); w !== undefined; w = this.writers.shift()) {
      this.enqueue(w.src);
      w.resolve();
    }
    this.unflushed = 0;
    this.state = CLOSED;
    this.cause = cause;
    const resolve = this.readerResolve;
    if (resolve !== undefined) {
      const reject = this.readerReject as (error: Error) => void;
      const ready = this.size >= this.readerMin;
      this.readerResolve = this.readerReject = undefined;
      if (ready || cause === undefined) resolve(ready);
      else reject(cause);
    }
    this.callListener();
    return true;
  }

  // ---- internals ---------------------------------------------------------

  private enqueue(buf: Buffer): void {
    this.queueChunk(buf);
    this.written(buf.length);
  }

  /** Queues `buf` (not yet readable: see `written`). */
  private queueChunk(buf: Buffer): void {
    if (this.head === undefined) this.head = buf;
    else (this.chunks = ringFor(this.chunks)).push(buf);
    this.size += buf.length;
  }

  /** `n` bytes were queued: they wait for `flush`, or the reader hears of them. */
  private written(n: number): void {
    if (!this.auto) this.unflushed += n;
    else if (this.listener !== undefined) this.callListener();
    else if (this.readerResolve !== undefined && this.size >= this.readerMin) this.scheduleWake();
  }

  /** Unparks the `whenReadable` listener, if any, and calls it. */
  private callListener(): void {
    const listener = this.listener;
    if (listener === undefined) return;
    this.listener = undefined;
    listener.onReadable();
  }

  private scheduleWake(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    scheduleWake(ByteChannel.wakeLater, this);
  }

  private wakeReader(): void {
    const resolve = this.readerResolve as (ready: boolean) => void;
    this.readerResolve = this.readerReject = undefined;
    resolve(true);
  }

  /** Called after bytes were consumed: admits waiting writes that now fit, in order. */
  private admitWriters(): void {
    for (let w = this.writers.peek(); w !== undefined; w = this.writers.peek()) {
      if (this.size !== 0 && this.size + w.src.length > this.capacity) break;
      this.writers.shift();
      this.enqueue(w.src);
      w.resolve();
    }
    if (this.writers.length !== 0) {
      this.unflushed = 0;
      if (this.readerResolve !== undefined) this.feedParkedReader();
    }
  }

  /**
   * A reader is parked and a write waits for room: resume the reader at once.
   * If it waits for more than is buffered (at most the capacity), first queue
   * a view of the part of the head write that fits, which satisfies it without
   * exceeding the capacity.
   */
  private feedParkedReader(): void {
    if (this.size >= this.readerMin) {
      this.wakeReader();
      return;
    }
    const w = this.writers.peek() as PendingWrite;
    const room = this.capacity - this.size;
    const part = w.src.subarray(0, room);
    w.src = w.src.subarray(room);
    this.queueChunk(part);
    this.wakeReader();
  }

  /** Consumes `n` bytes (at most what the head chunk holds) as a view, or the chunk itself. */
  private takeView(head: Buffer, n: number): Buffer {
    const start = this.headOffset;
    const end = start + n;
    this.advance(head, end);
    return start === 0 && end === head.length ? head : head.subarray(start, end);
  }

  /** Consumes the head chunk up to offset `end`, then admits writers that now fit. */
  private advance(head: Buffer, end: number): void {
    this.size -= end - this.headOffset;
    if (end === head.length) {
      const chunks = this.chunks;
      if (chunks.length === 0) this.head = undefined;
      else {
        this.head = chunks.shift();
        this.chunks = releaseIfIdle(chunks); // an idle channel keeps no ring
      }
      this.headOffset = 0;
    } else {
      this.headOffset = end;
    }
    if (this.writers.length !== 0) this.admitWriters();
  }

  /** Consumes `n` readable bytes, copying them to `dst` at `offset` when given. */
  private take(dst: Uint8Array | undefined, offset: number, n: number): void {
    while (n > 0) {
      const head = this.head as Buffer;
      const start = this.headOffset;
      const k = Math.min(head.length - start, n);
      if (dst !== undefined) head.copy(dst, offset, start, start + k);
      offset += k;
      n -= k;
      this.advance(head, start + k);
    }
  }

  private readScalar<R>(size: number, decode: Decode<R>): Promise<R> {
    if (this.size - this.unflushed >= size) {
      const head = this.head as Buffer;
      const start = this.headOffset;
      if (head.length - start >= size) {
        const value = decode(head, start);
        this.advance(head, start + size);
        return Promise.resolve(value);
      }
    }
    // Split across chunks, or not all here yet: gathered in the scratch buffer.
    const scratch = (this.scratch ??= Buffer.allocUnsafe(8));
    if (this.size - this.unflushed < size) return this.fill(scratch, size).then((buf) => decode(buf, 0));
    this.take(scratch, 0, size);
    return Promise.resolve(decode(scratch, 0));
  }

  /** Fills `dst[0..n)` as bytes arrive; rejects with `EndOfStreamError` at a normal end first. */
  private async fill(dst: Buffer, n: number): Promise<Buffer> {
    let got = 0;
    for (;;) {
      const k = Math.min(this.size - this.unflushed, n - got);
      if (k !== 0) {
        this.take(dst, got, k);
        got += k;
        if (got === n) return dst;
      }
      if (!(await this.awaitContent(1))) throw new EndOfStreamError(n, got);
    }
  }

  private async discardSlow(n: number, skipped: number): Promise<number> {
    while (skipped < n && (await this.awaitContent(1))) {
      const k = Math.min(this.size - this.unflushed, n - skipped);
      this.take(undefined, 0, k);
      skipped += k;
    }
    return skipped;
  }

  private writeNumber(size: 1 | 2 | 4, value: number): Promise<void> {
    const bits = size * 8;
    if (!Number.isInteger(value) || value < -(2 ** (bits - 1)) || value >= 2 ** bits) {
      return Promise.reject(new RangeError(`${value} does not fit in ${bits} bits`));
    }
    const buf = Buffer.allocUnsafe(size);
    buf.writeUIntBE(value < 0 ? value + 2 ** bits : value, 0, size);
    return this.writeFully(buf);
  }

  private writeError(): Error {
    return this.state === CANCELLED
      ? (this.cause as Error)
      : new ChannelClosedError('byte channel was closed for writing', this.cause);
  }
}

/**
 * Whether `n` is a valid count argument: a safe integer `>= min`, or
 * `Infinity` where the method takes it ("no limit"). Anything else (a
 * fraction, NaN, a negative) would leave fractional offsets in the channel.
 */
function isCount(n: number, min: number, infinite: boolean): boolean {
  return n === Infinity ? infinite : Number.isSafeInteger(n) && n >= min;
}

/** A byte view (a Buffer first, the common case; else any realm's): one byte per element, so `length` counts bytes. */
function isBytes(src: Uint8Array): boolean {
  return isBuffer(src) || (ArrayBuffer.isView(src) && (src as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT === 1);
}

function isRange(offset: number, length: number, total: number): boolean {
  return Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= total;
}
