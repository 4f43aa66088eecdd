/**
 * Typed errors of the HTTP upgrade handshake.
 *
 * `HandshakeError` is bad input from the network: the request cannot be
 * upgraded and the server answers it with `status`, `headers` and the one-line
 * `message` as body (see `formatErrorResponse`), then closes the socket.
 * `IncompleteRequestHeadError` means the peer went away (or the byte channel
 * failed) before a whole request head arrived: no response is possible, the
 * caller just drops the connection.
 */

/** The request cannot be upgraded; answer it with this status and close the socket. */
export class HandshakeError extends Error {
  /**
   * HTTP status to answer with: 400 (not a valid upgrade request), 403 (the
   * origin check refused), 404 (no route), 408 (the head did not arrive in
   * time), 426 (a WebSocket version other than 13), 431 (head too large), 500 (a
   * callback of ours or the user's failed), 503 (the server is closing) or
   * 505 (not HTTP/1.1); a user's own `HandshakeError` any from 400 to 599.
   */
  readonly status: number;
  /** Extra response headers, e.g. `Sec-WebSocket-Version: 13` with a 426. */
  readonly headers: Readonly<Record<string, string>>;

  /**
   * @param status the HTTP status of the response (an integer 400-599).
   * @param message the one-line reason, sent as the response body.
   * @param headers extra response headers (copied and frozen).
   */
  constructor(status: number, message: string, headers: Readonly<Record<string, string>> = {}) {
    super(message);
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`HandshakeError status must be an integer 400-599, got ${status}`);
    }
    this.name = 'HandshakeError';
    this.status = status;
    this.headers = Object.freeze({ ...headers });
  }
}

/** The 500 a request gets when our side failed (a user callback that threw, or a bug of ours), not the request. */
export function internalServerError(): HandshakeError {
  return new HandshakeError(500, 'internal server error');
}

/** The input ended (or failed) before a complete HTTP request head was read. */
export class IncompleteRequestHeadError extends Error {
  /** How many bytes of the head had been received. */
  readonly bytesReceived: number;

  /**
   * @param bytesReceived the number of head bytes consumed before the end.
   * @param cause the channel's close cause, when it failed rather than ended.
   */
  constructor(bytesReceived: number, cause?: unknown) {
    super(
      `connection ended after ${bytesReceived} bytes, before the end of the HTTP request head`,
      cause === undefined ? undefined : { cause },
    );
    this.name = 'IncompleteRequestHeadError';
    this.bytesReceived = bytesReceived;
  }
}
