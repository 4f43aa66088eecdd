/**
 * Run Python `websockets` peers (Debian's python3-websockets, installed by
 * scripts/install-peers.sh) from tests.
 *
 * Always /usr/bin/python3: the `python3` on PATH may be a pyenv shim (another
 * interpreter) that cannot import Debian's module. Override with env PYTHON.
 *
 *   const r = await runPythonClient(`ws://127.0.0.1:${port}/echo`, `
 *   async with websockets.connect(URL) as ws:
 *       await ws.send("hi")
 *       print(await ws.recv())
 *   `);
 *   assert.is(r.code, 0, r.stderr);
 *   assert.is(r.stdout.trim(), 'hi');
 *
 * The promise never rejects for a script failure or a timeout: check `code`
 * (null when killed), `timedOut` and `stderr`. It rejects only when the
 * interpreter cannot be started at all.
 */
import { spawn } from 'node:child_process';

export const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';

export interface PythonOptions {
  /** Extra argv after the script (sys.argv[1:]). */
  args?: readonly string[];
  /** Kill the process (SIGKILL) after this many ms (default 20 000). */
  timeoutMs?: number;
  /** Extra environment variables (added to process.env). */
  env?: Record<string, string>;
  /** Written to the script's stdin, which is then closed (default: empty stdin). */
  stdin?: string | Uint8Array;
}

export interface PythonResult {
  /** Exit code; null when killed by a signal (e.g. on timeout). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

/** Runs a complete Python script (`python3 -c source ...args`). */
export function runPython(source: string, options: PythonOptions = {}): Promise<PythonResult> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-X', 'utf8', '-u', '-c', source, ...(options.args ?? [])], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...options.env },
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdin.on('error', () => {}); // the script may exit without reading stdin
    child.stdin.end(options.stdin ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(
        new Error(
          `cannot start ${PYTHON}: ${error.message} (install Debian python3 + python3-websockets: run scripts/install-peers.sh as root)`,
        ),
      );
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) stderr += `\n[python-peer] killed after ${timeoutMs} ms timeout`;
      resolve({ code, signal, stdout, stderr, timedOut, durationMs: Date.now() - started });
    });
  });
}

/** Indents every line of `body` (after stripping its common indentation) by `prefix`. */
function indent(body: string, prefix: string): string {
  const lines = body.replace(/\t/g, '    ').split('\n');
  while (lines.length && lines[0]!.trim() === '') lines.shift();
  while (lines.length && lines[lines.length - 1]!.trim() === '') lines.pop();
  const common = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => (l.trim() ? prefix + l.slice(Number.isFinite(common) ? common : 0) : '')).join('\n');
}

/**
 * Runs `body` as the body of `async def main()` with `asyncio`, `sys`, `json`
 * and `websockets` imported and `URL` bound to `url` (also sys.argv[1]).
 * The body may be indented any way (common indentation is removed).
 */
export function runPythonClient(url: string, body: string, options: PythonOptions = {}): Promise<PythonResult> {
  const source = [
    'import asyncio, json, sys',
    'import websockets',
    'URL = sys.argv[1]',
    'async def main():',
    indent(body, '    ') || '    pass',
    'asyncio.run(main())',
    '',
  ].join('\n');
  return runPython(source, { ...options, args: [url, ...(options.args ?? [])] });
}

/** Version of the `websockets` module the peer uses; rejects if it cannot be imported. */
export async function pythonWebsocketsVersion(): Promise<string> {
  const r = await runPython('import websockets; print(websockets.__version__)', { timeoutMs: 10_000 });
  if (r.code !== 0) {
    throw new Error(
      `${PYTHON} cannot import websockets (exit ${r.code}): ${r.stderr.trim()}\n` +
        'install it: apt-get install -y --no-install-recommends python3-websockets (scripts/install-peers.sh)',
    );
  }
  return r.stdout.trim();
}

/** Formats a result for assertion messages. */
export function describeResult(r: PythonResult): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? ' TIMED OUT' : ''} after ${r.durationMs} ms\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}
