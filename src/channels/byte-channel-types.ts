/**
 * The two halves of an asynchronous byte pipe, in the spirit of Ktor's
 * `ByteReadChannel` / `ByteWriteChannel`. `ByteChannel` implements both;
 * the Node and Web Streams adapters produce one half each.
 *
 * Ownership: a buffer passed to `writeFully` belongs to the channel from then
 * on (it is queued by reference, never copied); a buffer returned by a read
 * belongs to the reader, which may modify it in place.
 *
 * One reader at a time: start a read only after the previous one settled (a
 * second read that has to wait while another waits is rejected). Writes may
 * overlap; they are queued in call order.
 */

/** A reader parked by `whenReadable`: called back instead of resolving a promise. */
export interface ReadableListener {
  /** Bytes became readable, or the channel ended (closed or cancelled): look again. */
  onReadable(): void;
  /**
   * Optional: takes a batch written with `tryWriteAll` while the channel is
   * empty (with `autoFlush` on) and this listener is parked, instead of
   * having it queued and being woken to read it back: the hand-off a Kotlin
   * channel makes to a suspended receiver. Called from inside that write,
   * with its chunks in order (non-empty Buffers, the reader's from then on,
   * as if read). Returns true when it took them all: it is then no longer
   * parked (it parks again with `whenReadable`). Returns false to have them
   * queued as usual (`onReadable` follows).
   */
  takeChunks?(chunks: readonly Buffer[]): boolean;
}

/** Told when the bytes a channel's reader took stop flowing on beyond it, and when they flow again (see `ByteWriteChannel.watchStall`). */
export interface StallListener {
  /**
   * true: the reader took bytes it cannot pass on yet (a socket whose buffer
   * is full, a stream whose peer's window is closed): what was written is not
   * out, though the channel may look empty. false: those bytes went.
   */
  onStall(stalled: boolean): void;
}

/** The reading half. */
export interface ByteReadChannel {
  /** Bytes that can be read now without waiting. */
  readonly availableForRead: number;
  /** True once the writer closed (or the reader cancelled) and every buffered byte was read. */
  readonly isClosedForRead: boolean;
  /** The error the channel was closed or cancelled with, if any. */
  readonly closedCause: Error | undefined;

  /**
   * Waits until at least `min` bytes (default 1) are available. Resolves `true`
   * when they are, `false` when the channel closed normally with fewer; rejects
   * with the close cause when it was closed with one. `min` is a non-negative
   * integer that must not exceed the channel's capacity (`ByteChannel` rejects
   * anything else with a `RangeError`).
   */
  awaitContent(min?: number): Promise<boolean>;
  /**
   * Synchronous fast path: takes up to `max` (a positive integer, or `Infinity`,
   * the default; anything else throws a `RangeError`) buffered bytes as a view of
   * a queued chunk (zero-copy, never spans two chunks), or `undefined` when
   * nothing is buffered. Throws the close cause if the channel failed and
   * everything buffered before the failure was read.
   */
  tryReadChunk(max?: number): Buffer | undefined;
  /**
   * Synchronous: the first buffered chunk without consuming it (`undefined` when
   * nothing is buffered). Consume what you used with `tryReadChunk(n)`.
   */
  peekChunk(): Buffer | undefined;
  /** Like `tryReadChunk`, waiting for data; `null` at end of stream (a bad `max` rejects with a `RangeError`). */
  readChunk(max?: number): Promise<Buffer | null>;
  /**
   * Copies up to `length` available bytes into `dst` at `offset` (waiting for at
   * least one). Returns the count, or -1 at end of stream.
   */
  readAvailable(dst: Uint8Array, offset?: number, length?: number): Promise<number>;
  /**
   * Reads exactly `n` bytes (a non-negative integer); rejects with
   * `EndOfStreamError` if the stream ends first (the bytes that were left are
   * consumed; the error says how many).
   */
  readFully(n: number): Promise<Buffer>;
  /** One unsigned byte. */
  readByte(): Promise<number>;
  /** Big-endian unsigned 16-bit. */
  readShort(): Promise<number>;
  /** Big-endian unsigned 32-bit. */
  readInt(): Promise<number>;
  /** Big-endian unsigned 64-bit. */
  readLong(): Promise<bigint>;
  /**
   * Skips up to `n` bytes (a non-negative integer, or `Infinity` for "until the
   * end"); resolves with how many were skipped (fewer only at end of stream).
   */
  discard(n: number): Promise<number>;
  /**
   * Reads until end of stream (rejects with `LimitExceededError` past `limit`,
   * a non-negative integer or `Infinity`, the default).
   */
  readRemaining(limit?: number): Promise<Buffer>;
  /**
   * The callback form of `awaitContent()`, for a reader that waits without a
   * promise. Returns true when there is something to look at now: readable
   * bytes, or the end (then `tryReadChunk` returns `undefined` with
   * `isClosedForRead` true, or throws the cause). Otherwise parks `listener`
   * and returns false: its `onReadable()` is called once, synchronously, from
   * the write, flush, close or cancel that makes bytes readable or ends the
   * channel. One reader at a time, as with the promise reads.
   */
  whenReadable(listener: ReadableListener): boolean;
  /**
   * Stops reading: drops buffered bytes and fails the writer's pending and later
   * writes with `cause` (a `CancellationError` when omitted).
   */
  cancel(cause?: Error): void;
}

/** The writing half. */
export interface ByteWriteChannel {
  /** Bytes that fit before `writeFully` would wait (0 when full). */
  readonly availableForWrite: number;
  /** Bytes written and not read yet (flushed or not; writes still waiting for room not counted). */
  readonly bufferedBytes: number;
  /** True once the channel is closed or cancelled: writes throw or reject from then on. */
  readonly isClosedForWrite: boolean;
  /**
   * When false, written bytes become readable only on `flush()`, on `close()`,
   * or when a write has to wait for room (the reader must be able to make it).
   * Default true.
   */
  autoFlush: boolean;

  /**
   * Queues `src` by reference. Waits while the channel is full: it resolves once
   * `src` is queued. Rejects with the reader's cancel cause or `ChannelClosedError`.
   */
  writeFully(src: Uint8Array): Promise<void>;
  /**
   * Synchronous fast path: queues `src` and returns true if it fits now
   * (the channel is empty or has room for all of it); otherwise returns false and
   * queues nothing. Throws if the channel is closed.
   */
  tryWriteFully(src: Uint8Array): boolean;
  /**
   * Synchronous fast path for a batch: queues every chunk, in order, and
   * returns true if that needs no waiting (the capacity rule applied to the
   * chunks as one write: an empty channel takes them all, however large);
   * otherwise returns false and queues nothing. The batch becomes readable
   * in one piece (a parked reader is called once, after the last chunk; one
   * that takes batches gets it handed over: `ReadableListener.takeChunks`).
   * Throws if the channel is closed.
   */
  tryWriteAll(chunks: readonly Uint8Array[]): boolean;
  /** One byte, queued like `writeFully` (-128 to 255; a negative value in two's complement). */
  writeByte(value: number): Promise<void>;
  /** Big-endian 16-bit (-32768 to 65535, as `writeByte`). */
  writeShort(value: number): Promise<void>;
  /** Big-endian 32-bit (-2^31 to 2^32 - 1, as `writeByte`). */
  writeInt(value: number): Promise<void>;
  /** Big-endian 64-bit (-2^63 to 2^64 - 1, as `writeByte`). */
  writeLong(value: bigint): Promise<void>;
  /** Makes written bytes visible to the reader (a no-op with `autoFlush`). */
  flush(): void;
  /**
   * Closes the channel. Without a cause the reader sees end of stream after the
   * buffered bytes; with one, the reader fails with it after the buffered bytes.
   * Writes still waiting for room are queued first (nothing written before the
   * close is lost). Returns false if it was already closed (or cancelled).
   */
  close(cause?: Error): boolean;
  /**
   * Runs `handler` once when the reading side cancels the channel (at once if
   * it already did): how a writer with nothing to write learns that nobody
   * reads any more (a socket adapter cancels its output when the socket
   * closes). Returns a function that removes the handler.
   */
  invokeOnCancel(handler: (cause: Error) => void): () => void;
  /**
   * Optional: `listener` hears of stalls beyond the channel (see
   * `StallListener`), at once if one is going on; one listener at a time,
   * `undefined` removes it. A socket's output (`socketChannels`) has it; a
   * plain `ByteChannel`, whose bytes go nowhere beyond its reader, does not.
   */
  watchStall?(listener: StallListener | undefined): void;
}
