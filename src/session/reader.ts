/**
 * The reader task (Ktor's reader coroutine): it owns the input channel's
 * reading end and moves the peer's bytes through the protocol, handing each
 * frame to its host (the raw session) until the peer's close frame, a
 * failure, or the end of the input.
 *
 * After a protocol error nothing more is parsed, but the reader reads on and
 * discards until the input ends (the peer's FIN) or is cancelled (the
 * session's close timer bounds that): closing a socket while the peer still
 * sends makes the kernel answer with a reset, and a peer that gets a reset
 * may drop the bytes we sent last, our close frame among them (python
 * `websockets` reads to the end the same way).
 *
 * It is a callback-driven state machine, not an async function: while it
 * waits for bytes it is a listener parked on the input channel
 * (`whenReadable`), so an idle connection holds no suspended frame and no
 * promise for it, and bytes that arrive in the socket's `'data'` callback
 * are parsed and delivered right there. It waits on a promise only when the
 * host asks it to (a full queue downstream: backpressure); meanwhile it reads
 * nothing, and the input channel and then the socket fill up.
 */
import type { ByteReadChannel, ReadableListener } from '../channels/byte-channel-types.ts';
import { ProtocolError } from '../frames/errors.ts';
import { Opcode, type Frame } from '../frames/frame.ts';
import { ConnectionClosedError } from './errors.ts';
import type { Protocol } from './protocol.ts';

/** The session side of a reader. */
export interface ReaderHost {
  /**
   * Takes a frame from the peer (its close frame too). Returns a promise when
   * the reader must read nothing more until it settles; throwing, or a
   * rejected promise, stops the reader.
   */
  deliver(f: Frame): Promise<void> | void;
  /** The reader waits for bytes in the middle of a frame (true), or no longer does (false). */
  waitingMidFrame(waiting: boolean): void;
  /**
   * The reader stopped (its task is over): after delivering the peer's close
   * frame (`undefined`), or with why (a `ProtocolError` can only come
   * through `readerFailed`, the input's end or failure as a
   * `ConnectionClosedError`, or what else `deliver` threw).
   */
  readerStopped(error: unknown): void;
  /**
   * The peer broke the protocol (or `deliver` threw a `ProtocolError`):
   * nothing more is parsed or delivered; the reader discards the input
   * until it ends or fails, then calls `readerDrained`.
   */
  readerFailed(error: ProtocolError): void;
  /** The input ended (or failed, or was cancelled) after `readerFailed`: the reader's task is over. */
  readerDrained(): void;
}

export class Reader implements ReadableListener {
  readonly #input: ByteReadChannel;
  readonly #protocol: Protocol;
  readonly #host: ReaderHost;
  #paused = false;
  #midFrame = false;
  /** Set after a protocol error: the input is read and discarded until it ends. */
  #draining = false;

  constructor(input: ByteReadChannel, protocol: Protocol, host: ReaderHost) {
    this.#input = input;
    this.#protocol = protocol;
    this.#host = host;
  }

  /**
   * True while the reader waits for its host to take a frame (backpressure):
   * nothing from the peer is read meanwhile.
   */
  get isPaused(): boolean {
    return this.#paused;
  }

  /** Starts reading (call once, where the task should start). */
  start(): void {
    this.#read();
  }

  /** Bytes arrived or the input ended (see `whenReadable`). */
  onReadable(): void {
    this.#read();
  }

  /** Reads and delivers until the input has nothing more now (then parks), the host makes it wait, or it stops. */
  #read(): void {
    const input = this.#input;
    const protocol = this.#protocol;
    try {
      if (this.#midFrame) {
        this.#midFrame = false;
        this.#host.waitingMidFrame(false);
      }
      for (;;) {
        const chunk = input.tryReadChunk();
        if (chunk === undefined) {
          if (input.isClosedForRead) {
            if (this.#draining) return this.#host.readerDrained();
            throw new ConnectionClosedError();
          }
          if (input.whenReadable(this)) continue; // ended or filled meanwhile
          if (protocol.isInFrame && !this.#draining) {
            this.#midFrame = true;
            this.#host.waitingMidFrame(true);
          }
          return;
        }
        if (this.#draining) continue;
        protocol.receiveData(chunk);
        if (this.#deliverFrames()) return;
      }
    } catch (error) {
      this.#stop(error);
    }
  }

  /** Delivers the frames the protocol has; true when the reader must not read on (it waits or it stopped). */
  #deliverFrames(): boolean {
    const protocol = this.#protocol;
    let f: Frame | undefined;
    while ((f = protocol.nextFrame()) !== undefined) {
      const waited = this.#host.deliver(f);
      if (waited !== undefined) {
        this.#paused = true;
        waited.then(this.#resume.bind(this), this.#stop.bind(this));
        return true;
      }
      if (f.opcode === Opcode.Close) {
        this.#stop(undefined);
        return true;
      }
    }
    return false;
  }

  /** The host took the frame it made the reader wait for. */
  #resume(): void {
    this.#paused = false;
    try {
      if (!this.#protocol.isReading) return this.#stop(undefined); // that frame was the peer's close
      if (!this.#deliverFrames()) this.#read();
    } catch (error) {
      this.#stop(error);
    }
  }

  #stop(error: unknown): void {
    this.#paused = false;
    if (this.#midFrame) {
      this.#midFrame = false;
      this.#host.waitingMidFrame(false);
    }
    if (this.#draining) return this.#host.readerDrained();
    if (!(error instanceof ProtocolError)) return this.#host.readerStopped(error);
    this.#draining = true;
    this.#host.readerFailed(error);
    this.#read();
  }
}

/**
 * Reads and discards what is left of an input until it ends (or fails, or
 * is cancelled), then calls `onEnd` once: how a client whose close
 * handshake is over hears the server close the connection (see
 * `RawWebSocketSession.holdOutput`) or end its HTTP/2 stream (`connect`).
 * The reader has stopped by then (the peer's close frame was its last), so
 * the input has no other reader; should it not have, the watch ends at once.
 */
export class InputEndWatch implements ReadableListener {
  readonly #input: ByteReadChannel;
  #onEnd: (() => void) | undefined;

  constructor(input: ByteReadChannel, onEnd: () => void) {
    this.#input = input;
    this.#onEnd = onEnd;
  }

  /** Starts reading (`onEnd` may run before this returns). */
  start(): void {
    this.onReadable();
  }

  /** No call to `onEnd` any more (the caller stopped waiting). */
  stop(): void {
    this.#onEnd = undefined;
  }

  onReadable(): void {
    const input = this.#input;
    try {
      while (this.#onEnd !== undefined) {
        if (input.tryReadChunk() !== undefined) continue;
        if (input.isClosedForRead) break;
        if (!input.whenReadable(this)) return;
      }
    } catch {
      // The input failed or was cancelled: it ended all the same.
    }
    const onEnd = this.#onEnd;
    this.#onEnd = undefined;
    onEnd?.();
  }
}
