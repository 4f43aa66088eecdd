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

/** How `consumeEach` is woken when an element arrives while it waits. */
export interface ConsumeEachOptions {
  /**
   * Call `action` from inside the send that delivered the element (see
   * `ReceivableListener.resumesInSender`), as an event emitter calls its
   * listener, rather than in a microtask once the sender's burst yields
   * (default false). Saves a tick and a microtask per wake-up; use it when
   * the producer allows the consumer's code to run inside its send.
   */
  readonly immediate?: boolean;
  /**
   * A promise known to be fulfilled already (a shared `Promise.resolve()`
   * that the action's callee returns when its work is done at once): an
   * action that returns it counts as one that returned nothing, so the next
   * element is taken without waiting a microtask for it.
   */
  readonly fulfilled?: PromiseLike<unknown>;
}

/**
 * Calls `action` with each element of `channel`, in order; when `action`
 * returns a promise (any thenable), the next element waits for it. Resolves
 * once the channel is closed without a cause and drained; rejects with the
 * cause once it failed (after the elements buffered before), or with what
 * `action` threw or rejected with (then no more elements are taken; the
 * channel itself is left as it is). Nothing else should take elements from
 * the channel meanwhile. The first elements, already buffered, are handed on
 * before it returns.
 */
export function consumeEach<T extends {} | null>(
  channel: Channel<T>,
  action: (element: T) => unknown,
  options?: ConsumeEachOptions,
): Promise<void> {
  return new Promise<void>((resolve, reject) => new Consumer(channel, action, resolve, reject, options).run());
}

class Consumer<T extends {} | null> implements ReceivableListener {
  readonly #channel: Channel<T>;
  readonly #action: (element: T) => unknown;
  readonly #resolve: () => void;
  readonly #reject: (error: unknown) => void;
  /** `run`, bound once, when first needed (an idle consumer woken inside the send never needs it): what follows an action's promise. */
  #resumeBound: (() => void) | undefined;
  /** See `ConsumeEachOptions`. */
  readonly #fulfilled: PromiseLike<unknown> | undefined;
  readonly resumesInSender: boolean;

  constructor(
    channel: Channel<T>,
    action: (element: T) => unknown,
    resolve: () => void,
    reject: (error: unknown) => void,
    options: ConsumeEachOptions | undefined,
  ) {
    this.#channel = channel;
    this.#action = action;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#fulfilled = options?.fulfilled;
    this.resumesInSender = options?.immediate === true;
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
        if (result !== this.#fulfilled && isThenable(result)) {
          result.then(this.#resumer(), this.#reject);
          return;
        }
      }
    } catch (error) {
      this.#reject(error);
    }
  }

  /**
   * An element arrived or the channel ended (see `whenReceivable`). Woken
   * inside the send (`immediate`), it runs now. Otherwise it runs in a
   * microtask, as a resumed `for await` would: the channel wakes its
   * listener from `process.nextTick`, and Node runs every queued tick before
   * any microtask; running there, the first action's own ticks (say, a
   * writer scheduled by a send) would run before the actions of the rest of
   * the burst, which continue in microtasks; the burst would be split.
   */
  onReceivable(): void {
    if (this.resumesInSender) this.run();
    else queueMicrotask(this.#resumer());
  }

  #resumer(): () => void {
    return (this.#resumeBound ??= () => this.run());
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}
