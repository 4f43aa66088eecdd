/**
 * Errors a session reports to its handler: the connection went away, the
 * session is already closing, the peer stopped answering pings, stopped
 * reading, or stalled in the middle of a frame.
 */

/** The connection ended without a completed close handshake (close code 1006). */
export class ConnectionClosedError extends Error {
  override readonly name = 'ConnectionClosedError';
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
export class PingTimeoutError extends Error {
  override readonly name = 'PingTimeoutError';
  readonly closeCode = 1006;
  constructor(timeoutMs: number) {
    super(`no pong within ${timeoutMs} ms`);
  }
}

/** The peer did not read what we sent within `writeTimeoutMs`. */
export class WriteTimeoutError extends Error {
  override readonly name = 'WriteTimeoutError';
  readonly closeCode = 1006;
  constructor(timeoutMs: number) {
    super(`the peer read nothing for ${timeoutMs} ms`);
  }
}

/** The peer stopped sending in the middle of a frame for `partialFrameTimeoutMs`. */
export class PartialFrameTimeoutError extends Error {
  override readonly name = 'PartialFrameTimeoutError';
  readonly closeCode = 1006;
  constructor(timeoutMs: number) {
    super(`the peer sent no byte for ${timeoutMs} ms in the middle of a frame`);
  }
}
