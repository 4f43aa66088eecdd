/**
 * The connection's rules without I/O, in the shape of Python `websockets`'
 * `Protocol`: bytes in, frames out; frames in, bytes out; and the close
 * handshake as one state machine. It owns the codec (a `FrameParser` and a
 * `FrameSerializer`) and nothing else: no channels, no timers, no sockets,
 * so every rule is tested synchronously, byte for byte
 * (tests/unit/session/protocol.test.ts). The reader and writer tasks only
 * move bytes and frames through it, and the session acts on what it says.
 *
 *     Open ──send close──▶ CloseSent ──receive close──▶ Closed
 *       │                                                 ▲
 *       ├──receive close─▶ CloseReceived ──send close─────┤
 *       │                                                 │
 *       └──fail(error)───▶ Failing ──send close (or had)──┘
 *
 * (Any state but `Closed` can fail; a connection that already sent its
 * close goes straight to `Closed`.)
 *
 * Rules (RFC 6455 sections 5.5 and 7):
 * - nothing is sent after our close frame: later frames are dropped;
 * - nothing is read after the peer's close frame: later bytes are ignored;
 * - a protocol error in the peer's bytes fails the connection: our close
 *   frame carries the error's close code (1002, 1007, 1009), nothing more is
 *   read, and the transport is closed once our close went out, without
 *   waiting for the peer's;
 * - once both close frames went through (`Closed`), the transport may be
 *   closed (a server closes TCP first, section 7.1.1);
 * - a ping is answered by a pong with its payload, unless our close went out;
 * - the peer's close is answered with its code (no code when it sent none).
 */
import { CloseCode, decodeClosePayload, encodeClosePayload, type CloseReason } from '../frames/close.ts';
import { ProtocolError } from '../frames/errors.ts';
import { frame, Opcode, type Frame } from '../frames/frame.ts';
import { FrameParser, type FrameParserOptions } from '../frames/parser.ts';
import { FrameSerializer, type FrameSerializerOptions } from '../frames/serializer.ts';

/** Where the close handshake stands (see the module comment). */
export const ConnectionState = {
  /** No close frame either way: data flows both ways. */
  Open: 0,
  /** Our close went out; the peer may still send data until its close. */
  CloseSent: 1,
  /** The peer's close arrived; we may still send data until our close. */
  CloseReceived: 2,
  /** A protocol error: our close (with its code) goes out next, then the transport closes. Nothing more is read. */
  Failing: 3,
  /** Both closes went through, or we failed and our close went out: close the transport. */
  Closed: 4,
} as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/** What a `Protocol` is made from: the parser's limits and the role (server parses masked frames and sends unmasked). */
export interface ProtocolOptions extends FrameParserOptions {
  /** Where a client's mask keys come from (default: a pooled CSPRNG); tests pass a fixed key. */
  readonly maskKey?: FrameSerializerOptions['maskKey'];
}

/**
 * One connection's WebSocket rules without I/O (see this module's header):
 * bytes in with `receiveData`, frames out with `nextFrame`; frames in with
 * `sendFrame`, bytes out with `dataToSend`; the close handshake's state in
 * `state`. For tests and for hosts that move the bytes themselves; sessions
 * make their own.
 */
export class Protocol {
  /** Which end this is: a server parses masked frames and sends unmasked ones, a client the other way round. */
  readonly role: 'server' | 'client';
  #state: ConnectionState = ConnectionState.Open;
  /**
   * Made by the first bytes received (an idle connection holds none: the
   * options are checked up front and kept instead).
   */
  #parser: FrameParser | undefined;
  readonly #parserOptions: FrameParserOptions;
  /** Made by the first frame sent. */
  #serializer: FrameSerializer | undefined;
  readonly #maskKey: ProtocolOptions['maskKey'];
  #closeReceived: CloseReason | undefined;
  #failure: ProtocolError | undefined;

  constructor(options: ProtocolOptions) {
    this.role = options.role;
    FrameParser.checkOptions(options);
    this.#parserOptions = options;
    this.#maskKey = options.maskKey;
  }

  /** Where the close handshake stands (see the diagram in this module's header). */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The peer's close reason, once its close frame arrived. */
  get closeReceived(): CloseReason | undefined {
    return this.#closeReceived;
  }

  /** True once our close frame went out (`sendFrame` took it): nothing more is sent. */
  get closeSent(): boolean {
    return this.#state === ConnectionState.CloseSent || this.#state === ConnectionState.Closed;
  }

  /** The protocol error that failed the connection, if one did. */
  get failure(): ProtocolError | undefined {
    return this.#failure;
  }

  /** True while more frames may be read: the peer's close has not arrived and nothing failed. */
  get isReading(): boolean {
    return this.#state === ConnectionState.Open || this.#state === ConnectionState.CloseSent;
  }

  /** True in the middle of a frame: the peer owes the rest of it. */
  get isInFrame(): boolean {
    return this.#parser?.isInFrame ?? false;
  }

  // ---- bytes in, frames out ------------------------------------------------

  /** Hands bytes from the peer to the parser (which owns them from now on). Ignored once not reading. */
  receiveData(chunk: Buffer): void {
    if (this.isReading) (this.#parser ??= new FrameParser(this.#parserOptions)).push(chunk);
  }

  /**
   * The next frame from the peer, or `undefined` when more bytes are needed
   * (and for ever after the peer's close or a failure). The peer's close
   * frame is returned like any other and moves the state. Throws the
   * `ProtocolError` of a violation, after which the connection is `Failing`.
   */
  nextFrame(): Frame | undefined {
    if (!this.isReading) return undefined;
    let f: Frame | undefined;
    try {
      f = this.#parser?.next();
    } catch (error) {
      if (error instanceof ProtocolError) this.fail(error);
      throw error;
    }
    if (f !== undefined && f.opcode === Opcode.Close) {
      // The parser checked the payload: it decodes.
      this.#closeReceived = decodeClosePayload(f.payload);
      this.#state = this.#state === ConnectionState.CloseSent ? ConnectionState.Closed : ConnectionState.CloseReceived;
    }
    return f;
  }

  // ---- frames in, bytes out ------------------------------------------------

  /**
   * Serializes a frame into the batch `dataToSend` returns. Returns false,
   * sending nothing, once our close went out. Sending our close moves the
   * state. Throws a `TypeError` / `RangeError` for a frame that may not be
   * sent (see `checkFrame`).
   */
  sendFrame(f: Frame): boolean {
    if (this.closeSent) return false;
    (this.#serializer ??= new FrameSerializer({ role: this.role, maskKey: this.#maskKey })).write(f);
    if (f.opcode === Opcode.Close) {
      this.#state =
        this.#state === ConnectionState.Open ? ConnectionState.CloseSent : ConnectionState.Closed;
    }
    return true;
  }

  /** Bytes serialized since the last `dataToSend`. */
  get pendingBytes(): number {
    return this.#serializer?.pendingBytes ?? 0;
  }

  /** The serialized bytes, in wire order, for one vectored write; starts a new batch. */
  dataToSend(): Buffer[] {
    return this.#serializer?.take() ?? [];
  }

  // ---- decisions -------------------------------------------------------------

  /**
   * Fails the connection for `error` (found by the parser or above it, say
   * by an extension): nothing more is read. Returns the close frame to send
   * (with the error's close code), or `undefined` when ours already went
   * out, in which case the state is `Closed` at once.
   */
  fail(error: ProtocolError): Frame | undefined {
    if (this.#state === ConnectionState.Closed) return undefined;
    this.#failure ??= error;
    if (this.closeSent) {
      this.#state = ConnectionState.Closed;
      return undefined;
    }
    this.#state = ConnectionState.Failing;
    return closeFrame({ code: error.closeCode, reason: '' });
  }

  /** The pong answering `ping`, or `undefined` once our close went out. */
  pongFor(ping: Frame): Frame | undefined {
    return this.closeSent ? undefined : frame(Opcode.Pong, ping.payload);
  }

  /**
   * Our answer to the peer's close (RFC 6455 section 5.5.1): its code echoed,
   * or an empty close when it sent no code; `undefined` once ours went out.
   */
  closeReply(): Frame | undefined {
    const received = this.#closeReceived;
    if (this.closeSent || received === undefined) return undefined;
    return received.code === CloseCode.NoStatusReceived ? closeFrame(undefined) : closeFrame({ code: received.code, reason: '' });
  }
}

/** A close frame with `reason`'s code and text, or an empty one. */
function closeFrame(reason: CloseReason | undefined): Frame {
  return frame(Opcode.Close, encodeClosePayload(reason));
}
