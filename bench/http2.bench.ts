/**
 * Echo over HTTP/2 (RFC 8441) against HTTP/1.1 on the same server process:
 * bench/servers/ours-h2.ts serves both on one port (compiled to plain
 * JavaScript, pinned to core 0), and a lean Node load generator
 * (bench/servers/h2-load.ts, pinned to core 1) opens 64 WebSockets either
 * as 64 streams of ONE HTTP/2 connection or over 64 TCP connections, each
 * keeping 1 or 16 binary messages of 16 B or 1 KiB in flight.
 *
 *   node --import tsx --expose-gc bench/http2.bench.ts     (BENCH_QUICK=1: about 1 min)
 *   BENCH_REPS=n  runs per transport and cell (default 5; 3 when quick)
 *
 * Runs alternate between the transports (h1 h2, then h2 h1, ...), each a
 * warm-up and a measured window. Reported per cell and transport: the
 * median msgs/s with the lowest and highest run, the server's CPU use and
 * messages per server CPU-second, the client's CPU use (above 90% the client
 * is the bottleneck: flagged); and HTTP/2 / HTTP/1.1 as the ratio of the
 * medians with the range of the per-round ratios. The target (issue 16):
 * HTTP/2 at least 0.8x HTTP/1.1's msgs/s. Writes bench/results/http2.json.
 */
import { existsSync } from 'node:fs';
import { num, percent, Progress, table, writeResult } from './report.ts';
import { buildServers, compiledServer } from './servers/build.ts';
import type { LoadResult } from './servers/h2-load.ts';
import { canPin, cpuSeconds, LineReader, RunningServer, spawnPinned } from './servers/spawn.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const REPS = Number(process.env.BENCH_REPS) || (QUICK ? 3 : 5);
const WARMUP_MS = QUICK ? 300 : 700;
const MEASURE_MS = QUICK ? 700 : 2000;
const SERVER_CPU = 0;
const CLIENT_CPU = 1;
const CONNS = 64;
const CELLS = [
  { size: 16, inflight: 16 },
  { size: 1024, inflight: 16 },
  { size: 16, inflight: 1 },
  { size: 1024, inflight: 1 },
] as const;
const TRANSPORTS = ['h1', 'h2'] as const;
type Transport = (typeof TRANSPORTS)[number];
const LABEL: Record<Transport, string> = { h1: 'HTTP/1.1, 64 TCP connections', h2: 'HTTP/2, 64 streams on 1 connection' };

interface Run {
  messagesPerSec: number;
  serverCpu: number;
  clientCpu: number;
  errors: number;
}

/** The compiled load generator (rebuilt when another run replaced the build directory). */
function loadScript(): string {
  const path = compiledServer(buildServers(), 'h2-load.ts');
  if (!existsSync(path)) throw new Error(`no compiled load generator at ${path}`);
  return path;
}

async function measure(server: RunningServer, mode: Transport, size: number, inflight: number): Promise<Run> {
  const config = { mode, port: server.port, conns: CONNS, inflight, size, warmupMs: WARMUP_MS, measureMs: MEASURE_MS };
  const child = spawnPinned([process.execPath, loadScript(), JSON.stringify(config)], CLIENT_CPU);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = new LineReader(child, `load ${mode}`);
  let serverStart = 0;
  let clientStart = 0;
  let tStart = 0n;
  let serverCpu = 0;
  let clientCpu = 0;
  let result: LoadResult | undefined;
  for (let line = await lines.next(); line !== undefined; line = await lines.next()) {
    if (line === 'measure-start') {
      serverStart = cpuSeconds(server.pid);
      clientStart = cpuSeconds(child.pid as number);
      tStart = process.hrtime.bigint();
    } else if (line === 'measure-end') {
      const window = Number(process.hrtime.bigint() - tStart) / 1e9;
      serverCpu = (cpuSeconds(server.pid) - serverStart) / window;
      clientCpu = (cpuSeconds(child.pid as number) - clientStart) / window;
    } else if (line.startsWith('{')) {
      result = JSON.parse(line) as LoadResult;
    }
  }
  const code = await exited;
  if (result === undefined || code !== 0) throw new Error(`load generator (${mode}) failed (exit ${code})`);
  return { messagesPerSec: result.messages / result.seconds, serverCpu, clientCpu, errors: result.errors };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const perCpu = (run: Run): number => run.messagesPerSec / Math.max(run.serverCpu, 0.01);

async function main(): Promise<void> {
  const started = Date.now();
  console.log(
    `node ${process.version}; ${QUICK ? 'QUICK' : 'full'} run; one server process on cpu ${SERVER_CPU} (HTTP/1.1 and HTTP/2 on one port), ` +
      `the load generator on cpu ${CLIENT_CPU}; ${REPS} interleaved runs per transport and cell; ${WARMUP_MS} ms warm-up + ${MEASURE_MS} ms measured; ` +
      `${CONNS} WebSockets, binary echo`,
  );
  if (!canPin()) console.log('NOTE: taskset is missing or the machine has one core: processes are NOT pinned');
  const server = await RunningServer.start({ key: 'ours-h2', label: 'ours, HTTP/1.1 + HTTP/2', file: 'ours-h2.ts' }, SERVER_CPU);
  const results: { size: number; inflight: number; runs: Record<Transport, Run[]> }[] = [];
  const progress = new Progress();
  const total = CELLS.length * REPS * TRANSPORTS.length;
  let done = 0;
  try {
    for (const { size, inflight } of CELLS) {
      const runs: Record<Transport, Run[]> = { h1: [], h2: [] };
      for (let rep = 0; rep < REPS; rep++) {
        const order = rep % 2 === 0 ? TRANSPORTS : [...TRANSPORTS].reverse();
        for (const mode of order) {
          progress.update(`[${++done}/${total}] ${size} B x ${inflight} in flight, run ${rep + 1}/${REPS}, ${mode} (${Math.round((Date.now() - started) / 1000)} s)`, rep === 0);
          runs[mode].push(await measure(server, mode, size, inflight));
          if (!server.alive) throw new Error('the server died');
        }
      }
      results.push({ size, inflight, runs });
    }
  } finally {
    progress.done();
    await server.stop();
  }

  const header = ['cell', 'transport', 'msgs/s (median)', 'lowest–highest', 'srv CPU', 'msgs/CPU-s', 'client CPU', 'h2/h1 msgs/s', 'per round', 'h2/h1 msgs/CPU-s'];
  const rows: string[][] = [];
  const verdicts: string[] = [];
  for (const { size, inflight, runs } of results) {
    const med = (mode: Transport, f: (r: Run) => number): number => median(runs[mode].map(f));
    const ratios = runs.h2.map((run, i) => run.messagesPerSec / runs.h1[i]!.messagesPerSec);
    const throughput = med('h2', (r) => r.messagesPerSec) / med('h1', (r) => r.messagesPerSec);
    const efficiency = med('h2', perCpu) / med('h1', perCpu);
    for (const mode of TRANSPORTS) {
      const list = runs[mode];
      const clientCpu = med(mode, (r) => r.clientCpu);
      rows.push([
        mode === 'h1' ? `${size} B, ${CONNS} x ${inflight}` : '',
        LABEL[mode],
        num(med(mode, (r) => r.messagesPerSec)),
        `${num(Math.min(...list.map((r) => r.messagesPerSec)))}–${num(Math.max(...list.map((r) => r.messagesPerSec)))}`,
        percent(med(mode, (r) => r.serverCpu)),
        num(med(mode, perCpu)),
        `${percent(clientCpu)}${clientCpu > 0.9 ? ' (!)' : ''}`,
        mode === 'h2' ? `${throughput.toFixed(2)}x` : '',
        mode === 'h2' ? `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}` : '',
        mode === 'h2' ? `${efficiency.toFixed(2)}x` : '',
      ]);
    }
    verdicts.push(`  ${size} B, ${CONNS} x ${inflight}: ${throughput.toFixed(2)}x HTTP/1.1's msgs/s (${efficiency.toFixed(2)}x per server CPU-second) → ${throughput >= 0.8 ? 'met' : 'MISSED'}`);
  }
  console.log(table(header, rows, new Set([2, 3, 4, 5, 6, 7, 8, 9])));
  const errors = results.flatMap(({ size, inflight, runs }) => TRANSPORTS.filter((m) => runs[m].some((r) => r.errors > 0)).map((m) => `${size} B x ${inflight} ${m}`));
  if (errors.length > 0) console.log(`(!) runs with errors: ${errors.join(', ')}`);
  console.log('\ntarget (issue 16): HTTP/2 at least 0.8x HTTP/1.1 msgs/s on the same server');
  for (const line of verdicts) console.log(line);

  const json = writeResult(
    'http2.json',
    JSON.stringify({ node: process.version, quick: QUICK, pinned: canPin(), reps: REPS, warmupMs: WARMUP_MS, measureMs: MEASURE_MS, conns: CONNS, cells: results, seconds: (Date.now() - started) / 1000 }, null, 2),
  );
  console.log(`\nwrote ${json} (${Math.round((Date.now() - started) / 1000)} s)`);
}

await main();
