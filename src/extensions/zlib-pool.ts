/**
 * A process-wide pool of idle zlib streams for directions without context
 * takeover. Such a direction carries no state from one message to the
 * next, so instead of keeping a stream per connection (hundreds of KiB for
 * a compressor) or creating one per message (slow), it borrows a reset
 * stream with the same settings for one message and gives it back. At most
 * as many streams are busy as zlib operations may run at once, so the pool
 * keeps no more idle streams per settings than that bound.
 */
import type * as zlib from 'node:zlib';

/** The raw DEFLATE streams permessage-deflate uses. */
export type RawZlibStream = zlib.DeflateRaw | zlib.InflateRaw;

/** Idle streams by settings key (e.g. `deflate:15:-1:8`). */
export class ZlibPool {
  readonly #idle = new Map<string, RawZlibStream[]>();

  /** An idle stream made with the settings `key` names, or `undefined`. */
  take(key: string): RawZlibStream | undefined {
    return this.#idle.get(key)?.pop();
  }

  /**
   * Resets `stream` and keeps it for the next `take(key)`, unless `maxIdle`
   * streams of that key are already idle: then it is closed.
   */
  give(key: string, stream: RawZlibStream, maxIdle: number): void {
    let idle = this.#idle.get(key);
    if (idle === undefined) {
      idle = [];
      this.#idle.set(key, idle);
    }
    if (idle.length >= maxIdle) {
      stream.close();
      return;
    }
    stream.reset();
    idle.push(stream);
  }

  /** Idle streams in the pool, all keys. */
  get size(): number {
    let n = 0;
    for (const idle of this.#idle.values()) n += idle.length;
    return n;
  }

  /** Closes every idle stream. */
  clear(): void {
    for (const idle of this.#idle.values()) for (const stream of idle) stream.close();
    this.#idle.clear();
  }
}

/** The pool every permessage-deflate session in this process shares. */
export const sharedZlibPool = new ZlibPool();
