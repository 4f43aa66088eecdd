/**
 * The pings of a default session: `ping()` round trips, and the keep-alive
 * that sends a ping every interval. Either way, while a ping waits for its
 * pong, `timeoutMs` without a pong drops the connection (1006,
 * `PingTimeoutError`; every waiting `ping()` rejects with it); time our own
 * reader spends paused by backpressure does not count. 0 sets no deadline:
 * the keep-alive then goes on, letting an unanswered ping go at the next.
 *
 * Matching (RFC 6455 section 5.5.3): a pong answers the ping whose payload
 * it echoes; a peer may answer only the latest of several pings, so a pong
 * settles the ping it echoes and every ping sent before it, of either kind
 * (both wait in one list, in the order they were sent). Keep-alive pings
 * carry an 8-byte sequence number; a `ping()` without a payload gets one
 * from the same sequence, so it never matches another ping by accident.
 */
import { frame, Opcode } from '../frames/frame.ts';
import { ConnectionClosedError, PingTimeoutError } from './errors.ts';
import { joinKeepAlive, leaveKeepAlive, type KeepAliveMember } from './keep-alive-clock.ts';
import type { RawWebSocketSession } from './raw-session.ts';

/** A ping waiting for its pong: a `ping()` call's, or the keep-alive's (which nobody awaits). */
interface PendingPing {
  readonly payload: Buffer;
  readonly sentAt: number;
  readonly resolve: (rttMs: number) => void;
  readonly reject: (error: Error) => void;
}

/** What a keep-alive ping's entry settles: nothing, nobody awaits it. */
function ignore(): void {}

export class Pinger implements KeepAliveMember {
  readonly #raw: RawWebSocketSession;
  readonly #timeoutMs: number;
  /** The keep-alive interval (0: none); the pinger is a member of that interval's clock (keep-alive-clock.ts). */
  readonly #intervalMs: number;
  #deadline: NodeJS.Timeout | undefined;
  #sequence = 0n;
  /** The keep-alive ping waiting for its pong (its entry is in `#pending`). */
  #keepAliveEntry: PendingPing | undefined;
  /** Pings of both kinds waiting for their pongs, oldest first: a pong settles the one it echoes and all before it. */
  #pending: PendingPing[] = [];
  #stopped = false;

  /** @param intervalMs keep-alive interval; 0 sends no keep-alive pings (only `ping()` ones). */
  constructor(raw: RawWebSocketSession, intervalMs: number, timeoutMs: number) {
    this.#raw = raw;
    this.#timeoutMs = timeoutMs;
    this.#intervalMs = intervalMs;
    if (intervalMs > 0) joinKeepAlive(this, intervalMs);
    raw.job.invokeOnCompletion(() => this.stop());
  }

  /**
   * Sends a ping (with `payload`, up to 125 bytes, or a fresh 8-byte
   * sequence number) and resolves with the round-trip time in milliseconds
   * once its pong arrives. Rejects with `SessionClosedError` once the
   * session is closing, a `RangeError` for a payload over 125 bytes, and
   * `ConnectionClosedError` (`PingTimeoutError` when no pong came in time)
   * if the connection ends before the pong.
   */
  ping(payload: Buffer = this.#nextSequence()): Promise<number> {
    if (this.#stopped) return Promise.reject(new ConnectionClosedError('the connection ended before the pong'));
    return new Promise<number>((resolve, reject) => {
      const entry: PendingPing = { payload, sentAt: performance.now(), resolve, reject };
      this.#pending.push(entry);
      this.#watch();
      this.#raw.send(frame(Opcode.Ping, payload)).catch((error: unknown) => {
        this.#forget(entry);
        reject(error);
      });
    });
  }

  /** A pong arrived: it settles the ping it echoes and every ping sent before it; the deadline starts over for the rest. */
  onPong(payload: Buffer): void {
    const pending = this.#pending;
    const answered = pending.findIndex((p) => p.payload.equals(payload));
    if (answered < 0) return;
    const now = performance.now();
    for (const p of pending.splice(0, answered + 1)) {
      if (p === this.#keepAliveEntry) this.#keepAliveEntry = undefined;
      p.resolve(now - p.sentAt);
    }
    this.#rewatch();
  }

  /** Stops the keep-alive; pings still waiting reject (the connection is over: with why, when it failed). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#intervalMs > 0) leaveKeepAlive(this, this.#intervalMs);
    clearTimeout(this.#deadline);
    const pending = this.#pending;
    this.#pending = [];
    this.#keepAliveEntry = undefined;
    const failure = this.#raw.failure;
    const cause = failure instanceof ConnectionClosedError ? failure : new ConnectionClosedError('the connection ended before the pong');
    for (const p of pending) p.reject(cause);
  }

  #nextSequence(): Buffer {
    const payload = Buffer.allocUnsafe(8);
    payload.writeBigUInt64BE(++this.#sequence);
    return payload;
  }

  /** @internal A tick of the keep-alive clock: the next keep-alive ping. */
  keepAlive(): void {
    const raw = this.#raw;
    // Not once closing, nor once the connection is gone (`outgoing` is then cancelled and would throw).
    if (raw.isSendClosed) return;
    const waiting = this.#keepAliveEntry;
    if (waiting !== undefined) {
      // With a deadline, it decides; without one, the keep-alive goes on and the unanswered ping is let go.
      if (this.#timeoutMs > 0) return;
      this.#forget(waiting);
    }
    const payload = this.#nextSequence();
    // A full queue means the peer is not reading; the write timeout handles that.
    if (!raw.outgoing.trySend(frame(Opcode.Ping, payload))) return;
    const entry: PendingPing = { payload, sentAt: performance.now(), resolve: ignore, reject: ignore };
    this.#keepAliveEntry = entry;
    this.#pending.push(entry);
    this.#watch();
  }

  /** Takes `entry` out of the pings waiting (its ping was not sent, or is let go). */
  #forget(entry: PendingPing): void {
    const at = this.#pending.indexOf(entry);
    if (at >= 0) this.#pending.splice(at, 1);
    if (entry === this.#keepAliveEntry) this.#keepAliveEntry = undefined;
    this.#rewatch();
  }

  /** The deadline starts over: armed again only if a ping still waits for its pong. */
  #rewatch(): void {
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
    this.#watch();
  }

  /** Arms the deadline if a ping waits for its pong and none is armed (and there is a timeout). */
  #watch(): void {
    if (this.#deadline === undefined && this.#timeoutMs > 0 && this.#pending.length > 0) this.#armDeadline();
  }

  /**
   * Drops the peer `timeoutMs` from now unless a pong came; while our own
   * reader is paused by backpressure the pong cannot be read, so the wait
   * starts over instead.
   */
  #armDeadline(): void {
    this.#deadline = setTimeout(() => {
      if (this.#raw.isReadingPaused) this.#armDeadline();
      else this.#raw.terminate(new PingTimeoutError(this.#timeoutMs));
    }, this.#timeoutMs);
  }
}
