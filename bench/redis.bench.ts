/**
 * Cross-process delivery through Redis, on a redis-server started for the
 * run (tests/support/redis-server.ts), measured two ways:
 *
 *   node --import tsx bench/redis.bench.ts     (BENCH_QUICK=1: fewer and shorter runs)
 *
 * 1. End to end through WebSocket servers. Two testee processes (the compiled
 *    build/examples/autobahn-testee.js, REDIS_URL set: a Redis broker each) on
 *    their own ports. The C load generator (bench/loadgen/loadgen.c, `fanout`
 *    mode) opens 1 or 100 subscribers at `/pubsub/bench` on node 2, waits
 *    until node 2 is subscribed on Redis (PUBSUB NUMSUB), then opens one
 *    publisher at `/pubsub/bench` on node 1 (the testee publishes every
 *    message it sends; node 1 frames it for its own subscribers, the publisher
 *    itself included, and Redis carries it to node 2, which frames it once
 *    for all of its subscribers) and
 *    keeps 1 or 16 messages in flight, a message being complete once every
 *    subscriber on node 2 has it. Reported per cell (median and min–max over
 *    runs): messages per second (complete ones), deliveries per second, and
 *    latency p50/p99 from the publisher's send to a subscriber's receipt on
 *    node 2. Every subscriber must get every message, in sequence, and the
 *    publisher its own copies from node 1: any loss fails the benchmark.
 *    The testee awaits each `server.publish` (Redis's answer) before it
 *    takes the connection's next message, so one publisher connection
 *    publishes one message per Redis round trip whatever is in flight.
 *
 * 2. The broker alone: a publisher and a subscriber process
 *    (bench/servers/redis-peer.ts), each a Redis broker on its own node-redis
 *    client, with 1 publish awaiting Redis's answer at a time (the latency of
 *    one message alone) and 64 (throughput); messages per second (from the
 *    first publish to the last delivery), one-way latency p50/p99 (publish
 *    call to the subscriber's listener, on the machine's monotonic clock),
 *    and loss: every message must arrive, once, in order, with no gap.
 *
 * Processes are not pinned (four of them share the machine's cores).
 * Binary messages of 16 B and 1 KiB. Writes bench/results/redis.json.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createClient } from 'redis';
import { REDIS_BROKER_DEFAULTS } from '../src/brokers/redis.ts';
import { freePort } from '../tests/support/interop.ts';
import { RedisServer } from '../tests/support/redis-server.ts';
import { buildLoadgen } from './loadgen/build.ts';
import { damage, runFanout, type FanoutResult } from './loadgen/fanout.ts';
import { micros, num, Progress, sizeName, spread, table, writeResult } from './report.ts';
import { buildServers, compiledServer } from './servers/build.ts';
import { LineReader } from './servers/spawn.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const SIZES = [16, 1024];
const TOPIC = 'bench';
const CHANNEL = REDIS_BROKER_DEFAULTS.channelPrefix + TOPIC;
const PATH = `/pubsub/${TOPIC}`;

/** Subscribers on node 2: 1 (the path alone), 100 (node 2 fans each message out). */
const WS_SUBSCRIBERS = [1, 100];
const WS_INFLIGHT = [1, 16];
const WARMUP_MS = QUICK ? 300 : 700;
const MEASURE_MS = QUICK ? 700 : 2000;
const REPS = QUICK ? 1 : 3;

const BROKER_INFLIGHT = [1, 64];
const brokerCount = (inflight: number): number => (inflight === 1 ? 1 : 10) * (QUICK ? 2_000 : 10_000);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A node child process of the benchmark: lines on stdout, stderr passed on. */
class Child {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: LineReader;
  /** How it is asked to exit: the end of its stdin, or this signal too. */
  readonly #stopSignal: 'SIGTERM' | undefined;

  constructor(argv: readonly string[], name: string, stopSignal: 'SIGTERM' | undefined, env: Readonly<Record<string, string>> = {}) {
    this.child = spawn(process.execPath, argv, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.lines = new LineReader(this.child, name);
    this.#stopSignal = stopSignal;
  }

  /** Asks it to exit and waits, killing it after 5 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin.end();
    if (this.#stopSignal !== undefined) child.kill(this.#stopSignal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

// ---- 1. end to end through two testees ------------------------------------------------

/** A testee process sharing topics through Redis. */
class Testee extends Child {
  readonly port: number;

  private constructor(port: number, redisUrl: string, name: string) {
    super([join(buildServers(), 'build', 'examples', 'autobahn-testee.js'), '--port', String(port)], name, 'SIGTERM', { REDIS_URL: redisUrl });
    this.port = port;
  }

  static async start(redisUrl: string, name: string): Promise<Testee> {
    const testee = new Testee(await freePort(), redisUrl, name);
    const first = await testee.lines.next(30_000);
    if (first === undefined || !first.startsWith('testee listening')) {
      await testee.stop();
      throw new Error(`${name} did not start: ${String(first)}`);
    }
    return testee;
  }
}

interface WsCell {
  readonly size: number;
  readonly subscribers: number;
  readonly inflight: number;
}

interface WsRun {
  messagesPerSec: number;
  deliveriesPerSec: number;
  p50Us: number;
  p99Us: number;
  /** Messages a subscriber or the publisher did not get, sequence breaks and connection errors. */
  lost: number;
  result: FanoutResult;
}

/** Waits until `count(subscribers of CHANNEL)` holds, polling Redis (at most 10 s). */
async function awaitSubscribers(redis: ReturnType<typeof createClient>, ok: (n: number) => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; ; ) {
    const reply = (await redis.sendCommand(['PUBSUB', 'NUMSUB', CHANNEL])) as [string, number];
    if (ok(Number(reply[1]))) return;
    if (Date.now() > deadline) throw new Error(`Redis channel ${CHANNEL}: ${what} within 10 s`);
    await sleep(10);
  }
}

const wsCellName = (c: WsCell): string => `${sizeName(c.size)}, ${c.subscribers} subscriber(s), ${c.inflight} in flight`;

async function measureWs(loadgen: string, redis: ReturnType<typeof createClient>, node1: Testee, node2: Testee, cell: WsCell): Promise<WsRun> {
  // Both nodes left the channel after the last run: a subscription seen from here on is this run's.
  await awaitSubscribers(redis, (n) => n === 0, 'the last run’s subscriptions are not gone');
  const r = await runFanout(loadgen, {
    port: node1.port,
    pubPath: PATH,
    subPort: node2.port,
    subPath: PATH,
    subscribers: cell.subscribers,
    inflight: cell.inflight,
    size: cell.size,
    warmupMs: WARMUP_MS,
    measureMs: MEASURE_MS,
    cpu: undefined,
    name: 'loadgen',
    subscribed: () => awaitSubscribers(redis, (n) => n >= 1, 'node 2 did not subscribe'),
  });
  const lost = damage(r, true); // the testee includes the sender: the publisher gets its own copies from node 1
  return { messagesPerSec: r.messages / r.seconds, deliveriesPerSec: r.deliveries / r.seconds, p50Us: r.p50_us, p99Us: r.p99_us, lost, result: r };
}

// ---- 2. the broker alone ----------------------------------------------------------------

/** A broker peer process (bench/servers/redis-peer.ts) answering one JSON line per request. */
class Peer extends Child {
  constructor(role: 'publisher' | 'subscriber', url: string) {
    super([compiledServer(buildServers(), 'redis-peer.ts'), role, url], role, undefined);
  }

  async request<T>(command: object, timeoutMs = 120_000): Promise<T> {
    this.child.stdin.write(`${JSON.stringify(command)}\n`);
    const line = await this.lines.next(timeoutMs);
    if (line === undefined) throw new Error('peer exited');
    return JSON.parse(line) as T;
  }
}

interface BrokerCell {
  readonly size: number;
  readonly inflight: number;
  readonly count: number;
}

interface PeerReport {
  received: number;
  outOfOrder: number;
  gaps: number;
  errors: number;
  lastNs: string;
  p50Us: number;
  p99Us: number;
}

interface BrokerResult {
  readonly cell: BrokerCell;
  readonly sent: number;
  readonly failures: number;
  readonly report: PeerReport;
  readonly messagesPerSec: number;
  readonly lost: number;
}

async function measureBroker(publisher: Peer, subscriber: Peer, cell: BrokerCell): Promise<BrokerResult> {
  await subscriber.request({ op: 'reset', count: cell.count });
  const run = await publisher.request<{ sent: number; failures: number; startNs: string }>({ op: 'run', ...cell });
  // Every publish was answered by Redis, so every message is on its way: wait for the last (or give up).
  let report = await subscriber.request<PeerReport>({ op: 'report' });
  for (const deadline = Date.now() + 10_000; report.received < run.sent && Date.now() < deadline; ) {
    await sleep(50);
    report = await subscriber.request<PeerReport>({ op: 'report' });
  }
  const seconds = Number(BigInt(report.lastNs) - BigInt(run.startNs)) / 1e9;
  const lost = cell.count - report.received + report.outOfOrder + report.gaps + run.failures;
  return { cell, sent: run.sent, failures: run.failures, report, messagesPerSec: report.received / seconds, lost };
}

// ---- main ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const loadgen = buildLoadgen();
  console.log(
    `node ${process.version}; ${QUICK ? 'QUICK' : 'full'} run; redis-server on loopback; processes not pinned; binary messages\n` +
      `1. end to end: publisher on testee node 1, ${WS_SUBSCRIBERS.join(' or ')} subscriber(s) on testee node 2 (C load generator), ` +
      `${REPS} run(s) per cell, ${WARMUP_MS} ms warm-up + ${MEASURE_MS} ms measured; latency = publisher's send to a subscriber's receipt`,
  );
  const progress = new Progress();
  const redisServer = await RedisServer.start();
  const wsCells: { cell: WsCell; runs: WsRun[] }[] = [];
  const brokerResults: BrokerResult[] = [];
  try {
    // ---- 1 ----
    const redis = createClient({ url: redisServer.url });
    redis.on('error', (error: Error) => process.stderr.write(`redis (bench): ${error.message}\n`));
    await redis.connect();
    const nodes: Testee[] = [];
    try {
      nodes.push(await Testee.start(redisServer.url, 'node 1'), await Testee.start(redisServer.url, 'node 2'));
      const [node1, node2] = nodes as [Testee, Testee];
      const cells = SIZES.flatMap((size) => WS_SUBSCRIBERS.flatMap((subscribers) => WS_INFLIGHT.map((inflight) => ({ size, subscribers, inflight }))));
      for (const cell of cells) {
        const runs: WsRun[] = [];
        for (let rep = 0; rep < REPS; rep++) {
          progress.update(`end to end: ${wsCellName(cell)}, run ${rep + 1}/${REPS} (${Math.round((Date.now() - started) / 1000)} s)`, rep === 0);
          runs.push(await measureWs(loadgen, redis, node1, node2, cell));
        }
        wsCells.push({ cell, runs });
      }
      await awaitSubscribers(redis, (n) => n === 0, 'the last run’s subscriptions are not gone');
    } finally {
      progress.done();
      await Promise.all(nodes.map((n) => n.stop()));
      await redis.quit();
    }

    // ---- 2 ----
    const subscriber = new Peer('subscriber', redisServer.url);
    const publisher = new Peer('publisher', redisServer.url);
    try {
      // The subscriber prints nothing until asked; its first answer means it is subscribed.
      await subscriber.request({ op: 'reset', count: 0 }, 30_000);
      await measureBroker(publisher, subscriber, { size: 16, inflight: 64, count: 5_000 }); // warm-up
      for (const size of SIZES) {
        for (const inflight of BROKER_INFLIGHT) {
          progress.update(`broker alone: ${sizeName(size)}, ${inflight} in flight (${Math.round((Date.now() - started) / 1000)} s)`, true);
          brokerResults.push(await measureBroker(publisher, subscriber, { size, inflight, count: brokerCount(inflight) }));
        }
      }
    } finally {
      progress.done();
      await Promise.all([publisher.stop(), subscriber.stop()]);
    }
  } finally {
    await redisServer.stop();
  }

  const wsSummary = wsCells.map(({ cell, runs }) => ({
    cell,
    messagesPerSec: spread(runs.map((r) => r.messagesPerSec)),
    deliveriesPerSec: spread(runs.map((r) => r.deliveriesPerSec)),
    p50Us: spread(runs.map((r) => r.p50Us)).median,
    p99Us: spread(runs.map((r) => r.p99Us)).median,
    lost: runs.reduce((sum, r) => sum + r.lost, 0),
    runs,
  }));
  console.log('\n1. end to end through two WebSocket servers (publisher on node 1, subscribers on node 2):');
  console.log(
    table(
      ['size', 'subscribers', 'in flight', 'msgs/s', 'min–max', 'deliveries/s', 'p50', 'p99', 'lost'],
      wsSummary.map((s) => [
        sizeName(s.cell.size),
        String(s.cell.subscribers),
        String(s.cell.inflight),
        num(s.messagesPerSec.median),
        `${num(s.messagesPerSec.min)}–${num(s.messagesPerSec.max)}`,
        num(s.deliveriesPerSec.median),
        micros(s.p50Us),
        micros(s.p99Us),
        String(s.lost),
      ]),
      new Set([1, 2, 3, 4, 5, 6, 7, 8]),
    ),
  );
  console.log('\n2. the broker alone (publisher and subscriber processes, one broker each):');
  console.log(
    table(
      ['size', 'in flight', 'messages', 'msgs/s', 'p50', 'p99', 'lost', ''],
      brokerResults.map((r) => [
        sizeName(r.cell.size),
        String(r.cell.inflight),
        String(r.cell.count),
        num(r.messagesPerSec),
        micros(r.report.p50Us),
        micros(r.report.p99Us),
        String(r.lost),
        r.failures === 0 ? '' : `${r.failures} publish failures`,
      ]),
      new Set([1, 2, 3, 4, 5, 6]),
    ),
  );
  const path = writeResult(
    'redis.json',
    `${JSON.stringify({ node: process.version, quick: QUICK, websocket: wsSummary, broker: brokerResults, seconds: (Date.now() - started) / 1000 }, null, 2)}\n`,
  );
  console.log(`\nwrote ${path} (${Math.round((Date.now() - started) / 1000)} s)`);
  const lost = wsSummary.reduce((sum, s) => sum + s.lost, 0) + brokerResults.reduce((sum, r) => sum + r.lost, 0);
  if (lost > 0) {
    console.log(`LOSS: ${lost} message(s) lost, out of order, or not published`);
    process.exitCode = 1;
  } else {
    console.log('no loss: every message reached every subscriber once, in order, with no gap');
  }
}

await main();
