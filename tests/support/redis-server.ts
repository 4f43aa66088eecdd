/**
 * A real `redis-server` for tests and benchmarks: Debian's /usr/bin/redis-server
 * (override with env REDIS_SERVER), started on a free 127.0.0.1 port with no
 * persistence (`--save '' --appendonly no`) in a temporary directory.
 *
 *   const redis = await RedisServer.start();
 *   try { … redis.url … await redis.restart(); … } finally { await redis.stop(); }
 *
 * It can be stopped (gracefully, or killed like a crash), paused (SIGSTOP:
 * the connections stay open but nothing answers) and restarted on the same
 * port. Every server is killed and its directory removed when the process
 * exits, whatever happens. Starting fails (never skips) when the binary is
 * missing: run scripts/install-peers.sh as root.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './interop.ts';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

const live = new Set<RedisServer>();
process.on('exit', () => {
  for (const server of live) server.killNow();
});

/** Resolves true when a `PING` on `port` is answered `+PONG`, false on any failure or after `timeoutMs`. */
function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One redis-server process (restartable on the same port). */
export class RedisServer {
  readonly port: number;
  readonly dir: string;
  #child: ChildProcess | undefined;
  #log = '';

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Whether the process is running (also when paused). */
  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts a server on a free port and waits until it answers PING. */
  static async start(): Promise<RedisServer> {
    for (let attempt = 1; ; attempt++) {
      const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'redis-test-')));
      live.add(server);
      try {
        await server.#launch();
        return server;
      } catch (error) {
        await server.stop();
        if (attempt >= 3) throw error; // the port may have been taken between freePort and the bind
      }
    }
  }

  /** Starts the process again on the same port (after `stop`). */
  async restart(): Promise<void> {
    await this.stop({ keepDir: true });
    live.add(this);
    await this.#launch();
  }

  /**
   * Stops the server: SIGTERM (a clean shutdown; Redis closes every
   * connection) or `{ signal: 'SIGKILL' }` (a crash). Waits for the exit.
   * Removes the directory unless `keepDir`.
   */
  async stop(options: { signal?: 'SIGTERM' | 'SIGKILL'; keepDir?: boolean } = {}): Promise<void> {
    const child = this.#child;
    if (child !== undefined && this.running) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const signal = options.signal ?? 'SIGTERM';
      if (signal === 'SIGTERM') child.kill('SIGCONT'); // a paused server handles SIGTERM only once resumed
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    this.#child = undefined;
    if (!options.keepDir) {
      live.delete(this);
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** SIGSTOP: the server stops answering while its connections stay open. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  /** SIGCONT after `pause`. */
  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  /** The server's output so far (for failure messages). */
  get log(): string {
    return this.#log;
  }

  /** Synchronous kill and cleanup, for process exit. */
  killNow(): void {
    this.#child?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  async #launch(): Promise<void> {
    const child = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--daemonize', 'no', '--loglevel', 'warning'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child = child;
    child.stdout!.setEncoding('utf8').on('data', (text: string) => (this.#log += text));
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (this.#log += text));
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (error) =>
        reject(new Error(`cannot start ${REDIS_SERVER}: ${error.message} (install redis-server: run scripts/install-peers.sh as root)`)),
      );
      child.once('exit', (code, signal) => reject(new Error(`redis-server exited (${code ?? signal}) while starting:\n${this.#log}`)));
    });
    failed.catch(() => {}); // only observed while starting
    const deadline = Date.now() + 10_000;
    while (!(await Promise.race([ping(this.port), failed]))) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer PING within 10 s:\n${this.#log}`);
      await sleep(20);
    }
  }
}
