/**
 * Shared tools of the hardening tests: a byte-level loopback client that
 * keeps every received byte, waiting helpers, a forced GC and memory
 * sampling, counts of active handles (to prove nothing is left behind), and
 * the server's open-socket count.
 */
import { once } from 'node:events';
import { connect, type Server, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { serializeFrame } from '../../src/frames/serializer.ts';
import type { Opcode } from '../../src/frames/frame.ts';
import { handshakeRequest } from './raw-client.ts';

/** The mask key every test frame uses (the value does not matter to the server). */
export const MASK = Buffer.from([0x11, 0x22, 0x33, 0x44]);

/** One masked frame's bytes, as a client sends it. */
export function maskedFrame(opcode: Opcode, payload: Buffer | string = Buffer.alloc(0), fin = true): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return serializeFrame({ opcode, fin, rsv1: false, rsv2: false, rsv3: false, payload: bytes }, MASK);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 5 ms until it holds; throws `message` after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5000, message = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`);
    await sleep(5);
  }
}

/**
 * A TCP client that records every byte the server sends, in order, and how
 * the connection ended. For tests that check exact wire bytes or the raw
 * HTTP answer.
 */
export class WireClient {
  readonly socket: Socket;
  #chunks: Buffer[] = [];
  #waiters: (() => void)[] = [];
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
  async until(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
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
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

// A forced GC makes memory measurements about live data, not garbage.
setFlagsFromString('--expose-gc');
/** Runs a full garbage collection. */
export const gc = runInNewContext('gc') as () => void;

/**
 * Heap and external memory (which includes array buffers) after full GCs, in
 * bytes. Array buffers are freed by a background sweeper, so it collects a
 * few times with pauses in between before reading the counters.
 */
export async function liveMemory(): Promise<{ heap: number; external: number; rss: number }> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(10);
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external, rss: m.rss };
}

/** Counts of active resources by type (`TCPSocketWrap`, `Timeout`, ...), from `process.getActiveResourcesInfo()`. */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo()) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}

/** Types whose count differs between two `activeResources()` snapshots, as "type: before -> after". */
export function resourceDiff(before: Map<string, number>, after: Map<string, number>): string[] {
  const out: string[] = [];
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    const a = before.get(key) ?? 0;
    const b = after.get(key) ?? 0;
    if (a !== b) out.push(`${key}: ${a} -> ${b}`);
  }
  return out;
}

/** The number of sockets `server` holds open. */
export function connectionCount(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}
