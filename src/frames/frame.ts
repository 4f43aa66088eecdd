/**
 * The frame model of RFC 6455 section 5.2: opcodes, the `Frame` record the
 * parser produces and the serializer consumes, and small constructors.
 */

/** Opcodes (RFC 6455 section 5.2). 3-7 and 11-15 are reserved. */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** One WebSocket frame. `payload` is always unmasked. */
export interface Frame {
  /** What the frame carries (see `Opcode`). */
  readonly opcode: Opcode;
  /** FIN: the last frame of its message (always true on a control frame). */
  readonly fin: boolean;
  /** RSV1: set on the first frame of a compressed message (permessage-deflate). */
  readonly rsv1: boolean;
  /** RSV2: reserved for an extension; a frame with it set fails the connection unless one negotiated it. */
  readonly rsv2: boolean;
  /** RSV3: as `rsv2`. */
  readonly rsv3: boolean;
  /** The application data, unmasked (at most 125 bytes in a control frame). */
  readonly payload: Buffer;
  /**
   * The frame's unmasked wire bytes (header and payload), when they were
   * serialized already (`prepareFrame`, and only then): a server's
   * serializer sends them as they are, by reference, so one published frame
   * is shared by every connection it goes to. Absent on frames the parser
   * makes.
   */
  readonly wire?: Buffer | undefined;
}

/** Control frames: close, ping, pong (opcode bit 3 set). */
export function isControl(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

const EMPTY = Buffer.alloc(0);

/** Builds a frame; `fin` defaults to true and the RSV bits to false. */
export function frame(
  opcode: Opcode,
  payload: Buffer = EMPTY,
  fin = true,
  rsv1 = false,
): Frame {
  return { opcode, fin, rsv1, rsv2: false, rsv3: false, payload };
}
