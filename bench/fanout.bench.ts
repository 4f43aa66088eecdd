/**
 * Fan-out: one topic, 10,000 subscribers, one publisher keeping 16 messages
 * in flight, 16 B and 1 KiB binary messages.
 *
 *   node --import tsx --expose-gc bench/fanout.bench.ts     (BENCH_QUICK=1: < 1 min)
 *
 * Servers (compiled, bench/servers/, a fresh process per run, pinned to core 0): ours
 * (fanout-ours.ts: subscribers `session.subscribe('t')`, each message of the
 * publisher `server.publish('t', message)`) and ws (fanout-ws.ts: the loop of
 * `send` over a `Set` of the topic's sockets from ws's README, with
 * bufferutil). The publisher is a connection of its own, not a subscriber, on
 * both. The C load generator (bench/loadgen/loadgen.c, `fanout` mode) runs on
 * core 1: it opens the subscribers, then the publisher; each message carries
 * its sequence number, and is complete once every subscriber has received it
 * (checked in sequence: a gap, repeat or reorder fails the run); each
 * completion sends the next message, so 16 are always in flight end to end,
 * identically for both servers. After the measured window it drains the
 * messages in flight and checks that every subscriber got every message
 * published: 0 lost, or the benchmark fails.
 *
 * Reported per size and server, over interleaved runs (ours, ws, ours, ws …):
 * deliveries per second (messages × subscribers that received them, per
 * second; median and min–max), completed messages per second, delivery
 * latency p50/p99 (publish to receipt), the server's CPU use and deliveries
 * per CPU-second (the figure least disturbed by other load on the machine),
 * the server's peak RSS (each run has a fresh server process: VmHWM from its
 * start, through the 10,000 connections and the warm-up, to the end of the
 * measured window; the close of the connections after it is not counted),
 * the load generator's CPU use, and ours/ws: the ratio of the medians and
 * the range of the ratios of the runs taken side by side.
 *
 * Memory per publish. The claim: a publish costs one payload, however many
 * subscribers it reaches. Measured as what the server *allocates* per
 * publish in steady state, at 1,000 and at 10,000 subscribers (1 KiB
 * messages, same load): in a window of whole publish cycles (it opens and
 * closes at a publish: bench/servers/allocation-window.ts) the server counts
 * publishes and deliveries and the growth of its ArrayBuffer bytes
 * (`process.memoryUsage().arrayBuffers`: the bytes of every Buffer, payloads,
 * frames, headers and socket reads alike) and of its JS heap. Growth equals
 * allocation only if nothing was freed, and only a garbage collection frees:
 * these server processes run with a 256 MiB young generation, so a window
 * fits without a collection, and a v8.GCProfiler over the window proves none
 * happened (a window with one is discarded and measured again); it opens
 * after two full collections, with the young generation empty. ArrayBuffer
 * bytes per publish that stay the same from 1,000 to 10,000 subscribers (and
 * close to the payload) show that a publish allocates no bytes per
 * subscriber; the JS heap per delivery shows the per-subscriber bookkeeping
 * (queue entries, write requests) that any server has. ws is measured the
 * same way for contrast (in a full run only: BENCH_QUICK=1 measures ours).
 *
 * BENCH_SUBSCRIBERS=N changes the 10,000; BENCH_CPU_PROF=<dir> runs our
 * server with --cpu-prof into <dir> (one profile per server process).
 * Writes bench/results/fanout.json.
 */
import { buildLoadgen } from './loadgen/build.ts';
import { damage, runFanout } from './loadgen/fanout.ts';
import { bytes, micros, num, percent, Progress, ratio, sizeName, spread, table, writeResult } from './report.ts';
import { bufferutilAvailable, canPin, cpuSeconds, rssOf, RunningServer, type ServerSpec } from './servers/spawn.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 10_000);
const SIZES = [16, 1024];
const INFLIGHT = 16;
const WARMUP_MS = QUICK ? 300 : 700;
const MEASURE_MS = QUICK ? 700 : 2000;
const REPS = QUICK ? 1 : 5;
const SERVER_CPU = 0;
const LOADGEN_CPU = 1;
const TARGET_RATIO = 5;

const MEMORY_SUBSCRIBERS = [1_000, SUBSCRIBERS];
const MEMORY_SIZE = 1024;
const MEMORY_WINDOW_MS = QUICK ? 1000 : 2000;
const MEMORY_REPS = QUICK ? 1 : 3;
/** Servers of the memory runs (ws, the contrast, only in a full run: its 10,000-subscriber runs are slow). */
const MEMORY_SERVERS = QUICK ? ['ours'] : ['ours', 'ws'];
/** Young generation of the memory runs' servers: a window's allocations fit, so nothing is collected in it. */
const NO_GC_IN_WINDOW = ['--min-semi-space-size=256', '--max-semi-space-size=256'];
const MEMORY_ATTEMPTS = 3;

/** One measured run of one server. */
interface Run {
  deliveriesPerSec: number;
  messagesPerSec: number;
  p50Us: number;
  p99Us: number;
  /** Server CPU use in the window (1 = one core). */
  serverCpu: number;
  loadgenCpu: number;
  peakRss: number;
  /** Every published message some subscriber did not get, plus connection errors and sequence breaks. */
  lost: number;
  published: number;
}

/** One run on a fresh server process (so its peak RSS is this run's). */
async function measure(loadgen: string, spec: ServerSpec, size: number): Promise<Run> {
  const server = await RunningServer.start(spec, SERVER_CPU);
  try {
    return await measureOn(loadgen, server, size);
  } finally {
    await server.stop();
  }
}

async function measureOn(loadgen: string, server: RunningServer, size: number): Promise<Run> {
  let peakRss = 0;
  let cpuStart = 0;
  let cpuEnd = 0;
  let tStart = 0n;
  let tEnd = 0n;
  const r = await runFanout(loadgen, {
    port: server.port,
    pubPath: '/pub',
    subPath: '/sub',
    subscribers: SUBSCRIBERS,
    inflight: INFLIGHT,
    size,
    warmupMs: WARMUP_MS,
    measureMs: MEASURE_MS,
    cpu: LOADGEN_CPU,
    name: `loadgen→${server.spec.key}`,
    window(edge) {
      if (edge === 'start') {
        cpuStart = cpuSeconds(server.pid);
        tStart = process.hrtime.bigint();
      } else {
        cpuEnd = cpuSeconds(server.pid);
        tEnd = process.hrtime.bigint();
        peakRss = rssOf(server.pid).peak;
      }
    },
  });
  if (!server.alive) throw new Error(`server ${server.spec.key} died`);
  return {
    deliveriesPerSec: r.deliveries / r.seconds,
    messagesPerSec: r.messages / r.seconds,
    p50Us: r.p50_us,
    p99Us: r.p99_us,
    serverCpu: tEnd > tStart ? (cpuEnd - cpuStart) / (Number(tEnd - tStart) / 1e9) : 0,
    loadgenCpu: r.cpu,
    peakRss,
    lost: damage(r, false),
    published: r.published,
  };
}

/** What the server allocated in one window (allocation-window.ts). */
interface AllocationSample {
  publishes: number;
  deliveries: number;
  heapBytes: number;
  arrayBufferBytes: number;
  /** Kinds of the collections in the window: the window counts only when there was none. */
  gcs: string[];
  ms: number;
  /** Damage of the load generator's run (see `damage` in loadgen/fanout.ts). */
  lost: number;
}

/**
 * Allocation windows at `subscribers` until one has no garbage collection in
 * it (at most MEMORY_ATTEMPTS); returns them all, the clean one last.
 */
async function measureAllocation(loadgen: string, server: RunningServer, subscribers: number): Promise<AllocationSample[]> {
  const windows: AllocationSample[] = [];
  while (windows.length < MEMORY_ATTEMPTS && (windows.length === 0 || windows[windows.length - 1]!.gcs.length > 0)) {
    let sample: Omit<AllocationSample, 'lost'> | undefined;
    const r = await runFanout(loadgen, {
      port: server.port,
      pubPath: '/pub',
      subPath: '/sub',
      subscribers,
      inflight: INFLIGHT,
      size: MEMORY_SIZE,
      warmupMs: 500,
      // Room for a whole window plus a publish cycle at either end; the window ends the run when it closes.
      measureMs: MEMORY_WINDOW_MS + 30_000,
      cpu: LOADGEN_CPU,
      name: `loadgen→${server.spec.key}`,
      until: async () => {
        sample = (await server.command<{ alloc: Omit<AllocationSample, 'lost'> }>(`alloc ${MEMORY_WINDOW_MS}`, 60_000)).alloc;
      },
    });
    if (sample === undefined) throw new Error(`no allocation window from ${server.spec.key}`);
    windows.push({ ...sample, lost: damage(r, false) });
  }
  return windows;
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadgen = buildLoadgen();
  const haveBufferutil = bufferutilAvailable();
  const wsLabel = haveBufferutil ? 'ws+bufferutil' : 'ws (pure JS)';
  const profileDir = process.env.BENCH_CPU_PROF;
  const specs: ServerSpec[] = [
    { key: 'ours', label: 'ours', file: 'fanout-ours.ts', nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [] },
    { key: 'ws', label: wsLabel, file: 'fanout-ws.ts' },
  ];
  console.log(
    `node ${process.version}; ${QUICK ? 'QUICK' : 'full'} run; ${SUBSCRIBERS} subscribers of one topic, 1 publisher, ${INFLIGHT} messages in flight ` +
      `(complete = received by every subscriber); servers on cpu ${SERVER_CPU}, load generator (C, epoll) on cpu ${LOADGEN_CPU}; ` +
      `${REPS} interleaved run(s) per server and size, ${WARMUP_MS} ms warm-up + ${MEASURE_MS} ms measured; binary messages`,
  );
  if (!canPin()) console.log('NOTE: taskset is missing or the machine has one core: processes are NOT pinned');
  if (!haveBufferutil) console.log('NOTE: bufferutil did not load: ws runs pure JS');

  // ---- deliveries per second ---------------------------------------------------
  const progress = new Progress();
  const cells: { size: number; runs: Record<string, Run[]> }[] = [];
  const total = SIZES.length * REPS * specs.length;
  let done = 0;
  for (const size of SIZES) {
    const runs: Record<string, Run[]> = {};
    for (let rep = 0; rep < REPS; rep++) {
      for (const spec of specs) {
        progress.update(`[${++done}/${total}] ${sizeName(size)} run ${rep + 1}/${REPS} ${spec.label} (${Math.round((Date.now() - started) / 1000)} s)`, rep === 0);
        (runs[spec.key] ??= []).push(await measure(loadgen, spec, size));
      }
    }
    cells.push({ size, runs });
  }
  progress.done();

  const rows: string[][] = [];
  const summary = cells.map(({ size, runs }) => {
    const ours = runs.ours!;
    const ws = runs.ws!;
    const perServer = Object.fromEntries(
      Object.entries(runs).map(([key, list]) => {
        const d = spread(list.map((r) => r.deliveriesPerSec));
        const med = list.find((r) => r.deliveriesPerSec === d.median)!;
        return [key, { deliveriesPerSec: d, median: med, efficiency: spread(list.map((r) => r.deliveriesPerSec / Math.max(r.serverCpu, 0.01))).median }];
      }),
    );
    const pairRatios = spread(ours.map((r, i) => r.deliveriesPerSec / ws[i]!.deliveriesPerSec));
    const o = perServer.ours!;
    const w = perServer.ws!;
    for (const spec of specs) {
      const s = perServer[spec.key]!;
      const m = s.median;
      rows.push([
        spec === specs[0] ? sizeName(size) : '',
        spec.label,
        num(s.deliveriesPerSec.median),
        `${num(s.deliveriesPerSec.min)}–${num(s.deliveriesPerSec.max)}`,
        num(m.messagesPerSec),
        micros(m.p50Us),
        micros(m.p99Us),
        percent(m.serverCpu),
        num(s.efficiency),
        bytes(m.peakRss),
        `${percent(m.loadgenCpu)}${m.loadgenCpu > 0.9 ? ' (!)' : ''}`,
        spec.key === 'ours' ? ratio(o.deliveriesPerSec.median, w.deliveriesPerSec.median) : '',
        spec.key === 'ours' ? `${pairRatios.min.toFixed(2)}–${pairRatios.max.toFixed(2)}x` : '',
        spec.key === 'ours' ? ratio(o.efficiency, w.efficiency) : '',
      ]);
    }
    return { size, perServer, ratio: o.deliveriesPerSec.median / w.deliveriesPerSec.median, pairRatios, efficiencyRatio: o.efficiency / w.efficiency };
  });
  console.log(
    table(
      ['size', 'server', 'deliveries/s', 'min–max', 'msgs/s', 'p50', 'p99', 'srv CPU', 'deliv/CPU-s', 'peak RSS', 'loadgen CPU', 'ours/ws', 'run pairs', 'CPU-s ours/ws'],
      rows,
      new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]),
    ),
  );
  const lostRuns = cells.flatMap(({ size, runs }) =>
    Object.entries(runs).flatMap(([key, list]) => list.filter((r) => r.lost > 0).map((r) => `${sizeName(size)} ${key}: ${r.lost}`)),
  );

  // ---- memory per publish ------------------------------------------------------
  const memorySpecs: ServerSpec[] = specs.filter((s) => MEMORY_SERVERS.includes(s.key)).map((s) => ({ ...s, nodeArgs: NO_GC_IN_WINDOW }));
  const memory: { key: string; subscribers: number; samples: AllocationSample[] }[] = [];
  const memoryServers: RunningServer[] = [];
  try {
    for (const spec of memorySpecs) memoryServers.push(await RunningServer.start(spec, SERVER_CPU));
    for (const subscribers of MEMORY_SUBSCRIBERS) {
      const bySpec = memoryServers.map((server) => ({ key: server.spec.key, subscribers, samples: [] as AllocationSample[] }));
      for (let rep = 0; rep < MEMORY_REPS; rep++) {
        for (const [i, server] of memoryServers.entries()) {
          progress.update(`memory per publish: ${subscribers} subscribers, ${server.spec.label}, run ${rep + 1}/${MEMORY_REPS} (${Math.round((Date.now() - started) / 1000)} s)`, rep === 0);
          bySpec[i]!.samples.push(...(await measureAllocation(loadgen, server, subscribers)));
        }
      }
      memory.push(...bySpec);
    }
  } finally {
    progress.done();
    await Promise.all(memoryServers.map((s) => s.stop()));
  }
  const memoryRows: string[][] = [];
  const memorySummary = memory.map(({ key, subscribers, samples }) => {
    const clean = samples.filter((s) => s.gcs.length === 0);
    const perPublishAb = spread(clean.map((s) => s.arrayBufferBytes / s.publishes));
    const perPublishHeap = spread(clean.map((s) => s.heapBytes / s.publishes));
    const perDeliveryHeap = spread(clean.map((s) => s.heapBytes / s.deliveries));
    const publishes = clean.reduce((sum, s) => sum + s.publishes, 0);
    memoryRows.push([
      specs.find((s) => s.key === key)!.label,
      String(subscribers),
      String(publishes),
      clean.length ? `${num(perPublishAb.median)} B` : '-',
      clean.length ? `${num(perPublishAb.min)}–${num(perPublishAb.max)}` : '-',
      clean.length ? bytes(perPublishHeap.median) : '-',
      clean.length ? `${num(perDeliveryHeap.median)} B` : '-',
      `${samples.length - clean.length} of ${samples.length}`,
    ]);
    return { key, subscribers, arrayBufferBytesPerPublish: perPublishAb, heapBytesPerPublish: perPublishHeap, heapBytesPerDelivery: perDeliveryHeap, samples };
  });
  console.log(`\nmemory per publish (${sizeName(MEMORY_SIZE)} messages; what the server allocates in steady state, in windows with no garbage collection):`);
  console.log(
    table(
      ['server', 'subscribers', 'publishes', 'ArrayBuffer/publish', 'min–max', 'JS heap/publish', 'JS heap/delivery', 'windows with a GC (discarded)'],
      memoryRows,
      new Set([1, 2, 3, 4, 5, 6]),
    ),
  );
  lostRuns.push(...memory.flatMap((m) => m.samples.filter((s) => s.lost > 0).map((s) => `memory ${m.key} ${m.subscribers}: ${s.lost}`)));

  // ---- targets -----------------------------------------------------------------------
  console.log(`\ntargets${REPS === 1 ? ' (one run per cell: the ratios of a quick run are noisy; a full run takes the median of several)' : ''}:`);
  for (const s of summary) {
    console.log(`  deliveries/s ours/ws at ${sizeName(s.size)}: ${s.ratio.toFixed(2)}x (goal >= ${TARGET_RATIO}x) ${s.ratio >= TARGET_RATIO ? 'met' : 'MISSED'}`);
  }
  const oursMemory = memorySummary.filter((m) => m.key === 'ours');
  const few = oursMemory.find((m) => m.subscribers === MEMORY_SUBSCRIBERS[0]);
  const many = oursMemory.find((m) => m.subscribers === MEMORY_SUBSCRIBERS[1]);
  let memoryVerdict = 'not measured';
  const measured = (m: { samples: AllocationSample[] } | undefined): boolean => m !== undefined && m.samples.some((s) => s.gcs.length === 0);
  if (few && many && measured(few) && measured(many)) {
    // Independent of the subscribers: within a quarter of the smaller count's figure (or 256 B); one payload: under 3 payloads.
    const a = few.arrayBufferBytesPerPublish.median;
    const b = many.arrayBufferBytesPerPublish.median;
    const independent = Math.abs(b - a) <= Math.max(256, 0.25 * a);
    const onePayload = b < 3 * MEMORY_SIZE;
    memoryVerdict = `${num(a)} B at ${few.subscribers}, ${num(b)} B at ${many.subscribers} ${independent && onePayload ? 'met' : 'MISSED'}`;
  }
  console.log(`  ArrayBuffer bytes per publish independent of subscribers, about one ${sizeName(MEMORY_SIZE)} payload: ${memoryVerdict}`);

  const path = writeResult(
    'fanout.json',
    `${JSON.stringify(
      {
        node: process.version,
        quick: QUICK,
        pinned: canPin(),
        bufferutil: haveBufferutil,
        subscribers: SUBSCRIBERS,
        inflight: INFLIGHT,
        warmupMs: WARMUP_MS,
        measureMs: MEASURE_MS,
        reps: REPS,
        cells: summary.map((s) => ({ ...s, runs: cells.find((c) => c.size === s.size)!.runs })),
        memory: { size: MEMORY_SIZE, windowMs: MEMORY_WINDOW_MS, nodeArgs: NO_GC_IN_WINDOW, results: memorySummary },
        lost: lostRuns,
        seconds: (Date.now() - started) / 1000,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${path} (${Math.round((Date.now() - started) / 1000)} s)`);
  if (lostRuns.length > 0) {
    console.log(`LOSS: messages lost, out of sequence or connection errors in ${lostRuns.join(', ')}`);
    process.exitCode = 1;
  } else {
    console.log('no loss: every subscriber received every message published, in sequence');
  }
}

await main();
