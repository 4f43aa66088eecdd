/**
 * The raw WebSocket session (Ktor's `RawWebSocketSession`): the handler sees
 * every frame on `incoming` and sends frames on `outgoing`; the session never
 * answers pings or reassembles messages. It wires the sans-I/O `Protocol`
 * (the codec and the close-handshake rules) to a reader task and a writer
 * task (reader.ts, writer.ts), and owns what needs time or I/O: the close
 * timer, the write and partial-frame deadlines, and dropping the connection.
 *
 * Ownership (one owner per end of every channel):
 * - reader task: reads `input`, sends into `incoming` (or hands frames to the
 *   sink `divertIncoming` installed);
 * - writer task: receives from `outgoing`, writes and closes `output`;
 * - handler: receives from `incoming`, sends into `outgoing`;
 * - the session: closes `incoming` when the reader stops, closes `outgoing`
 *   once no frame may follow, and drops the connection (`terminate`) when the
 *   peer vanishes or stops cooperating.
 *
 * The path of one 16-byte message through a default session on a server,
 * in steady state (socket `'data'` to the handler and back to
 * `socket.write`):
 *  1. `'data'` → `SocketInput.push` queues the chunk by reference
 *     (`tryWriteFully`) and calls the parked reader synchronously
 *     (`onReadable`): no promise, no tick.
 *  2. The reader takes the chunk (a view, no copy), the protocol's parser
 *     unmasks it in place and returns a `Frame` (one object; the payload is a
 *     view of the chunk) — still inside `'data'`.
 *  3. The default session's frame sink turns it into a message (a string for
 *     text: one decode; a Buffer view for binary) and hands it to the
 *     handler's parked `for await` step: its promise resolves (one
 *     `IteratorResult`); the handler resumes in a microtask. (A handler
 *     parked in `consumeEach` is called by that very send, still inside
 *     `'data'`, as `ws` emits `'message'`: no tick, no microtask, no
 *     `IteratorResult`; each message of the chunk is handed on as it is
 *     parsed, unless an action returned a promise that is still pending.)
 *  4. `session.send(message)` makes one `Frame` (text is encoded once) and
 *     queues it on `outgoing` (`trySend`: no promise; the shared settled
 *     promise is returned), which schedules the parked writer once per
 *     burst (`scheduleWake`: a static callback, no closure): inside
 *     `'data'`, for the end of that callback (the adapter runs it in
 *     `withWakesAfter`); elsewhere (a `for await` handler resumed in a
 *     microtask, a timer), from `process.nextTick`.
 *  5. Then the writer serializes every frame queued since into one batch
 *     (header and small payload copied into a shared slab: no allocation)
 *     and writes it to the output channel (`tryWriteAll`), which hands it
 *     straight to the socket adapter's parked pump (no queueing):
 *     `socket.write` (one `write` syscall; a batch of several buffers goes
 *     out corked, as one `writev`; when other sockets wrote in this turn
 *     too, the socket stays corked until the turn's end, write-coalescing.ts).
 * So with `consumeEach` the whole round trip runs inside the one `'data'`
 * callback: no promise (unless the action returns one that is pending; the
 * settled one `send` returns counts as none), no tick, no closure. With
 * `for await` it costs the handler's own promise per message and one tick
 * per burst. Either way it allocates the frame objects and the message (and
 * the `IteratorResult` for `for await`); the payload is copied twice
 * (into the message for text, into the slab on the way out).
 */
import type { ByteReadChannel, ByteWriteChannel } from '../channels/byte-channel-types.ts';
import { Channel } from '../channels/channel.ts';
import { CancellationError, ChannelClosedError } from '../channels/errors.ts';
import type { CoroutineContext } from '../channels/context.ts';
import type { Job } from '../channels/job.ts';
import { CloseCode, decodeClosePayload, encodeClosePayload, type CloseReason } from '../frames/close.ts';
import { ProtocolError } from '../frames/errors.ts';
import { frame, isControl, Opcode, type Frame } from '../frames/frame.ts';
import { checkFrame } from '../frames/serializer.ts';
import type { WebSocketExtension } from '../extensions/extension.ts';
import { Deadline } from './deadline.ts';
import { ConnectionClosedError, PartialFrameTimeoutError, SessionClosedError, WriteTimeoutError } from './errors.ts';
import { frameRules, RAW_SESSION_DEFAULTS, resolveOptions, type RawSessionOptions, type ResolvedRawSessionOptions } from './options.ts';
import { ConnectionState, Protocol } from './protocol.ts';
import { InputEndWatch, Reader } from './reader.ts';
import { Writer } from './writer.ts';

/** Which end of the connection this session is: servers expect masked frames, clients send them. */
export type Role = 'server' | 'client';

/** What a raw session is built from (besides its channels). */
export interface RawSessionConfig {
  /** Which end this session is (see `Role`). */
  readonly role: Role;
  /** The negotiated subprotocol, if any. */
  readonly protocol?: string | undefined;
  /** Negotiated extensions, in the order they apply to outgoing messages. */
  readonly extensions?: readonly WebSocketExtension[];
  /** Limits and timeouts (see `RawSessionOptions` for the defaults). */
  readonly options?: RawSessionOptions | undefined;
  /**
   * A client over its own TCP connection: once the close handshake went
   * through, its output stays open until the server closes the connection
   * (see `holdOutput`). Default: true for a client; `connect` passes false
   * over HTTP/2, where a stream's end closes no TCP connection.
   */
  readonly awaitsServerClose?: boolean | undefined;
}

/**
 * Takes the peer's frames in place of `incoming` (see `divertIncoming`):
 * the default session does.
 */
export interface FrameSink {
  /** One frame from the peer; the reader waits for a returned promise before it parses on. */
  onFrame(f: Frame): Promise<void> | void;
  /** The frames ended: normally after the peer's close (`undefined`), or with why the session failed. Called once. */
  onFramesEnd(cause: Error | undefined): void;
}

/**
 * What sits on top of a raw session (the default session): told when the
 * handler is done, it runs `close` (the raw session's end of the handler)
 * once its own work allows (messages still being encoded are queued first).
 */
export interface SessionLayer {
  onHandlerDone(error: unknown, close: () => void): void;
}

const ABNORMAL: CloseReason = Object.freeze({ code: CloseCode.Abnormal, reason: '' });
/** Why the input of a session whose tasks are all done is cancelled (shared: every session ends this way). */
const SESSION_OVER = new CancellationError('the session is over: nothing reads its input any more');
/** What `enqueue` did with a frame. */
export const Enqueued = { Queued: 0, Full: 1, Gone: 2 } as const;
export type Enqueued = (typeof Enqueued)[keyof typeof Enqueued];

/**
 * The session's yes/no states as bits of one field (an idle connection then
 * holds one number rather than five): each is set once and never cleared.
 */
const Flag = { FramesEnded: 1, CloseQueued: 2, Terminated: 4, Stopping: 8, QueuedIncoming: 16, ExtensionsDisposed: 32, WatchingOutput: 64 } as const;

/** What `send` returns when the frame was queued at once (shared: no promise per send). */
export const SENT: Promise<void> = Promise.resolve();
const NO_EXTENSIONS: readonly WebSocketExtension[] = Object.freeze([]);

/**
 * A RAW WebSocket session (Ktor's `WebSocketSession`): the handler gets every
 * frame as it arrives from `incoming` (text, binary, continuation, ping,
 * pong and close) and sends frames with `send` or `outgoing`; it deals with
 * pings, fragmentation and closing itself (see the README's "WebSocketUpgrade and a raw session").
 * Made by `runSession` (and `WebSocketUpgrade.upgrade`), which start its
 * reader and writer tasks.
 */
export class RawWebSocketSession {
  /** Frames to the peer. Send a close frame to start the close handshake. */
  readonly outgoing: Channel<Frame>;
  /** The negotiated subprotocol, if any. */
  readonly protocol: string | undefined;
  /** Negotiated extensions (empty when none). */
  readonly extensions: readonly WebSocketExtension[];
  /** True on the client side: every outgoing frame is masked. */
  readonly masking: boolean;
  /** See `RawSessionConfig.awaitsServerClose`. */
  readonly #awaitsServerClose: boolean;
  /** Largest frame payload accepted from the peer. */
  readonly maxFrameSize: number;
  /** The limits and timeouts in force. */
  readonly options: ResolvedRawSessionOptions;
  /** The session's job: it completes when the reader, writer and handler are all done. */
  readonly job: Job;
  readonly #dispatcher: CoroutineContext['dispatcher'];

  /** Made on first use (see `incoming`): a default session diverts the frames and never needs it. */
  #incoming: Channel<Frame> | undefined;
  /** The layer on top, if any (see `SessionLayer`). */
  #layer: SessionLayer | undefined;
  /** Tasks still running: the reader, the writer and the handler; the job ends when none is left. */
  #tasksLeft = 3;
  /** What the handler threw, when it failed (the job then fails with it). */
  #handlerFailure: Error | undefined;
  readonly #input: ByteReadChannel;
  readonly #output: ByteWriteChannel;
  readonly #rules: Protocol;
  #reader: Reader | undefined;
  #writer: Writer | undefined;
  /** How the session ended, once known (see `closeReason`). */
  #finalReason: CloseReason | undefined;
  /** Created on first use of `closeReason`: a session nobody asks costs no promise. */
  #closeReason: Promise<CloseReason> | undefined;
  #resolveCloseReason: ((reason: CloseReason) => void) | undefined;
  /** A close frame the session queued while `outgoing` was full; the writer sends it when the queue drains. */
  #pendingClose: Frame | undefined;
  /** The error that ended reading (protocol error or lost connection), once known. */
  #failure: Error | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  /** `flush()` callers waiting for the writer to be idle (made by the first one). */
  #flushWaiters: (() => void)[] | undefined;
  /** Where frames go instead of `incoming`, once diverted. */
  #sink: FrameSink | undefined;
  /** Payload bytes of the data frames accepted and not yet taken by the writer (see `bufferedAmount`). */
  #queuedBytes = 0;
  /** Drops a peer that stalls in the middle of a frame (armed while waiting for the rest). */
  #partialFrameDeadline: Deadline | undefined;
  /** Drops a peer that stops reading (armed while a write waits for room). */
  #writeDeadline: Deadline | undefined;
  /** A client's wait for the server to close first, while the writer holds the output open (see `holdOutput`). */
  #endWatch: InputEndWatch | undefined;

  /**
   * The session's yes/no states, one bit each (`Flag`), tested and set in
   * place (private accessors would cost a runtime call each on Node 20):
   * - `FramesEnded`: the frames ended (see `#endFrames`);
   * - `CloseQueued`: a close frame was queued (it may still wait behind other frames): no data frame may follow;
   * - `Terminated`: the connection was dropped (see `terminate`);
   * - `Stopping`: the session is shutting down on purpose: a failing read is then expected;
   * - `QueuedIncoming`: a frame was queued on `incoming`: from then on it cannot be diverted;
   * - `ExtensionsDisposed`: the extensions were disposed (see `#disposeExtensions`);
   * - `WatchingOutput`: the session hears of the output's cancellation (see `#watchOutput`).
   */
  #flags = 0;

  constructor(input: ByteReadChannel, output: ByteWriteChannel, context: CoroutineContext & { readonly job: Job }, config: RawSessionConfig) {
    const options = resolveOptions(RAW_SESSION_DEFAULTS, config.options);
    this.options = options;
    this.#input = input;
    this.#output = output;
    this.job = context.job;
    this.#dispatcher = context.dispatcher;
    this.protocol = config.protocol;
    this.extensions = config.extensions ?? NO_EXTENSIONS;
    this.masking = config.role === 'client';
    this.#awaitsServerClose = this.masking && config.awaitsServerClose !== false;
    this.maxFrameSize = options.maxFrameSize;
    let rsvAllowed = 0;
    for (const extension of this.extensions) rsvAllowed |= extension.rsv;
    this.#rules = new Protocol(frameRules(options, config.role, rsvAllowed));
    this.outgoing = new Channel<Frame>(options.outgoingQueue, { maxWeight: options.outgoingQueueBytes, weigh: payloadLength });
  }

  /**
   * Frames from the peer, in order. Ends normally after a close frame; fails
   * with the cause otherwise. (Made on first use: a session whose frames go
   * to a sink never has one.)
   */
  get incoming(): Channel<Frame> {
    if (this.#incoming === undefined) {
      const options = this.options;
      const incoming = new Channel<Frame>(options.incomingQueue, { maxWeight: options.incomingQueueBytes, weigh: payloadLength });
      this.#incoming = incoming;
      if ((this.#flags & Flag.FramesEnded) !== 0) incoming.close((this.#flags & Flag.Terminated) !== 0 ? this.#failure : undefined);
    }
    return this.#incoming;
  }

  /** The session job with the engine's dispatcher: where the session's own tasks run. */
  get context(): CoroutineContext & { readonly job: Job } {
    return { job: this.job, dispatcher: this.#dispatcher };
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
    return this.#reader?.isPaused ?? false;
  }

  /**
   * Bytes accepted by `send` and not yet handed to the socket: payload bytes
   * of data frames still queued, plus bytes serialized (headers included)
   * and not yet taken by the socket adapter: in the writer's batch or in the
   * output channel. 0 once the connection is gone.
   */
  get bufferedAmount(): number {
    return (this.#flags & Flag.Terminated) !== 0 ? 0 : this.#unsentBytes();
  }

  /** See `bufferedAmount`. */
  #unsentBytes(): number {
    return this.#queuedBytes + (this.#writer?.pendingBytes ?? 0) + this.#output.bufferedBytes;
  }

  /** True once a close frame has been queued or sent: no data frame may follow. */
  get isClosing(): boolean {
    return (this.#flags & Flag.CloseQueued) !== 0 || this.#rules.closeSent;
  }

  /** No frame can be sent any more: our close is queued or sent, or the connection is gone. */
  get isSendClosed(): boolean {
    return this.isClosing || this.outgoing.isClosedForSend;
  }

  /** Where the close handshake stands (see `ConnectionState`). */
  get state(): ConnectionState {
    return this.#rules.state;
  }

  /**
   * Hands every frame from now on to `sink` instead of queuing it on
   * `incoming`: one hop less per frame (the default session processes frames
   * this way, inside the reader task), and the sink is told when the frames
   * end. Possible only before the reader queued any frame and while the
   * frames have not ended; returns false otherwise (then read `incoming`).
   */
  divertIncoming(sink: FrameSink): boolean {
    if (this.#sink !== undefined || (this.#flags & Flag.QueuedIncoming) !== 0 || (this.#flags & Flag.FramesEnded) !== 0) return false;
    this.#sink = sink;
    return true;
  }

  /** @internal Puts `layer` on top (see `SessionLayer`); one at most. */
  setLayer(layer: SessionLayer): void {
    this.#layer = layer;
  }

  /**
   * Resolves once the outgoing queue has been emptied into the output: every
   * frame queued before the call has been handed over (and any queued since;
   * a producer that never pauses keeps it waiting).
   */
  flush(): Promise<void> {
    if ((this.#flags & Flag.Terminated) !== 0 || this.#writer === undefined ? this.outgoing.size === 0 : this.#writer.isIdle) return SENT;
    return new Promise((resolve) => {
      (this.#flushWaiters ??= []).push(resolve);
    });
  }

  /**
   * Sends a frame, waiting while the outgoing queue is full. Rejects with
   * `SessionClosedError` after a close frame was queued, and with a
   * `TypeError` or `RangeError` for a frame that is not valid to send (a
   * reserved opcode, a fragmented control frame or one over 125 bytes, a
   * close payload with an invalid code or reason). A close frame starts the
   * close handshake, as `startClose` does.
   */
  send(f: Frame): Promise<void> {
    if (this.isClosing) return Promise.reject(new SessionClosedError());
    try {
      checkFrame(f);
      if (f.opcode === Opcode.Close) {
        decodeClosePayload(f.payload); // a close payload must decode (code and UTF-8 reason)
        this.#flags |= Flag.CloseQueued;
        this.#armCloseTimer();
      }
    } catch (error) {
      return Promise.reject(error instanceof ProtocolError ? new RangeError(`invalid close payload: ${error.message}`) : error);
    }
    try {
      // The common case (room in the queue) allocates no promise.
      const data = isControl(f.opcode) ? 0 : f.payload.length;
      if (this.outgoing.trySend(f)) {
        this.#queuedBytes += data;
        return SENT;
      }
      const queued = this.outgoing.send(f);
      this.#queuedBytes += data;
      return queued;
    } catch (error) {
      return Promise.reject(error); // the queue was closed: the connection is gone
    }
  }

  /**
   * @internal Queues a data frame at once, never waiting (a topic's
   * delivery), in order with the frames sent before it, unless the bytes
   * already queued (`bufferedAmount` plus `pending` the caller holds) are
   * more than 0 and would pass `maxQueuedBytes` with it. Returns whether it
   * was queued, refused as over the cap, or refused as the session is
   * closing or gone. (Cheap on purpose: a publish runs it for every
   * subscriber.)
   */
  enqueue(f: Frame, maxQueuedBytes = Infinity, pending = 0): Enqueued {
    if ((this.#flags & Flag.CloseQueued) !== 0 || (this.#flags & Flag.Terminated) !== 0) return Enqueued.Gone;
    const outgoing = this.outgoing;
    if (outgoing.isClosedForSend) return Enqueued.Gone;
    const queued = pending + this.#unsentBytes();
    const size = f.payload.length;
    if (queued > 0 && queued + size > maxQueuedBytes) return Enqueued.Full;
    outgoing.enqueue(f);
    this.#queuedBytes += size;
    return Enqueued.Queued;
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
    this.#queueClose(frame(Opcode.Close, encodeClosePayload(reason)));
  }

  /**
   * Answers a ping by the protocol's rule: a pong with its payload, unless
   * our close is queued. Returns a promise only when the pong waits for room.
   */
  answerPing(ping: Frame): Promise<void> | void {
    const pong = this.isClosing ? undefined : this.#rules.pongFor(ping);
    if (pong === undefined) return;
    return this.outgoing.trySend(pong) ? undefined : this.outgoing.send(pong);
  }

  /** Answers the peer's close by the protocol's rule (its code echoed), unless ours is queued already. */
  answerClose(): void {
    const reply = this.#rules.closeReply();
    if (reply !== undefined) this.#queueClose(reply);
  }

  /**
   * @internal A close (ours, or the answer to the peer's) that the layer
   * above holds back behind its messages now waits on the peer (one of them
   * waits for room): the close timer starts, as it does for a close queued
   * behind frames (past `closeTimeoutMs` the connection is dropped).
   */
  closeDeferred(): void {
    // Once a close is queued, it has a timer of its own (or the handshake is over): nothing is held back.
    if ((this.#flags & Flag.Terminated) === 0 && !this.isClosing) this.#armCloseTimer();
  }

  /** Queues `close` (see `startClose`). */
  #queueClose(close: Frame): void {
    // Once the connection is gone (`terminate`), there is nothing to close.
    if (this.isSendClosed) return;
    this.#flags |= Flag.CloseQueued;
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
    if (!this.isClosing) {
      const close =
        error instanceof ProtocolError
          ? this.#rules.fail(error)
          : frame(Opcode.Close, encodeClosePayload({ code: CloseCode.InternalError, reason: '' }));
      if (close !== undefined) this.#queueClose(close);
    }
    this.outgoing.close();
    // Nothing more is read: a reader parked on a full `incoming` (or a full message queue) is released.
    this.#flags |= Flag.Stopping;
    this.#endFrames(error, true);
  }

  /**
   * A protocol error found above the codec (an extension's output, say): it
   * ends the session like one from the parser.
   */
  reportProtocolError(error: ProtocolError): void {
    this.#rules.fail(error);
    this.#onReadError(error);
  }

  /**
   * Drops the connection at once, without a close handshake: both channels
   * fail, the output is closed with the cause and the input cancelled.
   */
  terminate(cause: Error = new ConnectionClosedError('terminated')): void {
    if ((this.#flags & Flag.Terminated) !== 0) return;
    this.#flags |= Flag.Terminated;
    this.#clearCloseTimer();
    this.#failure ??= cause;
    const received = this.#rules.closeReceived;
    this.#settleCloseReason(received ?? ABNORMAL);
    this.#endFrames(received ? undefined : cause);
    // The channels first: stopping the reader or the writer may end the job, which must find the output closed.
    this.#output.close(cause);
    this.#input.cancel(cause);
    this.outgoing.cancel(cause);
    this.#releaseOutput();
    this.#releaseFlushWaiters();
    // Nothing more is sent or read: compressions and decompressions still waiting are abandoned now, not once
    // the handler (which may be waiting on one of them) is done.
    this.#disposeExtensions();
  }

  /** Disposes the extensions, once (see `Extension.dispose`): at `terminate` or when the last task ends. */
  #disposeExtensions(): void {
    if ((this.#flags & Flag.ExtensionsDisposed) !== 0) return;
    this.#flags |= Flag.ExtensionsDisposed;
    for (const extension of this.extensions) extension.dispose();
  }

  /**
   * Starts the reader and writer tasks in the session's context (called once,
   * by `runSession`). The job ends once they and the handler are done.
   */
  startTasks(): void {
    const reader = new Reader(this.#input, this.#rules, this);
    const writer = new Writer(this.outgoing, this.#output, this.#rules, this);
    this.#reader = reader;
    this.#writer = writer;
    this.#dispatcher.dispatch(() => {
      reader.start();
      writer.start();
    });
  }

  /**
   * @internal The handler task ended: returned (`failure` undefined) or threw
   * (a cancellation of the job counts as returning). The session closes as
   * the table in the README says, after the layer on top had its say.
   */
  handlerEnded(failure: Error | undefined): void {
    if (failure !== undefined && !this.#isCancellation(failure)) this.#handlerFailure = failure;
    const error = this.#handlerFailure;
    const layer = this.#layer;
    if (layer === undefined) this.#closeAfterHandler(error);
    else layer.onHandlerDone(error, () => this.#closeAfterHandler(error));
    this.#taskEnded();
  }

  /**
   * A cancellation, not a failure: a `CancellationError`, or once cancelling,
   * its cause, an `AbortError`, or the session refusing a send or losing the
   * connection because of it (the 1001 the cancellation queued closes the
   * session under a handler that is still sending).
   */
  #isCancellation(error: Error): boolean {
    const job = this.job;
    return (
      error instanceof CancellationError ||
      (job.isCancelled &&
        (error === job.cause || error.name === 'AbortError' || error instanceof SessionClosedError || error instanceof ConnectionClosedError))
    );
  }

  /** One of the three tasks ended; after the last, everything is released and the job ends. */
  #taskEnded(): void {
    if (--this.#tasksLeft > 0) return;
    // Nothing reads any more: the connection goes once the output is flushed.
    this.#input.cancel(SESSION_OVER);
    this.#clearCloseTimer();
    this.#partialFrameDeadline?.dispose();
    this.#writeDeadline?.dispose();
    this.#settleCloseReason(this.#rules.closeReceived ?? ABNORMAL);
    this.#disposeExtensions();
    const failure = this.#handlerFailure;
    if (failure === undefined) this.job.complete();
    else this.job.fail(failure);
  }

  // ---- the reader's host (see ReaderHost) ------------------------------------

  /** @internal Takes a frame from the reader: to the sink or `incoming`; a promise when the reader must wait. */
  deliver(f: Frame): Promise<void> | void {
    // The peer's close decides `closeReason` as soon as it is read.
    if (f.opcode === Opcode.Close) this.#settleCloseReason(this.#rules.closeReceived as CloseReason);
    const sink = this.#sink;
    if (sink === undefined) {
      this.#flags |= Flag.QueuedIncoming;
      const incoming = this.incoming;
      if (incoming.trySend(f)) return undefined;
      this.#watchOutput();
      return incoming.send(f);
    }
    if ((this.#flags & Flag.FramesEnded) !== 0) throw this.#failure ?? new ChannelClosedError('incoming frames were closed');
    const waited = sink.onFrame(f);
    if (waited !== undefined) this.#watchOutput();
    return waited;
  }

  /**
   * Called when the reader is about to wait for the handler: from then on the
   * session hears when the connection goes (the socket adapter cancels the
   * output as the socket closes). A reader that waits sees the input's end
   * only once the handler takes frames again, and a handler that reads
   * nothing (it only sends, or awaits `closeReason`) would keep the session
   * forever (see `#outputCancelled`). Once per session, and only for one whose
   * reader waited: an idle connection holds no handler for it.
   */
  #watchOutput(): void {
    if ((this.#flags & Flag.WatchingOutput) !== 0) return;
    this.#flags |= Flag.WatchingOutput;
    this.#output.invokeOnCancel((cause) => this.#outputCancelled(cause));
  }

  /**
   * Nobody reads the output any more: the connection is gone. The handler
   * gets `closeTimeoutMs` to take the frames read before that (the reader
   * parses on as it does, up to the input's end, which ends the session as a
   * vanished peer does); then the session is dropped (1006) with what is
   * left unread. A reader that is not waiting reaches the end sooner, and a
   * close timer already running bounds it already. Nothing to do once the
   * frames ended (the reader is done) or the session was dropped.
   */
  #outputCancelled(cause: Error): void {
    if ((this.#flags & (Flag.Terminated | Flag.FramesEnded)) !== 0) return;
    this.#armCloseTimer(() => this.terminate(asConnectionClosed(cause)));
  }

  /** @internal The reader waits for the rest of a frame (or no longer does): the partial-frame deadline. */
  waitingMidFrame(waiting: boolean): void {
    if (!waiting) this.#partialFrameDeadline?.disarm();
    else {
      const timeoutMs = this.options.partialFrameTimeoutMs;
      (this.#partialFrameDeadline ??= new Deadline(timeoutMs, () => this.terminate(new PartialFrameTimeoutError(timeoutMs)))).arm();
    }
  }

  /** @internal The reader stopped: after the peer's close frame, or with why. */
  readerStopped(error: unknown): void {
    if (error !== undefined) {
      this.#readFailed(error);
    } else {
      // The peer's close frame was delivered: the frames ended normally.
      this.#endFrames(undefined);
      if (this.#rules.closeSent) this.#onHandshakeDone();
    }
    this.#taskEnded();
  }

  /** @internal The peer broke the protocol: the reader discards what follows until the input ends. */
  readerFailed(error: ProtocolError): void {
    this.#readFailed(error);
  }

  /** @internal The input ended after `readerFailed`. */
  readerDrained(): void {
    this.#taskEnded();
  }

  /** Nothing more is parsed: the session fails (see `#onReadError`), and no close frame from the peer will come. */
  #readFailed(error: unknown): void {
    this.#onReadError(error);
    this.#settleCloseReason(this.#rules.closeReceived ?? ABNORMAL);
  }

  // ---- the writer's host (see WriterHost) ------------------------------------

  /** @internal */
  takePendingClose(): Frame | undefined {
    const close = this.#pendingClose;
    this.#pendingClose = undefined;
    return close;
  }

  /** @internal A wait of the writer's began (the deadline starts anew) or nothing waits any more: the write deadline. */
  waitingForOutput(waiting: boolean): void {
    if (!waiting) this.#writeDeadline?.disarm();
    else {
      const timeoutMs = this.options.writeTimeoutMs;
      (this.#writeDeadline ??= new Deadline(timeoutMs, () => this.terminate(new WriteTimeoutError(timeoutMs)))).arm();
    }
  }

  /** @internal The writer took `bytes` of data frames from the queue into a batch. */
  dataTaken(bytes: number): void {
    this.#queuedBytes -= bytes;
  }

  /** @internal Our close frame is in the output. */
  closeWritten(): void {
    if (this.#rules.closeReceived !== undefined) this.#onHandshakeDone();
    else if (this.#failure !== undefined) {
      // Failing: nothing follows our close. The reader discards what the peer still sends until its
      // FIN; a peer that keeps the connection open is dropped closeTimeoutMs after our close went out.
      this.outgoing.close();
      this.#clearCloseTimer();
      this.#armCloseTimer();
    }
  }

  /** @internal */
  writerIdle(): void {
    this.#releaseFlushWaiters();
  }

  /**
   * @internal The writer's queue ended. A client whose close handshake went
   * through waits for the server to close the connection first, as RFC 6455
   * section 7.1.1 asks (the server then holds TIME_WAIT, not the client,
   * whose ports are scarcer), `closeTimeoutMs` at most: the output stays
   * open until the input ends (what the server still sends is discarded).
   * Python `websockets` waits the same way; `ws` does not. Not over HTTP/2
   * (`awaitsServerClose`).
   */
  holdOutput(): boolean {
    const rules = this.#rules;
    if (!this.#awaitsServerClose || (this.#flags & Flag.Terminated) !== 0 || this.#failure !== undefined) return false;
    if (rules.closeReceived === undefined || !rules.closeSent || this.#input.isClosedForRead) return false;
    const watch = new InputEndWatch(this.#input, () => this.#releaseOutput());
    this.#endWatch = watch;
    this.#armCloseTimer(() => this.#releaseOutput());
    watch.start(); // the input may have ended already: the output is then closed before this returns
    return true;
  }

  /** The hold of `holdOutput` ends (the server closed, the close timer ran out, or the connection was dropped). */
  #releaseOutput(): void {
    const watch = this.#endWatch;
    if (watch === undefined) return;
    this.#endWatch = undefined;
    watch.stop();
    this.#clearCloseTimer();
    this.#writer?.closeOutput();
  }

  /** @internal The writer stopped: the output is closed (normally), or it failed. */
  writerStopped(error: Error | undefined): void {
    this.#releaseFlushWaiters();
    // Otherwise the reader may still read the peer's close (say, its answer to our 1011): it settles `closeReason`.
    if (error !== undefined) this.terminate(error);
    this.#taskEnded();
  }

  // ---- how the session ends ----------------------------------------------------

  /** After the handler returned or threw (and the layer on top is done): decides how the session ends. */
  #closeAfterHandler(error: Error | undefined): void {
    if ((this.#flags & Flag.Terminated) !== 0) return;
    if (error === undefined || error === this.#failure) {
      if (this.#failure !== undefined) this.failConnection(this.#failure);
      else this.startClose({ code: CloseCode.Normal, reason: '' });
    } else {
      this.startClose({ code: CloseCode.InternalError, reason: '' });
      this.outgoing.close();
    }
  }

  /** @internal Runs when the session's job is cancelled: a best-effort 1001, then the end. */
  onCancel(): void {
    if ((this.#flags & Flag.Terminated) !== 0) return;
    this.#flags |= Flag.Stopping;
    this.startClose({ code: CloseCode.GoingAway, reason: '' });
    this.outgoing.close();
    this.#input.cancel();
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

  #onReadError(error: unknown): void {
    const cause = error instanceof Error ? error : new Error(String(error));
    if ((this.#flags & Flag.Terminated) !== 0) return;
    if ((this.#flags & Flag.Stopping) !== 0) {
      // We stopped reading on purpose (cancelled or failed): the handler sees why.
      this.#endFrames(this.job.cause ?? cause);
      return;
    }
    this.#failure = cause;
    if (cause instanceof ProtocolError) {
      // Frames parsed before the error reach the handler first; the close frame
      // goes out once the handler saw the failure (or gave up on it).
      this.#endFrames(cause);
      // Unless our close is queued or out already: nothing may follow it, so the connection closes once it is out.
      if (this.isClosing) this.outgoing.close();
      else this.#armCloseTimer(() => this.failConnection(cause));
    } else {
      this.terminate(asConnectionClosed(cause));
    }
  }

  /**
   * The frames ended: `incoming` (if made) is closed, or cancelled when
   * nothing more will be read, and the sink (if any) told, once.
   */
  #endFrames(cause: Error | undefined, cancel = false): void {
    const incoming = this.#incoming;
    if (incoming !== undefined) {
      if (cancel) incoming.cancel(cause);
      else incoming.close(cause);
    }
    if ((this.#flags & Flag.FramesEnded) !== 0) return;
    this.#flags |= Flag.FramesEnded;
    this.#sink?.onFramesEnd(cause);
  }

  #armCloseTimer(onTimeout: () => void = () => this.terminate()): void {
    if (this.#closeTimer !== undefined || this.#tasksLeft === 0) return;
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = undefined; // a close started by `onTimeout` arms a timer of its own
      onTimeout();
    }, this.options.closeTimeoutMs);
  }

  #clearCloseTimer(): void {
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
  }

  #releaseFlushWaiters(): void {
    const waiters = this.#flushWaiters;
    if (waiters === undefined) return;
    this.#flushWaiters = undefined;
    for (const resolve of waiters) resolve();
  }
}

/** Why the connection went, as the `ConnectionClosedError` the session reports (the transport's error as its cause). */
function asConnectionClosed(cause: Error): ConnectionClosedError {
  return cause instanceof ConnectionClosedError ? cause : new ConnectionClosedError(cause.message, { cause });
}

/** A queued frame's weight: its payload bytes. */
function payloadLength(f: Frame): number {
  return f.payload.length;
}
