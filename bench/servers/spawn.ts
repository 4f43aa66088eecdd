/**
 * Starting and watching the benchmark processes: every server and load
 * generator is spawned through `bash -c 'ulimit -n …; exec …'` (to raise the
 * file-descriptor limit as far as the hard limit allows) and, when `taskset`
 * works, pinned to one core. CPU time and RSS are read from /proc.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { buildServers, compiledServer } from './build.ts';
import type { MemorySample } from './control.ts';

export type { MemorySample } from './control.ts';

/** One echo server of the comparison. */
export interface ServerSpec {
  /** Short key used in the JSON (`ours`, `ws`, `ws-js`, `raw`). */
  readonly key: string;
  /** Label in tables and charts. */
  readonly label: string;
  /** File under bench/servers/. */
  readonly file: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Extra node flags (`--cpu-prof`, `--heap-prof`, …). */
  readonly nodeArgs?: readonly string[];
}

export const SERVERS: readonly ServerSpec[] = [
  { key: 'ours', label: 'ours', file: 'ours.ts' },
  { key: 'ours-for-await', label: 'ours (for await)', file: 'ours.ts', env: { BENCH_FOR_AWAIT: '1' } },
  { key: 'ws', label: 'ws+bufferutil', file: 'ws.ts' },
  { key: 'ws-js', label: 'ws (pure JS)', file: 'ws.ts', env: { WS_NO_BUFFER_UTIL: '1' } },
  { key: 'raw', label: 'raw TCP echo', file: 'raw.ts' },
];

/** True when ws will find and load bufferutil (an optional peer of ws, resolved from ws's own folder). */
export function bufferutilAvailable(): boolean {
  try {
    const fromWs = createRequire(createRequire(import.meta.url).resolve('ws'));
    const addon = fromWs('bufferutil') as { mask?: unknown };
    return typeof addon.mask === 'function';
  } catch {
    return false;
  }
}

let tasksetWorks: boolean | undefined;
/** Whether `taskset -c 1` runs here (the util-linux tool exists and the machine has two cores). */
export function canPin(): boolean {
  tasksetWorks ??= spawnSync('taskset', ['-c', '1', 'true'], { stdio: 'ignore' }).status === 0;
  return tasksetWorks;
}

const ULIMIT = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"';

/** Spawns `argv` with the fd limit raised and, if possible, pinned to `cpu` (`undefined`: not pinned). */
export function spawnPinned(argv: readonly string[], cpu: number | undefined, env: Readonly<Record<string, string>> = {}): ChildProcessWithoutNullStreams {
  const pin = cpu !== undefined && canPin() ? ['taskset', '-c', String(cpu)] : [];
  return spawn('bash', ['-c', ULIMIT, 'bash', ...pin, ...argv], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Lines of a child's stdout, taken one at a time. */
export class LineReader {
  readonly #lines: string[] = [];
  readonly #waiters: ((line: string | undefined) => void)[] = [];
  #ended = false;

  constructor(child: ChildProcessWithoutNullStreams, name: string) {
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      const w = this.#waiters.shift();
      if (w) w(line);
      else this.#lines.push(line);
    });
    rl.on('close', () => {
      this.#ended = true;
      for (const w of this.#waiters.splice(0)) w(undefined);
    });
    child.stderr.on('data', (chunk: Buffer) => process.stderr.write(`[${name}] ${chunk.toString()}`));
  }

  /** The next line, or `undefined` once stdout ended; rejects after `timeoutMs`. */
  next(timeoutMs = 60_000): Promise<string | undefined> {
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(done);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`no output within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (l: string | undefined): void => {
        clearTimeout(timer);
        resolve(l);
      };
      this.#waiters.push(done);
    });
  }
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** The fields of `/proc/<pid>/stat` after the command name: index 0 is field 3 (the state). */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (fields 14, 15)
}

/** Minor page faults the process has taken so far (each one the kernel mapping a fresh page on first touch). */
export function minorFaults(pid: number): number {
  return Number(statFields(pid)[7]); // minflt (field 10)
}

/** Resident set size in bytes, and its peak. */
export function rssOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** A running benchmark server (see control.ts). */
export class RunningServer {
  readonly spec: ServerSpec;
  readonly port: number;
  readonly pid: number;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: LineReader;

  private constructor(spec: ServerSpec, child: ChildProcessWithoutNullStreams, lines: LineReader, port: number) {
    this.spec = spec;
    this.#child = child;
    this.#lines = lines;
    this.port = port;
    this.pid = child.pid as number;
  }

  /**
   * Starts `spec` pinned to `cpu` and waits until it listens. It runs from
   * the plain-JS build (see build.ts), or through tsx when BENCH_TSX=1.
   */
  static async start(spec: ServerSpec, cpu: number): Promise<RunningServer> {
    const loader =
      process.env.BENCH_TSX === '1'
        ? ['--import', 'tsx', fileURLToPath(new URL(`./${spec.file}`, import.meta.url))]
        : [compiledServer(buildServers(), spec.file)];
    const child = spawnPinned([process.execPath, ...(spec.nodeArgs ?? []), '--expose-gc', ...loader], cpu, spec.env);
    const lines = new LineReader(child, spec.key);
    const first = await lines.next(30_000);
    if (first === undefined) throw new Error(`server ${spec.key} exited before listening`);
    const { port } = JSON.parse(first) as { port: number };
    return new RunningServer(spec, child, lines, port);
  }

  /** Heap and RSS after two full GCs, as the server measures itself. */
  memory(): Promise<MemorySample> {
    return this.command<MemorySample>('mem');
  }

  /** Sends one command line (see control.ts) and parses the server's next stdout line as JSON. */
  async command<T>(line: string, timeoutMs = 30_000): Promise<T> {
    this.#child.stdin.write(`${line}\n`);
    const answer = await this.#lines.next(timeoutMs);
    if (answer === undefined) throw new Error(`server ${this.spec.key} exited`);
    return JSON.parse(answer) as T;
  }

  get alive(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Ends stdin (the server exits) and waits for the exit, killing it after 5 s. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
