/**
 * The default session (Ktor's `DefaultWebSocketSession`), built on a raw
 * one: its frame processing answers pings, tracks pongs, echoes the peer's
 * close frame and reassembles fragmented messages (inflating them through
 * the negotiated extensions); the handler gets whole messages (`string` for
 * text, `Buffer` for binary) and a small surface: `send`, `for await` (or
 * `consumeEach`), `close`, `ping`, `sendSerialized`/`receiveDeserialized`.
 * Frames are processed inside the raw session's reader task (the raw
 * `incoming` is diverted to it), so a message takes one hop, reader to
 * handler; a task of its own reads `incoming` only when frames were queued
 * there before this session was made. The ping and close replies come from
 * the sans-I/O protocol's rules (see protocol.ts).
 */
import { Channel, type ChannelWeightBudget } from '../channels/channel.ts';
import { launch } from '../channels/context.ts';
import { consumeEach, type ConsumeEachOptions } from '../channels/consume-each.ts';
import { ClosedReceiveChannelError } from '../channels/errors.ts';
import { CloseCode, encodeClosePayload, type CloseReason } from '../frames/close.ts';
import { ProtocolError } from '../frames/errors.ts';
import { frame, Opcode, type Frame } from '../frames/frame.ts';
import { isValidUtf8 } from '../frames/utf8.ts';
import type { WebSocketExtension } from '../extensions/extension.ts';
import { DeserializationError, SerializationError } from './converter.ts';
import { SessionClosedError } from './errors.ts';
import { MessageAssembler, type AssembledMessage } from './message-assembler.ts';
import { binaryPayload, type MessageData } from './message-data.ts';
import {
  DEFAULT_SESSION_DEFAULTS,
  resolveOptions,
  type DefaultSessionOptions,
  type ResolvedDefaultSessionOptions,
} from './options.ts';
import { KeptRequest } from './kept-request.ts';
import { Pinger } from './pinger.ts';
import { encodeMessage, type PublishedMessage } from './published-message.ts';
import { Enqueued, SENT, type RawWebSocketSession } from './raw-session.ts';

/** A whole message: text as a string, binary as a Buffer. */
export type Message = string | Buffer;

/** The HTTP request a session was opened with (node's `IncomingMessage` and `RequestHead` satisfy it). */
export interface SessionRequest {
  /** `GET` for an HTTP/1.1 upgrade, `CONNECT` for HTTP/2. */
  readonly method?: string | undefined;
  /** The request target, e.g. `/chat?room=1`. */
  readonly url?: string | undefined;
  /**
   * The HTTP version the WebSocket was opened with: `'1.1'` for an upgrade
   * (HTTP/1.1), `'2.0'` for an extended CONNECT over HTTP/2 (RFC 8441).
   */
  readonly httpVersion?: string | undefined;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** What the code that accepted the connection knows of it (see the session's fields of the same names). */
export interface SessionInfo<Data = unknown> {
  /** The request the WebSocket was opened with. */
  readonly request?: SessionRequest | undefined;
  /** The peer's IP address, as the socket reports it. */
  readonly remoteAddress?: string | undefined;
  /** The peer's TCP port. */
  readonly remotePort?: number | undefined;
  /** What the server's `verify` hook attached to the connection. */
  readonly data?: Data;
  /** Where `subscribe` and `unsubscribe` go (a server's topics); without it the session has no topics. */
  readonly topics?: TopicHub | undefined;
}

/** The topic registry a session joins and leaves topics of (a `WebSocketServer`'s). */
export interface TopicHub {
  /** `session` subscribed `topic` (it was not subscribed before). */
  joined(session: DefaultWebSocketSession<unknown>, topic: string): void;
  /** `session` left `topic` (it was subscribed), by `unsubscribe` or because it ended. */
  left(session: DefaultWebSocketSession<unknown>, topic: string): void;
}

/** What became of a published message for one subscriber (see `deliverPublished`). */
export const Delivery = {
  /** Queued for the peer, in order with the session's own sends. */
  Queued: 0,
  /** Skipped: the subscriber had too many bytes queued (policy `'drop'`). */
  Dropped: 1,
  /** The subscriber had too many bytes queued and is being closed with 1013 (policy `'close'`). */
  Closed: 2,
  /** The session is closing or gone: nothing was queued. */
  Gone: 3,
} as const;
export type Delivery = (typeof Delivery)[keyof typeof Delivery];

/** What a subscriber whose queue is over its byte cap gets: the message is skipped, or the session is closed (1013). */
export type SlowSubscriberPolicy = 'drop' | 'close';

/** Options of one `send`. */
export interface SendOptions {
  /**
   * false sends this message uncompressed even when permessage-deflate is in
   * force (say, data that is already compressed). Default true.
   */
  readonly compress?: boolean;
}

/**
 * The session a server's or client's handler gets (Ktor's
 * `DefaultWebSocketSession`): whole messages in (`for await`, `receive`,
 * `consumeEach`) and out (`send`), with pings and pongs, fragmentation,
 * permessage-deflate and the close handshake done for it. `Data` is the type
 * of `data`, what the server's `verify` hook attached to the connection.
 */
export class DefaultWebSocketSession<Data = unknown> implements AsyncIterable<Message> {
  /** The raw session underneath (its `outgoing` is shared; do not read its `incoming`). */
  readonly raw: RawWebSocketSession;
  /** The session's options, every default filled in. */
  readonly options: ResolvedDefaultSessionOptions;
  /**
   * The upgrade request (method, URL, HTTP version, headers) when the server
   * side accepted it; `undefined` otherwise. Kept compactly (see
   * kept-request.ts): the headers become an object on first read.
   */
  readonly request: SessionRequest | undefined;
  /** The peer's IP address, when known. */
  readonly remoteAddress: string | undefined;
  /** The peer's port, when known. */
  readonly remotePort: number | undefined;
  /** Per-connection data of your own (a server's `verify` hook can set it); `undefined` until set. */
  data: Data;

  readonly #messages: MessageQueue;
  /** Reassembles fragmented messages (made by the first fragment). */
  #assembler: MessageAssembler | undefined;
  /** Keep-alive and `ping()` round trips; made when first needed. */
  #pinger: Pinger | undefined;
  /**
   * Serialises outgoing messages through async extension transforms, keeping
   * their order: the end of the chain while steps are pending (see `#chain`),
   * undefined when it is idle.
   */
  #sendChain: Promise<void> | undefined;
  /** Payload bytes in the send chain, not yet queued (see `bufferedAmount`). */
  #chainBytes = 0;
  /**
   * Bits, tested and set in place (private accessors would cost a runtime
   * call each on Node 20): two set once and never cleared, `ABANDONED_FLAG`
   * (set by `abandon()`: nobody will receive messages any more) and
   * `CLOSE_REQUESTED_FLAG` (set by `close()`: its close frame may still wait
   * in the send chain, but nothing sent after it goes out); two of the send
   * chain: a close was deferred in it (`CLOSE_DEFERRED_FLAG`, never cleared:
   * nothing after a close is sent), and its current step waits for room in
   * the outgoing queue (`ROOM_WAIT_FLAG`); and two of the messages: one was
   * ever queued (`MESSAGE_SEEN_FLAG`), and the application reads them
   * (`READING_FLAG`: set by `receive`, `for await` and `consumeEach`,
   * cleared when a `for await` loop is left early).
   */
  #flags = 0;
  readonly #hub: TopicHub | undefined;
  /** The topics subscribed (made by the first `subscribe`). */
  #topics: Set<string> | undefined;

  constructor(raw: RawWebSocketSession, options?: DefaultSessionOptions, info?: SessionInfo<Data>) {
    this.raw = raw;
    this.options = resolveOptions(DEFAULT_SESSION_DEFAULTS, options);
    this.request = info?.request === undefined ? undefined : new KeptRequest(info.request);
    this.remoteAddress = info?.remoteAddress;
    this.remotePort = info?.remotePort;
    this.data = info?.data as Data;
    this.#hub = info?.topics;
    this.#messages = new MessageQueue(this, this.options.messageQueue, { maxWeight: this.options.messageQueueBytes, weigh: messageLength });
    if (this.options.pingIntervalMs > 0) {
      this.#pinger = new Pinger(raw, this.options.pingIntervalMs, this.options.pingTimeoutMs);
    }
    raw.setLayer(this);
    // Frames are processed inside the raw session's reader task when it can
    // still be arranged (nothing queued on `incoming` yet), else by a task of
    // our own reading `incoming`.
    if (!raw.divertIncoming(this)) {
      // No more pings once the frames ended, even while the task still waits to queue a message.
      raw.incoming.invokeOnClose(() => this.#pinger?.stop());
      launch(raw.context, () => this.#readIncoming());
    }
  }

  /** The peer's close reason, or 1006 when the connection ended without one. */
  get closeReason(): Promise<CloseReason> {
    return this.raw.closeReason;
  }

  /** The negotiated subprotocol, if any. */
  get protocol(): string | undefined {
    return this.raw.protocol;
  }

  /** Negotiated extensions. */
  get extensions(): readonly WebSocketExtension[] {
    return this.raw.extensions;
  }

  /**
   * Bytes accepted by `send` and not yet handed to the socket (messages
   * still being compressed, queued, or in the output channel), like a
   * browser's `WebSocket.bufferedAmount`.
   */
  get bufferedAmount(): number {
    return this.#chainBytes + this.raw.bufferedAmount;
  }

  /**
   * Sends a text (string) or binary message, waiting while the outgoing queue
   * is full. Rejects with `SessionClosedError` once the session is closing,
   * with the `ConnectionClosedError` saying why once the connection is lost.
   * A send that nobody awaits never becomes an unhandled rejection: after
   * the session closed, it just does nothing (an awaited one still throws).
   */
  send(data: MessageData, options?: SendOptions): Promise<void> {
    const opcode = typeof data === 'string' ? Opcode.Text : Opcode.Binary;
    let payload: Buffer;
    try {
      payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : binaryPayload(data);
    } catch (error) {
      return Promise.reject(error);
    }
    const raw = this.raw;
    const extensions = raw.extensions;
    // Refused as without an extension once the session is closing or gone (not encoded first, nor failing with
    // the codec's error): SessionClosedError, or the ConnectionClosedError saying why the connection was lost.
    if (extensions.length === 0 || raw.isSendClosed) return quiet(raw.send(frame(opcode, payload)));
    if ((this.#flags & CLOSE_REQUESTED_FLAG) !== 0) return quiet(Promise.reject(new SessionClosedError()));
    if (options?.compress === false) return this.sendFrame(frame(opcode, payload));
    this.#chainBytes += payload.length;
    return quiet(
      this.#chain(async () => {
        let encoded: Frame;
        try {
          encoded = await encodeMessage(extensions, opcode, payload);
        } catch (error) {
          // The session ended while the message waited or was being encoded (its extensions are released then).
          if (raw.isSendClosed) encoded = frame(opcode, payload); // refused below, as above
          else throw error;
        } finally {
          this.#chainBytes -= payload.length;
        }
        return this.#queueEncoded(encoded);
      }),
    );
  }

  /** The topics this session is subscribed to. */
  get topics(): ReadonlySet<string> {
    return this.#topics ?? NO_TOPICS;
  }

  /**
   * Subscribes to `topic`: from now on every message published to it (say,
   * `server.publish(topic, data)`) is sent to this session, in publish order
   * and in order with the session's own sends. A no-op when already
   * subscribed or once closing. The session leaves its topics when it ends.
   *
   * @throws TypeError when the session has no topics (it was not accepted by
   *   a `WebSocketServer`, e.g. a client session), or `topic` is not a string.
   */
  subscribe(topic: string): void {
    const hub = this.#requireHub();
    checkTopic(topic);
    if (this.raw.isClosing || this.raw.job.isCompleted) return;
    let topics = this.#topics;
    if (topics === undefined) {
      topics = this.#topics = new Set();
      this.raw.job.invokeOnCompletion(() => this.#leaveAll());
    }
    if (topics.has(topic)) return;
    topics.add(topic);
    hub.joined(this.#self, topic);
  }

  /** Unsubscribes from `topic` (a no-op when not subscribed): nothing published to it after this call is sent. */
  unsubscribe(topic: string): void {
    const hub = this.#requireHub();
    checkTopic(topic);
    if (this.#topics?.delete(topic)) hub.left(this.#self, topic);
  }

  /**
   * @internal Queues a published message for the peer, never waiting: in
   * order with the session's own sends; one frame shared with the other
   * subscribers when no extension (or only ones without per-connection
   * state) is in force. Past `maxQueuedBytes` already queued (see
   * `bufferedAmount`; a message is always let through into an empty queue),
   * the message is skipped (`'drop'`) or the session is closed with 1013
   * (`'close'`).
   */
  deliverPublished(message: PublishedMessage, maxQueuedBytes: number, whenFull: SlowSubscriberPolicy): Delivery {
    const raw = this.raw;
    const extensions = raw.extensions;
    if (extensions.length === 0) {
      // The common case, once per subscriber per publish: one call, the shared frame.
      const done = raw.enqueue(message.plain, maxQueuedBytes, this.#chainBytes);
      return done === Enqueued.Queued ? Delivery.Queued : done === Enqueued.Gone ? Delivery.Gone : this.#full(whenFull);
    }
    if ((this.#flags & CLOSE_REQUESTED_FLAG) !== 0 || raw.isSendClosed) return Delivery.Gone;
    const size = message.payload.length;
    const queued = this.bufferedAmount;
    if (queued > 0 && queued + size > maxQueuedBytes) return this.#full(whenFull);
    const shared = message.encodedFor(extensions);
    this.#chainBytes += size;
    void this.#chain(async () => {
      let encoded: Frame | undefined;
      try {
        encoded = await (shared ?? Promise.reject()).catch(() => this.#encodeAgain(message));
      } finally {
        this.#chainBytes -= size;
      }
      if (encoded !== undefined) raw.enqueue(encoded);
    });
    return Delivery.Queued;
  }

  /**
   * The frame of a published message whose shared encoding failed (the
   * session making it ended meanwhile): the first subscriber still open to
   * get here has it encoded again, for all; if that fails too, this session
   * encodes it alone. `undefined` once this session is closing.
   */
  #encodeAgain(message: PublishedMessage): Promise<Frame> | undefined {
    const raw = this.raw;
    if (raw.isSendClosed) return undefined;
    const extensions = raw.extensions;
    return (message.encodedFor(extensions) ?? Promise.reject()).catch(() => encodeMessage(extensions, message.opcode, message.payload));
  }

  /** A subscriber over its byte cap: the message is skipped, or the session is closed with 1013. */
  #full(whenFull: SlowSubscriberPolicy): Delivery {
    if (whenFull === 'drop') return Delivery.Dropped;
    void this.close(CloseCode.TryAgainLater, 'too slow: too many bytes queued');
    return Delivery.Closed;
  }


  /**
   * Sends `value` as one message through the session's converter (JSON by
   * default: a text message). Rejects with `SerializationError` when the
   * converter cannot serialize it (nothing is sent), else like `send`.
   */
  sendSerialized(value: unknown): Promise<void> {
    let message: string | Uint8Array;
    try {
      message = this.options.converter.serialize(value);
    } catch (error) {
      return quiet(Promise.reject(new SerializationError(error)));
    }
    return this.send(message);
  }


  /** Sends one frame as is (no extension transform), after the messages sent before it. */
  sendFrame(f: Frame): Promise<void> {
    return quiet(this.#sendChain === undefined ? this.raw.send(f) : this.#chain(() => this.#queueEncoded(f)));
  }

  /**
   * Runs `step` now, or, while messages go through extension transforms,
   * once the messages sent before it are queued: a close never overtakes them.
   */
  #afterSends(step: () => void): void {
    if (this.#sendChain === undefined) return step();
    this.#flags |= CLOSE_DEFERRED_FLAG;
    if ((this.#flags & ROOM_WAIT_FLAG) !== 0) this.raw.closeDeferred();
    void this.#chain(step);
  }

  /**
   * Queues a frame of the send chain, waiting for room. While it waits with
   * a close deferred behind it, the close timer runs, as for a close queued
   * behind frames: a peer that stops reading (after its own close, say) is
   * dropped `closeTimeoutMs` later. The time spent encoding does not count.
   */
  #queueEncoded(f: Frame): Promise<void> {
    const raw = this.raw;
    const queued = raw.send(f);
    // Queued at once, or refused (closing, or the connection gone): nothing waits on the peer.
    if (queued === SENT || raw.isSendClosed) return queued;
    this.#flags |= ROOM_WAIT_FLAG;
    if ((this.#flags & CLOSE_DEFERRED_FLAG) !== 0) raw.closeDeferred();
    return queued.finally(() => (this.#flags &= ~ROOM_WAIT_FLAG));
  }

  /** Appends `step` to the send chain (whose end never rejects); the chain is idle again once every step is done. */
  #chain(step: () => Promise<void> | void): Promise<void> {
    const done = (this.#sendChain ?? RESOLVED).then(step);
    const settled = (): void => {
      if (this.#sendChain === end) this.#sendChain = undefined; // no step was appended since: idle
    };
    const end = done.then(settled, settled);
    this.#sendChain = end;
    return done;
  }

  /**
   * The next message. Rejects with `ClosedReceiveChannelError` after a clean
   * close, with the `ProtocolError` the peer caused, or with
   * `ConnectionClosedError` when the connection was lost.
   */
  receive(): Promise<Message> {
    this.#flags |= READING_FLAG;
    return this.#messages.receive();
  }

  /**
   * The next message as a value, through the session's converter (JSON by
   * default). Rejects like `receive`, and with a `DeserializationError` (the
   * message is consumed; the session goes on) when the converter cannot
   * read it.
   */
  async receiveDeserialized<T = unknown>(): Promise<T> {
    this.#flags |= READING_FLAG;
    const message = await this.#messages.receive();
    try {
      return this.options.converter.deserialize(message) as T;
    } catch (error) {
      throw new DeserializationError(message, error);
    }
  }

  /**
   * Iterates messages until the close handshake; throws if the session failed.
   * The iterator is the message queue itself: one promise per message (the
   * queue's own step), no iterator object, and an idle connection keeps no
   * suspended frame here. Leaving the loop early leaves the session open.
   */
  [Symbol.asyncIterator](): AsyncIterator<Message, undefined> {
    this.#flags |= READING_FLAG;
    return this.#messages;
  }

  /**
   * Calls `action` with each message, in order, until the close handshake;
   * when `action` returns a promise, the next message waits for it (so
   * `session.consumeEach((m) => session.send(m))` echoes with backpressure).
   * Resolves after a clean close; rejects like `for await` throws (the
   * session failed), or with what `action` threw. Return or await it from
   * the handler: the session is open while the handler runs (one nobody
   * awaits never becomes an unhandled rejection, like `send`).
   *
   * The callback way to read, as `ws.on('message')` users write: unlike a
   * `for await` loop, whose suspended function keeps the last message it
   * took until the next one arrives (V8 keeps it in a register of the
   * frame), nothing here refers to a message once its `action` is done, so
   * a connection that idles after a large message does not keep it in
   * memory. And, as `ws` emits `'message'`, a message that finds `action`
   * waiting is handed to it as soon as it is read, inside the socket's
   * `'data'` callback: no tick and no microtask between the bytes and your
   * code. Use one way of reading per session at a time.
   */
  consumeEach(action: (message: Message) => unknown): Promise<void> {
    // Quiet: a handler that forgot to return it ends the session, not the process.
    this.#flags |= READING_FLAG;
    return quiet(consumeEach(this.#messages, action, CONSUME_EACH));
  }

  /**
   * Sends a ping (with `payload`, at most 125 bytes, or a fresh 8-byte
   * sequence number) and resolves with the round-trip time in milliseconds
   * once its pong arrives. Rejects with `SessionClosedError` once closing,
   * and `ConnectionClosedError` when the connection ends first. Like `send`,
   * a ping nobody awaits never becomes an unhandled rejection.
   */
  ping(payload?: string | Uint8Array): Promise<number> {
    this.#pinger ??= new Pinger(this.raw, 0, this.options.pingTimeoutMs);
    const bytes = payload === undefined ? undefined : typeof payload === 'string' ? Buffer.from(payload, 'utf8') : binaryPayload(payload);
    return quiet(this.#pinger.ping(bytes));
  }

  /**
   * Starts the close handshake with `code` and `reason` (default 1000) and
   * resolves with the peer's close reason once it arrived (or 1006 if the
   * connection ended first, at most `closeTimeoutMs` later). The close frame
   * follows every message sent before the call. An application that reads
   * still gets every message the peer sent before its close; from one that
   * does not (never did, or left its `for await` loop early), a message that
   * does not fit in the message queue is dropped rather than waited for (the
   * queued ones stay readable), so it does not hold up the handshake.
   * Throws a `RangeError` for a code that may not be sent (1004–1006, 1015,
   * unregistered) or a reason over 123 UTF-8 bytes.
   */
  close(code: number = CloseCode.Normal, reason = ''): Promise<CloseReason> {
    encodeClosePayload({ code, reason }); // an invalid code or reason throws here, at the caller
    this.#flags |= CLOSE_REQUESTED_FLAG;
    // Unless the application reads, a message that does not fit in the queue is dropped from now on (see #queueMessage).
    if ((this.#flags & READING_FLAG) === 0) this.#messages.rejectWaitingSenders(OVERFLOW_AFTER_CLOSE);
    this.#afterSends(() => this.raw.startClose({ code, reason }));
    return this.closeReason;
  }

  /**
   * Drops the connection at once, without a close handshake (`ws`'s
   * `terminate()`): for a peer that misbehaves or stopped answering. Messages
   * not yet written are discarded, `closeReason` resolves with 1006 (or the
   * peer's close, if it came first), and a `for await` or `receive` waiting
   * for the next message rejects with `ConnectionClosedError`.
   */
  terminate(): void {
    this.raw.terminate();
  }

  /**
   * Declares that nothing will receive messages any more (the handler is
   * done; `handleUpgrade` and `serveSocket` call this when it returns). From
   * then on messages are dropped instead of queued, so the session keeps
   * reading until the close handshake completes rather than waiting forever
   * on a full message queue; a pending `receive` rejects.
   */
  abandon(): void {
    if ((this.#flags & ABANDONED_FLAG) !== 0) return;
    this.#flags |= ABANDONED_FLAG;
    this.#messages.cancel(ABANDONED);
  }

  /** This session as the hub sees it (whatever its `Data`). */
  get #self(): DefaultWebSocketSession<unknown> {
    return this as unknown as DefaultWebSocketSession<unknown>;
  }

  #requireHub(): TopicHub {
    const hub = this.#hub;
    if (hub === undefined) {
      throw new TypeError('this session has no topics: only sessions a WebSocketServer accepted can subscribe');
    }
    return hub;
  }

  /** The session ended: it leaves every topic. */
  #leaveAll(): void {
    const topics = this.#topics;
    if (topics === undefined) return;
    for (const topic of topics) (this.#hub as TopicHub).left(this.#self, topic);
    topics.clear();
  }

  /**
   * @internal The handler is done (see `SessionLayer`): messages nobody will
   * read are dropped from now on (so the session still reads the peer's
   * close), and the close follows the messages sent before.
   */
  onHandlerDone(_error: unknown, close: () => void): void {
    if (!this.#messages.isClosedForSend) this.abandon();
    this.#afterSends(close);
  }

  /**
   * @internal The application left its `for await` loop: it no longer reads
   * (until it reads again), so once closing, messages that do not fit in
   * the queue are dropped (see `#queueMessage`).
   */
  stoppedReading(): void {
    this.#flags &= ~READING_FLAG;
    if ((this.#flags & CLOSE_REQUESTED_FLAG) !== 0) this.#messages.rejectWaitingSenders(OVERFLOW_AFTER_CLOSE);
  }

  /**
   * @internal The handler saw the end of the messages (or no message came
   * before it): if it was a protocol error, the close frame goes out now,
   * after anything the handler sent in reply to the messages before it.
   */
  failureSeen(error: Error): void {
    if (error instanceof ProtocolError && error === this.raw.failure) this.#afterSends(() => this.raw.failConnection(error));
  }

  /**
   * @internal One frame from the peer (see `FrameSink`): pings are answered,
   * pongs checked, the close echoed, data frames assembled into messages.
   * Returns a promise only when it must wait (a full outgoing or message
   * queue, an extension's decode).
   */
  onFrame(f: Frame): Promise<void> | void {
    switch (f.opcode) {
      case Opcode.Ping:
        return this.raw.answerPing(f);
      case Opcode.Pong:
        this.#pinger?.onPong(f.payload);
        return;
      case Opcode.Close:
        // After the replies already sent: with an extension they may still be being encoded.
        this.#afterSends(() => this.raw.answerClose());
        return;
      default: {
        // A whole message in one frame, not transformed by an extension (the common case), goes straight through.
        if (f.fin && (this.#assembler === undefined || this.#assembler.idle) && !f.rsv1 && !f.rsv2 && !f.rsv3) {
          return this.#queueMessage(toMessage(f.opcode, f.payload));
        }
        const assembled = (this.#assembler ??= new MessageAssembler()).push(f);
        if (assembled === undefined) return;
        // Only a message an extension transformed needs the (async) decode path.
        if (assembled.rsv === 0) return this.#queueMessage(toMessage(assembled.opcode, assembled.payload));
        return this.#decode(assembled).then((message) => this.#queueMessage(message));
      }
    }
  }

  /**
   * Queues a message for the handler; dropped once abandoned (also while
   * waiting for room), and, once `close()` was called by an application
   * that does not read (never did, or left its `for await` loop), when the
   * queue is full: the reader must reach the peer's close frame behind it,
   * which would otherwise wait until `closeTimeoutMs` (the messages already
   * queued stay readable). An application that reads gets every message.
   */
  #queueMessage(message: Message): Promise<void> | void {
    this.#flags |= MESSAGE_SEEN_FLAG;
    if ((this.#flags & ABANDONED_FLAG) !== 0) return;
    if (this.#messages.trySend(message)) return;
    if ((this.#flags & CLOSE_REQUESTED_FLAG) !== 0 && (this.#flags & READING_FLAG) === 0) return;
    return this.#messages.send(message).catch((error: unknown) => {
      if ((this.#flags & ABANDONED_FLAG) === 0 && error !== OVERFLOW_AFTER_CLOSE) throw error;
    });
  }

  /** @internal The frames ended (see `FrameSink`): normally (no cause) or with the reason the session failed. */
  onFramesEnd(cause: Error | undefined): void {
    this.#pinger?.stop();
    this.#messages.close(cause);
    // A protocol error before any message: nothing can be waiting for a reply, so the close goes out now, not when
    // the handler next reads, which an application that only sends never does.
    if (cause !== undefined && (this.#flags & MESSAGE_SEEN_FLAG) === 0) this.failureSeen(cause);
  }

  /** Reads `incoming` when the frames could not be diverted to `#onFrame` (see the constructor). */
  async #readIncoming(): Promise<void> {
    const incoming = this.raw.incoming;
    try {
      for (;;) {
        const waited = this.onFrame(incoming.tryReceive() ?? (await incoming.receive()));
        if (waited !== undefined) await waited;
      }
    } catch (error) {
      if (error instanceof ClosedReceiveChannelError) return this.onFramesEnd(undefined);
      if (error instanceof ProtocolError && this.raw.failure === undefined) this.raw.reportProtocolError(error);
      const cause = error instanceof Error ? error : new Error(String(error));
      this.onFramesEnd(cause);
      // Nothing reads `incoming` any more: release a reader parked on it (say, when a pong
      // could not be queued because the connection failed), or its task would never end.
      incoming.cancel(cause);
    }
  }

  /** Runs a message whose first frame had RSV bits through the extensions, then checks its text. */
  async #decode(message: AssembledMessage): Promise<Message> {
    let payload = message.payload;
    // Decoded in the reverse of the order messages are encoded in (RFC 6455 section 9.1).
    const extensions = this.raw.extensions;
    for (let i = extensions.length - 1; i >= 0; i--) {
      payload = await (extensions[i] as WebSocketExtension).decode(payload, message.rsv, this.raw.options.maxMessageSize);
    }
    if (message.opcode === Opcode.Text && !isValidUtf8(payload)) {
      throw new ProtocolError(CloseCode.InvalidPayload, 'invalid UTF-8 in a text message');
    }
    return toMessage(message.opcode, payload);
  }
}

/** The handler's message queue: tells its session when the handler has seen a failure. */
class MessageQueue extends Channel<Message> {
  readonly #session: DefaultWebSocketSession<unknown>;

  constructor(session: DefaultWebSocketSession<unknown>, capacity: number, budget: ChannelWeightBudget<Message>) {
    super(capacity, budget);
    this.#session = session;
  }

  protected override onFailureSeen(cause: Error): Error {
    this.#session.failureSeen(cause);
    return cause;
  }

  /** A `for await` loop over the session was left early (`break`, `return`, a throw in its body). */
  return(): Promise<IteratorResult<Message, undefined>> {
    this.#session.stoppedReading();
    return Promise.resolve({ done: true, value: undefined });
  }
}

/** Bits of a session's `#flags` (an idle session holds one number rather than two booleans). */
const ABANDONED_FLAG = 1;
const CLOSE_REQUESTED_FLAG = 2;
const CLOSE_DEFERRED_FLAG = 4;
const ROOM_WAIT_FLAG = 8;
const MESSAGE_SEEN_FLAG = 16;
const READING_FLAG = 32;
const RESOLVED: Promise<void> = Promise.resolve();
/**
 * `consumeEach` runs the handler's action inside the reader's delivery, and
 * goes on at once when the action returns what a `send` that queued its
 * frame returns (see `consumeEach` above).
 */
const CONSUME_EACH: ConsumeEachOptions = Object.freeze({ immediate: true, fulfilled: SENT });
/** Why an abandoned session's messages end (one error for all: nothing is left to read them, so no stack is worth making). */
const ABANDONED = new SessionClosedError('the session was abandoned: no more messages are received');
/** Fails the reader's wait for room in the message queue when `close()` is called (the message is dropped). */
const OVERFLOW_AFTER_CLOSE = new SessionClosedError('close() was called: a message that did not fit in the queue was dropped');
const NO_TOPICS: ReadonlySet<string> = new Set();

/** A queued message's weight: its bytes, or its length for text. */
function messageLength(message: Message): number {
  return message.length;
}

function noop(): void {}

/**
 * `sent` with its rejection marked as handled: a send, ping or consumeEach nobody awaits is not an
 * unhandled rejection when the session has closed, while `await` still sees
 * the error. The settled fast path costs nothing.
 */
function quiet<T>(sent: Promise<T>): Promise<T> {
  if ((sent as Promise<unknown>) !== SENT) sent.catch(noop);
  return sent;
}

/** Throws a `TypeError` unless `topic` is a string (a topic is the same string locally and on a broker). */
export function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string') throw new TypeError(`a topic is a string, got ${typeof topic}`);
}

/** Text as a string (its UTF-8 already checked), binary as the bytes. */
function toMessage(opcode: Opcode, payload: Buffer): Message {
  return opcode === Opcode.Text ? payload.toString('utf8') : payload;
}
