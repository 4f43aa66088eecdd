/**
 * Errors a session reports to its handler: the connection went away (and
 * the timeouts that drop it: the peer stopped answering pings, stopped
 * reading, or stalled in the middle of a frame), or the session is already
 * closing.
 */

/**
 * The connection ended without a completed close handshake (close code
 * 1006): lost, or dropped by one of the timeouts below (its subclasses).
 */
export class ConnectionClosedError extends Error {
  override readonly name: string = 'ConnectionClosedError';
  /** Always 1006: no close frame was received. */
  readonly closeCode = 1006;
  constructor(message = 'connection closed without a close frame', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** `send` or `close` after this side already sent its close frame. */
export class SessionClosedError extends Error {
  override readonly name = 'SessionClosedError';
  constructor(message = 'the session is closing: no more frames can be sent') {
    super(message);
  }
}

/** No pong arrived within `pingTimeoutMs` of a ping. */
export class PingTimeoutError extends ConnectionClosedError {
  override readonly name: string = 'PingTimeoutError';
  constructor(timeoutMs: number) {
    super(`no pong within ${timeoutMs} ms`);
  }
}

/** The peer did not read what we sent within `writeTimeoutMs`. */
export class WriteTimeoutError extends ConnectionClosedError {
  override readonly name: string = 'WriteTimeoutError';
  constructor(timeoutMs: number) {
    super(`the peer read nothing for ${timeoutMs} ms`);
  }
}

/** The peer stopped sending in the middle of a frame for `partialFrameTimeoutMs`. */
export class PartialFrameTimeoutError extends ConnectionClosedError {
  override readonly name: string = 'PartialFrameTimeoutError';
  constructor(timeoutMs: number) {
    super(`the peer sent no byte for ${timeoutMs} ms in the middle of a frame`);
  }
}
