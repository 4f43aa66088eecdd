/**
 * `npm run soak`: load over loopback against one echo server process.
 *
 * 1. Idle: opens `--idle` connections (default 10,000) and holds them; the
 *    server's heap and RSS per connection are measured after a GC; then every
 *    connection echoes one message.
 * 2. Throughput: `--conns` connections (default 100) each send `--messages`
 *    messages (default 10,000) as fast as backpressure allows; every echo is
 *    checked by sequence number and a running checksum per connection, and
 *    lost, reordered and duplicated messages are counted.
 *
 * The server runs in a child process (`--serve`) started through bash with
 * the file-descriptor limit raised to the hard limit; the driver re-executes
 * itself the same way when its own limit is too low for the idle phase.
 * Prints a human-readable report and, last, one JSON line (`SOAK {...}`) that
 * tests/e2e/hardening/soak-small.test.ts reads. Exits non-zero when a message was
 * lost, reordered or duplicated, or a connection failed.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Opcode, type Frame } from '../src/frames/frame.ts';
import { FrameParser } from '../src/frames/parser.ts';
import { serializeFrame } from '../src/frames/serializer.ts';
import { createWebSocketServer } from '../src/upgrade/serve.ts';

const SELF = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;

interface Settings {
  readonly idle: number;
  readonly conns: number;
  readonly messages: number;
}

function argument(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`--${name} needs a non-negative integer`);
  return value;
}

/** The command that runs this script again under bash with the fd limit raised to the hard limit. */
function raisedLimitCommand(args: readonly string[]): [string, string[]] {
  const node = [process.execPath, '--import', 'tsx', '--expose-gc', SELF, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`);
  return ['bash', ['-c', `ulimit -n "$(ulimit -Hn)"; exec ${node.join(' ')}`]];
}

// ---- the server (child process) ---------------------------------------------

/** Echo server; answers "mem" lines on stdin with "MEM <heapUsed> <rss> <connections>" after a GC. */
async function serve(): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  let open = 0;
  const server = createWebSocketServer(async (session) => {
    open++;
    try {
      for await (const message of session) await session.send(message);
    } catch {
      // a lost connection ends the echo loop
    } finally {
      open--;
    }
  });
  server.maxConnections = Infinity;
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  process.stdout.write(`PORT ${address.port}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'mem') {
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const m = process.memoryUsage();
      process.stdout.write(`MEM ${m.heapUsed} ${m.rss} ${open}\n`);
    }
  }
  server.close();
}

// ---- the driver ---------------------------------------------------------------

const MASK = Buffer.from([0x5a, 0xc3, 0x17, 0x8e]);
const REQUEST =
  'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/** A raw client connection: handshake, masked frames out, parsed frames in. */
class Connection {
  readonly socket: Socket;
  readonly #parser = new FrameParser({ role: 'client', maxFrameSize: 16 * MiB });
  #head = Buffer.alloc(0);
  #upgraded = false;
  onFrame: (f: Frame) => void = () => {};
  failed: Error | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
  }

  /** Connects and completes the handshake. */
  static async open(port: number): Promise<Connection> {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.setNoDelay(true);
    const connection = new Connection(socket);
    socket.on('error', (error) => (connection.failed ??= error));
    await once(socket, 'connect');
    socket.write(REQUEST);
    await new Promise<void>((resolve, reject) => {
      socket.on('close', () => reject(connection.failed ?? new Error('closed during the handshake')));
      socket.on('data', (chunk: Buffer) => {
        if (connection.#upgraded) return connection.#push(chunk);
        connection.#head = Buffer.concat([connection.#head, chunk]);
        const end = connection.#head.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!connection.#head.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 101')) {
          reject(new Error('handshake refused'));
          return;
        }
        connection.#upgraded = true;
        resolve();
        connection.#push(connection.#head.subarray(end + 4));
      });
    });
    return connection;
  }

  /** Queues one masked binary frame; false when the socket buffer is full (wait for 'drain'). */
  send(payload: Buffer): boolean {
    return this.socket.write(serializeFrame({ opcode: Opcode.Binary, fin: true, rsv1: false, rsv2: false, rsv3: false, payload }, MASK));
  }

  close(): void {
    this.socket.destroy();
  }

  #push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#parser.push(chunk);
    try {
      for (let f = this.#parser.next(); f !== undefined; f = this.#parser.next()) this.onFrame(f);
    } catch (error) {
      this.failed ??= error instanceof Error ? error : new Error(String(error));
      this.socket.destroy();
    }
  }
}

/** The server child: its port, and memory readings on request. */
class ServerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly #lines: AsyncIterator<string>;

  private constructor(child: ChildProcess, port: number, lines: AsyncIterator<string>) {
    this.child = child;
    this.port = port;
    this.#lines = lines;
  }

  static async start(): Promise<ServerProcess> {
    const [command, args] = raisedLimitCommand(['--serve']);
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const first = await lines.next();
    const port = Number(/^PORT (\d+)$/.exec(String(first.value))?.[1]);
    if (!port) throw new Error(`server did not start: ${String(first.value)}`);
    return new ServerProcess(child, port, lines);
  }

  async memory(): Promise<{ heap: number; rss: number; sessions: number }> {
    this.child.stdin!.write('mem\n');
    const line = await this.#lines.next();
    const [, heap, rss, sessions] = String(line.value).split(' ').map(Number);
    return { heap: heap!, rss: rss!, sessions: sessions! };
  }

  stop(): void {
    this.child.stdin!.end();
    this.child.kill();
  }
}

/** Opens `n` connections, `batch` at a time. */
async function openMany(port: number, n: number, batch = 200): Promise<Connection[]> {
  const out: Connection[] = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => Connection.open(port)))));
  }
  return out;
}

interface IdleResult {
  connections: number;
  heapPerConnection: number;
  rssPerConnection: number;
  echoed: number;
}

async function idlePhase(server: ServerProcess, n: number): Promise<IdleResult> {
  const base = await server.memory();
  const connections = await openMany(server.port, n);
  let sessions = 0;
  for (let tries = 0; tries < 100 && sessions < n; tries++) {
    const m = await server.memory();
    sessions = m.sessions;
    if (sessions < n) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const loaded = await server.memory();
  // Every one of them echoes one message.
  let echoed = 0;
  await Promise.all(
    connections.map(
      (c, i) =>
        new Promise<void>((resolve) => {
          const payload = Buffer.from(`idle ${i}`);
          c.onFrame = (f) => {
            if (f.opcode === Opcode.Binary && f.payload.equals(payload)) echoed++;
            resolve();
          };
          c.socket.once('close', () => resolve());
          c.send(payload);
        }),
    ),
  );
  for (const c of connections) c.close();
  return {
    connections: loaded.sessions,
    heapPerConnection: (loaded.heap - base.heap) / n,
    rssPerConnection: (loaded.rss - base.rss) / n,
    echoed,
  };
}

interface ThroughputResult {
  messages: number;
  echoed: number;
  lost: number;
  reordered: number;
  duplicated: number;
  checksumMismatches: number;
  failedConnections: number;
  seconds: number;
}

/** Payload of message `seq` on connection `conn`: both numbers, then filler of a varying length. */
function message(conn: number, seq: number): Buffer {
  const length = 8 + ((seq * 7 + conn) % 120);
  const out = Buffer.alloc(length, (seq + conn) & 0xff);
  out.writeUInt32BE(conn, 0);
  out.writeUInt32BE(seq, 4);
  return out;
}

async function throughputPhase(port: number, conns: number, messages: number): Promise<ThroughputResult> {
  const connections = await openMany(port, conns);
  const started = performance.now();
  const results = await Promise.all(
    connections.map(async (c, conn) => {
      const sentHash = createHash('sha256');
      const receivedHash = createHash('sha256');
      const seen = new Uint8Array(messages);
      let next = 0;
      let received = 0;
      let reordered = 0;
      let duplicated = 0;
      const done = new Promise<void>((resolve) => {
        c.onFrame = (f) => {
          if (f.opcode !== Opcode.Binary || f.payload.length < 8) return;
          receivedHash.update(f.payload);
          const seq = f.payload.readUInt32BE(4);
          if (f.payload.readUInt32BE(0) !== conn || seq >= messages) return;
          if (seen[seq] === 1) duplicated++;
          else {
            seen[seq] = 1;
            received++;
          }
          if (seq !== next) reordered++;
          next = seq + 1;
          if (received + duplicated >= messages) resolve();
        };
        c.socket.once('close', () => resolve());
      });
      for (let seq = 0; seq < messages; seq++) {
        const payload = message(conn, seq);
        sentHash.update(payload);
        if (!c.send(payload)) await Promise.race([once(c.socket, 'drain'), once(c.socket, 'close')]);
      }
      // Every echo, or ten seconds of silence.
      let last = -1;
      while (received + duplicated < messages && received !== last) {
        last = received;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
        clearTimeout(timer);
      }
      c.close();
      return {
        received,
        lost: messages - received,
        reordered,
        duplicated,
        checksumOk: sentHash.digest('hex') === receivedHash.digest('hex'),
        failed: c.failed !== undefined,
      };
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    messages: conns * messages,
    echoed: results.reduce((n, r) => n + r.received, 0),
    lost: results.reduce((n, r) => n + r.lost, 0),
    reordered: results.reduce((n, r) => n + r.reordered, 0),
    duplicated: results.reduce((n, r) => n + r.duplicated, 0),
    checksumMismatches: results.filter((r) => !r.checksumOk).length,
    failedConnections: results.filter((r) => r.failed).length,
    seconds,
  };
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

async function drive(settings: Settings): Promise<void> {
  const server = await ServerProcess.start();
  try {
    console.log(`soak: ${settings.idle} idle connections, then ${settings.conns} x ${settings.messages} messages`);
    const idle = await idlePhase(server, settings.idle);
    console.log(
      `idle: ${idle.connections} sessions held; per connection: heap ${kib(idle.heapPerConnection)}, ` +
        `RSS ${kib(idle.rssPerConnection)}; ${idle.echoed}/${settings.idle} echoed one message`,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const load = await throughputPhase(server.port, settings.conns, settings.messages);
    console.log(
      `throughput: ${load.echoed}/${load.messages} echoed in ${load.seconds.toFixed(1)} s ` +
        `(${Math.round(load.echoed / load.seconds)} messages/s); lost ${load.lost}, reordered ${load.reordered}, ` +
        `duplicated ${load.duplicated}, checksum mismatches ${load.checksumMismatches}, failed connections ${load.failedConnections}`,
    );
    console.log(`SOAK ${JSON.stringify({ settings, idle, load })}`);
    const ok =
      idle.echoed === settings.idle &&
      load.lost + load.reordered + load.duplicated + load.checksumMismatches + load.failedConnections === 0;
    process.exitCode = ok ? 0 : 1;
  } finally {
    server.stop();
  }
}

/** The soft fd limit of this process (via the shell that would run it), or Infinity if unknown. */
function fdLimit(): number {
  try {
    return Number(execFileSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()) || Infinity;
  } catch {
    return Infinity;
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--serve')) return serve();
  const settings: Settings = { idle: argument('idle', 10_000), conns: argument('conns', 100), messages: argument('messages', 10_000) };
  if (fdLimit() < settings.idle + 256 && process.env['SOAK_RAISED'] !== '1') {
    const [command, args] = raisedLimitCommand(process.argv.slice(2));
    const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, SOAK_RAISED: '1' } });
    const [code] = (await once(child, 'exit')) as [number | null];
    process.exitCode = code ?? 1;
    return;
  }
  await drive(settings);
}

await main();
