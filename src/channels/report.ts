/**
 * Calling user handlers (completion, close and cancel handlers) from inside
 * the runtime. A handler that throws must not unwind the job or channel
 * machinery that called it, and its error must not vanish, so it is rethrown
 * from a fresh microtask: Node reports it as an uncaught exception (the same
 * fate as a throwing EventEmitter listener), with its original stack.
 */
import type { Callbacks } from './small-list.ts';

/** Calls `handler(arg)`; if it throws, reports the error as described above. */
export function callHandler<A>(handler: (arg: A) => void, arg: A): void {
  try {
    handler(arg);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

/** Calls each of `handlers` with `arg` (see `callHandler`), in the order they were added. */
export function callEach<A>(handlers: Callbacks<(arg: A) => void>, arg: A): void {
  if (typeof handlers === 'function') callHandler(handlers, arg);
  else if (handlers !== undefined) for (const handler of handlers) callHandler(handler, arg);
}
