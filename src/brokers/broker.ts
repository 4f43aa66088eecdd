/**
 * The broker contract: how a server hands topic messages to other processes
 * and hears theirs. The server owns the topics of its own process (who is
 * subscribed, framing once, slow subscribers); a broker only moves messages
 * between processes (nodes) and tells the server which topics to listen to.
 *
 * Imports nothing: brokers (src/brokers/redis.ts, …) implement it, the
 * server uses it.
 *
 * Delivery guarantee of every broker built on a fire-and-forget bus such as
 * Redis pub/sub: at most once. A message reaches each node that has the topic
 * subscribed when it passes through the bus, once, and never its own origin
 * node; messages of one origin on one topic arrive in publish order; a lost
 * message is not redelivered, but the next message of the same origin on the
 * same topic reveals the loss as a `BrokerGap`.
 */

/** One topic message crossing between processes. */
export interface BrokerMessage {
  /** The topic it was published to. */
  readonly topic: string;
  /** true: binary message; false: text (`payload` holds its UTF-8 bytes). */
  readonly binary: boolean;
  /**
   * The message bytes. Published: the broker copies them before `publish`
   * returns its promise, so the caller may reuse the buffer. Received: a view
   * the broker never writes to nor reuses; the server may keep it.
   */
  readonly payload: Buffer;
}

/**
 * Messages of one origin on one topic were lost between `expected` and
 * `received` (exclusive): `received - expected` of them. Sequence numbers
 * count from 1 per origin and topic; `expected` is 1 when the origin started
 * its count again (see the broker's documentation).
 */
export interface BrokerGap {
  /** The origin node's random id (hex), as carried in every message it publishes. */
  readonly origin: string;
  /** The topic whose messages were lost. */
  readonly topic: string;
  /** The sequence number that should have come next. */
  readonly expected: number;
  /** The sequence number that came instead (its message is delivered). */
  readonly received: number;
}

/** What the broker reports to the server that attached it. Called synchronously; should not throw. */
export interface BrokerListener {
  /** A message published on ANOTHER node (never this node's own publishes), for a topic this node subscribed. */
  message(message: BrokerMessage): void;
  /** Messages were lost (the bus is at most once): reported just before the message that revealed the gap. */
  gap(gap: BrokerGap): void;
  /**
   * Trouble worth logging, never thrown: the connection lost and back again,
   * a malformed message from the bus, a listener that threw.
   */
  error(error: Error): void;
}

/** Moves topic messages between processes. */
export interface Broker {
  /** Called once by the server before anything else. */
  attach(listener: BrokerListener): void;
  /**
   * Hands a message to the other nodes. Resolves once the bus accepted it;
   * rejects with a typed error when it could not be handed over (for example
   * while the bus is down): never silently dropped, never queued for later.
   */
  publish(message: BrokerMessage): Promise<void>;
  /**
   * Start receiving a topic from other nodes. The server calls it when a
   * topic gets its first local subscriber; a repeated call is harmless.
   * Messages published after the bus confirmed the subscription (when the
   * promise resolves) are delivered until `unsubscribe`. When the promise
   * rejects, the broker keeps the topic and subscribes it as soon as the bus
   * is reachable again.
   */
  subscribe(topic: string): Promise<void>;
  /**
   * Stop receiving a topic. The server calls it when the topic loses its last
   * local subscriber; a repeated call is harmless. No message of the topic is
   * delivered after the call, even before the bus confirms.
   */
  unsubscribe(topic: string): Promise<void>;
  /**
   * Unsubscribes everything and stops; later calls reject with
   * `BrokerClosedError` (`unsubscribe` resolves). Never rejects: trouble on
   * the way out goes to the listener's `error`. Does not quit the user's
   * clients, only the connections the broker created.
   */
  close(): Promise<void>;
}
