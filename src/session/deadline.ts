/**
 * A timeout that is armed and disarmed far more often than it expires (around
 * every slow write, every read in the middle of a frame). Arming only records
 * when it would expire; one timer at a time wakes up, and re-arms itself for
 * the remaining time if the deadline moved meanwhile. So the hot path costs a
 * clock read, not a `setTimeout`/`clearTimeout` pair.
 */
export class Deadline {
  readonly #timeoutMs: number;
  readonly #onExpire: () => void;
  /** When it expires (performance.now() time), or 0 when disarmed. */
  #due = 0;
  #timer: NodeJS.Timeout | undefined;

  /** `timeoutMs` of 0 disables it: arming does nothing. */
  constructor(timeoutMs: number, onExpire: () => void) {
    this.#timeoutMs = timeoutMs;
    this.#onExpire = onExpire;
  }

  /** Expires `timeoutMs` from now unless disarmed before. */
  arm(): void {
    if (this.#timeoutMs === 0) return;
    this.#due = performance.now() + this.#timeoutMs;
    this.#timer ??= setTimeout(Deadline.#check, this.#timeoutMs, this);
  }

  disarm(): void {
    this.#due = 0;
  }

  /** Disarms and releases the timer (call when its owner ends). */
  dispose(): void {
    this.#due = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The timer's callback (static, given its deadline, so a deadline carries no closure of its own). */
  static #check(deadline: Deadline): void {
    deadline.#timer = undefined;
    if (deadline.#due === 0) return;
    const left = deadline.#due - performance.now();
    if (left > 0) {
      deadline.#timer = setTimeout(Deadline.#check, Math.ceil(left), deadline);
      return;
    }
    deadline.#due = 0;
    deadline.#onExpire();
  }
}
