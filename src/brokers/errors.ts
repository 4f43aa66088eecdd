/**
 * Typed errors of the brokers. All extend `BrokerError`.
 *
 * Returned to the caller (rejections of `publish`, `subscribe`,
 * `unsubscribe`): `BrokerUnavailableError` (nothing was sent),
 * `BrokerTimeoutError` and `BrokerCommandError` (sent or queued, outcome
 * unknown), `BrokerClosedError`. Reported to the listener's `error`, never
 * thrown: `BrokerConnectionError` and `BrokerEnvelopeError`. Thrown for
 * misuse: `BrokerStateError`.
 */

/** Base class of every broker error. */
export class BrokerError extends Error {
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super(message, options);
    this.name = 'BrokerError';
  }
}

/** The bus is not reachable right now (connecting, reconnecting or closed): the command was not sent. */
export class BrokerUnavailableError extends BrokerError {
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super(message, options);
    this.name = 'BrokerUnavailableError';
  }
}

/**
 * The bus did not answer within the broker's command timeout (or, for a
 * publish, one before it did not, and this one was still queued in the
 * client). A publish not yet written to the connection is withdrawn; one
 * already written may still take effect (it may or may not reach the other
 * nodes).
 */
export class BrokerTimeoutError extends BrokerError {
  /** The timeout that passed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(what: string, timeoutMs: number) {
    super(`${what}: no answer within ${timeoutMs} ms`);
    this.name = 'BrokerTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The client or the bus failed the command (the connection was lost while it
 * waited for its answer, or the server answered with an error); `cause` is the
 * client's error. A publish may or may not have reached the other nodes.
 */
export class BrokerCommandError extends BrokerError {
  constructor(what: string, cause: unknown) {
    super(`${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'BrokerCommandError';
  }
}

/** The broker was closed. */
export class BrokerClosedError extends BrokerError {
  constructor() {
    super('the broker is closed');
    this.name = 'BrokerClosedError';
  }
}

/** The broker was used out of order (for example `subscribe` before `attach`). */
export class BrokerStateError extends BrokerError {
  constructor(message: string) {
    super(message);
    this.name = 'BrokerStateError';
  }
}

/** What happened to the broker's connection to the bus. */
export type BrokerConnectionEvent = 'lost' | 'restored' | 'closed' | 'error';

/**
 * Reported, never thrown: the subscriber connection was `lost` (reported once
 * per outage), `restored` (topics are being subscribed again; messages sent
 * during the outage are lost and show up as gaps), `closed` for good by the
 * client (its reconnect strategy gave up), or hit another `error`.
 */
export class BrokerConnectionError extends BrokerError {
  /** What happened to the subscriber connection: `lost`, `restored`, `closed` or `error`. */
  readonly event: BrokerConnectionEvent;

  constructor(event: BrokerConnectionEvent, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'BrokerConnectionError';
    this.event = event;
  }
}

/** Reported, never thrown: a message from the bus that is not a valid envelope; it was dropped. */
export class BrokerEnvelopeError extends BrokerError {
  /** The topic it arrived on. */
  readonly topic: string;

  constructor(topic: string, reason: string) {
    super(`dropped a malformed message on topic ${JSON.stringify(topic)}: ${reason}`);
    this.name = 'BrokerEnvelopeError';
    this.topic = topic;
  }
}
