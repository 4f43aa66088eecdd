/**
 * `ReadOnlySetView`: a live, read-only view of a `Set` the owner keeps
 * changing (the server's sessions). A caller used to `ws`'s mutable
 * `clients` cannot take entries out of the owner's bookkeeping through it:
 * the view has no `add`, `delete` or `clear`, not even at run time.
 */
export class ReadOnlySetView<T> implements ReadonlySet<T> {
  readonly #set: ReadonlySet<T>;

  constructor(set: ReadonlySet<T>) {
    this.#set = set;
  }

  get size(): number {
    return this.#set.size;
  }

  has(value: T): boolean {
    return this.#set.has(value);
  }

  forEach(callback: (value: T, key: T, set: ReadonlySet<T>) => void, thisArg?: unknown): void {
    this.#set.forEach((value) => callback.call(thisArg, value, value, this));
  }

  entries(): SetIterator<[T, T]> {
    return this.#set.entries();
  }

  keys(): SetIterator<T> {
    return this.#set.keys();
  }

  values(): SetIterator<T> {
    return this.#set.values();
  }

  [Symbol.iterator](): SetIterator<T> {
    return this.#set[Symbol.iterator]();
  }
}
