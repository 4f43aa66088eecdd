/**
 * Typed errors of the codec. Bad bytes from the peer become a
 * `ProtocolError` carrying the close code to send (RFC 6455 section 7.4.1);
 * misuse by the programmer throws the built-in `TypeError` / `RangeError`.
 */

/** A violation of RFC 6455 by the peer; `closeCode` is the code to close the connection with. */
export class ProtocolError extends Error {
  /** The close code this failure must be answered with (1002, 1007 or 1009). */
  readonly closeCode: number;

  constructor(closeCode: number, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.closeCode = closeCode;
  }
}
