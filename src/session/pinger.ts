/**
 * Keep-alive for a default session: sends a ping every interval and drops the
 * connection (1006, `PingTimeoutError`) when its pong does not come back in
 * time (time our own reader spends paused by backpressure does not count).
 * Each ping carries an 8-byte sequence number; only the pong echoing the
 * latest one counts.
 */
import { frame, Opcode } from '../frames/frame.ts';
import { PingTimeoutError } from './errors.ts';
import type { RawWebSocketSession } from './raw-session.ts';

export class Pinger {
  readonly #raw: RawWebSocketSession;
  readonly #timeoutMs: number;
  readonly #interval: NodeJS.Timeout;
  #deadline: NodeJS.Timeout | undefined;
  #sequence = 0n;
  #awaiting: Buffer | undefined;

  constructor(raw: RawWebSocketSession, intervalMs: number, timeoutMs: number) {
    this.#raw = raw;
    this.#timeoutMs = timeoutMs;
    this.#interval = setInterval(() => this.#ping(), intervalMs);
    raw.job.invokeOnCompletion(() => this.stop());
  }

  /** A pong arrived; it settles the outstanding ping if it echoes it. */
  onPong(payload: Buffer): void {
    if (this.#awaiting !== undefined && payload.equals(this.#awaiting)) {
      this.#awaiting = undefined;
      clearTimeout(this.#deadline);
      this.#deadline = undefined;
    }
  }

  stop(): void {
    clearInterval(this.#interval);
    clearTimeout(this.#deadline);
  }

  #ping(): void {
    const raw = this.#raw;
    // Not once closing, nor once the connection is gone (`outgoing` is then cancelled and would throw).
    if (this.#awaiting !== undefined || raw.isClosing || raw.outgoing.isClosedForSend) return;
    const payload = Buffer.allocUnsafe(8);
    payload.writeBigUInt64BE(++this.#sequence);
    // A full queue means the peer is not reading; the write timeout handles that.
    if (!raw.outgoing.trySend(frame(Opcode.Ping, payload))) return;
    this.#awaiting = payload;
    this.#armDeadline();
  }

  /**
   * Drops the peer `timeoutMs` from now unless its pong came; while our own
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
