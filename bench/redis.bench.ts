/**
 * Cross-process delivery through Redis: a publisher process and a
 * subscriber process, each with a Redis broker (src/brokers/redis.ts) on its
 * own node-redis client, and a redis-server started for the run
 * (tests/support/redis-server.ts).
 *
 *   node --import tsx bench/redis.bench.ts     (BENCH_QUICK=1: fewer messages)
 *
 * Cells: 16 B and 1 KiB binary messages, with 1 publish awaiting Redis's
 * answer at a time (latency of one message alone) and with 64 (throughput).
 * Reported per cell: messages per second (from the first publish to the
 * last delivery), one-way latency p50/p99 (publish call to the subscriber's
 * listener, both on the machine's monotonic clock), and loss: every message
 * must arrive, once, in order, with no gap reported; any loss fails the run.
 * The three processes are not pinned (the machine may have two cores for
 * all of them). Writes bench/results/redis.json.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RedisServer } from '../tests/support/redis-server.ts';
import { micros, num, sizeName, table, writeResult } from './report.ts';
import { LineReader } from './servers/spawn.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const PEER = fileURLToPath(new URL('./redis-peer.ts', import.meta.url));

interface Cell {
  readonly size: number;
  readonly inflight: number;
  readonly count: number;
}

const CELLS: Cell[] = [16, 1024].flatMap((size) => [
  { size, inflight: 1, count: QUICK ? 2_000 : 10_000 },
  { size, inflight: 64, count: QUICK ? 20_000 : 200_000 },
]);
const WARMUP: Cell = { size: 16, inflight: 64, count: 5_000 };

/** A peer process answering one JSON line per request. */
class Peer {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: LineReader;

  constructor(role: string, url: string) {
    this.#child = spawn(process.execPath, ['--import', 'tsx', PEER, role, url], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#lines = new LineReader(this.#child, role);
  }

  async request<T>(command: object, timeoutMs = 120_000): Promise<T> {
    this.#child.stdin.write(`${JSON.stringify(command)}\n`);
    const line = await this.#lines.next(timeoutMs);
    if (line === undefined) throw new Error('peer exited');
    return JSON.parse(line) as T;
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

interface Report {
  received: number;
  outOfOrder: number;
  gaps: number;
  errors: number;
  lastNs: string;
  p50Us: number;
  p99Us: number;
}

interface Result {
  readonly cell: Cell;
  readonly sent: number;
  readonly failures: number;
  readonly report: Report;
  readonly messagesPerSec: number;
  readonly lost: number;
}

async function measure(publisher: Peer, subscriber: Peer, cell: Cell): Promise<Result> {
  await subscriber.request({ op: 'reset', count: cell.count });
  const run = await publisher.request<{ sent: number; failures: number; startNs: string }>({ op: 'run', ...cell });
  // Every publish was answered by Redis, so every message is on its way: wait for the last (or give up).
  let report = await subscriber.request<Report>({ op: 'report' });
  for (const deadline = Date.now() + 10_000; report.received < run.sent && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    report = await subscriber.request<Report>({ op: 'report' });
  }
  const seconds = Number(BigInt(report.lastNs) - BigInt(run.startNs)) / 1e9;
  const lost = cell.count - report.received + report.outOfOrder + report.gaps;
  return { cell, sent: run.sent, failures: run.failures, report, messagesPerSec: report.received / seconds, lost };
}

async function main(): Promise<void> {
  console.log(
    `node ${process.version}; ${QUICK ? 'QUICK' : 'full'} run; publisher and subscriber in two processes, each with its own redis client and broker; ` +
      'redis-server on loopback; processes not pinned; binary messages',
  );
  const redis = await RedisServer.start();
  const subscriber = new Peer('subscriber', redis.url);
  const publisher = new Peer('publisher', redis.url);
  const results: Result[] = [];
  try {
    // The subscriber prints nothing until asked; its first answer means it is subscribed.
    await subscriber.request({ op: 'reset', count: 0 }, 30_000);
    await measure(publisher, subscriber, WARMUP);
    for (const cell of CELLS) results.push(await measure(publisher, subscriber, cell));
  } finally {
    await Promise.all([publisher.stop(), subscriber.stop()]);
    await redis.stop();
  }

  const rows = results.map((r) => [
    sizeName(r.cell.size),
    String(r.cell.inflight),
    String(r.cell.count),
    num(r.messagesPerSec),
    micros(r.report.p50Us),
    micros(r.report.p99Us),
    String(r.lost),
    r.failures === 0 ? '' : `${r.failures} publish failures`,
  ]);
  console.log(
    table(['size', 'in flight', 'messages', 'msgs/s', 'p50', 'p99', 'lost', ''], rows, new Set([1, 2, 3, 4, 5, 6])),
  );
  const path = writeResult('redis.json', `${JSON.stringify({ node: process.version, quick: QUICK, results }, null, 2)}\n`);
  console.log(`wrote ${path}`);
  const lost = results.reduce((sum, r) => sum + r.lost + r.failures, 0);
  if (lost > 0) {
    console.log(`LOSS: ${lost} message(s) lost, out of order, or not published`);
    process.exitCode = 1;
  } else {
    console.log('no loss: every message arrived once, in order, with no gap');
  }
}

await main();
