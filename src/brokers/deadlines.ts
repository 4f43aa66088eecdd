/**
 * One timeout for many commands. Every command waits the same time for its
 * answer, so the first to expire is the oldest still waiting: commands are
 * kept in the order they were sent, behind one timer armed for the oldest.
 * A connection answers its commands in order, so the finished ones are
 * normally at the front and leave at once; a command that finishes out of
 * order is dropped when it reaches the front. This replaces a timer per
 * command (a setTimeout and clearTimeout cost more than the rest of a
 * publish). Times are from the monotonic clock (`performance.now()`): a
 * wall clock stepped back would hold every timeout back by as much.
 */

import { performance } from 'node:perf_hooks';

/** A command waiting for its answer. */
export interface Waiting {
  /** Set by `finished`; a finished command never times out. */
  finished: boolean;
  readonly deadline: number;
  readonly expire: () => void;
}

export class Deadlines {
  readonly #timeoutMs: number;
  readonly #queue: Waiting[] = [];
  /** Index of the oldest entry still in `#queue` (the ones before it are gone). */
  #head = 0;
  #timer: NodeJS.Timeout | undefined;

  /** @param timeoutMs how long every command may wait. */
  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** Starts the wait of a command; `expire` is called if it is not `finished` within the timeout. */
  start(expire: () => void): Waiting {
    const waiting: Waiting = { finished: false, deadline: performance.now() + this.#timeoutMs, expire };
    this.#queue.push(waiting);
    this.#timer ??= setTimeout(this.#fire, this.#timeoutMs).unref();
    return waiting;
  }

  /** The command got its answer (or failed): it will not expire. */
  finished(waiting: Waiting): void {
    waiting.finished = true;
    this.#dropFinished();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    while (this.#head < this.#queue.length) {
      const oldest = this.#queue[this.#head]!;
      if (!oldest.finished && oldest.deadline > now) break;
      this.#head++;
      if (!oldest.finished) {
        oldest.finished = true;
        oldest.expire();
      }
    }
    this.#dropFinished();
    const oldest = this.#queue[this.#head];
    if (oldest !== undefined) this.#timer = setTimeout(this.#fire, Math.max(1, oldest.deadline - now)).unref();
  };

  /** Removes the finished commands at the front, and compacts the queue once most of it is gone. */
  #dropFinished(): void {
    const queue = this.#queue;
    while (this.#head < queue.length && queue[this.#head]!.finished) this.#head++;
    if (this.#head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= queue.length) {
      queue.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
