/**
 * Typed errors of the channel runtime: closed and cancelled channels, end of
 * stream, limits, misuse, and a connection that went away under an adapter.
 * Every class sets `name` so logs and `instanceof`-free checks read well.
 * `toError` normalizes whatever a rejected promise or `catch` delivered.
 */

/** A send or write on a channel that is closed for sending (by its own writer's `close`). */
export class ChannelClosedError extends Error {
  /** @param cause the error the channel was closed with, if any. */
  constructor(message = 'channel was closed for writing', cause?: Error) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ChannelClosedError';
  }
}

/** A receive on a message channel that was closed without a cause and has been drained. */
export class ClosedReceiveChannelError extends Error {
  constructor(message = 'channel was closed and every element was received') {
    super(message);
    this.name = 'ClosedReceiveChannelError';
  }
}

/** A read that needs more bytes than remain before a normal end of stream. */
export class EndOfStreamError extends Error {
  /** Bytes the read needed. */
  readonly wanted: number;
  /** Bytes that were left before the end (they were consumed by the failed read). */
  readonly available: number;

  constructor(wanted: number, available: number) {
    super(`end of stream: wanted ${wanted} bytes, only ${available} remained`);
    this.name = 'EndOfStreamError';
    this.wanted = wanted;
    this.available = available;
  }
}

/**
 * A job or channel was cancelled without a more specific cause. Code that
 * catches it while being cancelled should let it propagate (or return).
 */
export class CancellationError extends Error {
  constructor(message = 'cancelled', cause?: Error) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'CancellationError';
  }
}

/** A size limit was exceeded (for example `readRemaining(limit)`). */
export class LimitExceededError extends Error {
  /** The limit, in the unit of the operation (bytes for byte channels). */
  readonly limit: number;

  constructor(limit: number, message = `limit of ${limit} exceeded`) {
    super(message);
    this.name = 'LimitExceededError';
    this.limit = limit;
  }
}

/** A second read had to wait while another read of the same byte channel was waiting. */
export class ConcurrentReadError extends Error {
  constructor() {
    super('a read is already waiting on this byte channel: await each read before starting the next');
    this.name = 'ConcurrentReadError';
  }
}

/** The connection closed before its peer ended the stream (a reset, or destroyed locally). */
export class ConnectionResetError extends Error {
  constructor(message = 'connection closed before the end of the stream', cause?: Error) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ConnectionResetError';
  }
}

/** `thrown` as an `Error`: itself, or an `Error` wrapping a non-Error value as its `cause`. */
export function toError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(`non-Error thrown: ${String(thrown)}`, { cause: thrown });
}
