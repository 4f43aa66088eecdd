/**
 * A map that keeps at most `capacity` entries, forgetting the least recently
 * used ones when full. Used for the brokers' sequence numbers, so that a
 * process that hears from (or publishes to) ever new origins or topics does
 * not grow without bound.
 *
 * Two generations instead of an exact LRU order (which costs a delete and a
 * re-insert per use): entries are set in the current generation; when it
 * holds half the capacity it becomes the previous one, and the old previous
 * generation is forgotten. So an entry used at least once per half-capacity
 * new entries is never forgotten, and a use costs one or two lookups.
 */
export class RecentMap<K, V extends NonNullable<unknown>> {
  #current = new Map<K, V>();
  #previous = new Map<K, V>();
  readonly #half: number;

  /** @param capacity the most entries kept (a positive integer). */
  constructor(capacity: number) {
    this.#half = Math.max(1, Math.floor(capacity / 2));
  }

  get(key: K): V | undefined {
    return this.#current.get(key) ?? this.#previous.get(key);
  }

  /** Sets `key` (as recently used). */
  set(key: K, value: V): void {
    const current = this.#current;
    const before = current.size;
    current.set(key, value);
    if (current.size === before) return; // updated in place
    this.#previous.delete(key);
    if (current.size >= this.#half) {
      this.#previous = current;
      this.#current = new Map();
    }
  }
}
