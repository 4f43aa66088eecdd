/**
 * Asynchronous helpers for unit tests (the channel tests, mostly): yielding
 * to the event loop, observing whether a promise settled, capturing a
 * rejection or a throw, and capturing errors the runtime reports as uncaught
 * (without tripping the test guard); plus a byte-counting payload builder.
 */

/** Resolves after every pending microtask and one turn of the event loop. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** True if `promise` is still pending after a turn of the event loop. */
export async function isPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await turn();
  return !settled;
}

/** The reason `promise` rejects with; throws if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

/** The error `fn` throws; throws if it returns. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/**
 * Runs `fn`, then waits a turn, collecting what was reported as an uncaught
 * exception meanwhile instead of letting the guard count it.
 */
export async function captureUncaught(fn: () => void): Promise<unknown[]> {
  const saved = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  const caught: unknown[] = [];
  const listener = (error: unknown): void => void caught.push(error);
  process.on('uncaughtException', listener);
  try {
    fn();
    await turn();
  } finally {
    process.off('uncaughtException', listener);
    for (const l of saved) process.on('uncaughtException', l);
  }
  return caught;
}

/** `n` bytes counting up from `start` (mod 256). */
export function bytes(n: number, start = 0): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (start + i) & 0xff;
  return out;
}

/**
 * Conditions waited for by a test client and re-checked whenever the client
 * says something happened (`wake`: bytes arrived, the connection ended).
 */
export class Wakeups {
  #waiters: (() => void)[] = [];

  /** Waits until `condition` holds; throws an Error with `timedOut()`'s text after `timeoutMs`. */
  async until(condition: () => boolean, timeoutMs: number, timedOut: () => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(timedOut());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Re-checks every waiting condition. */
  wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/**
 * How many times a handler registered twice runs after the first
 * registration's disposer was called twice (`register` registers and returns
 * the disposer; `fire` makes the handlers run): 1 when each disposer takes
 * out its own registration only.
 */
export function runsAfterDoubleDispose(register: (handler: () => void) => () => void, fire: () => void): number {
  let runs = 0;
  const handler = (): void => void runs++;
  const dispose = register(handler);
  register(handler);
  dispose();
  dispose();
  fire();
  return runs;
}
