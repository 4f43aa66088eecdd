/**
 * `ReadOnlySetView`: a live, read-only set of the values of a `Map` the
 * owner keeps changing (the server's sessions, by job). A caller used to
 * `ws`'s mutable `clients` cannot take entries out of the owner's
 * bookkeeping through it: the view has no `add`, `delete` or `clear`, not
 * even at run time.
 */
export class ReadOnlySetView<K, T> implements ReadonlySet<T> {
  readonly #map: ReadonlyMap<K, T>;
  /** A value's key in the map (`undefined` for a value that cannot be in it). */
  readonly #keyOf: (value: T) => K | undefined;

  constructor(map: ReadonlyMap<K, T>, keyOf: (value: T) => K | undefined) {
    this.#map = map;
    this.#keyOf = keyOf;
  }

  get size(): number {
    return this.#map.size;
  }

  has(value: T): boolean {
    const key = this.#keyOf(value);
    return key !== undefined && this.#map.get(key) === value;
  }

  forEach(callback: (value: T, key: T, set: ReadonlySet<T>) => void, thisArg?: unknown): void {
    this.#map.forEach((value) => callback.call(thisArg, value, value, this));
  }

  entries(): SetIterator<[T, T]> {
    return pairs(this.#map.values()) as SetIterator<[T, T]>;
  }

  keys(): SetIterator<T> {
    return this.#map.values();
  }

  values(): SetIterator<T> {
    return this.#map.values();
  }

  [Symbol.iterator](): SetIterator<T> {
    return this.#map.values();
  }
}

/** Each value as `[value, value]`, as a set's `entries()` gives it. */
function* pairs<T>(values: Iterable<T>): Generator<[T, T], undefined> {
  for (const value of values) yield [value, value];
}
