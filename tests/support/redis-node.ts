/**
 * Drives one Redis broker node in its own process (redis-node-child.ts) from
 * a test: requests (subscribe, publish, …) answered one by one, and the
 * messages, gaps and errors the node's broker reported, kept in arrival order.
 *
 *   const a = await RedisNode.start(redis.url);
 *   await a.ok('subscribe', { topic: 't' });
 *   await a.waitFor(() => a.messages.length === 3, 'three messages');
 *   await a.exit();
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./redis-node-child.ts', import.meta.url));
/** How long a wait may take before the test fails instead of hanging. */
const WAIT_MS = 15_000;

export interface NodeMessage {
  readonly topic: string;
  readonly binary: boolean;
  readonly payload: Buffer;
  /** The payload as UTF-8 text. */
  readonly text: string;
}

export interface NodeGap {
  readonly origin: string;
  readonly topic: string;
  readonly expected: number;
  readonly received: number;
}

export interface NodeError {
  readonly name: string;
  readonly message: string;
  /** BrokerConnectionError's event. */
  readonly connection?: string;
}

/** A reply to a request: `ok`, or the error the broker rejected with. */
export interface Reply {
  readonly ok: boolean;
  readonly error?: { readonly name: string; readonly message: string };
  /** How long the request took in the child. */
  readonly ms: number;
  readonly [key: string]: unknown;
}

export class RedisNode {
  readonly origin: string;
  readonly messages: NodeMessage[] = [];
  readonly gaps: NodeGap[] = [];
  readonly errors: NodeError[] = [];
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #pending = new Map<number, (reply: Reply) => void>();
  readonly #waiters = new Set<() => void>();
  #nextId = 1;
  #stderr = '';

  private constructor(child: ChildProcessWithoutNullStreams, origin: string) {
    this.#child = child;
    this.origin = origin;
  }

  /** Spawns a node connected to `url`, with `options` for redisBroker (plus `ownSubscriber`). */
  static async start(url: string, options: Record<string, unknown> = {}): Promise<RedisNode> {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: { ...process.env, REDIS_URL: url, BROKER_OPTIONS: JSON.stringify(options) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let node: RedisNode | undefined;
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      if (node !== undefined) node.#stderr += text;
    });
    const lines = createInterface({ input: child.stdout });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node did not start within ${WAIT_MS} ms:\n${stderr}`)), WAIT_MS);
      child.once('exit', (code) => reject(new Error(`node exited (${code}) while starting:\n${stderr}`)));
      lines.on('line', (line) => {
        const event = JSON.parse(line) as Record<string, unknown>;
        if (node === undefined) {
          if (event.event !== 'ready') return;
          clearTimeout(timer);
          node = new RedisNode(child, event.origin as string);
          node.#stderr = stderr;
          resolve(node);
          return;
        }
        node.#take(event);
      });
    });
  }

  /** Sends a request and waits for its reply. */
  request(op: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`no reply to ${op} within ${WAIT_MS} ms (it hangs)\n${this.#stderr}`));
      }, WAIT_MS);
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.#child.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** Sends a request that must succeed; returns its reply. */
  async ok(op: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const reply = await this.request(op, args);
    if (!reply.ok) throw new Error(`${op} ${JSON.stringify(args)} failed: ${reply.error?.name}: ${reply.error?.message}`);
    return reply;
  }

  /** Publishes a text (string) or binary (Buffer) message. */
  publish(topic: string, data: string | Buffer): Promise<Reply> {
    const binary = typeof data !== 'string';
    return this.request('publish', { topic, binary, data: Buffer.from(data).toString('base64') });
  }

  /** The broker's counters. */
  async stats(): Promise<Record<string, number>> {
    return (await this.ok('stats')).stats as Record<string, number>;
  }

  /** Resolves once `condition()` holds (checked on every event from the node); rejects after a while. */
  waitFor(condition: () => boolean, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; messages: ${JSON.stringify(this.messages.map((m) => m.text))}; errors: ${JSON.stringify(this.errors)}\n${this.#stderr}`));
      }, WAIT_MS);
      this.#waiters.add(check);
    });
  }

  /** Texts of the messages received on `topic`, in order. */
  texts(topic: string): string[] {
    return this.messages.filter((m) => m.topic === topic).map((m) => m.text);
  }

  /** Closes the broker and the clients, and waits for the process to exit (killing it if it does not). */
  async exit(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
    this.#child.stdin.write(`${JSON.stringify({ id: 0, op: 'exit' })}\n`);
    await exited;
    clearTimeout(timer);
  }

  #take(event: Record<string, unknown>): void {
    if (typeof event.id === 'number') {
      this.#pending.get(event.id)?.(event as unknown as Reply);
      this.#pending.delete(event.id);
    } else if (event.event === 'message') {
      const payload = Buffer.from(event.data as string, 'base64');
      this.messages.push({ topic: event.topic as string, binary: event.binary as boolean, payload, text: payload.toString() });
    } else if (event.event === 'gap') {
      const { origin, topic, expected, received } = event as unknown as NodeGap;
      this.gaps.push({ origin, topic, expected, received });
    } else if (event.event === 'error') {
      const { name, message, connection } = event as unknown as NodeError;
      this.errors.push(connection === undefined ? { name, message } : { name, message, connection });
    }
    for (const check of [...this.#waiters]) check();
  }
}

/** Resolves once `check()` resolves true (polled every 20 ms); rejects after a while with `what`. */
export async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
