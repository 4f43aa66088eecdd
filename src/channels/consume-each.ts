/**
 * `consumeEach` (Kotlin's `ReceiveChannel.consumeEach`): hands every element
 * of a channel to a callback, in order, until the channel ends.
 *
 * It is a callback-driven loop, not an async function: while the channel is
 * empty it is a listener parked on it (`whenReceivable`), and it waits on a
 * promise only when the callback returns one (the next element then waits
 * for it). So once a callback is done nothing of the loop refers to its
 * element. A `for await` loop is different: its suspended function keeps
 * the last element it took (V8 keeps it in one of the frame's registers)
 * until the next one arrives, so an idle consumer keeps its last element
 * alive, however large.
 */
import type { Channel, ReceivableListener } from './channel.ts';

/**
 * Calls `action` with each element of `channel`, in order; when `action`
 * returns a promise (any thenable), the next element waits for it. Resolves
 * once the channel is closed without a cause and drained; rejects with the
 * cause once it failed (after the elements buffered before), or with what
 * `action` threw or rejected with (then no more elements are taken; the
 * channel itself is left as it is). Nothing else should take elements from
 * the channel meanwhile.
 */
export function consumeEach<T extends {} | null>(channel: Channel<T>, action: (element: T) => unknown): Promise<void> {
  return new Promise<void>((resolve, reject) => new Consumer(channel, action, resolve, reject).run());
}

class Consumer<T extends {} | null> implements ReceivableListener {
  readonly #channel: Channel<T>;
  readonly #action: (element: T) => unknown;
  readonly #resolve: () => void;
  readonly #reject: (error: unknown) => void;
  /** `run`, bound once: what follows an action's promise. */
  readonly #resume = (): void => this.run();

  constructor(channel: Channel<T>, action: (element: T) => unknown, resolve: () => void, reject: (error: unknown) => void) {
    this.#channel = channel;
    this.#action = action;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** Takes and hands on elements until the channel is empty (then parks), an action returns a promise, or it ends. */
  run(): void {
    const channel = this.#channel;
    try {
      for (;;) {
        const element = channel.tryReceive();
        if (element === undefined) {
          if (channel.isClosedForReceive) return this.#resolve();
          if (channel.whenReceivable(this)) continue; // it ended or got an element meanwhile
          return;
        }
        const result = this.#action(element);
        if (isThenable(result)) {
          result.then(this.#resume, this.#reject);
          return;
        }
      }
    } catch (error) {
      this.#reject(error);
    }
  }

  /**
   * An element arrived or the channel ended (see `whenReceivable`): it runs
   * in a microtask, as a resumed `for await` would. The channel wakes its
   * listener from `process.nextTick`, and Node runs every queued tick before
   * any microtask: running here, the first action's own ticks (say, a writer
   * scheduled by a send) would run before the actions of the rest of the
   * burst, which continue in microtasks; the burst would be split.
   */
  onReceivable(): void {
    queueMicrotask(this.#resume);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}
