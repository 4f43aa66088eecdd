/**
 * Incremental UTF-8 validation (RFC 3629, as WHATWG's fatal decoder reads
 * it): the bulk of each piece goes through Node's native `buffer.isUtf8`;
 * a sequence split across pieces is carried by a small state machine, so
 * the first byte that cannot belong to valid UTF-8 is reported as soon as it
 * arrives.
 */
import { isUtf8 } from 'node:buffer';

/** Below this many bytes a plain ASCII scan is cheaper than the native call. */
const SHORT = 24;

/**
 * Validates a byte stream given in pieces. `push` returns -1 while the bytes
 * so far can still be a prefix of valid UTF-8, else the index (within the
 * array passed to that call) of the first byte that makes them invalid;
 * `finish` tells whether the stream ended on a character boundary. After a
 * failure the state is undefined until `reset` (or `finish`).
 */
export class Utf8Validator {
  /** Continuation bytes still expected by the pending sequence (0 on a boundary). */
  #needed = 0;
  /** Bounds of the next continuation byte (they narrow after E0, ED, F0, F4). */
  #lower = 0x80;
  #upper = 0xbf;
  /** Where `#run` found the first invalid byte. */
  #invalidAt = -1;

  /** Feeds `bytes[start..end)`; -1 if still valid, else the index of the first invalid byte. */
  push(bytes: Uint8Array, start = 0, end = bytes.length): number {
    let i = start;
    if (this.#needed !== 0) {
      i = this.#run(bytes, i, end, true);
      if (i < 0) return this.#invalidAt;
      if (i === end) return -1;
    }
    if (end - i < SHORT) {
      while (i < end && bytes[i]! < 0x80) i++;
      if (i === end) return -1;
    }
    const cut = completePrefixEnd(bytes, i, end);
    if (cut > i && !isUtf8(i === 0 && cut === bytes.length ? bytes : bytes.subarray(i, cut))) {
      // The bulk is invalid somewhere before `cut`, or ends inside a sequence
      // that the lead byte at `cut` interrupts: the state machine finds where.
      this.#run(bytes, i, end, false);
      return this.#invalidAt;
    }
    return this.#run(bytes, cut, end, false) < 0 ? this.#invalidAt : -1;
  }

  /** True if the stream ended on a character boundary; resets the validator either way. */
  finish(): boolean {
    const complete = this.#needed === 0;
    this.reset();
    return complete;
  }

  /** Forgets any pending sequence, ready for a new stream. */
  reset(): void {
    this.#needed = 0;
    this.#lower = 0x80;
    this.#upper = 0xbf;
  }

  /**
   * The state machine (WHATWG's UTF-8 decoder) over `bytes[i..end)`. Returns
   * the index it stopped at: `end`, or with `untilBoundary` the first byte
   * after the pending sequence completes; or -1 with `#invalidAt` set.
   */
  #run(bytes: Uint8Array, i: number, end: number, untilBoundary: boolean): number {
    for (; i < end; i++) {
      const byte = bytes[i]!;
      if (this.#needed === 0) {
        if (untilBoundary) return i;
        if (byte < 0x80) continue;
        if (byte >= 0xc2 && byte <= 0xdf) this.#needed = 1;
        else if (byte >= 0xe0 && byte <= 0xef) {
          if (byte === 0xe0) this.#lower = 0xa0;
          else if (byte === 0xed) this.#upper = 0x9f;
          this.#needed = 2;
        } else if (byte >= 0xf0 && byte <= 0xf4) {
          if (byte === 0xf0) this.#lower = 0x90;
          else if (byte === 0xf4) this.#upper = 0x8f;
          this.#needed = 3;
        } else return this.#fail(i);
      } else {
        if (byte < this.#lower || byte > this.#upper) return this.#fail(i);
        this.#lower = 0x80;
        this.#upper = 0xbf;
        this.#needed--;
      }
    }
    return i;
  }

  #fail(index: number): -1 {
    this.#invalidAt = index;
    return -1;
  }
}

/**
 * The end of the longest prefix of `bytes[start..end)` that does not stop in
 * the middle of a sequence: a lead byte among the last three whose sequence
 * runs past `end` is cut off (with what follows it).
 */
function completePrefixEnd(bytes: Uint8Array, start: number, end: number): number {
  const floor = Math.max(start, end - 3);
  for (let k = end - 1; k >= floor; k--) {
    const byte = bytes[k]!;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return end - k < length ? k : end;
  }
  return end;
}

/** True if `bytes` is complete, valid UTF-8. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}
