/**
 * What the fan-out servers allocate per publish (bench/fanout.bench.ts,
 * "memory per publish"). The stdin command `alloc <ms>` arms a window: it
 * opens at the next publish and closes at the first publish `ms` or more
 * later (both taken before that publish is delivered, so the window holds
 * whole publish cycles), counting the publishes and deliveries in it and the
 * growth of
 *
 * - the JS heap (`v8.getHeapStatistics().used_heap_size`), and
 * - ArrayBuffer backing stores (`process.memoryUsage().arrayBuffers`: where
 *   the bytes of every Buffer live: payloads, frames, headers, socket reads).
 *
 * Growth is allocation only when nothing was freed meanwhile, and memory is
 * freed only by garbage collection: the command runs two full collections
 * (the server runs with --expose-gc), the young generation is large enough
 * to hold a whole window (`--min-semi-space-size`), and a
 * `v8.GCProfiler` running over the window proves that no collection happened
 * in it (`gcs`, the kinds of the collections in the window, must be empty,
 * else the window does not count). The answer is one JSON line:
 * `{"alloc":{publishes, deliveries, heapBytes, arrayBufferBytes, gcs, ms}}`.
 */
import { getHeapStatistics, GCProfiler } from 'node:v8';

interface Snapshot {
  readonly heap: number;
  readonly arrayBuffers: number;
  readonly at: number;
}

const snapshot = (): Snapshot => ({
  heap: getHeapStatistics().used_heap_size,
  arrayBuffers: process.memoryUsage().arrayBuffers,
  at: performance.now(),
});

export class AllocationWindow {
  /** Armed: the window's length in ms. */
  #armedMs: number | undefined;
  #start: Snapshot | undefined;
  #profiler: GCProfiler | undefined;
  #publishes = 0;
  #deliveries = 0;

  /** The `alloc <ms>` command. */
  readonly command = (argument: string): void => {
    const ms = Number(argument);
    if (!(ms > 0) || this.#armedMs !== undefined) return;
    // An empty young generation, so that the window's allocations fit in it. Twice: the backing stores
    // of the ArrayBuffers a collection finds dead are freed after it, in the background, and the next
    // collection first waits for that, so none is freed (counted as negative growth) in the window.
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    this.#armedMs = ms;
  };

  /** Call at each publish, before it is delivered to `subscribers` sessions. */
  publishing(subscribers: number): void {
    const ms = this.#armedMs;
    if (ms === undefined) return;
    const start = this.#start;
    if (start === undefined) {
      this.#profiler = new GCProfiler();
      this.#profiler.start();
      this.#start = snapshot();
    } else if (performance.now() - start.at >= ms) {
      const end = snapshot();
      const gcs = (this.#profiler!.stop()?.statistics ?? []).map((gc) => gc.gcType);
      const result = {
        publishes: this.#publishes,
        deliveries: this.#deliveries,
        heapBytes: end.heap - start.heap,
        arrayBufferBytes: end.arrayBuffers - start.arrayBuffers,
        gcs,
        ms: end.at - start.at,
      };
      process.stdout.write(`${JSON.stringify({ alloc: result })}\n`);
      this.#armedMs = this.#start = this.#profiler = undefined;
      this.#publishes = this.#deliveries = 0;
      return;
    }
    this.#publishes++;
    this.#deliveries += subscribers;
  }
}
