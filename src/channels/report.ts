/**
 * The one place where the runtime reports an error nobody can receive: a
 * completion or close handler that threw. Such an error must not unwind the
 * job or channel machinery that called the handler, and must not vanish, so it
 * is rethrown from a fresh microtask: Node reports it as an uncaught exception
 * (the same fate as a throwing EventEmitter listener), with its original stack.
 */

/** Rethrows `error` asynchronously, outside the caller's stack. */
export function reportUncaught(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}
