/**
 * Node adapter: a `net.Socket` (or any binary `Duplex`) as an input
 * `ByteReadChannel` and an output `ByteWriteChannel`, with backpressure both
 * ways.
 *
 * Input: each `'data'` chunk is queued by reference (small chunks that
 * arrive while the reader is behind are coalesced by copying into 16 KiB
 * slabs, see socket-input.ts, so memory follows bytes rather than TCP
 * segments). When a chunk does not fit, the socket is paused until the
 * channel has taken it, and the kernel's window pushes back on the peer. So
 * the input side holds at most its capacity (or one chunk, if larger) in the
 * channel, plus either the write that did not fit (one chunk, maybe behind a
 * run of up to 16 KiB of copies) or the small chunks copied since the last
 * run (under 16 KiB): one chunk and 16 KiB beyond that. Node's own readable
 * buffer comes on top.
 * Output: a pump waits for content, takes every buffered chunk, writes them
 * inside `cork()`/`uncork()` (one `writev` per turn), and waits for `'drain'`
 * whenever `write()` says the socket buffer is full; meanwhile the output
 * channel fills up and its writer waits.
 *
 * Mapping of ends and failures:
 * - peer ends its side (`'end'`)                  → input closes normally;
 * - socket `'error'`                              → input closes with the error, output is cancelled with it;
 * - socket `'close'` without `'end'` first        → input closes with `ConnectionResetError`;
 * - socket `'close'` with output still in use     → output is cancelled (writers fail);
 * - output closed normally                        → everything written, then `socket.end()` (half-close);
 * - output closed with a cause                    → `socket.destroy()`, input closes with that cause;
 * - input cancelled by its reader                 → the socket is resumed if paused and what the peer still
 *                                                   sends is read and discarded (unread bytes would turn the
 *                                                   final close into a reset, which can cost the peer our
 *                                                   last bytes); the socket is destroyed at once if the
 *                                                   output was closed with a cause (abandoned) or is fully
 *                                                   flushed, else once it is closed and every byte written
 *                                                   was handed to the kernel (`socket.end()`, then
 *                                                   `'finish'`), or `lingerMs` after the cancel at the latest.
 * Every listener is removed when the socket closes.
 *
 * Half-close: a socket made with `allowHalfOpen: false` (the default of
 * `net.createServer`) is ended by Node itself when the peer ends; use
 * `allowHalfOpen: true` to keep writing after the peer's FIN. Bytes the caller
 * already took from the socket (such as node:http's `upgrade` head) must be
 * `unshift`ed back before calling. The socket must not have an encoding set.
 */
import type { Duplex } from 'node:stream';
import { ByteChannel, DEFAULT_BYTE_CHANNEL_CAPACITY } from './byte-channel.ts';
import type { ByteReadChannel, ByteWriteChannel } from './byte-channel-types.ts';
import { ConnectionResetError, toError } from './errors.ts';
import { SocketInput } from './socket-input.ts';

/** Capacities of the two channels, in bytes. */
export interface SocketChannelsOptions {
  /** Bytes read from the socket that may wait for the reader before the socket is paused. Default 64 KiB. */
  readonly inputCapacity?: number;
  /** Bytes written to the output channel that may wait for the socket. Default 64 KiB. */
  readonly outputCapacity?: number;
  /**
   * After the input is cancelled (the session ended), how long the output may
   * still take to be written and flushed to a slow peer before the socket is
   * destroyed anyway. Default 5 s.
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
   * the stream is reset). Default: no bound (everything buffered goes in one
   * batch per turn).
   */
  readonly maxPendingWriteBytes?: number;
}

/** The two halves over one socket. */
export interface SocketChannels {
  /** Bytes from the peer. */
  readonly input: ByteReadChannel;
  /** Bytes to the peer. */
  readonly output: ByteWriteChannel;
}

/** Wraps `socket` as an input and an output byte channel (see the module comment for the mapping). */
export function socketChannels(socket: Duplex, options: SocketChannelsOptions = {}): SocketChannels {
  const maxPending = options.maxPendingWriteBytes;
  if (maxPending !== undefined && !(Number.isSafeInteger(maxPending) && maxPending > 0)) {
    throw new RangeError(`maxPendingWriteBytes must be a positive integer, got ${maxPending}`);
  }
  /** Writes into the input that wait for room: the socket stays paused until none is left. */
  let blockedWrites = 0;
  const input = new SocketInput(options.inputCapacity ?? DEFAULT_BYTE_CHANNEL_CAPACITY, (written) => {
    blockedWrites++;
    socket.pause();
    written.then(
      () => {
        if (--blockedWrites === 0 && !socket.destroyed) socket.resume();
      },
      () => {}, // rejected only once cancelled: the socket is destroyed
    );
  });
  const output = new ByteChannel(options.outputCapacity ?? DEFAULT_BYTE_CHANNEL_CAPACITY);
  if (socket.destroyed) {
    const cause = new ConnectionResetError('socket was already destroyed');
    input.close(cause);
    output.cancel(cause);
    return { input, output };
  }

  /** Why this adapter destroyed the socket, reported to the other side. */
  let failure: Error | undefined;
  let drained: (() => void) | undefined;
  /** Set when the input was cancelled: the socket goes once the output is done. */
  let destroyWhenFlushed = false;
  /** Set once the pump stopped: `socket.end()` was called (the output may not be flushed yet), or it failed. */
  let pumpDone = false;
  let linger: NodeJS.Timeout | undefined;

  const onData = (chunk: Buffer): void => {
    input.push(chunk);
  };
  const onEnd = (): void => {
    input.close();
  };
  const onError = (error: Error): void => {
    failure ??= error;
    input.close(error);
    output.cancel(error);
  };
  const onDrain = (): void => {
    const release = drained;
    drained = undefined;
    release?.();
  };
  const onClose = (): void => {
    const cause = failure ?? new ConnectionResetError();
    input.close(cause);
    output.cancel(cause);
    onDrain();
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    socket.off('drain', onDrain);
    socket.off('close', onClose);
    disposeCancelHook();
    clearTimeout(linger);
  };
  const disposeCancelHook = input.invokeOnCancel((cause) => {
    failure ??= cause;
    socket.off('data', onData);
    // Read on and discard (no 'data' listener is left), even if the input had paused the socket:
    // bytes left unread in the kernel make the final close a reset, and a peer that gets a reset
    // may drop what we sent last. Writes into the input were rejected by the cancel; nothing else resumes it.
    socket.resume();
    // At once when there is nothing to flush: everything was handed to the kernel, the socket is
    // gone, or the output was closed with a cause, which abandons it (a pump waiting for 'drain'
    // from a peer that reads nothing would otherwise keep the socket for lingerMs).
    if (output.closedCause !== undefined || socket.writableFinished || socket.destroyed) {
      socket.destroy();
      return;
    }
    linger = setTimeout(() => socket.destroy(), options.lingerMs ?? DEFAULT_LINGER_MS);
    // `socket.end()` was called but bytes may still wait in Node's buffer: destroy on 'finish'
    // (calling `end` again only adds the callback). Otherwise the pump does it when the output ends.
    if (pumpDone) socket.end(() => socket.destroy());
    else destroyWhenFlushed = true;
  });

  // The pump moves output bytes into the socket, one corked batch per wake-up, and waits for
  // 'drain' when the socket is full. Promise callbacks rather than an async function: while the
  // connection is idle it is one parked read, with no suspended frame.
  const pumpFailed = (error: unknown): void => {
    pumpDone = true;
    failure ??= toError(error);
    socket.destroy();
  };
  const pumpNext = (): void => {
    output.awaitContent().then(pump, pumpFailed);
  };
  const pump = (more: boolean): void => {
    if (!more) {
      pumpDone = true;
      if (destroyWhenFlushed) socket.end(() => socket.destroy());
      else socket.end();
      return;
    }
    let writable = true;
    try {
      socket.cork();
      if (maxPending === undefined) {
        for (let chunk = output.tryReadChunk(); chunk !== undefined; chunk = output.tryReadChunk()) {
          writable = socket.write(chunk);
        }
      } else {
        let budget = maxPending;
        for (let chunk = output.tryReadChunk(budget); chunk !== undefined; chunk = budget > 0 ? output.tryReadChunk(budget) : undefined) {
          budget -= chunk.length;
          unwritten++;
          socket.write(chunk, written);
        }
      }
      socket.uncork();
    } catch (error) {
      pumpFailed(error);
      return;
    }
    if (maxPending !== undefined) return; // `written` goes on once the batch is written
    if (writable) pumpNext();
    else drained = pumpNext;
  };
  /** Writes of the current bounded batch whose callback has not come yet. */
  let unwritten = 0;
  const written = (error?: Error | null): void => {
    if (error) pumpFailed(error);
    else if (--unwritten === 0 && !pumpDone) pumpNext();
  };

  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('drain', onDrain);
  socket.on('close', onClose);
  socket.resume();
  pumpNext();
  return { input, output };
}

const DEFAULT_LINGER_MS = 5_000;
