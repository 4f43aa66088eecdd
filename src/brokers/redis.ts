/**
 * The Redis broker (the package's `./redis` entry point): moves topic
 * messages between processes over Redis pub/sub, on the user's own
 * node-redis client (version 4 or 5). It is typed against the few client
 * members it uses (`RedisClientLike`), so this package keeps no runtime
 * dependency.
 *
 * Connections: PUBLISH goes through the user's client; SUBSCRIBE needs a
 * connection of its own (a subscribed connection can run nothing else), by
 * default `client.duplicate()`, connected on the first `subscribe` and closed
 * by `close()`. A node subscribes a topic on Redis only while the server says
 * it has a local subscriber for it.
 *
 * On the bus, topic `t` is the Redis channel `channelPrefix + t` and each
 * message is an envelope (src/brokers/envelope.ts): version, flags (binary or
 * text), the publishing broker's random 8-byte origin id, a sequence number
 * per origin and topic (src/brokers/sequence.ts), then the payload. Messages
 * are received in buffer mode, so binary payloads stay bytes.
 *
 * Delivery guarantee: at most once (Redis pub/sub keeps nothing). A message
 * reaches each node subscribed to its topic when Redis handles the PUBLISH,
 * once; the origin hears its own messages back from Redis and drops them. One
 * origin's messages on one topic arrive in publish order; a loss is detected
 * when the next message of that origin on that topic arrives, and reported to
 * the listener as a gap. Messages are not redelivered.
 *
 * While Redis is down: `publish` rejects at once with
 * `BrokerUnavailableError` when the user's client is not ready (node-redis's
 * offline queue is never used: a publish is never delayed until a
 * reconnection); a publish already sent waits at most `commandTimeoutMs` for
 * Redis's answer, then rejects with `BrokerTimeoutError`; it is then
 * withdrawn from the client's queue if it was not written yet, and so is
 * every publish queued behind it. Nothing is retried. The
 * subscriber connection reconnects by itself (node-redis's reconnect
 * strategy); node-redis then subscribes again the channels it had confirmed,
 * and the broker sends again the SUBSCRIBE and UNSUBSCRIBE commands the lost
 * connection failed, so topics work again after a Redis restart without user
 * code. Messages other nodes publish while this node's subscriber connection
 * is down are lost to it (and show up as gaps once their origin publishes
 * again on the topic).
 */
// Kept in the declarations: they name Buffer and node: modules, so Node's types must load even where a
// tsconfig lists no `types` (TypeScript 7's default).
/// <reference types="node" preserve="true" />
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { MAX_TIMER_MS } from '../channels/duration.ts';
import type { Broker, BrokerListener, BrokerMessage } from './broker.ts';
import { Deadlines } from './deadlines.ts';
import { decodeEnvelope, encodeEnvelope, ORIGIN_SIZE, originHex } from './envelope.ts';
import {
  BrokerClosedError,
  BrokerCommandError,
  BrokerConnectionError,
  BrokerEnvelopeError,
  BrokerError,
  BrokerStateError,
  BrokerTimeoutError,
  BrokerUnavailableError,
} from './errors.ts';
import { OriginSequences, PublishSequences } from './sequence.ts';

export type { Broker, BrokerGap, BrokerListener, BrokerMessage } from './broker.ts';
export * from './errors.ts'; // every broker error class, and BrokerConnectionEvent

/** A pub/sub listener in node-redis buffer mode: the message and its channel as bytes. */
export type RedisBufferListener = (message: Buffer, channel: Buffer) => unknown;

/** Per-command options the broker passes: node-redis 5 reads `abortSignal`, node-redis 4 reads `signal`. */
export interface RedisCommandOptions {
  /** Aborts the command (node-redis 5 and later). */
  readonly abortSignal?: AbortSignal;
  /** The same, as node-redis 4 names it. */
  readonly signal?: AbortSignal;
}

/** Client events the broker listens to on the subscriber connection. */
export type RedisClientEvent = 'error' | 'ready' | 'end';

/**
 * The part of a node-redis 4, 5 or 6 client (`createClient()` from `redis` or
 * `@redis/client`) the broker uses. A single-node client, not a cluster
 * client.
 */
export interface RedisClientLike {
  /** The client's socket is open (connected or reconnecting). */
  readonly isOpen: boolean;
  /** The client is connected and takes commands. */
  readonly isReady: boolean;
  /** Runs a raw command (the broker's `PUBLISH`). */
  sendCommand(args: Array<string | Buffer>, options?: RedisCommandOptions): Promise<unknown>;
  /** Subscribes to `channel`, messages as bytes (subscriber connection only). */
  subscribe(channel: string, listener: RedisBufferListener, bufferMode: true): Promise<void>;
  /** Removes `listener` from `channel`. */
  unsubscribe(channel: string, listener: RedisBufferListener, bufferMode: true): Promise<void>;
  /** A new client with the same options (the broker's subscriber connection). */
  duplicate(): RedisClientLike;
  /** Opens the connection. */
  connect(): Promise<unknown>;
  /** Closes the connection at once (the broker's `close` uses it on the connection it made). */
  disconnect(): Promise<void>;
  /** Adds a listener for a client event. */
  on(event: RedisClientEvent, listener: (error?: unknown) => void): unknown;
  /** Removes it. */
  off(event: RedisClientEvent, listener: (error?: unknown) => void): unknown;
}

/** Options of `redisBroker`. */
export interface RedisBrokerOptions {
  /**
   * The user's client, used for PUBLISH (and duplicated for SUBSCRIBE unless
   * `subscriber` is given). Connect it yourself; the broker never connects
   * nor closes it.
   */
  readonly client: RedisClientLike;
  /**
   * A connected client dedicated to this broker's subscriptions. The broker
   * adds its listeners to it and removes them on `close()`, but never
   * connects nor closes it. Default: `client.duplicate()`, which the broker
   * connects on the first `subscribe` and closes on `close()`.
   */
  readonly subscriber?: RedisClientLike;
  /** Prefix of the Redis channel of every topic, to share a Redis with other uses. Default `'ws:topic:'`. */
  readonly channelPrefix?: string;
  /**
   * How long a command (PUBLISH, SUBSCRIBE, UNSUBSCRIBE) waits for Redis's
   * answer before its promise rejects with `BrokerTimeoutError`. Default 5 s:
   * far above a healthy Redis's latency, short enough that a stalled Redis
   * does not keep callers waiting.
   */
  readonly commandTimeoutMs?: number;
  /**
   * Topics this node keeps a publish sequence count for. Past it, the counts
   * of topics not published on for a while are forgotten (a topic published
   * on again before `maxPublishTopics / 2` new topics are never is), and
   * such a topic counts from 1 again (see src/brokers/sequence.ts). Default
   * 65,536 (a few MiB at most).
   */
  readonly maxPublishTopics?: number;
  /**
   * Origins whose last sequence number a node remembers per subscribed topic
   * (origins are per process: restarts of other nodes leave dead ones).
   * Past it, origins not heard from for a while are forgotten (an origin
   * heard again before `maxOriginsPerTopic / 2` new origins are never is),
   * and the next message of a forgotten origin is taken without a gap check.
   * Default 1,024.
   */
  readonly maxOriginsPerTopic?: number;
}

/** Defaults of `RedisBrokerOptions`. */
export const REDIS_BROKER_DEFAULTS = Object.freeze({
  channelPrefix: 'ws:topic:',
  commandTimeoutMs: 5_000,
  maxPublishTopics: 65_536,
  maxOriginsPerTopic: 1_024,
});

/** Counters of one broker since it was created. */
export interface RedisBrokerStats {
  /** Publishes Redis accepted. */
  readonly published: number;
  /** Publishes rejected (Redis unavailable, timeout, command error). */
  readonly publishFailures: number;
  /** Messages from other nodes handed to the listener. */
  readonly delivered: number;
  /** This node's own messages heard back from Redis and dropped. */
  readonly ownDropped: number;
  /** Malformed messages dropped (each also reported as a `BrokerEnvelopeError`). */
  readonly malformed: number;
  /** Gaps reported. */
  readonly gaps: number;
  /** Messages those gaps account for. */
  readonly lost: number;
}

/** A `Broker` on Redis pub/sub, with what it knows about itself. */
export interface RedisBroker extends Broker {
  /** This broker's random origin id (hex), carried in every message it publishes. */
  readonly origin: string;
  /** A snapshot of the counters. */
  stats(): RedisBrokerStats;
}

/**
 * A broker on Redis pub/sub over the user's node-redis client:
 *
 *   const client = await createClient({ url: process.env.REDIS_URL }).on('error', console.error).connect();
 *   const broker = redisBroker({ client });
 *
 * Throws a RangeError or TypeError for invalid options.
 */
export function redisBroker(options: RedisBrokerOptions): RedisBroker {
  return new RedisPubSubBroker(options);
}

/**
 * A UTF-16 surrogate not in a pair (in `u` mode a pair is one code point).
 * Redis channel names go out as UTF-8, where such a topic becomes U+FFFD: its
 * messages would come back on a channel no subscription knows (and two such
 * topics would share one channel), so it is refused.
 */
const LONE_SURROGATE = /\p{Cs}/u;

function notAChannelName(topic: string): TypeError {
  return new TypeError(`topic ${JSON.stringify(topic)} has a lone UTF-16 surrogate: it has no UTF-8 form for a Redis channel name`);
}

function positiveInteger(name: string, value: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`option ${name} must be a whole number from 1 to ${max}, got ${String(value)}`);
  }
  return value;
}

/** Resolves once `promise` (one that never rejects) settles, or after `timeoutMs`, whichever comes first. */
async function settledWithin(promise: Promise<unknown>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs).unref()));
  await Promise.race([promise, timeout]);
  clearTimeout(timer);
}

/** An AbortController whose signal takes any number of listeners (one per publish in flight) without a warning. */
function newAbortController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** One topic this node wants from Redis. */
interface Subscription {
  readonly topic: string;
  readonly origins: OriginSequences;
  /**
   * `pending`: SUBSCRIBE sent or queued; `confirmed`: Redis answered (from
   * then on node-redis subscribes it again after a reconnection); `failed`:
   * the client failed it, sent again when the connection is back.
   */
  state: 'pending' | 'confirmed' | 'failed';
  /** The latest attempt, which repeated `subscribe` calls return until confirmed. */
  attempt: Promise<void>;
  /** Set while a `subscribe` made when the connection was not ready waits for the SUBSCRIBE sent once it is. */
  onSent: ((attempt: Promise<void>) => void) | undefined;
}

class RedisPubSubBroker implements RedisBroker {
  readonly origin: string;
  readonly #originBytes: Buffer;
  /** The origin id as envelopes are decoded (latin1), to recognise our own messages. */
  readonly #originKey: string;
  readonly #client: RedisClientLike;
  readonly #subscriber: RedisClientLike;
  readonly #ownsSubscriber: boolean;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  /** Publishes waiting for Redis's answer (on the user's client). */
  readonly #publishDeadlines: Deadlines;
  /** SUBSCRIBE and UNSUBSCRIBE waiting for Redis's answer (on the subscriber connection). */
  readonly #subscriberDeadlines: Deadlines;
  readonly #maxOrigins: number;
  readonly #sequences: PublishSequences;
  /** Wanted topics by Redis channel name. */
  readonly #subscriptions = new Map<string, Subscription>();
  /** Unwanted channels whose UNSUBSCRIBE the client failed: sent again when the connection is back. */
  readonly #unsubscribeFailed = new Set<string>();
  readonly #stats = { published: 0, publishFailures: 0, delivered: 0, ownDropped: 0, malformed: 0, gaps: 0, lost: 0 };
  /**
   * The abort signal every publish passes to the client, shared (a
   * controller per publish would cost more than the publish): aborted, and
   * replaced, when a publish times out, which withdraws every publish still
   * waiting in the client's queue.
   */
  #publishAbort = newAbortController();
  #listener: BrokerListener | undefined;
  /** The owned subscriber's `connect()`, once called (settled: it never rejects). */
  #connecting: Promise<unknown> | undefined;
  /** The subscriber connection is down (reported once per outage). */
  #down = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: RedisBrokerOptions) {
    if (typeof options?.client?.sendCommand !== 'function') {
      throw new TypeError('redisBroker needs options.client: a node-redis client (createClient())');
    }
    const prefix = options.channelPrefix ?? REDIS_BROKER_DEFAULTS.channelPrefix;
    if (typeof prefix !== 'string') throw new TypeError('option channelPrefix must be a string');
    this.#prefix = prefix;
    this.#timeoutMs = positiveInteger('commandTimeoutMs', options.commandTimeoutMs, REDIS_BROKER_DEFAULTS.commandTimeoutMs, MAX_TIMER_MS);
    this.#publishDeadlines = new Deadlines(this.#timeoutMs);
    this.#subscriberDeadlines = new Deadlines(this.#timeoutMs);
    this.#maxOrigins = positiveInteger('maxOriginsPerTopic', options.maxOriginsPerTopic, REDIS_BROKER_DEFAULTS.maxOriginsPerTopic);
    this.#sequences = new PublishSequences(
      positiveInteger('maxPublishTopics', options.maxPublishTopics, REDIS_BROKER_DEFAULTS.maxPublishTopics),
    );
    this.#client = options.client;
    this.#ownsSubscriber = options.subscriber === undefined;
    this.#subscriber = options.subscriber ?? options.client.duplicate();
    this.#originBytes = randomBytes(ORIGIN_SIZE);
    this.#originKey = this.#originBytes.toString('latin1');
    this.origin = this.#originBytes.toString('hex');
    this.#subscriber.on('error', this.#onError);
    this.#subscriber.on('ready', this.#onReady);
    this.#subscriber.on('end', this.#onEnd);
  }

  attach(listener: BrokerListener): void {
    if (this.#listener !== undefined) throw new BrokerStateError('attach() was already called: a broker serves one server');
    this.#listener = listener;
  }

  publish(message: BrokerMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new BrokerClosedError());
    if (LONE_SURROGATE.test(message.topic)) return Promise.reject(notAChannelName(message.topic));
    const channel = this.#prefix + message.topic;
    if (!this.#client.isReady) {
      this.#stats.publishFailures++;
      return Promise.reject(
        new BrokerUnavailableError(`PUBLISH ${channel}: the Redis client is not ready (connecting, reconnecting or closed); nothing was sent`),
      );
    }
    const envelope = encodeEnvelope(this.#originBytes, this.#sequences.next(message.topic), message.binary, message.payload);
    const abort = this.#publishAbort;
    const signal = abort.signal;
    let sent: Promise<unknown>;
    try {
      sent = this.#client.sendCommand(['PUBLISH', channel, envelope], { abortSignal: signal, signal });
    } catch (error) {
      sent = Promise.reject(error);
    }
    return this.#answered(sent, 'PUBLISH', channel, this.#publishDeadlines, abort).then(this.#published, this.#publishFailed);
  }

  readonly #published = (): void => {
    this.#stats.published++;
  };

  readonly #publishFailed = (error: unknown): never => {
    this.#stats.publishFailures++;
    throw error;
  };

  subscribe(topic: string): Promise<void> {
    if (this.#closed) return Promise.reject(new BrokerClosedError());
    if (this.#listener === undefined) return Promise.reject(new BrokerStateError('call attach(listener) before subscribe'));
    if (LONE_SURROGATE.test(topic)) return Promise.reject(notAChannelName(topic));
    const channel = this.#prefix + topic;
    const existing = this.#subscriptions.get(channel);
    if (existing !== undefined) return existing.state === 'confirmed' ? Promise.resolve() : existing.attempt;
    const subscription: Subscription = {
      topic,
      origins: new OriginSequences(this.#maxOrigins),
      state: 'pending',
      attempt: Promise.resolve(),
      onSent: undefined,
    };
    this.#subscriptions.set(channel, subscription);
    this.#unsubscribeFailed.delete(channel);
    this.#sendSubscribe(channel, subscription);
    return subscription.attempt;
  }

  unsubscribe(topic: string): Promise<void> {
    const channel = this.#prefix + topic;
    const subscription = this.#subscriptions.get(channel);
    if (subscription === undefined) return Promise.resolve();
    this.#subscriptions.delete(channel);
    const onSent = subscription.onSent;
    if (onSent !== undefined) {
      // Its SUBSCRIBE was never sent (it waited for the connection): nothing to undo on Redis, nothing left to wait for.
      subscription.onSent = undefined;
      onSent(Promise.resolve());
      return Promise.resolve();
    }
    return this.#sendUnsubscribe(channel);
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  stats(): RedisBrokerStats {
    return { ...this.#stats };
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    for (const subscription of this.#subscriptions.values()) {
      // A subscribe still waiting for the connection has nothing left to wait for.
      const onSent = subscription.onSent;
      subscription.onSent = undefined;
      onSent?.(Promise.resolve());
    }
    const channels = [...this.#subscriptions.keys(), ...this.#unsubscribeFailed];
    this.#subscriptions.clear();
    this.#unsubscribeFailed.clear();
    // An owned connection that is down needs no UNSUBSCRIBE: closing it ends its subscriptions.
    if (this.#subscriber.isOpen && (this.#subscriber.isReady || !this.#ownsSubscriber)) {
      for (const result of await Promise.allSettled(channels.map((channel) => this.#sendUnsubscribe(channel)))) {
        if (result.status === 'rejected') this.#report(result.reason);
      }
    }
    if (!this.#ownsSubscriber) {
      this.#subscriber.off('error', this.#onError);
      this.#subscriber.off('ready', this.#onReady);
      this.#subscriber.off('end', this.#onEnd);
    } else if (this.#connecting !== undefined) {
      await this.#connectAttemptEnded();
      if (!this.#subscriber.isOpen) return;
      try {
        await this.#subscriber.disconnect();
      } catch (error) {
        this.#report(new BrokerConnectionError('error', 'closing the Redis subscriber connection failed', error));
      }
    }
  }

  /**
   * Resolves once the owned subscriber connection is not in the middle of
   * opening its socket: `connect()` settled, or an attempt failed (Redis is
   * down: the client waits to retry), or after `commandTimeoutMs`. A
   * node-redis 5 client closed while its socket connects opens it all the
   * same, and nothing can close it then.
   */
  async #connectAttemptEnded(): Promise<void> {
    const subscriber = this.#subscriber;
    let failed!: () => void;
    const attemptFailed = new Promise<void>((resolve) => (failed = () => resolve()));
    subscriber.on('error', failed);
    await settledWithin(Promise.race([this.#connecting, attemptFailed]), this.#timeoutMs);
    subscriber.off('error', failed);
  }

  /** Sends SUBSCRIBE for a wanted topic and records the attempt in `subscription`. */
  #sendSubscribe(channel: string, subscription: Subscription): void {
    if (this.#ownsSubscriber && this.#connecting === undefined) {
      this.#connecting = this.#subscriber.connect().catch((error: unknown) => {
        this.#report(new BrokerConnectionError('closed', 'could not open the Redis subscriber connection', error));
      });
    }
    if (!this.#subscriber.isOpen) {
      subscription.state = 'failed';
      subscription.attempt = Promise.reject(
        new BrokerUnavailableError(`SUBSCRIBE ${channel}: the Redis subscriber client is not open (connect it first, or it was closed)`),
      );
      return;
    }
    if (!this.#subscriber.isReady) {
      this.#subscribeWhenReady(channel, subscription);
      return;
    }
    subscription.state = 'pending';
    const sent = this.#subscriber.subscribe(channel, this.#onMessage, true);
    sent.then(
      () => {
        subscription.state = 'confirmed';
      },
      () => {
        if (subscription.state === 'pending') subscription.state = 'failed';
      },
    );
    subscription.attempt = this.#answered(sent, 'SUBSCRIBE', channel, this.#subscriberDeadlines);
    const onSent = subscription.onSent;
    subscription.onSent = undefined;
    onSent?.(subscription.attempt);
  }

  /**
   * A SUBSCRIBE while the connection is connecting or reconnecting is not
   * handed to the client: node-redis would queue it and send it once
   * connected, but after a reconnection on which Redis had confirmed no
   * channel it does not read pub/sub replies any more, so the channel would be
   * subscribed on Redis and every message on it lost. The topic waits as
   * `failed` and is sent on 'ready' (`#resubscribe`); the caller's promise
   * follows that attempt, or rejects with `BrokerTimeoutError` when the
   * connection is not ready within the command timeout (the topic is still
   * subscribed once it is).
   */
  #subscribeWhenReady(channel: string, subscription: Subscription): void {
    subscription.state = 'failed';
    if (subscription.onSent !== undefined) return; // a caller waits already: the same wait serves
    subscription.attempt = new Promise((resolve, reject) => {
      const waiting = this.#subscriberDeadlines.start(() => {
        subscription.onSent = undefined;
        reject(new BrokerTimeoutError(`SUBSCRIBE ${channel} (the Redis subscriber connection is not ready)`, this.#timeoutMs));
      });
      subscription.onSent = (attempt) => {
        this.#subscriberDeadlines.finished(waiting);
        attempt.then(resolve, reject);
      };
    });
  }

  /** Sends UNSUBSCRIBE for a channel no longer wanted. */
  #sendUnsubscribe(channel: string): Promise<void> {
    if (!this.#subscriber.isOpen) return Promise.resolve(); // a closed connection has no subscriptions
    const sent = this.#subscriber.unsubscribe(channel, this.#onMessage, true);
    sent.catch(() => {
      if (!this.#closed && !this.#subscriptions.has(channel)) this.#unsubscribeFailed.add(channel);
    });
    return this.#answered(sent, 'UNSUBSCRIBE', channel, this.#subscriberDeadlines).catch((error: unknown) => {
      // Cut short by close(): the connection it created goes, and every subscription with it (a user's own stays: reported).
      if (this.#closed && this.#ownsSubscriber) return;
      throw error;
    });
  }

  /**
   * Settles with a command sent to the client: resolves when Redis answers,
   * rejects with `BrokerCommandError` when it fails, or with
   * `BrokerTimeoutError` when the command timeout passes first. For a
   * publish, `abort` is the signal it was sent with: a timeout aborts it, so
   * that neither this publish nor any other still in the client's queue goes
   * out later (those reject with `BrokerTimeoutError` too).
   */
  #answered(sent: Promise<unknown>, command: string, channel: string, deadlines: Deadlines, abort?: AbortController): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiting = deadlines.start(() => {
        if (abort !== undefined) {
          if (abort === this.#publishAbort) this.#publishAbort = newAbortController();
          abort.abort();
        }
        reject(new BrokerTimeoutError(`${command} ${channel}`, this.#timeoutMs));
      });
      sent.then(
        () => {
          deadlines.finished(waiting);
          resolve();
        },
        (error: unknown) => {
          deadlines.finished(waiting);
          reject(
            abort?.signal.aborted
              ? new BrokerTimeoutError(`${command} ${channel} (withdrawn from the client's queue after an earlier publish timed out)`, this.#timeoutMs)
              : new BrokerCommandError(`${command} ${channel}`, error),
          );
        },
      );
    });
  }

  /** After the subscriber connection came back: resend what the lost connection failed. */
  #resubscribe(): void {
    for (const [channel, subscription] of this.#subscriptions) {
      if (subscription.state !== 'failed') continue;
      // A subscribe() still waiting hears of a failure itself (and, in a server, reports it): not reported twice.
      const awaited = subscription.onSent !== undefined;
      this.#sendSubscribe(channel, subscription);
      if (!awaited) subscription.attempt.catch((error: unknown) => this.#report(error));
    }
    for (const channel of [...this.#unsubscribeFailed]) {
      this.#unsubscribeFailed.delete(channel);
      this.#sendUnsubscribe(channel).catch((error: unknown) => this.#report(error));
    }
  }

  /** A message from Redis on one of our channels (node-redis calls this synchronously while parsing). */
  readonly #onMessage = (message: Buffer, channel: Buffer): void => {
    const subscription = this.#subscriptions.get(channel.toString());
    const listener = this.#listener;
    if (subscription === undefined || listener === undefined) return; // unsubscribed meanwhile
    const envelope = decodeEnvelope(message);
    if (typeof envelope === 'string') {
      this.#stats.malformed++;
      this.#report(new BrokerEnvelopeError(subscription.topic, envelope));
      return;
    }
    if (envelope.origin === this.#originKey) {
      this.#stats.ownDropped++;
      return;
    }
    const expected = subscription.origins.observe(envelope.origin, envelope.sequence);
    if (expected !== 0) {
      this.#stats.gaps++;
      this.#stats.lost += envelope.sequence - expected;
      try {
        listener.gap({ origin: originHex(envelope.origin), topic: subscription.topic, expected, received: envelope.sequence });
      } catch (error) {
        this.#report(new BrokerError('the broker listener threw from gap()', { cause: error }));
      }
    }
    this.#stats.delivered++;
    try {
      listener.message({ topic: subscription.topic, binary: envelope.binary, payload: envelope.payload });
    } catch (error) {
      this.#report(new BrokerError('the broker listener threw from message()', { cause: error }));
    }
  };

  readonly #onError = (error?: unknown): void => {
    if (this.#closed) return;
    if (this.#subscriber.isReady) {
      this.#report(new BrokerConnectionError('error', `Redis subscriber connection: ${error instanceof Error ? error.message : String(error)}`, error));
    } else if (!this.#down) {
      this.#down = true;
      this.#report(
        new BrokerConnectionError('lost', 'the Redis subscriber connection is down, reconnecting (messages published meanwhile are lost)', error),
      );
    }
  };

  readonly #onReady = (): void => {
    if (this.#closed) return;
    if (this.#down) {
      this.#down = false;
      this.#report(new BrokerConnectionError('restored', `the Redis subscriber connection is back; ${this.#subscriptions.size} topic(s) subscribed again`));
    }
    // Also on the first 'ready': topics subscribed while the connection was opening wait for it.
    this.#resubscribe();
  };

  readonly #onEnd = (): void => {
    if (this.#closed) return;
    this.#report(new BrokerConnectionError('closed', 'the Redis subscriber connection was closed for good: topics are no longer received'));
  };

  /** Hands trouble to the listener's `error` (never throws). */
  #report(error: unknown): void {
    try {
      this.#listener?.error(error instanceof Error ? error : new BrokerError(String(error)));
    } catch {
      // a listener that cannot even take an error has nowhere else to go
    }
  }
}
