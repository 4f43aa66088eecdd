/**
 * A minimal in-memory `ByteReadChannel` for the request-head tests: chunks
 * pushed by the test are queued by reference; only the methods the parser
 * uses (`peekChunk`, `tryReadChunk`, `awaitContent`) are implemented, and it
 * counts `awaitContent` calls so tests can check there is no promise per byte.
 */
import type { ByteReadChannel } from '../../../src/channels/byte-channel-types.ts';

export class FakeReadChannel implements ByteReadChannel {
  /** How many times `awaitContent` was called. */
  awaits = 0;
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private cause: Error | undefined;
  private waiter: (() => void) | undefined;

  get availableForRead(): number {
    return this.chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  }

  get isClosedForRead(): boolean {
    return this.ended && this.chunks.length === 0;
  }

  get closedCause(): Error | undefined {
    return this.cause;
  }

  /** Queues bytes (a string is Latin-1); empty input is ignored. */
  push(data: Buffer | string): void {
    const chunk = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    if (chunk.length > 0) this.chunks.push(chunk);
    this.notify();
  }

  /** Ends the stream, optionally failing it with `cause`. */
  end(cause?: Error): void {
    this.ended = true;
    this.cause = cause;
    this.notify();
  }

  /** Every byte still buffered, concatenated. */
  remaining(): Buffer {
    return Buffer.concat(this.chunks);
  }

  async awaitContent(min = 1): Promise<boolean> {
    this.awaits++;
    for (;;) {
      if (this.availableForRead >= min) return true;
      if (this.ended) {
        if (this.cause !== undefined) throw this.cause;
        return false;
      }
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  peekChunk(): Buffer | undefined {
    if (this.chunks.length === 0 && this.cause !== undefined) throw this.cause;
    return this.chunks[0];
  }

  tryReadChunk(max = Number.MAX_SAFE_INTEGER): Buffer | undefined {
    const first = this.peekChunk();
    if (first === undefined) return undefined;
    if (first.length <= max) {
      this.chunks.shift();
      return first;
    }
    this.chunks[0] = first.subarray(max);
    return first.subarray(0, max);
  }

  readChunk(): Promise<Buffer | null> {
    return unused();
  }
  readAvailable(): Promise<number> {
    return unused();
  }
  readFully(): Promise<Buffer> {
    return unused();
  }
  readByte(): Promise<number> {
    return unused();
  }
  readShort(): Promise<number> {
    return unused();
  }
  readInt(): Promise<number> {
    return unused();
  }
  readLong(): Promise<bigint> {
    return unused();
  }
  discard(): Promise<number> {
    return unused();
  }
  readRemaining(): Promise<Buffer> {
    return unused();
  }
  cancel(cause?: Error): void {
    this.chunks.length = 0;
    this.end(cause);
  }

  private notify(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}

function unused(): never {
  throw new Error('FakeReadChannel: not used by readRequestHead');
}
