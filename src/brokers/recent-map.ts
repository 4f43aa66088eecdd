/**
 * A map that keeps at most `capacity` entries, forgetting the least recently
 * used one when full. Used for the brokers' sequence numbers, so that a
 * process that hears from (or publishes to) ever new origins or topics does
 * not grow without bound.
 */
export class RecentMap<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #capacity: number;

  /** @param capacity the most entries kept (a positive integer). */
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Removes the entry for `key` and returns its value (`put` it back to keep it). */
  take(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) this.#entries.delete(key);
    return value;
  }

  /** Sets `key` as the most recently used entry, forgetting the least recently used one past the capacity. */
  put(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.#capacity) this.#entries.delete(this.#entries.keys().next().value as K);
  }
}
