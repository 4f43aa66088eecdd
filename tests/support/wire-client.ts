/**
 * A byte-level loopback client for tests that play a hostile or broken peer:
 * it records every byte the server sends, in order, and how the connection
 * ended; plus the masked frames such a client writes.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { serializeFrame } from '../../src/frames/serializer.ts';
import type { Opcode } from '../../src/frames/frame.ts';
import { handshakeRequest } from './raw-client.ts';
import { waitFor } from './resources.ts';
import { Wakeups } from './async.ts';

/** The mask key every test frame uses (the value does not matter to the server). */
export const MASK = Buffer.from([0x11, 0x22, 0x33, 0x44]);

/** One masked frame's bytes, as a client sends it. */
export function maskedFrame(opcode: Opcode, payload: Buffer | string = Buffer.alloc(0), fin = true): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return serializeFrame({ opcode, fin, rsv1: false, rsv2: false, rsv3: false, payload: bytes }, MASK);
}

/**
 * A TCP client that records every byte the server sends, in order, and how
 * the connection ended. For tests that check exact wire bytes or the raw
 * HTTP answer.
 */
export class WireClient {
  readonly socket: Socket;
  #chunks: Buffer[] = [];
  readonly #wakeups = new Wakeups();
  #size = 0;
  /** True once the connection is fully closed (both sides, or reset, or destroyed). */
  closed = false;
  /** True once the server ended its side (FIN). */
  ended = false;
  /** The socket error, if there was one (e.g. ECONNRESET). */
  error: Error | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#size += chunk.length;
      this.#wake();
    });
    socket.on('error', (error) => {
      this.error = error;
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#wake();
    });
  }

  /**
   * Connects to 127.0.0.1:`port`. With `allowHalfOpen`, the client does not
   * end its side when the server ends its own (a peer that never closes).
   */
  static async connect(port: number, allowHalfOpen = false): Promise<WireClient> {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen });
    socket.setNoDelay(true);
    await once(socket, 'connect');
    return new WireClient(socket);
  }

  /** Connects and completes a WebSocket handshake; throws unless the answer is a 101. */
  static async upgraded(port: number): Promise<WireClient> {
    const client = await WireClient.connect(port);
    client.write(handshakeRequest());
    await waitFor(() => client.statusLine !== '', 5000, 'the 101');
    if (!client.statusLine.startsWith('HTTP/1.1 101')) throw new Error(`no 101: ${client.statusLine}`);
    return client;
  }

  /** Every byte received so far. */
  get received(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks, this.#size)];
    return this.#chunks[0] ?? Buffer.alloc(0);
  }

  /** Bytes received after the HTTP response head (empty until the head is complete). */
  get afterHead(): Buffer {
    const all = this.received;
    const end = all.indexOf('\r\n\r\n');
    return end < 0 ? Buffer.alloc(0) : all.subarray(end + 4);
  }

  /** The response's status line, once it arrived. */
  get statusLine(): string {
    const all = this.received;
    const end = all.indexOf('\r\n');
    return end < 0 ? '' : all.toString('latin1', 0, end);
  }

  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** Waits until `condition` holds, checked whenever bytes arrive or the connection ends; throws after `timeoutMs`. */
  until(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    return this.#wakeups.until(condition, timeoutMs, () => `timed out after ${timeoutMs} ms waiting for ${what}`);
  }

  /** Waits until at least `n` bytes have arrived after the response head. */
  async untilAfterHead(n: number, timeoutMs = 5000): Promise<Buffer> {
    await this.until(() => this.afterHead.length >= n || this.closed, timeoutMs, `${n} bytes after the head`);
    return this.afterHead;
  }

  /** Waits for the connection to end. */
  async untilClosed(timeoutMs = 5000): Promise<void> {
    await this.until(() => this.closed, timeoutMs, 'the connection to close');
  }

  #wake(): void {
    this.#wakeups.wake();
  }
}
