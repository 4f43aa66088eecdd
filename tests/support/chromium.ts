/**
 * Drive Debian's headless Chromium (/usr/bin/chromium, from `apt-get install
 * chromium`, see scripts/install-peers.sh) over the Chrome DevTools Protocol,
 * using the `ws` dev dependency. No browser is downloaded, no puppeteer.
 *
 *   const browser = await launchChromium();
 *   try {
 *     const page = await browser.newPage('http://127.0.0.1:1234/');
 *     const title = await page.evaluate<string>('document.title');
 *     await page.waitFor('window.done === true', 5000);
 *   } finally {
 *     await browser.close(); // kills the process group, removes the profile dir
 *   }
 *
 * If Chromium is missing, launchChromium() rejects (tests fail, never skip).
 * Only use 127.0.0.1 URLs: the machine has no other network.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The flags used for every launch (the profile dir and the port come on top). */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox', // we run as root in CI
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  // Without these Chromium keeps trying to reach Google hosts on this
  // offline machine (refused connections, DNS failures at every start).
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--mute-audio',
];

export interface LaunchOptions {
  /** Default CHROMIUM_PATH (/usr/bin/chromium, or env CHROMIUM_PATH). */
  executablePath?: string;
  /** Extra command-line flags. */
  args?: readonly string[];
  /** How long to wait for "DevTools listening on ws://..." (default 30 s). */
  launchTimeoutMs?: number;
  /** Default timeout for each CDP command (default 15 s). */
  commandTimeoutMs?: number;
}

export interface Browser {
  /** ws://127.0.0.1:PORT/devtools/browser/ID */
  readonly wsEndpoint: string;
  readonly pid: number;
  /** Chromium's product string, e.g. "HeadlessChrome/156.0.8078.79". */
  readonly version: string;
  /** Opens a new tab; if url is given, navigates and waits for its load event. */
  newPage(url?: string, options?: { timeoutMs?: number }): Promise<Page>;
  /** Raw CDP command on the browser target. */
  send<T = any>(method: string, params?: object): Promise<T>;
  /** Last lines Chromium printed on stderr (for diagnostics). */
  stderrTail(): string;
  /** Idempotent. Closes CDP, kills the process group, removes the profile dir. */
  close(): Promise<void>;
}

export interface Page {
  readonly targetId: string;
  /** console.* calls in the page, as "type: args joined by space". */
  readonly console: string[];
  /** Uncaught exceptions in the page (Runtime.exceptionThrown). */
  readonly errors: string[];
  /** Navigates and waits for the load event; throws on a network error. */
  goto(url: string, options?: { timeoutMs?: number }): Promise<void>;
  /**
   * Runtime.evaluate with awaitPromise + returnByValue: the result must be
   * JSON-serializable (a Promise is awaited). A thrown exception rejects.
   */
  evaluate<T = unknown>(expression: string, options?: { timeoutMs?: number }): Promise<T>;
  /**
   * Polls `expression` (every intervalMs, default 50) until it evaluates to a
   * truthy value, which is returned. Rejects after timeoutMs (default 5000)
   * with the last value/error and the page's console output in the message.
   */
  waitFor<T = unknown>(expression: string, timeoutMs?: number, intervalMs?: number): Promise<T>;
  /** Raw CDP command in this page's session. */
  send<T = any>(method: string, params?: object): Promise<T>;
  close(): Promise<void>;
}

interface Pending {
  resolve: (value: any) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  method: string;
}

type EventHandler = (params: any) => void;

/** A CDP connection multiplexing the browser target and flattened page sessions. */
class Cdp {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, Set<EventHandler>>();
  private closedError: Error | undefined;

  constructor(
    private readonly socket: WebSocket,
    private readonly commandTimeoutMs: number,
  ) {
    socket.on('message', (data) => this.onMessage(String(data)));
    socket.on('close', () => this.failAll(new Error('CDP connection closed')));
    socket.on('error', (error) => this.failAll(error));
  }

  static connect(url: string, commandTimeoutMs: number): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
      const onError = (error: Error) => reject(error);
      socket.once('error', onError);
      socket.once('open', () => {
        socket.off('error', onError);
        resolve(new Cdp(socket, commandTimeoutMs));
      });
    });
  }

  send<T>(method: string, params: object = {}, sessionId?: string, timeoutMs = this.commandTimeoutMs): Promise<T> {
    if (this.closedError) return Promise.reject(new Error(`${method}: ${this.closedError.message}`));
    const id = this.nextId++;
    const message: Record<string, unknown> = { id, method, params };
    if (sessionId) message.sessionId = sessionId;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`CDP ${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, method });
      this.socket.send(JSON.stringify(message), (error) => {
        if (error) this.settle(id, undefined, error);
      });
    });
  }

  /** Subscribes to an event; key is "method" or "sessionId:method". Returns an unsubscribe function. */
  on(key: string, handler: EventHandler): () => void {
    let set = this.handlers.get(key);
    if (!set) this.handlers.set(key, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  close(): Promise<void> {
    this.failAll(new Error('CDP connection closed by close()'));
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.socket.terminate();
        resolve();
      }, 1000);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (this.socket.readyState === WebSocket.CONNECTING) this.socket.terminate();
      else this.socket.close();
    });
  }

  private onMessage(text: string): void {
    let message: any;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof message.id === 'number') {
      const error = message.error
        ? new Error(`CDP ${this.pending.get(message.id)?.method ?? '?'}: ${message.error.message}${message.error.data ? ` (${message.error.data})` : ''}`)
        : undefined;
      this.settle(message.id, message.result, error);
      return;
    }
    if (typeof message.method === 'string') {
      const key = message.sessionId ? `${message.sessionId}:${message.method}` : message.method;
      for (const handler of [...(this.handlers.get(key) ?? [])]) handler(message.params ?? {});
    }
  }

  private settle(id: number, result: unknown, error?: Error): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    if (error) entry.reject(error);
    else entry.resolve(result);
  }

  private failAll(error: Error): void {
    this.closedError ??= error;
    for (const [id, entry] of this.pending) {
      this.pending.delete(id);
      clearTimeout(entry.timer);
      entry.reject(new Error(`CDP ${entry.method}: ${error.message}`));
    }
  }
}

function describeRemote(value: any): string {
  if (!value) return String(value);
  if ('value' in value) return typeof value.value === 'string' ? value.value : JSON.stringify(value.value);
  return value.description ?? value.unserializableValue ?? value.type;
}

function exceptionText(details: any): string {
  return details?.exception?.description ?? `${details?.text ?? 'exception'} at ${details?.url ?? ''}:${details?.lineNumber ?? '?'}`;
}

class CdpPage implements Page {
  readonly console: string[] = [];
  readonly errors: string[] = [];
  private readonly unsubscribe: Array<() => void> = [];
  private closed = false;

  constructor(
    private readonly cdp: Cdp,
    readonly targetId: string,
    private readonly sessionId: string,
    private readonly onClosed: (page: CdpPage) => void,
  ) {
    this.unsubscribe.push(
      cdp.on(`${sessionId}:Runtime.consoleAPICalled`, (p) => {
        this.console.push(`${p.type}: ${(p.args ?? []).map(describeRemote).join(' ')}`);
      }),
      cdp.on(`${sessionId}:Runtime.exceptionThrown`, (p) => {
        this.errors.push(exceptionText(p.exceptionDetails));
      }),
    );
  }

  send<T = any>(method: string, params: object = {}, timeoutMs?: number): Promise<T> {
    return this.cdp.send<T>(method, params, this.sessionId, timeoutMs);
  }

  async goto(url: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 15_000;
    let unsubscribe = () => {};
    let timer: NodeJS.Timeout | undefined;
    const loaded = new Promise<void>((resolve, reject) => {
      unsubscribe = this.cdp.on(`${this.sessionId}:Page.loadEventFired`, () => resolve());
      timer = setTimeout(() => reject(new Error(`page load of ${url} timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    loaded.catch(() => {}); // observed below; avoid an unhandled rejection if navigate throws first
    try {
      const result = await this.send<{ loaderId?: string; errorText?: string }>('Page.navigate', { url }, timeoutMs);
      if (result.errorText) throw new Error(`navigation to ${url} failed: ${result.errorText}`);
      if (result.loaderId) await loaded; // no loaderId: same-document navigation, no load event
    } finally {
      clearTimeout(timer);
      unsubscribe();
    }
  }

  async evaluate<T = unknown>(expression: string, options: { timeoutMs?: number } = {}): Promise<T> {
    const result = await this.send<{ result: any; exceptionDetails?: any }>(
      'Runtime.evaluate',
      { expression, awaitPromise: true, returnByValue: true, userGesture: true },
      options.timeoutMs,
    );
    if (result.exceptionDetails) {
      throw new Error(`evaluate(${JSON.stringify(expression)}) threw: ${exceptionText(result.exceptionDetails)}`);
    }
    const remote = result.result ?? {};
    if ('unserializableValue' in remote) {
      const u = String(remote.unserializableValue);
      if (u.endsWith('n')) return BigInt(u.slice(0, -1)) as T;
      return Number(u) as T; // NaN, Infinity, -Infinity, -0
    }
    return remote.value as T;
  }

  async waitFor<T = unknown>(expression: string, timeoutMs = 5000, intervalMs = 50): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last = 'never evaluated';
    for (;;) {
      const remaining = deadline - Date.now();
      try {
        const value = await this.evaluate<T>(expression, { timeoutMs: Math.max(remaining, 1000) });
        if (value) return value;
        last = `last value ${JSON.stringify(value)}`;
      } catch (error) {
        if (this.closed) throw error;
        last = `last error ${(error as Error).message}`;
      }
      if (Date.now() + intervalMs > deadline) {
        const consoleTail = this.console.slice(-10).join('\n  ');
        const errors = this.errors.slice(-5).join('\n  ');
        throw new Error(
          `waitFor(${JSON.stringify(expression)}) timed out after ${timeoutMs} ms (${last})` +
            (consoleTail ? `\n console:\n  ${consoleTail}` : '') +
            (errors ? `\n page errors:\n  ${errors}` : ''),
        );
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const u of this.unsubscribe) u();
    this.onClosed(this);
    await this.cdp.send('Target.closeTarget', { targetId: this.targetId }).catch(() => {});
  }
}

/** Resolves true when `promise` settles within `ms`, else false; leaves no timer behind. */
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** Kill a detached child's whole process group (renderers, GPU, zygote...). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  const executablePath = options.executablePath ?? CHROMIUM_PATH;
  const launchTimeoutMs = options.launchTimeoutMs ?? 30_000;
  const commandTimeoutMs = options.commandTimeoutMs ?? 15_000;
  const profileDir = mkdtempSync(join(tmpdir(), 'ws-chromium-'));
  const args = [
    ...CHROMIUM_FLAGS,
    ...(options.args ?? []),
    `--user-data-dir=${profileDir}`,
    '--remote-debugging-address=127.0.0.1',
    '--remote-debugging-port=0',
    'about:blank',
  ];

  const child = spawn(executablePath, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true, // own process group, so close() can kill every Chromium process
  });
  const removeProfile = () => rmSync(profileDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  // Safety net if a test forgets close(): no stray browser outlives the test process.
  const onProcessExit = () => {
    killGroup(child, 'SIGKILL');
    try {
      removeProfile();
    } catch {
      /* best effort */
    }
  };
  process.on('exit', onProcessExit);

  let stderr = '';
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', () => resolve()); // spawn failure: no 'close' may follow
  });
  let exitInfo: string | undefined;
  child.once('exit', (code, signal) => (exitInfo = `exited with code ${code} signal ${signal}`));

  const cleanupFailedLaunch = async () => {
    killGroup(child, 'SIGKILL');
    await within(exited, 3000);
    process.off('exit', onProcessExit);
    removeProfile();
  };

  let wsEndpoint: string;
  try {
    wsEndpoint = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Chromium did not print its DevTools URL within ${launchTimeoutMs} ms; stderr:\n${stderr.slice(-2000)}`)),
        launchTimeoutMs,
      );
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-20_000); // keep draining for the browser's lifetime
        const match = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(
          new Error(
            `cannot start ${executablePath}: ${error.message}` +
              ' (install Debian chromium: `apt-get install -y --no-install-recommends chromium`, or run scripts/install-peers.sh as root)',
          ),
        );
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`Chromium exited during startup (code ${code}, signal ${signal}); stderr:\n${stderr.slice(-2000)}`));
      });
    });
  } catch (error) {
    await cleanupFailedLaunch();
    throw error;
  }

  let cdp: Cdp;
  let version: string;
  try {
    cdp = await Cdp.connect(wsEndpoint, commandTimeoutMs);
    version = (await cdp.send<{ product: string }>('Browser.getVersion')).product;
  } catch (error) {
    await cleanupFailedLaunch();
    throw error;
  }

  const pages = new Set<CdpPage>();
  let closing: Promise<void> | undefined;

  const browser: Browser = {
    wsEndpoint,
    pid: child.pid!,
    version,
    send: (method, params) => cdp.send(method, params),
    stderrTail: () => stderr.slice(-4000),
    async newPage(url, pageOptions = {}) {
      if (closing) throw new Error('browser is closed');
      const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
      const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
      const page = new CdpPage(cdp, targetId, sessionId, (p) => pages.delete(p));
      pages.add(page);
      try {
        await page.send('Page.enable');
        await page.send('Runtime.enable');
        if (url !== undefined) await page.goto(url, pageOptions);
      } catch (error) {
        await page.close();
        throw error;
      }
      return page;
    },
    close() {
      closing ??= (async () => {
        // Graceful first (lets Chromium flush and exit), then the whole group.
        if (!exitInfo) await cdp.send('Browser.close', {}, undefined, 2000).catch(() => {});
        await cdp.close();
        const graceful = await within(exited, 3000);
        killGroup(child, 'SIGKILL'); // also reaps helpers that outlived the browser process
        if (!graceful) await within(exited, 3000);
        child.stderr?.destroy();
        process.off('exit', onProcessExit);
        removeProfile();
      })();
      return closing;
    },
  };
  return browser;
}
