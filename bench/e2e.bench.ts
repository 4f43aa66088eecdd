/**
 * End to end over loopback: echo servers (ours with `consumeEach` and with
 * a `for await` loop, ws with and without bufferutil, and a raw node:net
 * echo as the ceiling), each pinned to core 0,
 * driven by the C load generator (bench/loadgen/loadgen.c) pinned to core 1.
 *
 *   node --import tsx --expose-gc bench/e2e.bench.ts     (BENCH_QUICK=1: reduced matrix, < 1 min)
 *
 * Matrix: message sizes 16 B, 1 KiB, 64 KiB, 1 MiB × 1 and 64 connections ×
 * 1 and 16 messages in flight per connection (binary messages, masked client
 * frames). For each cell the servers run interleaved (A B C D A B C D …),
 * each run being a warm-up and a measured window; the median run counts.
 * The ours/ws matrix also gives the spread: the lowest and highest ratio of
 * one run of ours to the ws run next to it (same repetition).
 * Reported per cell and server: messages/s, MB/s (payload bytes echoed per
 * second), p50/p99 round-trip latency, the server's CPU use, RSS and minor
 * page faults per message (`flt/msg`: with BENCH_MALLOC=default the 64 KiB
 * and 1 MiB cells swing with it, for every server, as the allocator gives
 * heap back to the kernel and takes it again; see `MALLOC_TUNABLES`), the load generator's CPU use (near 100% would make it
 * the bottleneck: flagged), and ratios to ws+bufferutil and to the raw echo. `msgs/CPU-s` (messages per
 * second of server CPU) is the number least disturbed by other load on the
 * machine. Writes bench/results/e2e.json and bench/results/e2e-throughput.svg.
 */
import { buildLoadgen } from './loadgen/build.ts';
import { barChartSvg, bytes, micros, num, percent, Progress, ratio, sizeName, spread, table, writeResult, type Spread } from './report.ts';
import {
  bufferutilAvailable,
  canPin,
  cpuSeconds,
  minorFaults,
  LineReader,
  rssOf,
  RunningServer,
  SERVERS,
  spawnPinned,
  type ServerSpec,
} from './servers/spawn.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const KiB = 1024;
const MiB = 1024 * 1024;
const SIZES = [16, KiB, 64 * KiB, MiB];
const WARMUP_MS = QUICK ? 300 : 700;
const MEASURE_MS = QUICK ? 700 : 2000;
/** Interleaved runs per server and cell (BENCH_REPS overrides: more runs, a steadier median). */
const REPS = Number(process.env.BENCH_REPS ?? (QUICK ? 1 : 3));
const SERVER_CPU = 0;
const LOADGEN_CPU = 1;
/**
 * glibc's malloc thresholds, the same for every server of the run
 * (BENCH_MALLOC=default: glibc's own). glibc raises its mmap and trim
 * thresholds the first time it frees a large mapped block, and which block
 * that is decides whether a server's 64 KiB and 1 MiB buffers come from heap
 * it keeps or from heap it gives back to the kernel and faults in again (up
 * to half the speed and more): in our runs, a TurboFan compilation zone
 * freed while the server started (`ws`'s bench server: 856 KiB, so trimming
 * from 1.7 MiB; ours none that large, so from 448 KiB). That is the
 * compiler's luck, not the library's, so by default every server gets fixed
 * thresholds: nothing mapped below 32 MiB, nothing trimmed below 256 MiB.
 */
const MALLOC_TUNABLES = 'glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=33554432';
const MALLOC_ENV: Record<string, string> = process.env.BENCH_MALLOC === 'default' ? {} : { GLIBC_TUNABLES: MALLOC_TUNABLES };

interface Cell {
  readonly size: number;
  readonly conns: number;
  readonly inflight: number;
}

/** The full matrix, or in quick mode every size at 64×16 plus the 16 B latency cell. */
const MATRIX: Cell[] = QUICK
  ? [{ size: 16, conns: 1, inflight: 1 }, ...SIZES.map((size) => ({ size, conns: 64, inflight: 16 }))]
  : SIZES.flatMap((size) =>
      [1, 64].flatMap((conns) => [1, 16].map((inflight) => ({ size, conns, inflight }))),
    );
/** BENCH_CELLS="16:64x1,1024:1x1" measures only those cells (size in bytes : connections x in flight). */
const CELLS: Cell[] = process.env.BENCH_CELLS
  ? process.env.BENCH_CELLS.split(',').map((spec) => {
      const [size, conns, inflight] = spec.split(/[:x]/).map(Number);
      return { size: size!, conns: conns!, inflight: inflight! };
    })
  : MATRIX;
/** BENCH_SERVERS="ours,ws" runs only those servers (keys of SERVERS). */
const ONLY_SERVERS = process.env.BENCH_SERVERS?.split(',');

/** One measured run of one server in one cell. */
interface Run {
  messagesPerSec: number;
  mbPerSec: number;
  p50Us: number;
  p99Us: number;
  /** Server CPU use in the window (1 = one full core). */
  serverCpu: number;
  /** Load generator CPU use in the window. */
  loadgenCpu: number;
  serverRss: number;
  serverRssPeak: number;
  /**
   * The server's minor page faults per message echoed in the window: fresh
   * memory touched (heap that the allocator gave back to the kernel and took
   * again, or new). The large-message cells swing with it from run to run.
   */
  faultsPerMessage: number;
  errors: number;
}

interface LoadgenResult {
  messages: number;
  bytes: number;
  seconds: number;
  p50_us: number;
  p99_us: number;
  cpu: number;
  errors: number;
  drained: boolean;
  closed: boolean;
}

async function measure(loadgen: string, server: RunningServer, cell: Cell): Promise<Run> {
  const child = spawnPinned(
    [loadgen, 'echo', '127.0.0.1', String(server.port), String(cell.conns), String(cell.inflight), String(cell.size), String(WARMUP_MS), String(MEASURE_MS)],
    LOADGEN_CPU,
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = new LineReader(child, `loadgen→${server.spec.key}`);
  let cpuStart = 0;
  let cpuEnd = 0;
  let faultsStart = 0;
  let faultsEnd = 0;
  let tStart = 0n;
  let tEnd = 0n;
  let result: LoadgenResult | undefined;
  for (let line = await lines.next(); line !== undefined; line = await lines.next()) {
    if (line === 'measure-start') {
      cpuStart = cpuSeconds(server.pid);
      faultsStart = minorFaults(server.pid);
      tStart = process.hrtime.bigint();
    } else if (line === 'measure-end') {
      cpuEnd = cpuSeconds(server.pid);
      faultsEnd = minorFaults(server.pid);
      tEnd = process.hrtime.bigint();
    } else if (line.startsWith('{')) {
      result = JSON.parse(line) as LoadgenResult;
    }
  }
  const code = await exited;
  if (result === undefined || code !== 0) throw new Error(`load generator against ${server.spec.key} failed (exit ${code})`);
  const { rss, peak } = rssOf(server.pid);
  return {
    messagesPerSec: result.messages / result.seconds,
    mbPerSec: result.bytes / result.seconds / 1e6,
    p50Us: result.p50_us,
    p99Us: result.p99_us,
    serverCpu: tEnd > tStart ? (cpuEnd - cpuStart) / (Number(tEnd - tStart) / 1e9) : 0,
    loadgenCpu: result.cpu,
    serverRss: rss,
    serverRssPeak: peak,
    faultsPerMessage: (faultsEnd - faultsStart) / Math.max(result.messages, 1),
    errors: result.errors + (result.drained ? 0 : 1),
  };
}

function median(runs: Run[]): Run {
  const sorted = [...runs].sort((a, b) => a.messagesPerSec - b.messagesPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

const cellName = (c: Cell): string => `${sizeName(c.size)} ${c.conns}x${c.inflight}`;

async function main(): Promise<void> {
  const started = Date.now();
  const loadgen = buildLoadgen();
  const haveBufferutil = bufferutilAvailable();
  const specs: ServerSpec[] = SERVERS.filter((s) => (haveBufferutil || s.key !== 'ws') && (ONLY_SERVERS === undefined || ONLY_SERVERS.includes(s.key)));
  const notes: string[] = [];
  if (!canPin()) notes.push('taskset is missing or the machine has one core: processes are NOT pinned');
  if (!haveBufferutil) notes.push('bufferutil did not load: ws runs pure JS only (the "vs ws" ratios use ws (pure JS))');
  const reference = haveBufferutil ? 'ws' : 'ws-js';
  console.log(
    `node ${process.version}; ${QUICK ? 'QUICK (reduced matrix)' : 'full'} run; servers on cpu ${SERVER_CPU}, load generator (C, epoll) on cpu ${LOADGEN_CPU}; ` +
      `${REPS} interleaved run(s) per server and cell, ${WARMUP_MS} ms warm-up + ${MEASURE_MS} ms measured; binary messages; MB/s = payload bytes echoed per second; ` +
      `malloc: ${MALLOC_ENV.GLIBC_TUNABLES === undefined ? "glibc's dynamic thresholds (BENCH_MALLOC=default)" : `GLIBC_TUNABLES=${MALLOC_TUNABLES} for every server`}`,
  );
  for (const note of notes) console.log(`NOTE: ${note}`);

  const servers: RunningServer[] = [];
  const results: { cell: Cell; runs: Record<string, Run[]>; median: Record<string, Run> }[] = [];
  const progress = new Progress();
  try {
    for (const spec of specs) servers.push(await RunningServer.start({ ...spec, env: { ...MALLOC_ENV, ...spec.env } }, SERVER_CPU));
    const total = CELLS.length * REPS * servers.length;
    let done = 0;
    for (const cell of CELLS) {
      const runs: Record<string, Run[]> = {};
      for (let rep = 0; rep < REPS; rep++) {
        for (const server of servers) {
          const elapsed = Math.round((Date.now() - started) / 1000);
          progress.update(`[${++done}/${total}] ${cellName(cell)} run ${rep + 1}/${REPS} ${server.spec.label} (${elapsed} s)`, rep === 0 && server === servers[0]);
          (runs[server.spec.key] ??= []).push(await measure(loadgen, server, cell));
          if (!server.alive) throw new Error(`server ${server.spec.key} died`);
        }
      }
      const med: Record<string, Run> = {};
      for (const [key, list] of Object.entries(runs)) med[key] = median(list);
      results.push({ cell, runs, median: med });
    }
  } finally {
    progress.done();
    await Promise.all(servers.map((s) => s.stop()));
  }

  // ---- table -----------------------------------------------------------------
  const header = ['cell (size conns x in flight)', 'server', 'msgs/s', 'MB/s', 'p50', 'p99', 'srv CPU', 'msgs/CPU-s', 'RSS', 'flt/msg', 'loadgen CPU', `vs ${reference}`, 'vs raw', 'CPU-s vs ws'];
  const rows: string[][] = [];
  for (const { cell, median: med } of results) {
    const ref = med[reference];
    const raw = med.raw;
    for (const spec of specs) {
      const r = med[spec.key];
      if (!r) continue;
      const eff = r.messagesPerSec / Math.max(r.serverCpu, 0.01);
      const refEff = ref ? ref.messagesPerSec / Math.max(ref.serverCpu, 0.01) : undefined;
      rows.push([
        spec === specs[0] ? cellName(cell) : '',
        spec.label,
        num(r.messagesPerSec),
        num(r.mbPerSec),
        micros(r.p50Us),
        micros(r.p99Us),
        percent(r.serverCpu),
        num(eff),
        bytes(r.serverRss),
        r.faultsPerMessage.toFixed(r.faultsPerMessage < 10 ? 1 : 0),
        `${percent(r.loadgenCpu)}${r.loadgenCpu > 0.9 ? ' (!)' : ''}`,
        spec.key === reference ? '' : ratio(r.messagesPerSec, ref?.messagesPerSec),
        spec.key === 'raw' ? '' : ratio(r.mbPerSec, raw?.mbPerSec),
        spec.key === reference ? '' : ratio(eff, refEff),
      ]);
    }
  }
  console.log(table(header, rows, new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])));
  const errors = results.flatMap((r) => Object.entries(r.median).filter(([, run]) => run.errors > 0).map(([k]) => `${cellName(r.cell)} ${k}`));
  if (errors.length) console.log(`runs with connection errors: ${errors.join(', ')}`);
  const busy = results.flatMap((r) => Object.values(r.median)).filter((r) => r.loadgenCpu > 0.9).length;
  console.log(
    busy === 0
      ? 'load generator CPU stayed below 90% in every cell: it is not the bottleneck'
      : `(!) load generator CPU above 90% in ${busy} run(s): those cells may be client-bound`,
  );

  // ---- targets (issue 14) -------------------------------------------------------
  const at = (size: number, conns: number, inflight: number) =>
    results.find((r) => r.cell.size === size && r.cell.conns === conns && r.cell.inflight === inflight);
  const configs = [...new Set(CELLS.map((c) => `${c.conns}x${c.inflight}`))];
  const sizes = [...new Set(CELLS.map((c) => c.size))].sort((a, b) => a - b);
  const speed: number[] = [];
  const misses: string[] = [];
  const spreads: ({ cell: string } & Spread)[] = [];
  const matrix: string[][] = [];
  for (const config of configs) {
    const [conns, inflight] = config.split('x').map(Number) as [number, number];
    const row = [`${conns} x ${inflight}`];
    for (const size of sizes) {
      const result = at(size, conns, inflight);
      const ours = result?.median.ours;
      const ref = result?.median[reference];
      if (ours === undefined || ref === undefined) {
        row.push('-');
        continue;
      }
      const x = ours.messagesPerSec / ref.messagesPerSec;
      const rss = ours.serverRssPeak / ref.serverRssPeak;
      const refRuns = result!.runs[reference]!;
      const paired = spread(result!.runs.ours!.map((run, i) => run.messagesPerSec / refRuns[i]!.messagesPerSec));
      spreads.push({ cell: `${sizeName(size)} ${config}`, ...paired });
      speed.push(x);
      row.push(REPS > 1 ? `${x.toFixed(2)}x (${paired.min.toFixed(2)}-${paired.max.toFixed(2)}), RSS ${rss.toFixed(2)}x` : `${x.toFixed(2)}x, RSS ${rss.toFixed(2)}x`);
      const goal = inflight === 1 ? 1.2 : 1.0;
      if (x < goal) misses.push(`${sizeName(size)} ${config}: ${x.toFixed(2)}x ${reference} (goal >= ${goal}x)`);
      if (rss > 1.25) misses.push(`${sizeName(size)} ${config}: peak RSS ${rss.toFixed(2)}x ${reference} (goal <= 1.25x)`);
    }
    matrix.push(row);
  }
  const geomean = speed.length > 0 ? Math.exp(speed.reduce((sum, x) => sum + Math.log(x), 0) / speed.length) : NaN;
  console.log(
    `\nours vs ${reference} (msgs/s ratio of the median runs${REPS > 1 ? ', in brackets the lowest and highest ratio of paired runs' : ''}; peak RSS ratio), ${REPS} interleaved run(s) per cell:`,
  );
  console.log(table(['conns x in flight', ...sizes.map(sizeName)], matrix, new Set(sizes.map((_, i) => i + 1))));
  console.log(`geometric mean over ${speed.length} cells: ${geomean.toFixed(2)}x ${reference} (goal >= 1.5x)`);
  if (geomean < 1.5) misses.push(`geometric mean ${geomean.toFixed(2)}x (goal >= 1.5x)`);
  console.log(
    `targets (every cell >= 1.0x ${reference}, every one-in-flight cell >= 1.2x, geomean >= 1.5x, peak RSS <= 1.25x ${reference}): ` +
      (misses.length === 0 ? 'met' : `MISSED in ${misses.length}:\n  ${misses.join('\n  ')}`),
  );
  const checks = { geomean, misses, pairedRatios: spreads };

  // ---- files -------------------------------------------------------------------
  const json = writeResult(
    'e2e.json',
    JSON.stringify(
      {
        node: process.version,
        quick: QUICK,
        pinned: canPin(),
        bufferutil: haveBufferutil,
        warmupMs: WARMUP_MS,
        measureMs: MEASURE_MS,
        reps: REPS,
        glibcTunables: MALLOC_ENV.GLIBC_TUNABLES ?? null,
        servers: specs.map((s) => ({ key: s.key, label: s.label })),
        checks,
        cells: results,
        seconds: (Date.now() - started) / 1000,
      },
      null,
      2,
    ),
  );
  const panels = configs.map((config) => ({
    title: `${config.replace('x', ' connection(s) × ')} in flight`,
    series: specs.map((spec) => ({
      label: spec.label,
      values: sizes.map((size) => results.find((r) => r.cell.size === size && `${r.cell.conns}x${r.cell.inflight}` === config)?.median[spec.key]?.mbPerSec ?? NaN),
    })),
  }));
  const svg = writeResult(
    'e2e-throughput.svg',
    barChartSvg(`WebSocket echo throughput by message size (MB/s of payload, log scale)${QUICK ? ', quick run' : ''}`, 'MB/s', sizes.map(sizeName), panels),
  );
  console.log(`\nwrote ${json} and ${svg} (${Math.round((Date.now() - started) / 1000)} s)`);
}

await main();
