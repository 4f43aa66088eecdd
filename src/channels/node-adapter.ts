/**
 * Node adapter: a `net.Socket` (or any binary `Duplex`) as an input
 * `ByteReadChannel` and an output `ByteWriteChannel`, with backpressure both
 * ways.
 *
 * Input: each `'data'` chunk is queued by reference (small chunks that
 * arrive while the reader is behind are coalesced by copying into 16 KiB
 * slabs, see socket-input.ts, so memory follows bytes rather than TCP
 * segments). A reader parked with `whenReadable` runs inside the `'data'`
 * callback, and the channel wake-ups its work schedules run before that
 * callback returns (`withWakesAfter`, wake-queue.ts): an answer to the
 * chunk is written from the same callback, without a tick. When a chunk does not fit, the socket is paused until the
 * channel has taken it, and the kernel's window pushes back on the peer. So
 * the input side holds at most its capacity (or one chunk, if larger) in the
 * channel, plus either the write that did not fit (one chunk, maybe behind a
 * run of up to 16 KiB of copies) or the small chunks copied since the last
 * run (under 16 KiB): one chunk and 16 KiB beyond that. Node's own readable
 * buffer comes on top.
 * Output: the pump is parked on the output channel as a listener (no
 * promise); when bytes become readable it takes every buffered chunk and
 * writes them (inside `cork()`/`uncork()` when there are several: one
 * `writev`), and waits for `'drain'` whenever `write()` says the socket
 * buffer is full; meanwhile the output channel fills up and its writer waits.
 * A batch written with `tryWriteAll` into the empty channel while the pump
 * is parked is handed to it directly (`takeChunks`) and written from inside
 * that call: the steady state of a session's writer, with no queueing.
 * While bytes the pump took wait for the socket (`'drain'`, or a bounded
 * batch's write callbacks), the output tells its writer (`watchStall`): the
 * channel may be empty while a large write has not gone out.
 *
 * Mapping of ends and failures:
 * - peer ends its side (`'end'`)                  → input closes normally;
 * - socket `'error'`                              → input closes with the error, output is cancelled with it;
 * - socket `'close'` without `'end'` first        → input closes with `ConnectionResetError`;
 * - socket `'close'` with output still in use     → output is cancelled (writers fail);
 * - output closed normally                        → everything written, then `socket.end()` (half-close);
 * - output closed with a cause                    → `socket.destroy()` (at once, even while writes wait for a
 *                                                   peer that does not read), input closes with that cause;
 * - input cancelled by its reader (also after     → the socket is resumed if paused and what the peer still
 *   the input ended: see `SocketInput.cancel`)      sends is read and discarded (unread bytes would turn the
 *                                                   final close into a reset, which can cost the peer our
 *                                                   last bytes); the socket is destroyed at once if the
 *                                                   output was closed with a cause (abandoned) or is fully
 *                                                   flushed, else once it is closed and every byte written
 *                                                   was handed to the kernel (`socket.end()`, then
 *                                                   `'finish'`), or `lingerMs` after the cancel at the latest;
 *                                                   but when both ways ended (the peer's end read, ours
 *                                                   flushed) it closes by itself (an HTTP/2 stream is not
 *                                                   reset), `lingerMs` at the latest.
 * Every listener is removed when the socket closes.
 *
 * An idle connection costs one `SocketAdapter` and no closures: the socket's
 * listeners are module-level functions that find the adapter on the socket.
 *
 * Half-close: a socket made with `allowHalfOpen: false` (the default of
 * `net.createServer`) is ended by Node itself when the peer ends; use
 * `allowHalfOpen: true` to keep writing after the peer's FIN. Bytes the caller
 * already took from the socket (such as node:http's `upgrade` head) must be
 * `unshift`ed back before calling. The socket must not have an encoding set.
 */
import type { Duplex } from 'node:stream';
import { ByteChannel, DEFAULT_BYTE_CHANNEL_CAPACITY } from './byte-channel.ts';
import type { ByteReadChannel, ByteWriteChannel, ReadableListener, StallListener } from './byte-channel-types.ts';
import { checkDuration } from './duration.ts';
import { ConnectionResetError, toError } from './errors.ts';
import { SocketInput, type SocketInputSource } from './socket-input.ts';
import { withWakesAfter } from './wake-queue.ts';
import { coalesceWrites, forgetWriter } from './write-coalescing.ts';

/** Capacities of the two channels, in bytes. */
export interface SocketChannelsOptions {
  /** Bytes read from the socket that may wait for the reader before the socket is paused. Default 64 KiB. */
  readonly inputCapacity?: number;
  /** Bytes written to the output channel that may wait for the socket. Default 64 KiB. */
  readonly outputCapacity?: number;
  /**
   * After the input is cancelled (the session ended), how long the output may
   * still take to be written and flushed to a slow peer before the socket is
   * destroyed anyway. Default 5 s. (The server also bounds a refused HTTP/2
   * stream with it: see `answerAndCloseStream`.)
   */
  readonly lingerMs?: number;
  /**
   * Most bytes handed to the socket that it has not finished writing: each
   * batch is at most this large, and the next one waits until the socket
   * reports the previous one written (its write callbacks) instead of
   * waiting for `'drain'`. For transports that hold written bytes until the
   * peer can take them and count them against a budget, such as HTTP/2
   * streams (node:http2 counts a stream's unsent bytes against the
   * connection's `maxSessionMemory`, and Node 20 never gives them back when
   * the stream is reset). Default: no bound (everything buffered goes out
   * at once, in one batch per wake-up).
   */
  readonly maxPendingWriteBytes?: number;
}

/**
 * Throws a RangeError for invalid `SocketChannelsOptions` (what
 * `socketChannels` throws): a server checks them once, up front, rather than
 * failing on every connection.
 */
export function checkSocketChannelsOptions(options: SocketChannelsOptions): void {
  for (const name of ['inputCapacity', 'outputCapacity', 'maxPendingWriteBytes'] as const) {
    const value = options[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
      throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
  }
  if (options.lingerMs !== undefined) checkDuration('lingerMs', options.lingerMs, 0, false);
}

/** The two halves over one socket. */
export interface SocketChannels {
  /** Bytes from the peer. */
  readonly input: ByteReadChannel;
  /** Bytes to the peer. */
  readonly output: ByteWriteChannel;
}

export const DEFAULT_LINGER_MS = 5_000;

/** The options of callers that give none (one object: each adapter keeps a reference to its options). */
const NO_OPTIONS: SocketChannelsOptions = Object.freeze({});
/** Where a socket keeps its adapter (the module-level listeners look it up there). */
const ADAPTER = Symbol('ktor-ws-ts.socketAdapter');
type AdaptedSocket = Duplex & { [ADAPTER]: SocketAdapter };

/** Wraps `socket` as an input and an output byte channel (see the module comment for the mapping). */
export function socketChannels(socket: Duplex, options: SocketChannelsOptions = NO_OPTIONS): SocketChannels {
  checkSocketChannelsOptions(options);
  const adapter = new SocketAdapter(socket, options);
  if (socket.destroyed) {
    const cause = new ConnectionResetError('socket was already destroyed');
    adapter.input.close(cause);
    adapter.output.cancel(cause);
    return adapter;
  }
  (socket as AdaptedSocket)[ADAPTER] = adapter;
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('drain', onDrain);
  socket.on('close', onClose);
  socket.resume();
  adapter.pump();
  return adapter;
}

function onData(this: AdaptedSocket, chunk: Buffer): void {
  withWakesAfter(pushChunk, this[ADAPTER].input, chunk);
}

function pushChunk(input: SocketInput, chunk: Buffer): void {
  input.push(chunk);
}

function onEnd(this: AdaptedSocket): void {
  this[ADAPTER].input.close();
}

function onError(this: AdaptedSocket, error: Error): void {
  const adapter = this[ADAPTER];
  adapter.failure ??= error;
  adapter.input.close(error);
  adapter.output.cancel(error);
}

function onDrain(this: AdaptedSocket): void {
  const adapter = this[ADAPTER];
  if (!adapter.waitingForDrain) return;
  adapter.waitingForDrain = false;
  adapter.output.stallChanged(false);
  adapter.pump();
}

function onClose(this: AdaptedSocket): void {
  this[ADAPTER].onSocketClosed();
  this.off('data', onData);
  this.off('end', onEnd);
  this.off('error', onError);
  this.off('drain', onDrain);
  this.off('close', onClose);
}

/**
 * The output channel of a socket adapter: closing it with a cause tells the
 * adapter (see `onOutputFailed`), and its writer can hear of the socket's
 * stalls (`watchStall`).
 */
class SocketOutput extends ByteChannel {
  readonly #adapter: SocketAdapter;
  #stallListener: StallListener | undefined;

  constructor(capacity: number, adapter: SocketAdapter) {
    super(capacity);
    this.#adapter = adapter;
  }

  watchStall(listener: StallListener | undefined): void {
    this.#stallListener = listener;
    if (listener !== undefined && this.#adapter.isStalled) listener.onStall(true);
  }

  /** The adapter's bytes stopped at the socket (true), or went (false). */
  stallChanged(stalled: boolean): void {
    this.#stallListener?.onStall(stalled);
  }

  override close(cause?: Error): boolean {
    const closed = super.close(cause);
    if (closed && cause !== undefined) this.#adapter.onOutputFailed(cause);
    return closed;
  }
}

/** The state of one adapted socket: its two channels and the output pump. */
class SocketAdapter implements SocketChannels, SocketInputSource, ReadableListener {
  readonly input: SocketInput;
  readonly output: SocketOutput;
  readonly #socket: Duplex;
  /** The caller's options, shared by every socket they serve (read where needed: an adapter copies none). */
  readonly #options: SocketChannelsOptions;
  /** Why this adapter destroyed the socket, reported to the other side. */
  failure: Error | undefined;
  /** The pump stopped on a full socket buffer; `'drain'` resumes it. */
  waitingForDrain = false;
  /** Writes into the input that wait for room: the socket stays paused until none is left. */
  #blockedWrites = 0;
  /** Set when the input was cancelled: the socket goes once the output is done. */
  #destroyWhenFlushed = false;
  /** Set once the pump stopped: `socket.end()` was called (the output may not be flushed yet), or it failed. */
  #pumpDone = false;
  #linger: NodeJS.Timeout | undefined;
  /** Writes of the current bounded batch whose callback has not come yet. */
  #unwritten = 0;
  /** The write callback of bounded batches (made only when there is a bound). */
  readonly #written: ((error?: Error | null) => void) | undefined;

  constructor(socket: Duplex, options: SocketChannelsOptions) {
    this.#socket = socket;
    this.#options = options;
    this.input = new SocketInput(options.inputCapacity ?? DEFAULT_BYTE_CHANNEL_CAPACITY, this);
    this.output = new SocketOutput(options.outputCapacity ?? DEFAULT_BYTE_CHANNEL_CAPACITY, this);
    this.#written = options.maxPendingWriteBytes === undefined ? undefined : (error) => this.#onWritten(error);
  }

  /** True while bytes taken from the output wait for the socket: for `'drain'`, or for a bounded batch's write callbacks. */
  get isStalled(): boolean {
    return this.waitingForDrain || this.#unwritten > 0;
  }

  /** The pump stops on a full socket buffer until `'drain'`. */
  #waitForDrain(): void {
    this.waitingForDrain = true;
    this.output.stallChanged(true);
  }

  /** The output became readable or ended. */
  onReadable(): void {
    this.pump();
  }

  /**
   * A batch written into the empty output while the pump was parked: to the
   * socket at once (one `writev` when several), with no queueing (see
   * `ReadableListener.takeChunks`), or, when several sockets answer in the
   * same turn, at the end of it together with theirs (write-coalescing.ts);
   * then parked again, unless the socket's buffer is full (`'drain'`
   * resumes the pump). Bounded batches (`maxPendingWriteBytes`) go through
   * the queue.
   */
  takeChunks(chunks: readonly Buffer[]): boolean {
    if (this.#written !== undefined) return false;
    const socket = this.#socket;
    let writable: boolean;
    try {
      let bytes = 0;
      for (const chunk of chunks) bytes += chunk.length;
      coalesceWrites(socket, bytes);
      if (chunks.length === 1) writable = socket.write(chunks[0]);
      else {
        socket.cork();
        writable = true;
        for (const chunk of chunks) writable = socket.write(chunk);
        socket.uncork();
      }
    } catch (error) {
      this.#destroyWith(error);
      return true;
    }
    if (!writable) this.#waitForDrain();
    else if (this.output.whenReadable(this)) this.pump(); // it ended meanwhile
    return true;
  }

  /**
   * Moves output bytes into the socket until the output is empty (then parks
   * on it), the socket's buffer is full (then waits for `'drain'`), or the
   * output ended (then ends or destroys the socket).
   */
  pump(): void {
    const output = this.output;
    const socket = this.#socket;
    try {
      for (;;) {
        if (this.#unwritten > 0) return; // a bounded batch is still being written: `#onWritten` goes on
        // `maxPendingWriteBytes`, when set: the pump writes bounded batches and waits for their write callbacks.
        const maxPending = this.#written === undefined ? undefined : this.#options.maxPendingWriteBytes;
        let chunk = output.tryReadChunk(maxPending);
        if (chunk === undefined) {
          if (output.isClosedForRead) return this.#outputEnded();
          if (!output.whenReadable(this)) return; // parked until bytes come
          continue;
        }
        if (maxPending !== undefined) return this.#writeBounded(chunk, maxPending);
        let writable: boolean;
        const next = output.tryReadChunk();
        if (next === undefined) {
          writable = socket.write(chunk);
        } else {
          socket.cork();
          socket.write(chunk);
          writable = socket.write(next);
          while ((chunk = output.tryReadChunk()) !== undefined) writable = socket.write(chunk);
          socket.uncork();
        }
        if (!writable) {
          this.#waitForDrain();
          return;
        }
      }
    } catch (error) {
      // The output was closed with a cause (after its bytes went out), or the socket threw.
      this.#destroyWith(error);
    }
  }

  /**
   * The output was closed with a cause: the socket goes at once. (A parked
   * pump learns it from the output and does the same; one waiting for
   * `'drain'` or for a bounded batch's callbacks would not, until the peer
   * read: a peer that never reads would keep the socket.)
   */
  onOutputFailed(cause: Error): void {
    if (this.waitingForDrain || this.#unwritten > 0) this.#destroyWith(cause);
  }

  /** The pump stops for good and the socket goes, reporting `error`. */
  #destroyWith(error: unknown): void {
    this.#pumpDone = true;
    this.failure ??= toError(error);
    this.#socket.destroy();
  }

  /** Writes `first` and what else the output holds, `max` bytes in all, as one batch; the last callback resumes the pump. */
  #writeBounded(first: Buffer, max: number): void {
    const socket = this.#socket;
    const written = this.#written!;
    let budget = max - first.length;
    socket.cork();
    this.#unwritten++;
    socket.write(first, written);
    for (let chunk = budget > 0 ? this.output.tryReadChunk(budget) : undefined; chunk !== undefined; chunk = budget > 0 ? this.output.tryReadChunk(budget) : undefined) {
      budget -= chunk.length;
      this.#unwritten++;
      socket.write(chunk, written);
    }
    socket.uncork();
    this.output.stallChanged(true); // until the callbacks come (never synchronously)
  }

  #onWritten(error?: Error | null): void {
    if (error) this.#destroyWith(error);
    else if (--this.#unwritten === 0) {
      this.output.stallChanged(false);
      if (!this.#pumpDone) this.pump();
    }
  }

  /** The output closed normally and every byte went to the socket: half-close. */
  #outputEnded(): void {
    this.#pumpDone = true;
    if (this.#destroyWhenFlushed) this.#socket.end(() => this.#socket.destroy());
    else this.#socket.end();
  }

  onBlocked(written: Promise<void>): void {
    this.#blockedWrites++;
    this.#socket.pause();
    written.then(
      () => {
        if (--this.#blockedWrites === 0 && !this.#socket.destroyed) this.#socket.resume();
      },
      () => {}, // rejected only once cancelled: the socket is destroyed
    );
  }

  onInputCancelled(cause: Error): void {
    const socket = this.#socket;
    this.failure ??= cause;
    socket.off('data', onData);
    // Read on and discard (no 'data' listener is left), even if the input had paused the socket:
    // bytes left unread in the kernel make the final close a reset, and a peer that gets a reset
    // may drop what we sent last. Writes into the input were rejected by the cancel; nothing else resumes it.
    socket.resume();
    if (socket.destroyed) return;
    // At once when the output was closed with a cause, which abandons it (a pump waiting for 'drain'
    // from a peer that reads nothing would otherwise keep the socket for lingerMs), or when there is
    // nothing to flush (everything was handed to the kernel) and the peer has not ended its side.
    if (this.output.closedCause !== undefined || (socket.writableFinished && !socket.readableEnded)) {
      socket.destroy();
      return;
    }
    this.#linger = setTimeout(() => socket.destroy(), this.#options.lingerMs ?? DEFAULT_LINGER_MS);
    // Both ways done (the peer's end read, ours flushed): the socket closes by itself (an HTTP/2 stream
    // once both ends went through its session; destroying it first would reset it, and a server takes a
    // burst of resets on one connection for an attack); the linger timer destroys it should it not.
    if (socket.writableFinished) return;
    // `socket.end()` was called but bytes may still wait in Node's buffer: destroy on 'finish'
    // (calling `end` again only adds the callback). Otherwise the pump does it when the output ends.
    if (this.#pumpDone) socket.end(() => socket.destroy());
    else this.#destroyWhenFlushed = true;
  }

  onSocketClosed(): void {
    const cause = this.failure ?? new ConnectionResetError();
    this.input.close(cause);
    this.output.cancel(cause);
    clearTimeout(this.#linger);
    forgetWriter(this.#socket);
  }
}
