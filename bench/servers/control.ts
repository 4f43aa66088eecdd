/**
 * What every benchmark echo server shares: it listens on an ephemeral
 * loopback port, prints `{"port":N}` as its first stdout line, and answers
 * `mem` lines on stdin with one JSON line of `process.memoryUsage()` taken
 * after two full garbage collections (the server runs with --expose-gc).
 * Other lines go to the server's own `commands` by their first word. It
 * exits when stdin ends, so it never outlives the benchmark.
 */
import type { Server } from 'node:net';
import { createInterface } from 'node:readline';

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** A server's own stdin command: called with the rest of the line. */
export type Command = (argument: string) => void;

export function serveBenchmark(server: Server, commands: Readonly<Record<string, Command>> = {}): void {
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    announceAndServe(address.port, commands);
  });
}

/** For a server that listened by itself (the server object's `listen`): prints the port and answers stdin. */
export function announceAndServe(port: number, commands: Readonly<Record<string, Command>> = {}): void {
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const [word = '', ...rest] = line.trim().split(/\s+/);
    if (word !== 'mem') {
      if (Object.hasOwn(commands, word)) commands[word]!(rest.join(' '));
      return;
    }
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    const sample: MemorySample = {
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
    };
    process.stdout.write(`${JSON.stringify(sample)}\n`);
  });
  lines.on('close', () => process.exit(0));
}
