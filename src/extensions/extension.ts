/**
 * The extension contracts (RFC 6455 section 9, Ktor's `WebSocketExtension`
 * idea), shared by client and server:
 * - `ExtensionOffer`: one element of `Sec-WebSocket-Extensions` (a name and
 *   its parameters), as offered by a client or answered by a server;
 * - `ExtensionNegotiator`: an extension as the user configures it
 *   (`extensions: [permessageDeflate({...})]` on a server and on a client
 *   alike): the server side picks from the client's offers, the client side
 *   makes the offer and checks the server's answer;
 * - `WebSocketExtension`: the extension in force on one session, which
 *   claims RSV bits and transforms whole messages on their way out and in.
 *
 * Nothing here does I/O or knows HTTP beyond the header's element model.
 */
import type { Opcode } from '../frames/frame.ts';

/** One extension offered in `Sec-WebSocket-Extensions`, parameters in order (duplicates kept). */
export interface ExtensionOffer {
  /** The extension token, as received (e.g. `permessage-deflate`). */
  readonly name: string;
  /** `[name, value]` pairs; `true` for a parameter without a value. Quoted values arrive unquoted. */
  readonly params: ReadonlyArray<readonly [string, string | true]>;
}

/** An extension in force on one session. */
export interface WebSocketExtension {
  /** The registered extension name, e.g. `permessage-deflate`. */
  readonly name: string;
  /** RSV bits this extension claims (a mask of `Rsv` from the codec: 0b100 is RSV1). */
  readonly rsv: number;
  /**
   * Set when `encode`'s output depends only on the message and on this key
   * (no state carried from one message to the next, as permessage-deflate
   * without context takeover): the encoded message may then be computed once
   * and shared by every connection whose extension has the same key (a topic
   * published to many subscribers). `undefined` otherwise.
   */
  readonly sharedEncodingKey?: string | undefined;
  /**
   * Transforms an outgoing message. Resolves with the payload to frame and the
   * RSV bits to set on its first frame. Calls for one session are made one at
   * a time, in message order.
   */
  encode(opcode: Opcode, payload: Buffer): Promise<EncodedMessage> | EncodedMessage;
  /**
   * Transforms an incoming message whose first frame carried `rsv`. Must fail
   * with a `ProtocolError` (1009) as soon as the output would exceed
   * `maxSize`, without producing the rest.
   */
  decode(payload: Buffer, rsv: number, maxSize: number): Promise<Buffer> | Buffer;
  /** Releases what the extension holds (e.g. zlib streams); called once, when the session ends. */
  dispose(): void;
}

/** A message as an extension's `encode` leaves it: the payload to send and the RSV bits to set on its first frame. */
export interface EncodedMessage {
  /** The payload as it goes on the wire (compressed, for permessage-deflate). */
  readonly payload: Buffer;
  /** The RSV bits of the message's first frame, as a 3-bit number: `0b100` is RSV1, `0b010` RSV2, `0b001` RSV3. */
  readonly rsv: number;
}

/** What a server's negotiator accepted: the session's extension and its element of the 101 response. */
export interface NegotiatedExtension {
  /** The extension as the session runs it. */
  readonly extension: WebSocketExtension;
  /** Its element of the 101 response's `Sec-WebSocket-Extensions` (name and parameters). */
  readonly response: ExtensionOffer;
}

/**
 * An extension as configured by the user, for either end of a connection
 * (the same value works in a server's and in a client's `extensions` list).
 */
export interface ExtensionNegotiator {
  /** The registered extension name (lower case; compared case-insensitively with the header). */
  readonly name: string;
  /**
   * Server side: chooses from the client's offers of this extension (in the
   * client's order; never empty): the first acceptable one wins. Returns the
   * extension for the session and the element of the response header, or
   * `undefined` to decline every offer.
   */
  negotiate(offers: readonly ExtensionOffer[]): NegotiatedExtension | undefined;
  /** Client side: the element to offer in the request. */
  offer(): ExtensionOffer;
  /**
   * Client side: checks the server's response element for this extension
   * and returns the extension for the session. Throws when the parameters
   * are not acceptable (the handshake then fails).
   */
  accept(response: ExtensionOffer): WebSocketExtension;
}
