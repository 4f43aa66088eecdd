/**
 * The topics of one `WebSocketServer`: who subscribed to what, publishing a
 * message once to every local subscriber, and, with a broker, to and from
 * the other processes.
 *
 * Framing: a published message becomes one `PublishedMessage` whose frame
 * (and, for permessage-deflate without context takeover, whose compressed
 * frame per encoding key) every subscriber shares; see
 * src/session/published-message.ts.
 *
 * Order: subscribers are visited in the order they subscribed; each gets a
 * topic's messages in publish order, in order with its own sends, and
 * `subscribe`/`unsubscribe` take effect in order with publishes (both are
 * synchronous). A publish never waits for a subscriber: a slow one is
 * bounded by `maxQueuedBytes` and handled by `whenFull`, never delaying the
 * others.
 *
 * Across processes (a `Broker`): the topic is subscribed on the broker while
 * it has a local subscriber; a local publish goes to the local subscribers
 * first, then to the broker; a message from another node goes to the local
 * subscribers. The broker's guarantee is at most once (see broker.ts).
 */
import { Opcode } from '../frames/frame.ts';
import type { Broker, BrokerGap, BrokerListener, BrokerMessage } from '../brokers/broker.ts';
import { checkTopic, Delivery, type DefaultWebSocketSession, type SlowSubscriberPolicy, type TopicHub } from '../session/default-session.ts';
import { PublishedMessage } from '../session/published-message.ts';
import { binaryPayload, type MessageData } from '../session/message-data.ts';
import { TopicGapError } from './errors.ts';

/** Settings of a server's topics. */
export interface TopicOptions {
  /**
   * Bytes that may wait for one subscriber (its `bufferedAmount`: its own
   * sends too) before a published message is handled by `whenFull`; a
   * message always gets into an empty queue. Default 1 MiB.
   */
  readonly maxQueuedBytes?: number | undefined;
  /**
   * What a subscriber over `maxQueuedBytes` gets: `'close'` closes it with
   * 1013 (Try Again Later), so it reconnects and can catch up rather than
   * miss messages without knowing; `'drop'` skips the message for it and
   * counts it (`PublishResult.dropped`), for feeds where the next message
   * supersedes the last. Default `'close'`.
   */
  readonly whenFull?: SlowSubscriberPolicy | undefined;
}

/** Defaults of `TopicOptions`. */
export const TOPIC_DEFAULTS = Object.freeze({ maxQueuedBytes: 1024 * 1024, whenFull: 'close' as SlowSubscriberPolicy });

/** Options of one `publish`. */
export interface PublishOptions {
  /** A session that does not get the message (typically its sender). */
  readonly except?: DefaultWebSocketSession<never> | DefaultWebSocketSession<unknown> | undefined;
}

/** What one `publish` did in this process. */
export interface PublishResult {
  /** Local subscribers the message was queued for. */
  readonly delivered: number;
  /** Local subscribers it was skipped for: over their byte cap with `whenFull: 'drop'`. */
  readonly dropped: number;
  /** Local subscribers over their byte cap that are being closed (1013) with `whenFull: 'close'`. */
  readonly closed: number;
}

/** Counters of a server's topics since it started. */
export interface TopicStats {
  /** Messages published in this process. */
  readonly published: number;
  /** Messages received from other processes through the broker. */
  readonly received: number;
  /** Deliveries to local subscribers (one message to ten subscribers counts ten; see `PublishResult`). */
  readonly delivered: number;
  /** Deliveries skipped: subscribers over their byte cap with `whenFull: 'drop'`. */
  readonly dropped: number;
  /** Subscribers closed (1013) for being over their byte cap with `whenFull: 'close'`. */
  readonly closed: number;
  /** Messages the broker reported lost (sum of the gaps). */
  readonly lost: number;
  /** Publishes the broker refused (the message reached the local subscribers only). */
  readonly brokerFailures: number;
}

type Session = DefaultWebSocketSession<unknown>;

export class Topics implements TopicHub, BrokerListener {
  readonly #subscribers = new Map<string, Set<Session>>();
  readonly #maxQueuedBytes: number;
  readonly #whenFull: SlowSubscriberPolicy;
  readonly #broker: Broker | undefined;
  readonly #report: (error: unknown) => void;
  #published = 0;
  #received = 0;
  #delivered = 0;
  #dropped = 0;
  #closed = 0;
  #lost = 0;
  #brokerFailures = 0;

  /** @param report where broker trouble and gaps go (the server's `onError`). */
  constructor(options: TopicOptions, broker: Broker | undefined, report: (error: unknown) => void) {
    const max = options.maxQueuedBytes ?? TOPIC_DEFAULTS.maxQueuedBytes;
    if (!(max === Infinity || (Number.isSafeInteger(max) && max >= 1))) {
      throw new RangeError(`topics.maxQueuedBytes must be a positive integer or Infinity, got ${max}`);
    }
    const whenFull = options.whenFull ?? TOPIC_DEFAULTS.whenFull;
    if (whenFull !== 'drop' && whenFull !== 'close') {
      throw new TypeError(`topics.whenFull must be 'drop' or 'close', got ${JSON.stringify(whenFull)}`);
    }
    this.#maxQueuedBytes = max;
    this.#whenFull = whenFull;
    this.#broker = broker;
    this.#report = report;
    broker?.attach(this);
  }

  get stats(): TopicStats {
    return {
      published: this.#published,
      received: this.#received,
      delivered: this.#delivered,
      dropped: this.#dropped,
      closed: this.#closed,
      lost: this.#lost,
      brokerFailures: this.#brokerFailures,
    };
  }

  /** Local subscribers of `topic`. */
  subscriberCount(topic: string): number {
    return this.#subscribers.get(topic)?.size ?? 0;
  }

  /** The topics with at least one local subscriber. */
  names(): IterableIterator<string> {
    return this.#subscribers.keys();
  }

  joined(session: Session, topic: string): void {
    let subscribers = this.#subscribers.get(topic);
    if (subscribers === undefined) {
      subscribers = new Set();
      this.#subscribers.set(topic, subscribers);
      this.#broker?.subscribe(topic).catch(this.#report);
    }
    subscribers.add(session);
  }

  left(session: Session, topic: string): void {
    const subscribers = this.#subscribers.get(topic);
    if (subscribers === undefined || !subscribers.delete(session) || subscribers.size > 0) return;
    this.#subscribers.delete(topic);
    this.#broker?.unsubscribe(topic).catch(this.#report);
  }

  /**
   * Publishes `data` to `topic`: a string as a text message, bytes as a
   * binary one. The local subscribers get it before this returns; the
   * promise resolves once the broker (if any) took it for the other
   * processes, and rejects with the broker's error when it could not (the
   * local subscribers still got it); with a `TypeError` when `topic` is not a
   * string or `data` not a string or bytes (nothing is sent).
   */
  publish(topic: string, data: MessageData, options: PublishOptions = {}): Promise<PublishResult> {
    const binary = typeof data !== 'string';
    let payload: Buffer;
    try {
      checkTopic(topic);
      payload = binary ? binaryPayload(data) : Buffer.from(data, 'utf8');
    } catch (error) {
      return Promise.reject(error);
    }
    this.#published++;
    const result = this.#deliver(topic, new PublishedMessage(binary ? Opcode.Binary : Opcode.Text, payload), options.except);
    const broker = this.#broker;
    if (broker === undefined) return Promise.resolve(result);
    return broker.publish({ topic, binary, payload }).then(
      () => result,
      (error: unknown) => {
        this.#brokerFailures++;
        throw error;
      },
    );
  }

  // ---- from the broker ---------------------------------------------------------

  message(message: BrokerMessage): void {
    this.#received++;
    this.#deliver(message.topic, new PublishedMessage(message.binary ? Opcode.Binary : Opcode.Text, message.payload), undefined);
  }

  gap(gap: BrokerGap): void {
    this.#lost += gap.received - gap.expected;
    this.#report(new TopicGapError(gap));
  }

  error(error: Error): void {
    this.#report(error);
  }

  /** Queues `message` for every local subscriber of `topic` but `except`. */
  #deliver(topic: string, message: PublishedMessage, except: PublishOptions['except']): PublishResult {
    let delivered = 0;
    let dropped = 0;
    let closed = 0;
    const subscribers = this.#subscribers.get(topic);
    if (subscribers !== undefined) {
      for (const session of subscribers) {
        if (session === except) continue;
        switch (session.deliverPublished(message, this.#maxQueuedBytes, this.#whenFull)) {
          case Delivery.Queued:
            delivered++;
            break;
          case Delivery.Dropped:
            dropped++;
            break;
          case Delivery.Closed:
            closed++;
            break;
        }
      }
    }
    this.#delivered += delivered;
    this.#dropped += dropped;
    this.#closed += closed;
    return { delivered, dropped, closed };
  }
}
