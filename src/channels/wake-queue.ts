/**
 * When the channels wake a parked consumer after a send (Kotlin's event loop
 * for unconfined coroutines, in miniature).
 *
 * A channel wakes its consumer once the sender's burst is over, so that the
 * consumer finds the whole burst at once (the session's writer turns it into
 * one write). By default "over" means `process.nextTick`: Node runs the tick
 * once the current callback and the microtasks it queued have run.
 *
 * An I/O callback can say better: `withWakesAfter(fn, target, arg)` runs
 * `fn(target, arg)`
 * and then, before returning, the wake-ups scheduled meanwhile, in order (and
 * those they schedule in turn). The socket adapter runs each `'data'` chunk
 * this way: the reader parses the chunk, the handler answers each message,
 * and the writer, woken once for the whole chunk, writes the answers before
 * the callback returns. The burst is the same as with a tick; the tick
 * (a tick object, Node's tick queue and its async-hook bookkeeping) is saved.
 */

type Wake = (target: never) => void;

/** Depth of nested `withWakesAfter` calls; wake-ups are queued while above 0. */
let depth = 0;
/**
 * Queued wake-ups: callback and target, flattened (no object per wake-up),
 * in `queued[0, count)`. The array is reused; run slots are cleared, not
 * cut off (setting `length` is a runtime call on every chunk).
 */
const queued: unknown[] = [];
let count = 0;

/**
 * Calls `wake(target)` once the current burst is over: when the outermost
 * `withWakesAfter` returns, or else from `process.nextTick`. `wake` must not
 * throw.
 */
export function scheduleWake<T>(wake: (target: T) => void, target: T): void {
  if (depth === 0) process.nextTick(wake, target);
  else {
    queued[count++] = wake;
    queued[count++] = target;
  }
}

/** Runs `fn(target, arg)`, then every wake-up scheduled meanwhile (see the module comment). */
export function withWakesAfter<T, A>(fn: (target: T, arg: A) => void, target: T, arg: A): void {
  if (depth > 0) return fn(target, arg);
  depth = 1;
  try {
    fn(target, arg);
  } finally {
    runQueued();
  }
}

/** Runs the queued wake-ups (and those they queue); leaves any left after a throw to `process.nextTick`. */
function runQueued(): void {
  let i = 0;
  try {
    for (; i < count; i += 2) {
      const wake = queued[i] as Wake;
      const target = queued[i + 1] as never;
      queued[i] = queued[i + 1] = undefined;
      wake(target);
    }
  } finally {
    depth = 0;
    for (; i < count; i += 2) {
      if (queued[i] === undefined) continue; // the one that threw
      process.nextTick(queued[i] as Wake, queued[i + 1]);
      queued[i] = queued[i + 1] = undefined;
    }
    count = 0;
  }
}
