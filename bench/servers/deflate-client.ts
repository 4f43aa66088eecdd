/**
 * The client of the compressed echo benchmark (bench/deflate-e2e.bench.ts):
 * `conns` connections each keep `inflight` text messages of the chat stream
 * (chat-messages.ts) in flight against an echo server, with
 * permessage-deflate (settings of deflate-settings.ts), in two kinds:
 *
 * - `ws`: ws clients, connection c sending the stream from message c * 97
 *   on, in order, wrapping around; every echo is inflated and checked
 *   against what was sent (length always, content for every 16th). Realistic,
 *   but the client then does as much zlib work as the server (compress each
 *   message, inflate each echo), so one client core cannot saturate one
 *   server core.
 * - `lean`: raw sockets sending frames compressed once up front (the same
 *   bytes a ws client would send) and only parsing the headers of the
 *   echoes, so that the server is the bottleneck (see LeanConnection).
 *
 * Like the C load generator it prints `measure-start` after the warm-up and
 * `measure-end` after the measured window, then one JSON line: messages
 * echoed in the window, their uncompressed bytes, the bytes on the wire
 * both ways (the sockets' bytesWritten/bytesRead: frame headers and
 * compressed payloads, as TCP carries them) over the whole run once the
 * messages in flight are back (so that they divide exactly by the messages
 * echoed), round-trip percentiles, the
 * server's Sec-WebSocket-Extensions response and the client's CPU use.
 *
 *   node deflate-client.js '{"client":"lean","port":N,"conns":32,"inflight":8,"mode":"takeover","warmupMs":300,"measureMs":700}'
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import zlib from 'node:zlib';
import WebSocket from 'ws';
import { chatMessages } from './chat-messages.ts';
import { DEFLATE_SETTINGS, wsDeflateOptions, type DeflateMode } from './deflate-settings.ts';

interface Config {
  /** `ws`: ws clients; `lean`: precomputed frames, echoes not inflated (see LeanConnection). */
  client: 'ws' | 'lean';
  port: number;
  conns: number;
  inflight: number;
  mode: DeflateMode;
  warmupMs: number;
  measureMs: number;
  /** Messages in the stream (default 1024). */
  messages?: number;
}

export interface DeflateClientResult {
  /** Messages echoed in the measured window. */
  messages: number;
  /** Their uncompressed payload bytes (one direction). */
  payloadBytes: number;
  /** Messages echoed over the whole run (warm-up, window and the drain after it). */
  allMessages: number;
  allPayloadBytes: number;
  /** Client to server over the whole run after the handshake, TCP payload bytes. */
  wireOut: number;
  /** Server to client, likewise. */
  wireIn: number;
  seconds: number;
  p50Us: number;
  p99Us: number;
  /** The server's Sec-WebSocket-Extensions response, as the first connection saw it. */
  extensions: string;
  /** This process's CPU use in the window (1 = one core). */
  cpu: number;
  errors: number;
}

const config = JSON.parse(process.argv[2] ?? '') as Config;
const stream = chatMessages(config.messages ?? 1024);

let counting = false;
/** Echoes in the measured window, and their uncompressed bytes. */
let messages = 0;
let payloadBytes = 0;
/** Echoes since the connections opened, and their uncompressed bytes. */
let allMessages = 0;
let allPayloadBytes = 0;
/** After the window no new messages are sent; the ones in flight are awaited. */
let draining = false;
let inFlight = 0;
let drained: (() => void) | undefined;
let errors = 0;
const latencies: number[] = [];

/** Whether a connection may send another message (not while draining); counts it in flight. */
function mayStartMessage(): boolean {
  if (draining) return false;
  inFlight++;
  return true;
}

/** Counts one echo of a `size`-byte message sent at `sentAt`. */
function record(size: number, sentAt: number): void {
  allMessages++;
  allPayloadBytes += size;
  if (--inFlight === 0 && draining) drained?.();
  if (!counting) return;
  messages++;
  payloadBytes += size;
  if ((messages & 7) === 0) latencies.push(performance.now() - sentAt);
}

interface Connection {
  /** The server's Sec-WebSocket-Extensions response. */
  readonly extensions: string;
  /** bytesWritten and bytesRead once the handshake was done (its bytes are not counted). */
  readonly baseWritten: number;
  readonly baseRead: number;
  readonly bytesWritten: number;
  readonly bytesRead: number;
  close(): void;
}

/** A ws client: compresses what it sends, inflates the echoes and checks them. */
class WsConnection implements Connection {
  readonly #socket: WebSocket;
  #next: number;
  /** Messages in flight, oldest first (the echo keeps the order), and their send times. */
  readonly #sent: Buffer[] = [];
  readonly #times: number[] = [];
  #received = 0;
  extensions = '';
  baseWritten = 0;
  baseRead = 0;

  constructor(index: number, opened: () => void) {
    this.#next = (index * 97) % stream.length;
    this.#socket = new WebSocket(`ws://127.0.0.1:${config.port}/`, { perMessageDeflate: wsDeflateOptions(config.mode) });
    this.#socket.on('error', () => errors++);
    this.#socket.on('upgrade', (response) => (this.extensions = String(response.headers['sec-websocket-extensions'] ?? '')));
    this.#socket.on('open', () => {
      this.baseWritten = this.bytesWritten;
      this.baseRead = this.bytesRead;
      for (let i = 0; i < config.inflight; i++) this.#send();
      opened();
    });
    this.#socket.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
  }

  get #tcp(): { bytesWritten: number; bytesRead: number } | undefined {
    return (this.#socket as unknown as { _socket?: { bytesWritten: number; bytesRead: number } })._socket;
  }

  get bytesWritten(): number {
    return this.#tcp?.bytesWritten ?? 0;
  }

  get bytesRead(): number {
    return this.#tcp?.bytesRead ?? 0;
  }

  close(): void {
    this.#socket.terminate();
  }

  #send(): void {
    if (!mayStartMessage()) return;
    const message = stream[this.#next] as Buffer;
    this.#next = this.#next + 1 === stream.length ? 0 : this.#next + 1;
    this.#sent.push(message);
    this.#times.push(performance.now());
    this.#socket.send(message, { binary: false });
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    const sent = this.#sent.shift();
    const time = this.#times.shift() as number;
    if (sent === undefined || isBinary || data.length !== sent.length || ((this.#received++ & 15) === 0 && !data.equals(sent))) {
      errors++;
      this.#socket.terminate();
      return;
    }
    record(data.length, time);
    this.#send();
  }
}

/**
 * Compressed masked text frames of the whole stream, made once: each message
 * compressed as a ws client would (same zlib settings, sync flush, tail
 * removed). With context takeover the stream is compressed twice in a row:
 * the first pass is sent once, then the second pass over and over — valid,
 * because DEFLATE refers back at most 32 KiB and every pass ends with the
 * same 32 KiB of messages, so the inflater's window at the start of each
 * repetition is the one the second pass was compressed against.
 */
async function precompute(): Promise<{ first: Buffer[]; loop: Buffer[] }> {
  const takeover = config.mode === 'takeover';
  const deflate = zlib.createDeflateRaw({ level: DEFLATE_SETTINGS.level, memLevel: DEFLATE_SETTINGS.memLevel, windowBits: 15 });
  let chunks: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => chunks.push(chunk));
  const frames: Buffer[] = [];
  for (const message of takeover ? [...stream, ...stream] : stream) {
    deflate.write(message);
    await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    const out = Buffer.concat(chunks);
    chunks = [];
    if (!takeover) deflate.reset();
    frames.push(maskedFrame(out.subarray(0, out.length - 4)));
  }
  deflate.close();
  return takeover ? { first: frames.slice(0, stream.length), loop: frames.slice(stream.length) } : { first: [], loop: frames };
}

/** A final text frame with RSV1, masked with a random key. */
function maskedFrame(payload: Buffer): Buffer {
  const extended = payload.length > 125;
  const head = extended ? 8 : 6;
  const frame = Buffer.allocUnsafe(head + payload.length);
  frame[0] = 0xc1;
  frame[1] = 0x80 | (extended ? 126 : payload.length);
  if (extended) frame.writeUInt16BE(payload.length, 2);
  const key = randomBytes(4);
  key.copy(frame, head - 4);
  for (let i = 0; i < payload.length; i++) frame[head + i] = (payload[i] as number) ^ (key[i & 3] as number);
  return frame;
}

/**
 * A lean client: sends the precomputed frames and only parses the headers
 * of the echoes (each must be one final text frame with RSV1), without
 * compressing or inflating anything, so that one core of client drives the
 * server to its limit. The ws client checks the echoes' content.
 */
class LeanConnection implements Connection {
  readonly #socket: Socket;
  readonly #frames: { first: Buffer[]; loop: Buffer[] };
  #next = 0;
  #inFirst: boolean;
  /** Sizes (uncompressed) and send times of the messages in flight. */
  readonly #sizes: number[] = [];
  readonly #times: number[] = [];
  #pending: Buffer = Buffer.alloc(0);
  #handshaken = false;
  extensions = '';
  baseWritten = 0;
  baseRead = 0;

  constructor(frames: { first: Buffer[]; loop: Buffer[] }, opened: () => void) {
    this.#frames = frames;
    this.#inFirst = frames.first.length > 0;
    this.#socket = connect(config.port, '127.0.0.1');
    this.#socket.setNoDelay(true);
    this.#socket.on('error', () => errors++);
    const offer = `permessage-deflate; client_max_window_bits${config.mode === 'no-takeover' ? '; server_no_context_takeover; client_no_context_takeover' : ''}`;
    this.#socket.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${config.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: ${offer}\r\n\r\n`,
    );
    this.#socket.on('data', (chunk: Buffer) => {
      this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
      if (!this.#handshaken) {
        const end = this.#pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = this.#pending.subarray(0, end).toString('latin1');
        this.#pending = this.#pending.subarray(end + 4);
        this.#handshaken = true;
        this.baseWritten = this.#socket.bytesWritten;
        this.baseRead = this.#socket.bytesRead - this.#pending.length;
        this.extensions = /^sec-websocket-extensions:\s*(.*)$/im.exec(head)?.[1]?.trim() ?? '';
        if (!head.startsWith('HTTP/1.1 101') || !this.extensions.startsWith('permessage-deflate')) {
          errors++;
          this.#socket.destroy();
          return;
        }
        for (let i = 0; i < config.inflight; i++) this.#send();
        opened();
      }
      this.#parse();
    });
  }

  get bytesWritten(): number {
    return this.#socket.bytesWritten;
  }

  get bytesRead(): number {
    return this.#socket.bytesRead;
  }

  close(): void {
    this.#socket.destroy();
  }

  #send(): void {
    if (!mayStartMessage()) return;
    const list = this.#inFirst ? this.#frames.first : this.#frames.loop;
    const index = this.#next;
    this.#socket.write(list[index] as Buffer);
    this.#sizes.push((stream[index] as Buffer).length);
    this.#times.push(performance.now());
    if (++this.#next === list.length) {
      this.#next = 0;
      this.#inFirst = false;
    }
  }

  #parse(): void {
    let buf = this.#pending;
    let offset = 0;
    while (buf.length - offset >= 2) {
      const b0 = buf[offset] as number;
      let length = (buf[offset + 1] as number) & 0x7f;
      let head = 2;
      if (length === 126) {
        if (buf.length - offset < 4) break;
        length = buf.readUInt16BE(offset + 2);
        head = 4;
      } else if (length === 127) {
        if (buf.length - offset < 10) break;
        length = Number(buf.readBigUInt64BE(offset + 2));
        head = 10;
      }
      if (buf.length - offset < head + length) break;
      offset += head + length;
      const size = this.#sizes.shift();
      const time = this.#times.shift() as number;
      if (b0 !== 0xc1 || size === undefined) {
        errors++;
        this.#socket.destroy();
        return;
      }
      record(size, time);
      this.#send();
    }
    this.#pending = offset === buf.length ? Buffer.alloc(0) : buf.subarray(offset);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Bytes on the wire so far, both directions, all connections. */
function wire(connections: Connection[]): { out: number; in: number } {
  let out = 0;
  let inn = 0;
  for (const c of connections) {
    out += c.bytesWritten - c.baseWritten;
    inn += c.bytesRead - c.baseRead;
  }
  return { out, in: inn };
}

const frames = config.client === 'lean' ? await precompute() : undefined;
const connections: Connection[] = [];
await new Promise<void>((resolve) => {
  let open = 0;
  const opened = () => ++open === config.conns && resolve();
  for (let i = 0; i < config.conns; i++) connections.push(frames ? new LeanConnection(frames, opened) : new WsConnection(i, opened));
});

await sleep(config.warmupMs);
const cpuStart = process.cpuUsage();
const tStart = performance.now();
counting = true;
process.stdout.write('measure-start\n');
await sleep(config.measureMs);
counting = false;
const seconds = (performance.now() - tStart) / 1000;
const cpu = process.cpuUsage(cpuStart);
process.stdout.write('measure-end\n');
// Bytes on the wire per message are taken over the whole run once nothing is in flight, so they are exact.
draining = true;
if (inFlight > 0) {
  const timeout = setTimeout(() => {
    errors++;
    drained?.();
  }, 10_000);
  await new Promise<void>((resolve) => (drained = resolve));
  clearTimeout(timeout);
}
const wireTotal = wire(connections);

latencies.sort((a, b) => a - b);
const at = (q: number) => (latencies.length === 0 ? 0 : (latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] as number) * 1000);
const result: DeflateClientResult = {
  messages,
  payloadBytes,
  allMessages,
  allPayloadBytes,
  wireOut: wireTotal.out,
  wireIn: wireTotal.in,
  seconds,
  p50Us: at(0.5),
  p99Us: at(0.99),
  extensions: connections[0]?.extensions ?? '',
  cpu: (cpu.user + cpu.system) / 1e6 / seconds,
  errors,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
for (const c of connections) c.close();
process.exit(0);
