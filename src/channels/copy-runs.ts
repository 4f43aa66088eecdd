/**
 * Gathers small buffers by copying them back to back into slabs and hands
 * them out as runs: one view per stretch of copies. Many tiny pieces so
 * become a few views, and memory follows their bytes, not their number.
 * Used by the socket input (tiny TCP segments) and the message assembler
 * (tiny fragments).
 */
export class CopyRuns {
  readonly #slabSize: number;
  #slab: Buffer | undefined;
  /** Bytes of the slab written so far. */
  #used = 0;
  /** Where the copies not yet handed out as a run start. */
  #runStart = 0;

  /** @param slabSize bytes per slab */
  constructor(slabSize: number) {
    this.#slabSize = slabSize;
  }

  /**
   * Copies `bytes` (at most `slabSize` of them) into the current run. When
   * the slab is full, a new one starts and the run of the old one is
   * returned: the caller queues it before anything that follows.
   */
  append(bytes: Buffer): Buffer | undefined {
    let slab = this.#slab;
    let run: Buffer | undefined;
    if (slab === undefined || this.#used + bytes.length > slab.length) {
      run = this.takeRun();
      // Only copied bytes ever leave the slab, so its uninitialised rest never does.
      slab = this.#slab = Buffer.allocUnsafe(this.#slabSize);
      this.#used = this.#runStart = 0;
    }
    bytes.copy(slab, this.#used);
    this.#used += bytes.length;
    return run;
  }

  /** Ends the current run: a view of the copies since the last run, or `undefined` if there are none. */
  takeRun(): Buffer | undefined {
    if (this.#slab === undefined || this.#used === this.#runStart) return undefined;
    const run = this.#slab.subarray(this.#runStart, this.#used);
    this.#runStart = this.#used;
    return run;
  }
}
