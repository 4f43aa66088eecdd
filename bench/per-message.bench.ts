/**
 * What one message costs in JavaScript, without the kernel: the echo of
 * bench/servers/in-memory-echo.ts (compiled, pinned to core 0), server-side
 * connections over in-memory sockets, each message one masked binary frame
 * pushed as its own chunk and answered inside the push (one in flight).
 * Contenders: the raw echo (Node's stream code alone: the floor), `ws` 8
 * (with `bufferutil` when it resolves) and ours (`consumeEach`). The
 * end-to-end benchmark's 64 × 1 cells are CPU-bound, so this is the part of
 * their cost a library decides, measured to a few percent where the
 * loopback cells swing by ten.
 *
 *   node --import tsx --expose-gc bench/per-message.bench.ts   (BENCH_QUICK=1: about 30 s)
 *   BENCH_REPS=n  processes per contender and cell (default 3), interleaved
 *
 * Each process warms up with one pass, then times three passes of 200,000
 * messages (50,000 when quick) and checks that every message was echoed
 * (exactly one frame's bytes out per message). Reported per cell: the
 * median nanoseconds per message over all passes with the lowest and
 * highest; ours against `ws` as a speed ratio (`ws`'s time / ours); and the
 * library's own cost, the time above the raw echo. Writes
 * bench/results/per-message.json.
 */
import { spawnSync } from 'node:child_process';
import { num, Progress, spread, table, writeResult, type Spread } from './report.ts';
import { buildServers, compiledServer } from './servers/build.ts';
import { canPin } from './servers/spawn.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const REPS = Number(process.env.BENCH_REPS) || 3;
const MESSAGES = QUICK ? 50_000 : 200_000;
const ROUNDS = 3;
const CELLS = [
  { size: 16, conns: 1 },
  { size: 16, conns: 64 },
  { size: 1024, conns: 1 },
  { size: 1024, conns: 64 },
] as const;
const LIBS = ['raw', 'ws', 'ours'] as const;
type Lib = (typeof LIBS)[number];
const LABEL: Record<Lib, string> = { raw: 'raw echo', ws: 'ws+bufferutil', ours: 'ours' };

const script = compiledServer(buildServers(), 'in-memory-echo.ts');

/** One process's timed passes, in ns per message. */
function runOnce(lib: Lib, size: number, conns: number): number[] {
  const config = JSON.stringify({ lib, size, conns, messages: MESSAGES, rounds: ROUNDS });
  const argv = [process.execPath, script, config];
  const command = canPin() ? ['taskset', '-c', '0', ...argv] : argv;
  const result = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${lib} ${size} B x ${conns}: exit ${result.status}: ${result.stderr}`);
  return (JSON.parse(result.stdout.trim().split('\n').pop()!) as { nsPerMessage: number[] }).nsPerMessage;
}

const progress = new Progress();
const total = CELLS.length * REPS * LIBS.length;
const started = Date.now();
let done = 0;
console.log(
  `node ${process.version}; ${QUICK ? 'quick' : 'full'} run; in-memory echo pinned to cpu 0; ${REPS} interleaved processes per contender and cell, ` +
    `each ${ROUNDS} timed passes of ${MESSAGES} messages after a warm-up pass; one masked binary frame per chunk`,
);
const results: { size: number; conns: number; ns: Record<Lib, Spread> }[] = [];
for (const { size, conns } of CELLS) {
  const passes: Record<Lib, number[]> = { raw: [], ws: [], ours: [] };
  for (let rep = 0; rep < REPS; rep++) {
    // Alternate the order so that no contender always runs first.
    for (const lib of rep % 2 === 0 ? LIBS : [...LIBS].reverse()) {
      progress.update(`[${++done}/${total}] ${size} B x ${conns} connections, run ${rep + 1}/${REPS}, ${lib} (${Math.round((Date.now() - started) / 1000)} s)`, rep === 0);
      passes[lib].push(...runOnce(lib, size, conns));
    }
  }
  results.push({ size, conns, ns: { raw: spread(passes.raw), ws: spread(passes.ws), ours: spread(passes.ours) } });
}

progress.done();

const ns = (s: Spread): string => `${num(s.median)} (${num(s.min)}–${num(s.max)})`;
console.log(
  '\n' +
    table(
      ['cell', ...LIBS.map((lib) => `${LABEL[lib]} ns/msg`), 'ours vs ws', 'library ns/msg above raw: ws', 'ours'],
      results.map(({ size, conns, ns: r }) => [
        `${size} B, ${conns} conn${conns === 1 ? '' : 's'}`,
        ...LIBS.map((lib) => ns(r[lib])),
        `${(r.ws.median / r.ours.median).toFixed(2)}x`,
        num(r.ws.median - r.raw.median),
        num(r.ours.median - r.raw.median),
      ]),
      new Set([1, 2, 3, 4, 5, 6]),
    ),
);
console.log(`\nwrote ${writeResult('per-message.json', JSON.stringify({ node: process.version, quick: QUICK, reps: REPS, messages: MESSAGES, results }, null, 2))}`);
