/**
 * Sequence numbers per origin and topic: the publishing side counts, the
 * receiving side checks for holes.
 *
 * Why per (origin, topic) rather than one count per origin: a node hears only
 * the topics it subscribed. With one count per origin, every message the
 * origin published on a topic this node does not follow would look like a
 * loss. Counting per topic makes every number of an origin's count for a
 * topic reach every node subscribed to that topic, so a hole is a real loss.
 *
 * Both sides keep a bounded number of counts (least recently used go first,
 * see src/brokers/recent-map.ts):
 * - the publisher forgets the count of a topic it has not published on for
 *   the longest time; publishing on it again starts over at 1;
 * - a subscriber forgets the origin it has not heard from on a topic for the
 *   longest time (origins are per process, so restarted nodes leave dead
 *   ones behind); the next message from a forgotten origin starts a new count
 *   without a gap check.
 *
 * Receiving rules. The first message a node hears from an origin on a topic
 * (since it subscribed) starts the count without a check: what was published
 * before the subscription is not a loss. Then, for the last number `last`
 * heard from that origin on that topic: `last + 1` is in order; above it, the numbers in between were lost;
 * 1 means the origin started over (it forgot the topic's count), no gap; from
 * 2 to `last`, the origin started over and the numbers from 1 were lost. A
 * bus like Redis pub/sub never duplicates nor reorders one connection's
 * messages, so a number going back can only mean a new count. The one loss
 * this cannot see: messages lost at the end of a count the origin then forgot.
 */
import { RecentMap } from './recent-map.ts';

/** The publishing side: the next sequence number of each topic. */
export class PublishSequences {
  readonly #next: RecentMap<string, number>;

  /** @param maxTopics how many topics' counts to keep. */
  constructor(maxTopics: number) {
    this.#next = new RecentMap(maxTopics);
  }

  /** The number for the next message on `topic` (1, 2, 3, … per topic). */
  next(topic: string): number {
    const sequence = (this.#next.get(topic) ?? 0) + 1;
    this.#next.set(topic, sequence);
    return sequence;
  }
}

/** The receiving side, for one topic: the last number heard from each origin. */
export class OriginSequences {
  readonly #last: RecentMap<string, number>;

  /** @param maxOrigins how many origins to remember. */
  constructor(maxOrigins: number) {
    this.#last = new RecentMap(maxOrigins);
  }

  /**
   * Records `sequence` from `origin` and returns the first missing number
   * when messages were lost before it (see the rules above), or 0 when none.
   */
  observe(origin: string, sequence: number): number {
    const last = this.#last.get(origin);
    this.#last.set(origin, sequence);
    if (last === undefined || sequence === last + 1 || sequence === 1) return 0;
    return sequence > last ? last + 1 : 1;
  }
}
