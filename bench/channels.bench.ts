/**
 * ByteChannel throughput beside node:stream's PassThrough, in the same run.
 *
 * Pushes 1 GiB (BENCH_QUICK=1: 128 MiB) through each in 64 KiB and in 512 B
 * chunks, writer and reader running concurrently, both with 64 KiB of
 * buffering:
 * - ByteChannel: the writer awaits `writeFully` for every chunk (or uses the
 *   synchronous `tryWriteFully`, awaiting only when full, as the Node adapter
 *   does); the reader takes what is buffered with `tryReadChunk` and waits
 *   with `awaitContent`.
 * - PassThrough: the writer honours `write()`'s return value and awaits
 *   'drain'; the reader is a 'data' listener (flowing mode: the fastest way to
 *   consume a Node stream, and the baseline of the ratios) or `for await`.
 * - A floor with no channel at all: the writer awaits a settled promise per
 *   chunk and hands it to a plain function. No pipe whose writer awaits every
 *   chunk can beat it; what it leaves above PassThrough's rate is the budget
 *   for everything else a channel does (queueing, waking and resuming the
 *   reader, parking the writer when full).
 * Chunks are preallocated (each side passes them by reference). Each variant
 * is warmed up first, then variants run interleaved for several rounds; the
 * table shows the median MB/s of each and its ratio to PassThrough with
 * 'data'. No forced GC between runs: a full collection discards optimized
 * code that V8 then rebuilds slowly on a busy machine, which measured the
 * JIT instead of the channels.
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { ByteChannel } from '../src/channels/byte-channel.ts';

const MiB = 1024 * 1024;
const TOTAL = (process.env.BENCH_QUICK === '1' ? 128 : 1024) * MiB;
const ROUNDS = process.env.BENCH_QUICK === '1' ? 3 : 7;
const WARMUP_MS = process.env.BENCH_QUICK === '1' ? 500 : 1500;
const CAPACITY = 64 * 1024;

/** A few distinct chunks of `size` bytes, cycled through by the writers. */
function chunks(size: number): Buffer[] {
  return Array.from({ length: 16 }, (_, i) => Buffer.alloc(size, i));
}

/** Writer awaits `writeFully` per chunk (or, with `sync`, uses `tryWriteFully` and awaits only when full). */
async function byteChannel(size: number, total: number, sync: boolean): Promise<number> {
  const ch = new ByteChannel(CAPACITY);
  const pool = chunks(size);
  const writer = async (): Promise<void> => {
    for (let sent = 0, i = 0; sent < total; sent += size, i = (i + 1) & 15) {
      const chunk = pool[i] as Buffer;
      if (!(sync && ch.tryWriteFully(chunk))) await ch.writeFully(chunk);
    }
    ch.close();
  };
  const reader = async (): Promise<number> => {
    let received = 0;
    do {
      for (let chunk = ch.tryReadChunk(); chunk !== undefined; chunk = ch.tryReadChunk()) received += chunk.length;
    } while (await ch.awaitContent());
    return received;
  };
  const [, received] = await Promise.all([writer(), reader()]);
  return received;
}

/** Writer honours `write()`'s result and awaits 'drain'; reader is a 'data' listener or `for await`. */
async function passThrough(size: number, total: number, iterate: boolean): Promise<number> {
  const stream = new PassThrough({ highWaterMark: CAPACITY });
  const pool = chunks(size);
  const writer = async (): Promise<void> => {
    for (let sent = 0, i = 0; sent < total; sent += size, i = (i + 1) & 15) {
      if (!stream.write(pool[i] as Buffer)) await once(stream, 'drain');
    }
    stream.end();
  };
  const reader = async (): Promise<number> => {
    let received = 0;
    if (iterate) {
      for await (const chunk of stream) received += (chunk as Buffer).length;
    } else {
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      await once(stream, 'end');
    }
    return received;
  };
  const [received] = await Promise.all([reader(), writer()]);
  return received;
}

/** Floor: the writer awaits a settled promise per chunk; the reader is a synchronous call. */
async function awaitFloor(size: number, total: number): Promise<number> {
  const pool = chunks(size);
  const settled = Promise.resolve();
  let received = 0;
  for (let sent = 0, i = 0; sent < total; sent += size, i = (i + 1) & 15) {
    received += (pool[i] as Buffer).length;
    await settled;
  }
  return received;
}

interface Variant {
  readonly name: string;
  readonly run: (size: number, total: number) => Promise<number>;
}

const VARIANTS: readonly Variant[] = [
  { name: 'channel, await writeFully', run: (size, total) => byteChannel(size, total, false) },
  { name: 'channel, tryWriteFully', run: (size, total) => byteChannel(size, total, true) },
  { name: "PassThrough, 'data'", run: (size, total) => passThrough(size, total, false) },
  { name: 'PassThrough, for await', run: (size, total) => passThrough(size, total, true) },
  { name: 'floor: an await per chunk', run: awaitFloor },
];

async function measure(variant: Variant, size: number): Promise<number> {
  const started = process.hrtime.bigint();
  const received = await variant.run(size, TOTAL);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (received !== TOTAL) throw new Error(`${variant.name}: received ${received} of ${TOTAL} bytes`);
  return TOTAL / 1e6 / seconds;
}

/**
 * Runs `variant` at full size, at least twice and for WARMUP_MS: optimized
 * code arrives late on a busy machine, and smaller runs do not warm the
 * long-running loops the same way.
 */
async function warmUp(variant: Variant, size: number): Promise<void> {
  const until = performance.now() + WARMUP_MS;
  for (let runs = 0; runs < 2 || performance.now() < until; runs++) await variant.run(size, TOTAL);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] as number;
}

console.log(`ByteChannel vs PassThrough: ${TOTAL / MiB} MiB per run, ${ROUNDS} rounds, median MB/s`);
let belowTarget = false;
for (const size of [64 * 1024, 512]) {
  const results = VARIANTS.map(() => [] as number[]);
  for (const variant of VARIANTS) await warmUp(variant, size);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, variant] of VARIANTS.entries()) results[i]?.push(await measure(variant, size));
  }
  const medians = results.map(median);
  const baseline = medians[2] as number; // PassThrough with a 'data' listener: the fastest stream consumer
  console.log(`\n${size >= 1024 ? `${size / 1024} KiB` : `${size} B`} chunks`);
  for (const [i, variant] of VARIANTS.entries()) {
    const mbps = medians[i] as number;
    console.log(`  ${variant.name.padEnd(28)} ${mbps.toFixed(0).padStart(7)} MB/s  ${(mbps / baseline).toFixed(2)}x`);
  }
  belowTarget ||= (medians[0] as number) < baseline;
}
if (belowTarget) console.log("\nbelow target: 'channel, await writeFully' is slower than PassThrough with 'data'");
