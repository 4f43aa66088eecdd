/**
 * Small helpers for tests that talk to a server as other peers do (tests/peers,
 * tests/e2e): a `ws` client that queues what it receives, payload builders, a
 * free-port finder and a raw TCP exchange that records how the server ended
 * the connection.
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import WebSocket, { type ClientOptions } from 'ws';
import { Wakeups } from './async.ts';

/** One message as `ws` delivered it. */
export interface Received {
  readonly data: Buffer;
  readonly isBinary: boolean;
}

/** What `ws` reported in its 'close' event. */
export interface ClosedAs {
  readonly code: number;
  readonly reason: string;
}

/**
 * A `ws` client whose messages, pings and pongs are queued from the moment
 * it is created, so no event is lost between awaits.
 */
export class WsPeer {
  readonly socket: WebSocket;
  readonly messages: Received[] = [];
  readonly pings: Buffer[] = [];
  readonly pongs: Buffer[] = [];
  readonly errors: Error[] = [];
  /** Resolves with the close event's code and reason. */
  readonly closed: Promise<ClosedAs>;
  readonly #wakeups = new Wakeups();

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      this.messages.push({ data, isBinary });
      this.#wake();
    });
    socket.on('ping', (data: Buffer) => {
      this.pings.push(data);
      this.#wake();
    });
    socket.on('pong', (data: Buffer) => {
      this.pongs.push(data);
      this.#wake();
    });
    socket.on('error', (error: Error) => {
      this.errors.push(error);
      this.#wake();
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', (code: number, reason: Buffer) => {
        resolve({ code, reason: reason.toString('utf8') });
        this.#wake();
      });
    });
  }

  /** Connects (binaryType nodebuffer, no permessage-deflate unless asked) and waits for 'open'. */
  static async open(url: string, protocols?: string | string[], options: ClientOptions = {}): Promise<WsPeer> {
    const socket = new WebSocket(url, protocols, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, ...options });
    const peer = new WsPeer(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('close', () => reject(new Error(`closed before open: ${peer.errors.map(String).join('; ')}`)));
    });
    return peer;
  }

  /** Waits until `condition` holds (re-checked on every event), failing after `timeoutMs`. */
  until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return this.#wakeups.until(
      condition,
      timeoutMs,
      () =>
        `timed out waiting for ${what}: ${this.messages.length} messages, state ${this.socket.readyState}, errors ${this.errors.map(String).join('; ')}`,
    );
  }

  /** Takes the next message, waiting for it. */
  async next(timeoutMs = 10_000): Promise<Received> {
    await this.until(() => this.messages.length > 0 || this.socket.readyState === WebSocket.CLOSED, 'a message', timeoutMs);
    const message = this.messages.shift();
    if (message === undefined) throw new Error('connection closed before a message arrived');
    return message;
  }

  /**
   * Sends and resolves once `ws` handed the data to the socket. Uncompressed
   * unless `compress` is true (and permessage-deflate was negotiated).
   */
  send(data: string | Buffer, options: { binary?: boolean; fin?: boolean; compress?: boolean } = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.send(data, { compress: false, ...options }, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** Closes abruptly (no close handshake) and waits for 'close'. */
  async terminate(): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.terminate();
    await this.closed;
  }

  #wake(): void {
    this.#wakeups.wake();
  }
}

/**
 * `n` bytes of valid UTF-8 mixing 1-, 2-, 3- and 4-byte characters (padded
 * with ASCII), as a string.
 */
export function textOfBytes(n: number): string {
  const unit = 'aé€😀'; // 1 + 2 + 3 + 4 = 10 bytes
  const text = unit.repeat(Math.floor(n / 10)) + 'x'.repeat(n % 10);
  if (Buffer.byteLength(text) !== n) throw new Error(`textOfBytes(${n}) built ${Buffer.byteLength(text)} bytes`);
  return text;
}

/** `n` pseudo-random bytes from a small LCG (the same for the same seed). */
export function bytesOf(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** How a raw exchange ended. */
export interface RawExchange {
  /** Everything the server sent, as Latin-1. */
  readonly response: string;
  /** The server half-closed (FIN) before we did. */
  readonly serverEnded: boolean;
  /** Milliseconds from the first write to 'close'. */
  readonly closedAfterMs: number;
  /** A socket error (e.g. ECONNRESET), if any. */
  readonly error: string | undefined;
}

/**
 * Sends `request` (one string, or several written `gapMs` apart) over a raw
 * socket to 127.0.0.1:`port`, reads until the connection closes (the server
 * must close it: we never end our side first) and reports how it ended.
 * Rejects if the socket is still open after `timeoutMs`.
 */
export async function rawExchange(
  port: number,
  request: string | readonly string[],
  { timeoutMs = 5000, gapMs = 20 }: { timeoutMs?: number; gapMs?: number } = {},
): Promise<RawExchange> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: false });
  socket.setNoDelay(true);
  let response = '';
  let serverEnded = false;
  let error: string | undefined;
  socket.setEncoding('latin1');
  socket.on('data', (data: string) => (response += data));
  socket.on('end', () => (serverEnded = true));
  socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
  await once(socket, 'connect');
  const started = Date.now();
  const closed = once(socket, 'close');
  const parts = typeof request === 'string' ? [request] : request;
  for (const [i, part] of parts.entries()) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    if (!socket.destroyed) socket.write(part);
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const outcome = await Promise.race([closed, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    socket.destroy();
    throw new Error(`the server did not close the connection within ${timeoutMs} ms; received ${JSON.stringify(response.slice(0, 200))}`);
  }
  return { response, serverEnded, closedAfterMs: Date.now() - started, error };
}
