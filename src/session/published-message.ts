/**
 * A message published to many sessions (a topic), framed once. Sessions
 * without extensions share one prepared frame (its wire bytes are written by
 * reference to every connection: no per-subscriber copy, encoding or
 * allocation of the payload). Sessions whose extensions encode without
 * per-connection state (permessage-deflate without context takeover) share
 * one encoded frame per encoding key (per window size and settings in use),
 * encoded on first use. Other sessions encode it themselves.
 */
import { frame, type Opcode, type Frame } from '../frames/frame.ts';
import { prepareFrame } from '../frames/serializer.ts';
import type { WebSocketExtension } from '../extensions/extension.ts';

export class PublishedMessage {
  readonly opcode: Opcode;
  /** The message's bytes (UTF-8 for text). */
  readonly payload: Buffer;
  #plain: Frame | undefined;
  /** Encoded frames by the extensions' joined `sharedEncodingKey` (made on first use). */
  #encoded: Map<string, Promise<Frame>> | undefined;

  constructor(opcode: Opcode, payload: Buffer) {
    this.opcode = opcode;
    this.payload = payload;
  }

  /** The frame sessions without extensions share. */
  get plain(): Frame {
    return (this.#plain ??= prepareFrame(frame(this.opcode, this.payload)));
  }

  /**
   * The frame shared by sessions with the same `extensions`, when every one
   * of them has a `sharedEncodingKey`; `undefined` when the session must
   * encode the message itself. Encoded once per key, by the first session
   * that asks (again by the next one, if that encoding failed).
   */
  encodedFor(extensions: readonly WebSocketExtension[]): Promise<Frame> | undefined {
    let key = '';
    for (const extension of extensions) {
      if (extension.sharedEncodingKey === undefined) return undefined;
      key += extension.sharedEncodingKey + '\n';
    }
    const encoded = (this.#encoded ??= new Map());
    let shared = encoded.get(key);
    if (shared === undefined) {
      const encoding = (shared = encodeMessage(extensions, this.opcode, this.payload).then(prepareFrame));
      // A failure (the session encoding it ended meanwhile) is forgotten, so that the next subscriber to ask
      // encodes it again for all; and before any of them got there it is no unhandled rejection.
      encoding.catch(() => {
        if (encoded.get(key) === encoding) encoded.delete(key);
      });
      encoded.set(key, encoding);
    }
    return shared;
  }
}

/** Runs a message through `extensions` (in order) into its single frame. */
export async function encodeMessage(extensions: readonly WebSocketExtension[], opcode: Opcode, payload: Buffer): Promise<Frame> {
  let bytes = payload;
  let rsv = 0;
  for (const extension of extensions) {
    const encoded = await extension.encode(opcode, bytes);
    bytes = encoded.payload;
    rsv |= encoded.rsv;
  }
  return { opcode, fin: true, rsv1: (rsv & 0b100) !== 0, rsv2: (rsv & 0b010) !== 0, rsv3: (rsv & 0b001) !== 0, payload: bytes };
}
