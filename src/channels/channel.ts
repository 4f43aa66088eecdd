/**
 * `Channel<T>`: a bounded message channel in the spirit of Kotlin's
 * `Channel` — rendezvous (capacity 0), buffered, or unbounded (`Infinity`);
 * `send` waits while full, `receive` waits while empty; `close` lets
 * receivers drain what was sent, `cancel` drops it and fails both sides.
 *
 * Close: a sender still waiting for room when the channel is closed is not
 * kept waiting for a receiver that may never come: its element joins the
 * buffer, in order and beyond the capacity and weight budget if need be, and
 * its `send` resolves at once (as with `ByteChannel.close`). So closing
 * releases every producer, and receivers still get every element sent
 * before the close, then the end.
 *
 * Receivers wait for "something to receive, or closed": `awaitReceivable`
 * only looks (the receiver then takes with the synchronous `tryReceive`),
 * `receive` takes the element as it is woken. A consumer that batches —
 * `await receive()`, then `tryReceive()` until `undefined` — pays one promise
 * per batch, not per element; a parked receiver is one promise and one small
 * record, no suspended async function. A waiting receiver counts as room: a send to a
 * rendezvous channel with a receiver waiting is accepted at once (the element
 * is buffered for that receiver, as with Kotlin's direct hand-off). The
 * channel is built for one consumer but stays correct with several: every
 * waiter is woken and the ones that find nothing wait again.
 *
 * Weight budget (optional): with `{ maxWeight, weigh }` the buffer is bounded
 * by the sum of its elements' weights too (bytes, say), with the rule of
 * `ByteChannel`: an element is buffered when the buffer is empty or when its
 * weight fits beside what is buffered. So the buffered weight never exceeds
 * `max(maxWeight, heaviest single element)` while the channel is open (a
 * close may add the elements of the senders still waiting, see "Close"), and
 * one element always gets through however heavy it is.
 *
 * Wake-ups: a parked `receive` is handed its element at once (its promise
 * resolves; nothing runs synchronously). A consumer that only looks
 * (`awaitReceivable`, or a `whenReceivable` listener) is resumed once the
 * sender's burst is over (`scheduleWake`, wake-queue.ts): from
 * `process.nextTick`, which Node runs once the microtasks queued so far have
 * run, or at the end of the socket's `'data'` callback the send happens in.
 * It then finds the whole burst (one wake-up per burst, not per element):
 * the session's writer serializes a turn's frames into one write this way. A listener that asks for it
 * (`resumesInSender`: `consumeEach` with `immediate`) is called by the send
 * itself instead. `close` and `cancel` release every waiter at once.
 */
import { CancellationError, ChannelClosedError, ClosedReceiveChannelError } from './errors.ts';
import { callHandler } from './report.ts';
import { scheduleWake } from './wake-queue.ts';
import { emptyRing, ringFor } from './ring.ts';
import { append, disposerOf } from './small-list.ts';

const RESOLVED: Promise<void> = Promise.resolve();
const TRUE: Promise<boolean> = Promise.resolve(true);
const FALSE: Promise<boolean> = Promise.resolve(false);

const OPEN = 0;
/** `close()` was called: no more sends; buffered elements (with those of the senders waiting at the close) are still delivered. */
const CLOSED = 1;
/** `cancel()` was called: everything was dropped; both sides fail with `cause`. */
const CANCELLED = 2;
type State = typeof OPEN | typeof CLOSED | typeof CANCELLED;

interface PendingSend<T> {
  readonly value: T;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** How a parked receiver is answered. */
const LOOK = 0; // `awaitReceivable`: true (receivable) or false (ended)
const TAKE = 1; // `receive`: the element
const STEP = 2; // `next`: `{ value, done: false }`, or `{ done: true }` at a normal end
type Mode = typeof LOOK | typeof TAKE | typeof STEP;

/** A parked receiver. */
interface Waiter<T> {
  readonly mode: Mode;
  readonly resolve: (value: T | boolean | IteratorResult<T, undefined>) => void;
  readonly reject: (error: Error) => void;
}

type Resolve = (value: never) => void;
type Reject = (error: Error) => void;

/**
 * The resolving functions of the promise being made (see `parked`): the
 * executor is one shared function, not a closure per promise.
 */
let madeResolve: Resolve | undefined;
let madeReject: Reject | undefined;
function capture(resolve: Resolve, reject: Reject): void {
  madeResolve = resolve;
  madeReject = reject;
}

const DONE: IteratorResult<never, undefined> = Object.freeze({ value: undefined, done: true });
function noop(): void {}
const DONE_PROMISE: Promise<IteratorResult<never, undefined>> = Promise.resolve(DONE);

/** A consumer parked by `whenReceivable`: called back instead of resolving a promise. */
export interface ReceivableListener {
  /** Something became receivable, or the channel ended: look again. */
  onReceivable(): void;
  /**
   * When true, a send that makes something receivable calls `onReceivable`
   * itself, before it returns (as Kotlin's unconfined dispatcher resumes a
   * coroutine in the sender's frame), rather than once the sender's burst
   * is over (`scheduleWake`). For a consumer that handles each element
   * as it comes (no batching to gain), and a sender that allows the
   * consumer's code to run inside its send.
   */
  readonly resumesInSender?: boolean;
}

/** A second bound on a `Channel`'s buffer: the sum of `weigh(element)` over buffered elements. */
export interface ChannelWeightBudget<T> {
  /** Total weight buffered before `send` waits (a positive integer or `Infinity`). */
  readonly maxWeight: number;
  /** An element's weight (a non-negative number, the same every time for the same element). */
  readonly weigh: (value: T) => number;
}

/**
 * A message channel. `T` excludes `undefined`, which `tryReceive` uses for
 * "nothing to receive".
 */
export class Channel<T extends {} | null> implements AsyncIterable<T>, AsyncIterator<T, undefined> {
  /** Elements buffered before `send` waits: 0 (rendezvous), a positive integer, or `Infinity`. */
  readonly capacity: number;
  /** Weight buffered before `send` waits (`Infinity` without a budget). */
  readonly maxWeight: number;
  private readonly weigh: ((value: T) => number) | undefined;
  /** Sum of the buffered elements' weights (0 without a budget). */
  private weight = 0;

  /** The buffered elements (the shared empty ring until the first one: an idle channel holds no ring). */
  private buffer = emptyRing<T>();
  /** Senders waiting for room (the shared empty ring until the first one). */
  private senders = emptyRing<PendingSend<T>>();
  /**
   * The oldest parked receiver, in fields (no object): most channels have at
   * most one. `headResolve` is `undefined` when none is parked.
   */
  private headMode: Mode = LOOK;
  private headResolve: Waiter<T>['resolve'] | undefined;
  private headReject: Reject | undefined;
  /** Parked receivers after the head, oldest first (made by the second one). */
  private waiters: Waiter<T>[] | undefined;
  /** The consumer parked with `whenReceivable`, if any. */
  private listener: ReceivableListener | undefined;
  private state: State = OPEN;
  private cause: Error | undefined;
  /** Handlers waiting for the close (created by the first one). */
  private closeHandlers: ((cause: Error | undefined) => void)[] | undefined;
  private wakeScheduled = false;

  /**
   * The deferred wake-up (see "Wake-ups"). Static and given its channel by
   * `scheduleWake`, so a channel carries no closure of its own. Waiters
   * are served oldest first; one that finds nothing left (an earlier one took
   * it) waits again, or sees the end once the channel is closed. A look-only
   * waiter is told `true` only while something is still receivable.
   */
  private static wakeLater<T extends {} | null>(channel: Channel<T>): void {
    channel.wakeScheduled = false;
    if (!channel.hasElements()) {
      // Taken meanwhile (`tryReceive`): after a close, that was the last of them.
      if (channel.state !== OPEN) channel.endWaiters();
      return;
    }
    const listener = channel.listener;
    if (listener !== undefined) {
      channel.listener = undefined;
      listener.onReceivable();
    }
    while (channel.headResolve !== undefined && channel.hasElements()) channel.serveHead();
    // Waiters that found nothing left wait on, or see the end once the channel is closed.
    if (channel.state !== OPEN && !channel.hasElements()) channel.endWaiters();
  }

  /**
   * @param capacity 0 (default, rendezvous), a positive integer, or `Infinity` (unbounded).
   * @param budget optionally, a bound on the buffered elements' total weight too.
   */
  constructor(capacity = 0, budget?: ChannelWeightBudget<T>) {
    if (!(capacity === Infinity || (Number.isSafeInteger(capacity) && capacity >= 0))) {
      throw new RangeError(`Channel capacity must be 0, a positive integer or Infinity, got ${capacity}`);
    }
    this.capacity = capacity;
    this.maxWeight = Infinity;
    if (budget !== undefined) {
      const max = budget.maxWeight;
      if (!(max === Infinity || (Number.isSafeInteger(max) && max >= 1))) {
        throw new RangeError(`Channel maxWeight must be a positive integer or Infinity, got ${max}`);
      }
      this.maxWeight = max;
      if (max !== Infinity) this.weigh = budget.weigh;
    }
  }

  /** True after `close` or `cancel`. */
  get isClosedForSend(): boolean {
    return this.state !== OPEN;
  }

  /** True once closed (or cancelled) and every element sent before was received. */
  get isClosedForReceive(): boolean {
    return this.state !== OPEN && !this.hasElements();
  }

  /** The cause given to `close` or `cancel` (`cancel()` without one records a `CancellationError`). */
  get closedCause(): Error | undefined {
    return this.cause;
  }

  /** Buffered elements (not counting senders still waiting; after `close` it may exceed `capacity`). */
  get size(): number {
    return this.buffer.length;
  }

  /** Total weight of the buffered elements (0 without a weight budget). */
  get bufferedWeight(): number {
    return this.weight;
  }

  /**
   * Sends `value`, waiting while the channel is full (for a rendezvous channel:
   * until a receiver takes it). Rejects with `ChannelClosedError` after
   * `close`, or with the cancel cause after `cancel` (also while waiting). A
   * send still waiting when the channel is closed resolves: its element is
   * buffered for the receivers.
   */
  send(value: T): Promise<void> {
    if (this.state !== OPEN) return Promise.reject(this.sendError());
    if (this.hasRoom(value)) {
      this.put(value);
      this.wakeWaiters();
      return RESOLVED;
    }
    return new Promise<void>((resolve, reject) => {
      this.senders = ringFor(this.senders);
      this.senders.push({ value, resolve, reject });
      this.wakeWaiters();
    });
  }

  /**
   * Sends `value` if that needs no waiting and returns true; otherwise returns
   * false and sends nothing. Throws like `send` rejects once closed.
   */
  trySend(value: T): boolean {
    if (this.state !== OPEN) throw this.sendError();
    if (!this.hasRoom(value)) return false;
    this.put(value);
    this.wakeWaiters();
    return true;
  }

  /**
   * Queues `value` at once, for a producer that must never wait and bounds
   * what it queues by other means (a topic's byte cap per subscriber): it
   * goes behind the senders already waiting (order is kept) and beyond the
   * capacity and weight budget if need be. Throws like `send` rejects once
   * closed.
   */
  enqueue(value: T): void {
    if (this.state !== OPEN) throw this.sendError();
    if (this.senders.length === 0) this.put(value);
    else this.senders.push({ value, resolve: noop, reject: noop });
    this.wakeWaiters();
  }

  /**
   * Takes the next element, waiting for one. Rejects with
   * `ClosedReceiveChannelError` once closed without a cause and drained, or
   * with the cause once closed with one (after the buffered elements) or
   * cancelled.
   */
  receive(): Promise<T> {
    if (this.hasElements()) return Promise.resolve(this.tryReceive() as T);
    if (this.state !== OPEN) return Promise.reject(this.cause === undefined ? new ClosedReceiveChannelError() : this.failureSeen());
    return this.parked(TAKE) as Promise<T>;
  }

  /**
   * One step of iteration, with one promise per element: resolves
   * `{ value, done: false }` with the next element, waiting for one, or
   * `{ done: true }` once closed without a cause and drained; rejects with
   * the cause once closed with one (after the buffered elements) or
   * cancelled.
   */
  next(): Promise<IteratorResult<T, undefined>> {
    if (this.hasElements()) return Promise.resolve({ value: this.tryReceive() as T, done: false });
    if (this.state !== OPEN) return this.cause === undefined ? DONE_PROMISE : Promise.reject(this.failureSeen());
    return this.parked(STEP) as Promise<IteratorResult<T, undefined>>;
  }

  /**
   * Takes the next element if one is ready, else returns `undefined` (check
   * `isClosedForReceive` to tell "empty" from "ended"). Throws the cause once
   * the channel failed and is drained.
   */
  tryReceive(): T | undefined {
    const value = this.buffer.shift();
    if (value !== undefined) {
      if (this.weigh !== undefined) this.weight -= this.weigh(value);
      if (this.senders.length !== 0) this.admitSenders(false);
      return value;
    }
    const sender = this.senders.shift();
    if (sender !== undefined) {
      sender.resolve();
      return sender.value;
    }
    if (this.state !== OPEN && this.cause !== undefined) throw this.failureSeen();
    return undefined;
  }

  /**
   * Waits until an element can be received or the channel is closed for
   * receiving, without taking anything. Resolves true (receivable) or false
   * (closed without a cause and drained); rejects with the cause once failed
   * and drained. Resolves at once, with a shared promise, when no wait is needed.
   */
  awaitReceivable(): Promise<boolean> {
    if (this.hasElements()) return TRUE;
    if (this.state !== OPEN) return this.cause === undefined ? FALSE : Promise.reject(this.failureSeen());
    return this.parked(LOOK) as Promise<boolean>;
  }

  /**
   * The callback form of `awaitReceivable()`, for a consumer that waits
   * without a promise. Returns true when there is something to look at now
   * (an element, or the end: then `tryReceive` returns `undefined` with
   * `isClosedForReceive` true, or throws the cause). Otherwise parks
   * `listener` and returns false: its `onReceivable()` is called once: from
   * `scheduleWake` after a send (once per burst; inside the send when the
   * listener `resumesInSender`), or at once when the channel is cancelled or
   * closed with nothing left to receive. One such consumer at a time.
   */
  whenReceivable(listener: ReceivableListener): boolean {
    if (this.hasElements() || this.state !== OPEN) return true;
    if (this.listener !== undefined && this.listener !== listener) {
      throw new TypeError('Channel.whenReceivable: another consumer is already parked');
    }
    this.listener = listener;
    return false;
  }

  /**
   * Closes the channel for sending. Senders still waiting for room are
   * released: their elements are buffered, in order, even beyond the capacity
   * and weight budget, and their sends resolve. Receivers then drain every
   * buffered element before they see the end: a normal end without `cause`,
   * a failure with `cause`. Returns false if it was already closed or cancelled.
   */
  close(cause?: Error): boolean {
    if (this.state !== OPEN) return false;
    this.state = CLOSED;
    this.cause = cause;
    this.admitSenders(true);
    if (!this.hasElements()) this.endWaiters();
    else this.wakeWaiters();
    this.runCloseHandlers();
    return true;
  }

  /**
   * Fails the sends waiting for room with `cause`; their elements are not
   * queued (elements `enqueue` put behind them included) and the channel
   * stays open: for a producer that gives up on what did not fit.
   */
  rejectWaitingSenders(cause: Error): void {
    for (let s = this.senders.shift(); s !== undefined; s = this.senders.shift()) s.reject(cause);
  }

  /**
   * Drops every buffered element and fails waiting and later senders and
   * receivers with `cause` (a `CancellationError` when omitted). A no-op once
   * cancelled; after `close` it still drops what was not received (the close
   * cause, if any, is kept).
   */
  cancel(cause?: Error): void {
    if (this.state === CANCELLED) return;
    const reason = this.cause ?? cause ?? new CancellationError('channel was cancelled');
    this.state = CANCELLED;
    this.cause = reason;
    this.buffer.clear();
    this.weight = 0;
    for (let s = this.senders.shift(); s !== undefined; s = this.senders.shift()) s.reject(reason);
    this.endWaiters();
    this.runCloseHandlers();
  }

  /**
   * Runs `handler` once when the channel is closed or cancelled (at once if it
   * already is), with the cause. A handler that throws is reported as an
   * uncaught exception. Returns a disposer.
   */
  invokeOnClose(handler: (cause: Error | undefined) => void): () => void {
    if (this.state !== OPEN) {
      callHandler(handler, this.cause);
      return () => {};
    }
    const handlers = (this.closeHandlers = append(this.closeHandlers, handler));
    return disposerOf(handlers, handler);
  }

  /**
   * Iterates over received elements: ends after a close without cause, throws
   * the cause otherwise. The channel is its own iterator (its `next` is the
   * step), so a loop allocates nothing; it has no `return`, so leaving the
   * loop early does not cancel the channel.
   */
  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    return this;
  }

  /**
   * Called each time a receiver is handed the cause the channel failed with
   * (the channel returns what it returns): a subclass's hook to act once the
   * failure has been seen.
   */
  protected onFailureSeen(cause: Error): Error {
    return cause;
  }

  private failureSeen(): Error {
    return this.onFailureSeen(this.cause as Error);
  }

  /** Whether a new send of `value` is buffered now: behind no waiting sender, it fits or a receiver waits for it. */
  private hasRoom(value: T): boolean {
    if (this.senders.length !== 0) return false;
    return this.fits(value) || (this.buffer.length === 0 && (this.headResolve !== undefined || this.listener !== undefined));
  }

  /** The capacity and weight rules (see the module comment). */
  private fits(value: T): boolean {
    const length = this.buffer.length;
    if (length === 0) return this.capacity !== 0;
    return length < this.capacity && (this.weigh === undefined || this.weight + this.weigh(value) <= this.maxWeight);
  }

  private put(value: T): void {
    (this.buffer = ringFor(this.buffer)).push(value);
    if (this.weigh !== undefined) this.weight += this.weigh(value);
  }

  /** Buffers waiting senders' elements and resolves their sends, in order: while they fit, or all of them (`close`). */
  private admitSenders(all: boolean): void {
    for (let s = this.senders.peek(); s !== undefined && (all || this.fits(s.value)); s = this.senders.peek()) {
      this.senders.shift();
      this.put(s.value);
      s.resolve();
    }
  }

  /** True while something can be received: a buffered element or a waiting sender. */
  private hasElements(): boolean {
    return this.buffer.length !== 0 || this.senders.length !== 0;
  }

  /** A promise for a new parked receiver (the shared executor: no closure per promise). */
  private parked(mode: Mode): Promise<unknown> {
    const promise = new Promise(capture);
    const resolve = madeResolve as Waiter<T>['resolve'];
    const reject = madeReject as Reject;
    if (this.headResolve === undefined) {
      this.headMode = mode;
      this.headResolve = resolve;
      this.headReject = reject;
    } else {
      (this.waiters ??= []).push({ mode, resolve, reject });
    }
    return promise;
  }

  /** Unparks the head receiver, promotes the next one, and returns the head's mode and functions (there is one). */
  private takeHead(): Waiter<T> {
    const head: Waiter<T> = { mode: this.headMode, resolve: this.headResolve!, reject: this.headReject! };
    const next = this.waiters?.shift();
    if (next === undefined) {
      this.headResolve = this.headReject = undefined;
    } else {
      this.headMode = next.mode;
      this.headResolve = next.resolve;
      this.headReject = next.reject;
      if (this.waiters!.length === 0) this.waiters = undefined;
    }
    return head;
  }

  /**
   * Something became receivable: parked `receive`s take it now, a listener
   * that resumes in the sender is called now, the rest wake up after the burst.
   */
  private wakeWaiters(): void {
    while (this.headResolve !== undefined && this.headMode !== LOOK && this.hasElements()) this.serveHead();
    const listener = this.listener;
    if (listener?.resumesInSender === true) {
      if (this.hasElements()) {
        this.listener = undefined;
        listener.onReceivable();
      }
      // It took what it could and parked again, or waits on its own promise: nothing to wake later.
      if (this.headResolve === undefined) return;
    }
    if (this.wakeScheduled || (this.headResolve === undefined && this.listener === undefined)) return;
    this.wakeScheduled = true;
    scheduleWake(Channel.wakeLater, this);
  }

  /** Hands the head receiver the next element (there is one). */
  private serveHead(): void {
    const mode = this.headMode;
    const resolve = this.headResolve!;
    if (this.waiters === undefined) {
      this.headResolve = this.headReject = undefined; // the common case: no object made
    } else {
      this.takeHead();
    }
    if (mode === LOOK) return resolve(true);
    const value = this.tryReceive() as T;
    resolve(mode === TAKE ? value : { value, done: false });
  }

  /** Releases waiting receivers once nothing more will come. */
  private endWaiters(): void {
    const listener = this.listener;
    this.listener = undefined;
    listener?.onReceivable();
    while (this.headResolve !== undefined) this.end(this.takeHead());
  }

  /** Tells one receiver the channel ended: normally (false, done, or `ClosedReceiveChannelError` for `receive`) or with the cause. */
  private end(waiter: Waiter<T>): void {
    if (this.cause !== undefined) waiter.reject(this.failureSeen());
    else if (waiter.mode === TAKE) waiter.reject(new ClosedReceiveChannelError());
    else waiter.resolve(waiter.mode === STEP ? DONE : false);
  }

  private runCloseHandlers(): void {
    const handlers = this.closeHandlers;
    if (handlers === undefined) return;
    this.closeHandlers = undefined;
    for (const h of handlers) callHandler(h, this.cause);
  }

  private sendError(): Error {
    return this.state === CANCELLED
      ? (this.cause as Error)
      : new ChannelClosedError('channel was closed for sending', this.cause);
  }
}
