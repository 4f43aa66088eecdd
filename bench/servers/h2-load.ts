/**
 * The load generator of the HTTP/2 benchmark (bench/http2.bench.ts), a Node
 * process as lean for both transports: `conns` WebSockets, over one HTTP/2
 * connection (`h2`: extended CONNECT streams through node:http2's client)
 * or over `conns` TCP connections (`h1`: a hand-written upgrade request on
 * node:net), each keeping `inflight` binary messages of `size` bytes in
 * flight. Every message is one masked frame built once up front; the echoes
 * (unmasked frames of known length) are counted by bytes, not parsed, so
 * the client costs little and the same for both. Over HTTP/2 it raises the
 * connection's receive window to 1 MiB, as our client does.
 *
 * Prints `measure-start` after the warm-up and `measure-end` after the
 * measured window, then one JSON line: messages echoed in the window, the
 * window's length, and errors (a response that is not a WebSocket, an echo
 * that does not start like one). Exits without closing (the server sees
 * its connections reset).
 *
 *   node h2-load.js '{"mode":"h2","port":N,"conns":64,"inflight":16,"size":16,"warmupMs":300,"measureMs":700}'
 */
import { connect as http2Connect, type ClientHttp2Stream } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';

interface Config {
  mode: 'h1' | 'h2';
  port: number;
  conns: number;
  inflight: number;
  size: number;
  warmupMs: number;
  measureMs: number;
}

export interface LoadResult {
  messages: number;
  seconds: number;
  errors: number;
}

const config = JSON.parse(process.argv[2] ?? '') as Config;
/** The HTTP/2 connection's receive window: 1 MiB, as our client sets it (browsers set more: Chromium 15 MiB). */
const CONNECTION_WINDOW_SIZE = 1 << 20;
const MASK = Buffer.from([0x12, 0x34, 0x56, 0x78]);

/** One masked binary frame of `size` bytes (sizes below 64 KiB). */
function maskedFrame(size: number): Buffer {
  const head = size < 126 ? Buffer.from([0x82, 0x80 | size]) : Buffer.from([0x82, 0x80 | 126, size >> 8, size & 0xff]);
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = (i & 0xff) ^ MASK[i & 3]!;
  return Buffer.concat([head, MASK, payload]);
}

const frame = maskedFrame(config.size);
/** batches[k]: k frames back to back, so a burst of echoes is answered with one write. */
const batches = Array.from({ length: config.inflight + 1 }, (_, k) => Buffer.concat(Array.from({ length: k }, () => frame)));
const echoLength = (config.size < 126 ? 2 : 4) + config.size;

let counting = false;
let messages = 0;
let errors = 0;

/** Counts echoes in a byte stream and answers each with a new message. */
class Counter {
  #partial = 0;
  #checked = false;
  constructor(readonly write: (bytes: Buffer) => void) {}

  onData(chunk: Buffer): void {
    if (!this.#checked && chunk.length > 0) {
      this.#checked = true;
      if (chunk[0] !== 0x82) errors++;
    }
    const total = this.#partial + chunk.length;
    const echoes = Math.floor(total / echoLength);
    this.#partial = total % echoLength;
    if (echoes === 0) return;
    if (counting) messages += echoes;
    this.write(batches[Math.min(echoes, config.inflight)]!);
  }
}

async function openH1(): Promise<Counter[]> {
  return Promise.all(
    Array.from({ length: config.conns }, () => new Promise<Counter>((resolve, reject) => {
      const socket: Socket = netConnect({ host: '127.0.0.1', port: config.port });
      socket.setNoDelay(true);
      socket.on('error', reject);
      socket.write(
        'GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      let head = Buffer.alloc(0);
      const onHead = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onHead);
        if (!head.toString('latin1', 0, 12).startsWith('HTTP/1.1 101')) errors++;
        const counter = new Counter((bytes) => socket.write(bytes));
        socket.on('data', (data: Buffer) => counter.onData(data));
        if (head.length > end + 4) counter.onData(head.subarray(end + 4));
        resolve(counter);
      };
      socket.on('data', onHead);
    })),
  );
}

async function openH2(): Promise<Counter[]> {
  const session = http2Connect(`http://127.0.0.1:${config.port}`);
  session.on('error', () => errors++);
  await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
  session.setLocalWindowSize(CONNECTION_WINDOW_SIZE);
  return Promise.all(
    Array.from({ length: config.conns }, () => new Promise<Counter>((resolve) => {
      const stream: ClientHttp2Stream = session.request(
        { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': '/bench', ':authority': `127.0.0.1:${config.port}`, 'sec-websocket-version': '13' },
        { endStream: false },
      );
      stream.on('error', () => errors++);
      stream.once('response', (headers) => {
        if (headers[':status'] !== 200) errors++;
        const counter = new Counter((bytes) => stream.write(bytes));
        stream.on('data', (data: Buffer) => counter.onData(data));
        resolve(counter);
      });
    })),
  );
}

const counters = await (config.mode === 'h2' ? openH2() : openH1());
for (const counter of counters) counter.write(batches[config.inflight]!);
await new Promise((resolve) => setTimeout(resolve, config.warmupMs));
counting = true;
const started = process.hrtime.bigint();
process.stdout.write('measure-start\n');
await new Promise((resolve) => setTimeout(resolve, config.measureMs));
counting = false;
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write('measure-end\n');
const result: LoadResult = { messages, seconds, errors };
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
