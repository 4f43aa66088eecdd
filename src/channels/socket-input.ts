/**
 * The input channel of a socket adapter: a `ByteChannel` whose memory follows
 * the bytes it buffers, not the number of chunks they arrived in.
 *
 * A peer can send one byte per TCP segment; queued by reference, each such
 * chunk costs a Buffer object and an allocation (hundreds of bytes for one
 * byte of data), so a 64 KiB channel could hold tens of megabytes. Here a
 * chunk shorter than 1 KiB that arrives while the reader is behind (bytes are
 * already buffered and the reader is not waiting for more than that) is
 * copied into a slab instead; the slab's run of copies joins the queue as one
 * chunk when the slab is full, before a larger chunk, before the end, and
 * whenever the reader waits (every wait goes through `awaitContent` or
 * `whenReadable`). A reader that keeps up gets every chunk by reference, as
 * before.
 */
import type { ReadableListener } from './byte-channel-types.ts';
import { ByteChannel } from './byte-channel.ts';
import { CopyRuns } from './copy-runs.ts';
import { CancellationError } from './errors.ts';

/** Chunks shorter than this are copied while the reader is behind. */
const COPY_BELOW = 1024;
/** Size of the slabs small chunks are copied into. */
const SLAB_SIZE = 16 * 1024;

/** Who feeds a `SocketInput`: told when to stop its source and when the reader gave up. */
export interface SocketInputSource {
  /** A chunk did not fit: stop the source (pause the socket) until `written` settles. */
  onBlocked(written: Promise<void>): void;
  /** The reader cancelled the input (once; also after the input ended, see `SocketInput.cancel`). */
  onInputCancelled(cause: Error): void;
}

export class SocketInput extends ByteChannel {
  readonly #source: SocketInputSource;
  /** Where small chunks are copied (made by the first one). */
  #copies: CopyRuns | undefined;
  /** What the reader last waited for, while it may still be waiting. */
  #readerWants = 0;
  /** Set once `onInputCancelled` was called. */
  #cancelReported = false;

  /** @param capacity bytes buffered before writes wait (see `ByteChannel`). */
  constructor(capacity: number, source: SocketInputSource) {
    super(capacity);
    this.#source = source;
  }

  /** Queues a chunk from the socket (copied if small and the reader is behind). Ignored once closed. */
  push(chunk: Buffer): void {
    if (this.isClosedForWrite) return;
    const buffered = this.availableForRead;
    if (chunk.length < COPY_BELOW && buffered > 0 && buffered >= this.#readerWants) {
      this.#readerWants = 0;
      const full = (this.#copies ??= new CopyRuns(SLAB_SIZE)).append(chunk);
      if (full !== undefined) this.#queue(full);
      return;
    }
    this.#queueRun();
    this.#queue(chunk);
  }

  /** Queues the copies first: a reader waiting for content needs them. */
  override awaitContent(min = 1): Promise<boolean> {
    this.#queueRun();
    if (this.availableForRead < min) this.#readerWants = min;
    return super.awaitContent(min);
  }

  /** Queues the copies first: a reader waiting for content needs them. */
  override whenReadable(listener: ReadableListener): boolean {
    this.#queueRun();
    if (this.availableForRead === 0) {
      this.#readerWants = 1;
      // The reader caught up: let go of the slab (an idle connection keeps none; a new one is made if it falls behind again).
      this.#copies = undefined;
    }
    return super.whenReadable(listener);
  }

  /** Queues the copies first, so the reader gets every byte before the end. */
  override close(cause?: Error): boolean {
    this.#queueRun();
    return super.close(cause);
  }

  /**
   * Cancels as `ByteChannel` does, and tells the source that the reader is
   * done, once: also when the input already ended and was read to its end
   * (the peer's FIN, then the session's end), where the cancel itself
   * changes nothing but the source still has a socket to let go of.
   */
  override cancel(cause?: Error): void {
    super.cancel(cause);
    if (this.#cancelReported) return;
    this.#cancelReported = true;
    this.#source.onInputCancelled(this.closedCause ?? cause ?? new CancellationError('the input was cancelled after its end'));
  }

  /** Queues the run of copies as one chunk. */
  #queueRun(): void {
    if (this.isClosedForWrite) return;
    const run = this.#copies?.takeRun();
    if (run !== undefined) this.#queue(run);
  }

  #queue(chunk: Buffer): void {
    if (!this.tryWriteFully(chunk)) this.#source.onBlocked(this.writeFully(chunk));
  }
}
