/**
 * `Ring<T>`: a growable FIFO ring buffer (power-of-two slots, index masking).
 * Push and shift are O(1) with no per-element allocation, unlike
 * `Array#shift`, which is O(n) on large arrays. Used for the chunk queue of
 * `ByteChannel` and the element and waiter queues of `Channel`.
 *
 * A ring that never held more than one element at a time keeps it in a
 * field and has no array: a connection's queues mostly hold one chunk or
 * one frame at a time, so an idle connection's rings own no slots. Owners of
 * rarely used queues start from one shared empty ring (`emptyRing`), make
 * their own on the first push (`ringFor`), and may give it back when it is
 * empty again (`releaseIfIdle`).
 */

const INITIAL_SLOTS = 8;
/**
 * The slots of a ring that never held anything: shared, never written (the
 * first push grows first, since `count === slots.length`). Most rings of an
 * idle connection stay empty, so this saves an array per ring.
 */
const NO_SLOTS: never[] = [];

/** A FIFO queue of `T` (never holding `undefined`). */
export class Ring<T extends {} | null> {
  private slots: (T | undefined)[] = NO_SLOTS;
  /** The one element of a ring without slots (`count` is 0 or 1 then). */
  private single: T | undefined;
  private mask = 0;
  private head = 0;
  private count = 0;

  /** Number of queued elements. */
  get length(): number {
    return this.count;
  }

  /** Appends `value` at the tail. */
  push(value: T): void {
    if (this.slots === NO_SLOTS) {
      if (this.count === 0) {
        this.single = value;
        this.count = 1;
        return;
      }
      this.grow();
    } else if (this.count === this.slots.length) {
      this.grow();
    }
    this.slots[(this.head + this.count) & this.mask] = value;
    this.count++;
  }

  /** The head element, or `undefined` when empty. */
  peek(): T | undefined {
    if (this.count === 0) return undefined;
    return this.slots === NO_SLOTS ? this.single : this.slots[this.head];
  }

  /** Removes and returns the head element, or `undefined` when empty. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    if (this.slots === NO_SLOTS) {
      const value = this.single;
      this.single = undefined;
      this.count = 0;
      return value;
    }
    const value = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.count--;
    return value;
  }

  /** True when empty and without slots (see `releaseIfIdle`). */
  isIdle(): boolean {
    return this.count === 0 && this.slots === NO_SLOTS;
  }

  /** Removes every element. */
  clear(): void {
    this.slots.fill(undefined);
    this.single = undefined;
    this.head = 0;
    this.count = 0;
  }

  private grow(): void {
    const size = this.slots.length;
    const grown = size === 0 ? INITIAL_SLOTS : size * 2;
    const next = new Array<T | undefined>(grown).fill(undefined);
    if (size === 0) {
      next[0] = this.single; // the one element so far (count is 1)
      this.single = undefined;
    } else {
      for (let i = 0; i < size; i++) next[i] = this.slots[(this.head + i) & this.mask];
    }
    this.slots = next;
    this.head = 0;
    this.mask = grown - 1;
  }
}

/**
 * One shared ring that stays empty, for queues that are rarely used (parked
 * senders and writers): reading it is free, and its owner swaps in a
 * `new Ring()` before the first push (`ringFor`). Saves a ring per idle
 * channel.
 */
const NO_RING = new Ring<never>();

/** The shared empty ring (never push to it; see `ringFor`). */
export function emptyRing<T extends {} | null>(): Ring<T> {
  return NO_RING as Ring<T>;
}

/**
 * The shared empty ring in place of `ring` when `ring` is empty and never
 * grew slots (it held one element at a time), else `ring` itself: a queue
 * that holds nothing between uses then costs its owner no ring, while one
 * that grew for bursts keeps its slots.
 */
export function releaseIfIdle<T extends {} | null>(ring: Ring<T>): Ring<T> {
  return ring.isIdle() ? (NO_RING as Ring<T>) : ring;
}

/** `ring` itself, or a new ring in place of the shared empty one: call before pushing. */
export function ringFor<T extends {} | null>(ring: Ring<T>): Ring<T> {
  return ring === NO_RING ? new Ring<T>() : ring;
}

