/**
 * Waiting and measuring in loopback tests: sleeping, polling until a
 * condition holds, a forced GC and live-memory sampling, counts of active
 * handles (to prove nothing is left behind), and a server's open-socket
 * count.
 */
import type { Server } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

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

/** Live TCP handles of this process: servers' and clients' sockets alike (a test's peers are in it too). */
export function tcpSockets(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap').length;
}

/** The number of sockets `server` holds open. */
export function connectionCount(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}
