/**
 * The per-message path without the kernel (bench/per-message.bench.ts runs
 * it): server-side WebSocket connections over in-memory sockets, a `Duplex`
 * whose writes are counted and dropped, so what is timed is the JavaScript a
 * message costs (the library's, and Node's stream code around it, the same
 * for every contender) with no syscall, no loopback and no scheduler noise.
 *
 * Each message is one masked binary frame pushed as its own chunk (a fresh
 * copy: parsers unmask in place), round-robin over the connections, a
 * thousand per event-loop turn; every contender answers inside the push, so
 * one chunk in is one message handled and one write out, as with one
 * message in flight. Contenders, all with their public API:
 * - `ours`: `serveSocket` with a `consumeEach` echo (the HTTP upgrade
 *   request is pushed first, as a framework would hand the socket over);
 * - `ours-for-await`: the same with a `for await` echo;
 * - `ws`: `WebSocketServer({ noServer: true }).handleUpgrade`, echoing on
 *   `'message'` (ws 8 with `bufferutil` when it resolves);
 * - `raw`: writes every chunk back (the floor: Node's stream code alone).
 *
 *   node build/bench/servers/in-memory-echo.js '{"lib":"ours","size":16,"conns":64,"messages":200000,"rounds":5}'
 *
 * Prints one JSON line: the nanoseconds per message of each round. Exits 1
 * if a round's written bytes are not exactly one echo frame per message.
 */
import { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer } from 'ws';
import { serveSocket } from 'ktor-ws-ts';

interface Config {
  readonly lib: 'ours' | 'ours-for-await' | 'ws' | 'raw';
  readonly size: number;
  readonly conns: number;
  readonly messages: number;
  readonly rounds: number;
}

/** What the contenders write to: counts bytes, drops them, completes every write at once. */
class MemorySocket extends Duplex {
  written = 0;
  readonly remoteAddress = '127.0.0.1';

  constructor() {
    super({ allowHalfOpen: true });
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.written += chunk.length;
    callback();
  }

  override _writev(chunks: { chunk: Buffer }[], callback: () => void): void {
    for (const { chunk } of chunks) this.written += chunk.length;
    callback();
  }

  // The net.Socket methods ws calls on the socket it is given.
  setTimeout(): this {
    return this;
  }

  setNoDelay(): this {
    return this;
  }
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const UPGRADE_HEADERS = { host: 'bench', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': KEY, 'sec-websocket-version': '13' };

/** A masked binary frame of `size` payload bytes, as a client sends it. */
function maskedFrame(size: number): Buffer {
  const header = size < 126 ? 2 : 4;
  const out = Buffer.alloc(header + 4 + size);
  out[0] = 0x82;
  if (size < 126) out[1] = 0x80 | size;
  else {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(size, 2);
  }
  const key = [0x37, 0xfa, 0x21, 0x3d];
  key.forEach((k, i) => (out[header + i] = k));
  for (let i = 0; i < size; i++) out[header + 4 + i] = (i & 0xff) ^ key[i & 3]!;
  return out;
}

/** Sets up `conns` connections, each answering on its socket; resolves once the handshakes are written. */
async function connect(config: Config): Promise<MemorySocket[]> {
  const sockets = Array.from({ length: config.conns }, () => new MemorySocket());
  if (config.lib === 'raw') {
    for (const socket of sockets) socket.on('data', (chunk: Buffer) => socket.write(chunk));
  } else if (config.lib === 'ws') {
    const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
    for (const socket of sockets) {
      const request = { method: 'GET', url: '/', headers: UPGRADE_HEADERS } as unknown as IncomingMessage;
      wss.handleUpgrade(request, socket as never, Buffer.alloc(0), (ws) => {
        ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
      });
    }
  } else {
    const forAwait = config.lib === 'ours-for-await';
    const head = Object.entries(UPGRADE_HEADERS).map(([name, value]) => `${name}: ${value}\r\n`).join('');
    for (const socket of sockets) {
      void serveSocket(
        socket,
        forAwait
          ? async (session) => {
              for await (const message of session) await session.send(message);
            }
          : (session) => session.consumeEach((message) => session.send(message)),
      );
      socket.push(Buffer.from(`GET / HTTP/1.1\r\n${head}\r\n`, 'latin1'));
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  return sockets;
}

/** Pushes `count` frames round-robin, a thousand per event-loop turn; resolves a turn after the last. */
function pushFrames(sockets: readonly MemorySocket[], frameBytes: Buffer, count: number): Promise<void> {
  return new Promise((resolve) => {
    let sent = 0;
    const turn = (): void => {
      const end = Math.min(count, sent + 1000);
      for (; sent < end; sent++) sockets[sent % sockets.length]!.push(Buffer.from(frameBytes));
      setImmediate(sent < count ? turn : resolve);
    };
    turn();
  });
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as Config;
  const sockets = await connect(config);
  const frameBytes = maskedFrame(config.size);
  // What one echo writes: the client's frame unmasked (the raw echo writes it back as it came).
  const echoBytes = config.lib === 'raw' ? frameBytes.length : frameBytes.length - 4;
  await pushFrames(sockets, frameBytes, config.messages); // warm-up
  const nsPerMessage: number[] = [];
  for (let round = 0; round < config.rounds; round++) {
    for (const socket of sockets) socket.written = 0;
    const started = process.hrtime.bigint();
    await pushFrames(sockets, frameBytes, config.messages);
    nsPerMessage.push(Number(process.hrtime.bigint() - started) / config.messages);
    const written = sockets.reduce((sum, socket) => sum + socket.written, 0);
    if (written !== config.messages * echoBytes) {
      console.error(`${config.lib}: wrote ${written} bytes for ${config.messages} messages, expected ${config.messages * echoBytes}`);
      process.exit(1);
    }
  }
  console.log(JSON.stringify({ nsPerMessage }));
  process.exit(0);
}

void main();
