/**
 * Typed errors of the server object: a `verify` hook that failed (reported
 * through `onError`, the client answered 500 or 503), misuse of a server
 * that is closing or closed, and topic messages a broker reported lost.
 */
import type { BrokerGap } from '../brokers/broker.ts';

/** What went wrong with a `verify` hook. */
export type VerifyFailure = 'threw' | 'invalid-result' | 'timeout';

/**
 * A `verify` hook threw, returned something that is not a valid result, or
 * did not settle within `verifyTimeoutMs`. The client got 500 (503 for the
 * timeout); the server goes on serving.
 */
export class VerifyError extends Error {
  override readonly name = 'VerifyError';
  /** Which of the three it was. */
  readonly failure: VerifyFailure;
  /** The request target of the refused upgrade (e.g. `/chat?room=1`). */
  readonly url: string | undefined;

  constructor(failure: VerifyFailure, url: string | undefined, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.failure = failure;
    this.url = url;
  }
}

/**
 * The server was closed: `listen`, `attach` or `route` after `close()`, and
 * the reason a pending `verify` hook's signal is aborted with when `close()`
 * answers its request 503.
 */
export class ServerClosedError extends Error {
  override readonly name = 'ServerClosedError';
  constructor(message = 'the WebSocket server was closed') {
    super(message);
  }
}

/**
 * Topic messages from another process were lost on the way (the broker's bus
 * is at most once): reported through `onError`, never thrown. The messages
 * around the gap were delivered.
 */
export class TopicGapError extends Error {
  override readonly name = 'TopicGapError';
  /** Which messages were lost: the topic, the publishing node, and the sequence numbers expected and received. */
  readonly gap: BrokerGap;
  constructor(gap: BrokerGap) {
    super(`lost ${gap.received - gap.expected} message(s) of topic ${JSON.stringify(gap.topic)} from node ${gap.origin}`);
    this.gap = gap;
  }
}
