/**
 * The extension interface (Ktor's `WebSocketExtension` idea): a negotiated
 * extension claims RSV bits and transforms whole messages on their way out
 * and in. The raw session only tells the codec which RSV bits are claimed;
 * the default session applies the transforms.
 */
import type { Opcode } from '../frames/frame.ts';

/** An extension in force on one session. */
export interface WebSocketExtension {
  /** The registered extension name, e.g. `permessage-deflate`. */
  readonly name: string;
  /** RSV bits this extension claims (a mask of `Rsv` from the codec: 0b100 is RSV1). */
  readonly rsv: number;
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

export interface EncodedMessage {
  readonly payload: Buffer;
  readonly rsv: number;
}
