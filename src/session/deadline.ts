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
    this.#timer ??= setTimeout(this.#check, this.#timeoutMs);
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

  readonly #check = (): void => {
    this.#timer = undefined;
    if (this.#due === 0) return;
    const left = this.#due - performance.now();
    if (left > 0) {
      this.#timer = setTimeout(this.#check, Math.ceil(left));
      return;
    }
    this.#due = 0;
    this.#onExpire();
  };
}
