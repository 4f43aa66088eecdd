/**
 * Gathers small buffers by copying them back to back into slabs and hands
 * them out as runs: one view per stretch of copies. Many tiny pieces so
 * become a few views, and memory follows their bytes, not their number.
 * Used by the socket input (tiny TCP segments) and the message assembler
 * (tiny fragments).
 */
export class CopyRuns {
  readonly #slabSize: number;
  readonly #onRun: (run: Buffer) => void;
  #slab: Buffer | undefined;
  /** Bytes of the slab written so far. */
  #used = 0;
  /** Where the copies not yet handed out as a run start. */
  #runStart = 0;

  /**
   * @param slabSize bytes per slab
   * @param onRun receives each run a full slab forces out (before a new slab starts)
   */
  constructor(slabSize: number, onRun: (run: Buffer) => void) {
    this.#slabSize = slabSize;
    this.#onRun = onRun;
  }

  /** Copies `bytes` into the current run (at most `slabSize` bytes at a time). */
  append(bytes: Buffer): void {
    let slab = this.#slab;
    if (slab === undefined || this.#used + bytes.length > slab.length) {
      const run = this.takeRun();
      if (run !== undefined) this.#onRun(run);
      // Only copied bytes ever leave the slab, so its uninitialised rest never does.
      slab = this.#slab = Buffer.allocUnsafe(this.#slabSize);
      this.#used = this.#runStart = 0;
    }
    bytes.copy(slab, this.#used);
    this.#used += bytes.length;
  }

  /** Ends the current run: a view of the copies since the last run, or `undefined` if there are none. */
  takeRun(): Buffer | undefined {
    if (this.#slab === undefined || this.#used === this.#runStart) return undefined;
    const run = this.#slab.subarray(this.#runStart, this.#used);
    this.#runStart = this.#used;
    return run;
  }

  /** Reuses the current slab from its start: only once no run handed out is in use any more. */
  rewind(): void {
    this.#used = this.#runStart = 0;
  }
}
