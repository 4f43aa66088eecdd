/**
 * A process-wide bound on concurrent zlib operations. Node runs zlib work
 * on the libuv thread pool; thousands of connections compressing at once
 * would queue unbounded work there and fragment memory badly (the reason
 * `ws` limits zlib concurrency: nodejs/node#8871, websockets/ws#1202).
 * Operations beyond the bound wait in FIFO order.
 */

/** Default number of zlib operations allowed to run at once in the process (as in `ws`). */
export const DEFAULT_ZLIB_CONCURRENCY = 10;

function checkConcurrency(value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`zlib concurrency must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** A FIFO counting semaphore for zlib operations. */
export class ZlibLimiter {
  #concurrency: number;
  #active = 0;
  /** Waiting operations: `#queue[#head]` is next. */
  #queue: Array<() => void> = [];
  #head = 0;

  constructor(concurrency = DEFAULT_ZLIB_CONCURRENCY) {
    this.#concurrency = checkConcurrency(concurrency);
  }

  /** How many operations may run at once. Raising it starts waiting operations at once. */
  get concurrency(): number {
    return this.#concurrency;
  }

  set concurrency(value: number) {
    this.#concurrency = checkConcurrency(value);
    this.#startWaiting();
  }

  /** Operations running now. */
  get active(): number {
    return this.#active;
  }

  /** Operations waiting for a slot. */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Runs `task` once a slot is free and holds the slot until the promise it
   * returns settles; resolves or rejects as the task does.
   */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active < this.#concurrency) {
      this.#active++;
    } else {
      // The slot is handed over by `#release`, which has already counted it.
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    }
    try {
      return await task();
    } finally {
      this.#release();
    }
  }

  #release(): void {
    this.#active--;
    this.#startWaiting();
  }

  #startWaiting(): void {
    while (this.#active < this.#concurrency && this.#head < this.#queue.length) {
      const next = this.#queue[this.#head] as () => void;
      this.#head++;
      this.#active++;
      next();
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}

/** The one limiter every permessage-deflate session in this process shares. */
export const sharedZlibLimiter = new ZlibLimiter();
