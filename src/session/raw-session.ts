/**
 * The raw WebSocket session (Ktor's `RawWebSocketSession`): a reader task
 * turns input bytes into frames on `incoming`, a writer task turns frames
 * from `outgoing` into output bytes, and the session owns the close state
 * machine that decides when each side stops. It never answers pings or
 * reassembles messages: the handler sees every frame.
 *
 * Ownership (one owner per end of every channel):
 * - reader task: reads `input`, sends into `incoming` (or hands frames to the
 *   sink `divertIncoming` installed), closes `incoming`;
 * - writer task: receives from `outgoing`, writes and closes `output`;
 * - handler: receives from `incoming`, sends into `outgoing`;
 * - the session: closes `outgoing` once no frame may follow, and drops the
 *   connection (`terminate`) when the peer vanishes or stops cooperating.
 */
import type { ByteReadChannel, ByteWriteChannel } from '../channels/byte-channel-types.ts';
import { Channel } from '../channels/channel.ts';
import { ChannelClosedError } from '../channels/errors.ts';
import type { CoroutineContext } from '../channels/context.ts';
import type { Job } from '../channels/job.ts';
import { CloseCode, decodeClosePayload, encodeClosePayload, type CloseReason } from '../frames/close.ts';
import { ProtocolError } from '../frames/errors.ts';
import { frame, Opcode, type Frame } from '../frames/frame.ts';
import { FrameParser } from '../frames/parser.ts';
import { checkFrame, FrameSerializer } from '../frames/serializer.ts';
import { ConnectionClosedError, PartialFrameTimeoutError, SessionClosedError, WriteTimeoutError } from './errors.ts';
import { Deadline } from './deadline.ts';
import type { WebSocketExtension } from '../extensions/extension.ts';
import { RAW_SESSION_DEFAULTS, resolveOptions, type RawSessionOptions, type ResolvedRawSessionOptions } from './options.ts';

/** Which end of the connection this session is: servers expect masked frames, clients send them. */
export type Role = 'server' | 'client';

/** What a raw session is built from (besides its channels). */
export interface RawSessionConfig {
  readonly role: Role;
  /** The negotiated subprotocol, if any. */
  readonly protocol?: string | undefined;
  /** Negotiated extensions, in the order they apply to outgoing messages. */
  readonly extensions?: readonly WebSocketExtension[];
  readonly options?: RawSessionOptions | undefined;
}

/**
 * Takes the peer's frames in place of `incoming` (see `divertIncoming`); the
 * reader waits for a returned promise before it parses on.
 */
export type FrameSink = (f: Frame) => Promise<void> | void;

/** Frames written per writer turn before the batch is handed to the output. */
const BATCH_BYTES = 256 * 1024;

const ABNORMAL: CloseReason = Object.freeze({ code: CloseCode.Abnormal, reason: '' });
const SENT: Promise<void> = Promise.resolve();

export class RawWebSocketSession {
  /** Frames from the peer, in order. Ends normally after a close frame; fails with the cause otherwise. */
  readonly incoming: Channel<Frame>;
  /** Frames to the peer. Send a close frame to start the close handshake. */
  readonly outgoing: Channel<Frame>;
  /** The negotiated subprotocol, if any. */
  readonly protocol: string | undefined;
  /** Negotiated extensions (empty when none). */
  readonly extensions: readonly WebSocketExtension[];
  /** True on the client side: every outgoing frame is masked. */
  readonly masking: boolean;
  /** Largest frame payload accepted from the peer. */
  readonly maxFrameSize: number;
  /** The limits and timeouts in force. */
  readonly options: ResolvedRawSessionOptions;
  /** The session's job: it completes when the reader, writer and handler are all done. */
  readonly job: Job;
  /** The session job with the engine's dispatcher: where the session's own tasks run. */
  readonly context: CoroutineContext;

  readonly #input: ByteReadChannel;
  readonly #output: ByteWriteChannel;
  readonly #parser: FrameParser;
  readonly #serializer: FrameSerializer;
  /** How the session ended, once known (see `closeReason`). */
  #finalReason: CloseReason | undefined;
  /** Created on first use of `closeReason`: a session nobody asks costs no promise. */
  #closeReason: Promise<CloseReason> | undefined;
  #resolveCloseReason: ((reason: CloseReason) => void) | undefined;
  #closeQueued = false;
  /** A close frame the session queued while `outgoing` was full; the writer sends it when the queue drains. */
  #pendingClose: Frame | undefined;
  #closeSent = false;
  #closeReceived: CloseReason | undefined;
  /** The error that ended reading (protocol error or lost connection), once known. */
  #failure: Error | undefined;
  #terminated = false;
  /** See `isReadingPaused`. */
  #readingPaused = false;
  /** Set once the session is shutting down on purpose: a failing read is then expected. */
  #stopping = false;
  #closeTimer: NodeJS.Timeout | undefined;
  #flushWaiters: (() => void)[] = [];
  #writerIdle = true;
  /** Where frames go instead of `incoming`, once diverted. */
  #sink: FrameSink | undefined;
  /** Set by the first frame queued on `incoming`: from then on it cannot be diverted. */
  #queuedIncoming = false;
  /** Drops a peer that stalls in the middle of a frame (armed while waiting for the rest). */
  #partialFrameDeadline: Deadline | undefined;
  /** Drops a peer that stops reading (armed while a write waits for room). */
  #writeDeadline: Deadline | undefined;

  constructor(input: ByteReadChannel, output: ByteWriteChannel, context: CoroutineContext & { readonly job: Job }, config: RawSessionConfig) {
    const options = resolveOptions(RAW_SESSION_DEFAULTS, config.options);
    this.options = options;
    this.#input = input;
    this.#output = output;
    this.job = context.job;
    this.context = context;
    this.protocol = config.protocol;
    this.extensions = config.extensions ?? [];
    this.masking = config.role === 'client';
    this.maxFrameSize = options.maxFrameSize;
    let rsvAllowed = 0;
    for (const extension of this.extensions) rsvAllowed |= extension.rsv;
    this.#parser = new FrameParser({
      role: config.role,
      maxFrameSize: options.maxFrameSize,
      maxMessageSize: options.maxMessageSize,
      rsvAllowed,
    });
    this.#serializer = new FrameSerializer({ role: config.role });
    this.incoming = new Channel<Frame>(options.incomingQueue, { maxWeight: options.incomingQueueBytes, weigh: payloadLength });
    this.outgoing = new Channel<Frame>(options.outgoingQueue, { maxWeight: options.outgoingQueueBytes, weigh: payloadLength });
  }

  /** The peer's close reason, or 1006 when the connection ended without one. */
  get closeReason(): Promise<CloseReason> {
    if (this.#closeReason === undefined) {
      const known = this.#finalReason;
      this.#closeReason =
        known !== undefined
          ? Promise.resolve(known)
          : new Promise((resolve) => {
              this.#resolveCloseReason = resolve;
            });
    }
    return this.#closeReason;
  }

  /** The error that ended reading: the peer's protocol error or the lost connection. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /**
   * True while the reader waits for the handler to take frames or messages
   * (backpressure): nothing from the peer is read meanwhile, so timeouts that
   * wait for the peer (a pong) must not count this time against it.
   */
  get isReadingPaused(): boolean {
    return this.#readingPaused;
  }

  /** True once a close frame has been queued or sent: no data frame may follow. */
  get isClosing(): boolean {
    return this.#closeQueued || this.#closeSent;
  }

  /**
   * Hands every frame from now on to `sink` instead of queuing it on
   * `incoming`: one hop and one parked task less per connection (the default
   * session processes frames this way, inside the reader task). `incoming`
   * still ends as before, so `incoming.invokeOnClose` tells when and why the
   * frames ended. Possible only before the reader queued any frame and while
   * `incoming` is open; returns false otherwise (then read `incoming`).
   */
  divertIncoming(sink: FrameSink): boolean {
    if (this.#sink !== undefined || this.#queuedIncoming || this.incoming.isClosedForSend) return false;
    this.#sink = sink;
    return true;
  }

  /**
   * Resolves once the outgoing queue has been emptied into the output: every
   * frame queued before the call has been handed over (and any queued since;
   * a producer that never pauses keeps it waiting).
   */
  flush(): Promise<void> {
    if (this.#writerIdle && this.outgoing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  /**
   * Sends a frame, waiting while the outgoing queue is full. Rejects with
   * `SessionClosedError` after a close frame was queued, and with a
   * `TypeError` or `RangeError` for a frame that is not valid to send (a
   * reserved opcode, a fragmented control frame or one over 125 bytes, a
   * close payload with an invalid code or reason). A close frame starts the close handshake, as
   * `startClose` does.
   */
  send(f: Frame): Promise<void> {
    if (this.isClosing) return Promise.reject(new SessionClosedError());
    try {
      checkFrame(f);
      if (f.opcode === Opcode.Close) {
        decodeClosePayload(f.payload); // a close payload must decode (code and UTF-8 reason)
        this.#closeQueued = true;
        this.#armCloseTimer();
      }
    } catch (error) {
      return Promise.reject(error instanceof ProtocolError ? new RangeError(`invalid close payload: ${error.message}`) : error);
    }
    try {
      // The common case (room in the queue) allocates no promise.
      return this.outgoing.trySend(f) ? SENT : this.outgoing.send(f);
    } catch (error) {
      return Promise.reject(error); // the queue was closed: the connection is gone
    }
  }

  /**
   * Queues a close frame (unless one was already, or the connection is gone)
   * and starts the close handshake: the connection is dropped if the peer's
   * close frame does not arrive within `closeTimeoutMs` of queuing ours.
   * Throws a `RangeError` for a code that may not be sent or a reason over 123
   * bytes, before changing anything.
   */
  startClose(reason?: CloseReason): void {
    // Encoded first: an invalid code or reason throws a RangeError and changes nothing.
    const close = frame(Opcode.Close, encodeClosePayload(reason));
    // Once the connection is gone (`terminate`), there is nothing to close.
    if (this.isClosing || this.outgoing.isClosedForSend) return;
    this.#closeQueued = true;
    // When the queue is full (a peer that does not read), the close frame
    // waits in a slot the writer serves once the queue is drained; the close
    // timer bounds the wait either way.
    if (!this.outgoing.trySend(close)) this.#pendingClose = close;
    this.#armCloseTimer();
  }

  /**
   * Fails the connection (RFC 6455 section 7.1.7) after a protocol error: sends
   * the error's close code and closes the connection without waiting for the
   * peer's answer. Frames queued before it still go out first.
   */
  failConnection(error: Error): void {
    const code = error instanceof ProtocolError ? error.closeCode : CloseCode.InternalError;
    if (!this.isClosing) {
      this.startClose({ code, reason: '' });
    }
    this.outgoing.close();
    // Nothing more is read: a reader parked on a full `incoming` is released.
    this.#stopping = true;
    this.incoming.cancel(error);
  }

  /**
   * A protocol error found above the codec (an extension's output, say): it
   * ends the session like one from the parser.
   */
  reportProtocolError(error: ProtocolError): void {
    this.#onReadError(error);
  }

  /**
   * Drops the connection at once, without a close handshake: both channels
   * fail, the output is closed with the cause and the input cancelled.
   */
  terminate(cause: Error = new ConnectionClosedError('terminated')): void {
    if (this.#terminated) return;
    this.#terminated = true;
    this.#clearCloseTimer();
    this.#failure ??= cause;
    this.#settleCloseReason(this.#closeReceived ?? ABNORMAL);
    this.incoming.close(this.#closeReceived ? undefined : cause);
    this.outgoing.cancel(cause);
    this.#output.close(cause);
    this.#input.cancel(cause);
    this.#releaseFlushWaiters();
  }

  /** The reader task: input bytes to frames until a close frame, an error or end of stream. */
  async runReader(): Promise<void> {
    const input = this.#input;
    const parser = this.#parser;
    try {
      for (;;) {
        let chunk = input.tryReadChunk();
        if (chunk === undefined) {
          if (parser.isInFrame) this.#armPartialFrameDeadline();
          const more = await input.awaitContent();
          this.#partialFrameDeadline?.disarm();
          if (!more) throw new ConnectionClosedError();
          chunk = input.tryReadChunk() as Buffer;
        }
        parser.push(chunk);
        let f: Frame | undefined;
        while ((f = parser.next()) !== undefined) {
          if (f.opcode === Opcode.Close) {
            await this.#onCloseFrame(f);
            return;
          }
          const delivered = this.#deliver(f);
          if (delivered !== undefined) await this.#waitForRoom(delivered);
        }
      }
    } catch (error) {
      this.#onReadError(error);
    }
  }

  /**
   * Hands a frame to the sink or queues it on `incoming`; returns a promise
   * only when the reader must wait. Throws once `incoming` is closed: the
   * reader stops.
   */
  #deliver(f: Frame): Promise<void> | void {
    const sink = this.#sink;
    if (sink === undefined) {
      this.#queuedIncoming = true;
      return this.incoming.trySend(f) ? undefined : this.incoming.send(f);
    }
    if (this.incoming.isClosedForSend) {
      throw this.incoming.closedCause ?? new ChannelClosedError('incoming frames were closed');
    }
    return sink(f);
  }

  /** Waits for a frame to be taken in (backpressure), with `isReadingPaused` true meanwhile. */
  async #waitForRoom(delivered: Promise<void>): Promise<void> {
    this.#readingPaused = true;
    try {
      await delivered;
    } finally {
      this.#readingPaused = false;
    }
  }

  /** The writer task: frames to output bytes, one batch (one output write) per turn. */
  async runWriter(): Promise<void> {
    const outgoing = this.outgoing;
    const output = this.#output;
    const serializer = this.#serializer;
    try {
      for (;;) {
        let f = outgoing.tryReceive() ?? this.#takePendingClose();
        if (f === undefined) {
          this.#writerIdle = true;
          this.#releaseFlushWaiters();
          if (!(await outgoing.awaitReceivable())) break;
          this.#writerIdle = false;
          continue;
        }
        this.#writerIdle = false; // also for the first batch, queued before the writer started
        let closeInBatch = false;
        do {
          if (this.#closeSent) continue; // nothing may follow a close frame
          serializer.write(f);
          if (f.opcode === Opcode.Close) {
            this.#closeSent = true;
            closeInBatch = true;
          }
        } while (serializer.pendingBytes < BATCH_BYTES && (f = outgoing.tryReceive()) !== undefined);
        for (const bytes of serializer.take()) {
          if (output.tryWriteFully(bytes)) continue;
          this.#armWriteDeadline();
          await output.writeFully(bytes);
          this.#writeDeadline?.disarm();
        }
        output.flush();
        if (closeInBatch) this.#onCloseSent();
      }
      output.close();
      // Our side of the connection is over: without the peer's close frame by now, none will be read.
      this.#settleCloseReason(this.#closeReceived ?? ABNORMAL);
    } catch (error) {
      this.terminate(asError(error));
    } finally {
      this.#writerIdle = true;
      this.#releaseFlushWaiters();
    }
  }

  /** Runs after the handler returned or threw; decides how the session ends. */
  onHandlerDone(error: unknown): void {
    if (this.#terminated) return;
    if (error === undefined || error === this.#failure) {
      if (this.#failure !== undefined) this.failConnection(this.#failure);
      else this.startClose({ code: CloseCode.Normal, reason: '' });
    } else {
      this.startClose({ code: CloseCode.InternalError, reason: '' });
      this.outgoing.close();
    }
  }

  /** Runs when the session's job is cancelled: a best-effort 1001, then the end. */
  onCancel(): void {
    if (this.#terminated) return;
    this.#stopping = true;
    this.startClose({ code: CloseCode.GoingAway, reason: '' });
    this.outgoing.close();
    this.#input.cancel();
  }

  async #onCloseFrame(f: Frame): Promise<void> {
    const reason = decodeClosePayload(f.payload);
    this.#closeReceived = reason;
    this.#settleCloseReason(reason);
    const delivered = this.#deliver(f);
    if (delivered !== undefined) await this.#waitForRoom(delivered);
    this.incoming.close();
    if (this.#closeSent) this.#onHandshakeDone();
  }

  // The deadlines are made the first time they are armed: most connections never need them.

  #armPartialFrameDeadline(): void {
    const timeoutMs = this.options.partialFrameTimeoutMs;
    (this.#partialFrameDeadline ??= new Deadline(timeoutMs, () =>
      this.terminate(new PartialFrameTimeoutError(timeoutMs)),
    )).arm();
  }

  #armWriteDeadline(): void {
    const timeoutMs = this.options.writeTimeoutMs;
    (this.#writeDeadline ??= new Deadline(timeoutMs, () => this.terminate(new WriteTimeoutError(timeoutMs)))).arm();
  }

  #onCloseSent(): void {
    if (this.#closeReceived !== undefined) this.#onHandshakeDone();
    else if (this.#failure !== undefined) this.outgoing.close();
  }

  /** Both close frames went through: nothing more to send or wait for. */
  #onHandshakeDone(): void {
    this.#clearCloseTimer();
    this.outgoing.close();
  }

  /** Fixes how the session ended (the first call wins) and resolves `closeReason` if anyone holds it. */
  #settleCloseReason(reason: CloseReason): void {
    if (this.#finalReason !== undefined) return;
    this.#finalReason = reason;
    this.#resolveCloseReason?.(reason);
    this.#resolveCloseReason = undefined;
  }

  #takePendingClose(): Frame | undefined {
    const close = this.#pendingClose;
    this.#pendingClose = undefined;
    return close;
  }

  #onReadError(error: unknown): void {
    const cause = asError(error);
    if (this.#terminated) return;
    if (this.#stopping) {
      // We stopped reading on purpose (cancelled or failed): the handler sees why.
      this.incoming.close(this.job.cause ?? cause);
      return;
    }
    this.#failure = cause;
    if (cause instanceof ProtocolError) {
      // Frames parsed before the error reach the handler first; the close frame
      // goes out once the handler saw the failure (or gave up on it).
      this.incoming.close(cause);
      this.#armCloseTimer(() => this.failConnection(cause));
    } else {
      this.terminate(cause instanceof ConnectionClosedError ? cause : new ConnectionClosedError(cause.message, { cause }));
    }
  }

  #armCloseTimer(onTimeout: () => void = () => this.terminate()): void {
    if (this.#closeTimer !== undefined) return;
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = undefined; // a close started by `onTimeout` arms a timer of its own
      onTimeout();
    }, this.options.closeTimeoutMs);
    this.job.invokeOnCompletion(() => this.#clearCloseTimer());
  }

  #clearCloseTimer(): void {
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
  }

  #releaseFlushWaiters(): void {
    const waiters = this.#flushWaiters;
    if (waiters.length === 0) return;
    this.#flushWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Called by the session runner when every task is done. */
  onFinished(): void {
    this.#clearCloseTimer();
    this.#partialFrameDeadline?.dispose();
    this.#writeDeadline?.dispose();
    this.#settleCloseReason(this.#closeReceived ?? ABNORMAL);
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** A queued frame's weight: its payload bytes. */
function payloadLength(f: Frame): number {
  return f.payload.length;
}
