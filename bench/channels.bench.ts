/**
 * ByteChannel throughput beside the async byte pipes a user would pick
 * instead, in the same run: a node:stream `Readable` read with `for await`,
 * and a WHATWG `ReadableStream` piped into a `WritableStream`.
 *
 * Pushes 1 GiB (BENCH_QUICK=1: 128 MiB) through each in 64 KiB and in 512 B
 * chunks, writer and reader running concurrently, each with 64 KiB of
 * buffering:
 * - ByteChannel: the writer uses `tryWriteFully` and awaits `writeFully` only
 *   when the channel is full (as the socket adapter does), or awaits
 *   `writeFully` for every chunk; the reader takes what is buffered with
 *   `tryReadChunk` and waits with `awaitContent`.
 * - Readable (a PassThrough): the writer honours `write()`'s return value and
 *   awaits 'drain'; the reader iterates with `for await`.
 * - WHATWG streams: a `ReadableStream` whose `pull` enqueues the next chunk
 *   (byte-counting strategy), `pipeTo` a `WritableStream` whose `write` counts.
 * Chunks are preallocated (each side passes them by reference). Each variant
 * is warmed up first, then variants run interleaved for several rounds; the
 * table shows the median MB/s of each, the spread (min–max), and the ratio
 * of the ByteChannel rows to each peer. (A synchronous `'data'` listener is
 * no fair peer for an awaited channel: it is not measured.)
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { ByteChannel } from '../src/channels/byte-channel.ts';

const MiB = 1024 * 1024;
const TOTAL = (process.env.BENCH_QUICK === '1' ? 128 : 1024) * MiB;
const ROUNDS = process.env.BENCH_QUICK === '1' ? 3 : 7;
const WARMUP_MS = process.env.BENCH_QUICK === '1' ? 500 : 1500;
const CAPACITY = 64 * 1024;
const TARGET = 1.5;

/** A few distinct chunks of `size` bytes, cycled through by the writers. */
function chunks(size: number): Buffer[] {
  return Array.from({ length: 16 }, (_, i) => Buffer.alloc(size, i));
}

/** Writer: `tryWriteFully`, awaiting only when full (`sync`), or `await writeFully` per chunk. */
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

/** A Readable (PassThrough): the writer honours `write()`'s result and awaits 'drain'; the reader uses `for await`. */
async function readable(size: number, total: number): Promise<number> {
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
    for await (const chunk of stream) received += (chunk as Buffer).length;
    return received;
  };
  const [received] = await Promise.all([reader(), writer()]);
  return received;
}

/** WHATWG streams: a pull source enqueues chunks, `pipeTo` a counting sink (64 KiB byte-counting strategies). */
async function webStreams(size: number, total: number): Promise<number> {
  const pool = chunks(size);
  let sent = 0;
  let i = 0;
  let received = 0;
  const strategy = { highWaterMark: CAPACITY, size: (chunk: Uint8Array) => chunk.byteLength };
  const source = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (sent >= total) return controller.close();
        controller.enqueue(pool[i] as Buffer);
        sent += size;
        i = (i + 1) & 15;
      },
    },
    strategy,
  );
  const sink = new WritableStream<Uint8Array>(
    {
      write(chunk) {
        received += chunk.byteLength;
      },
    },
    strategy,
  );
  await source.pipeTo(sink);
  return received;
}

interface Variant {
  readonly name: string;
  readonly run: (size: number, total: number) => Promise<number>;
}

const CHANNEL_SYNC: Variant = { name: 'ByteChannel, tryWriteFully', run: (size, total) => byteChannel(size, total, true) };
const CHANNEL_AWAIT: Variant = { name: 'ByteChannel, await writeFully', run: (size, total) => byteChannel(size, total, false) };
const READABLE: Variant = { name: 'Readable, for await', run: readable };
const WEB: Variant = { name: 'ReadableStream.pipeTo', run: webStreams };
const VARIANTS: readonly Variant[] = [CHANNEL_SYNC, CHANNEL_AWAIT, READABLE, WEB];

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

console.log(`ByteChannel vs Readable (for await) and WHATWG streams (pipeTo): ${TOTAL / MiB} MiB per run, ${ROUNDS} interleaved rounds, median MB/s (min–max)`);
const misses: string[] = [];
for (const size of [64 * 1024, 512]) {
  const results = new Map(VARIANTS.map((variant) => [variant, [] as number[]]));
  for (const variant of VARIANTS) await warmUp(variant, size);
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of VARIANTS) results.get(variant)?.push(await measure(variant, size));
  }
  const med = (variant: Variant): number => median(results.get(variant) ?? []);
  console.log(`\n${size >= 1024 ? `${size / 1024} KiB` : `${size} B`} chunks`);
  for (const variant of VARIANTS) {
    const runs = results.get(variant) ?? [];
    const versus =
      variant === CHANNEL_SYNC || variant === CHANNEL_AWAIT
        ? `  ${(med(variant) / med(READABLE)).toFixed(2)}x Readable, ${(med(variant) / med(WEB)).toFixed(2)}x WHATWG`
        : '';
    console.log(
      `  ${variant.name.padEnd(30)} ${med(variant).toFixed(0).padStart(7)} MB/s (${Math.min(...runs).toFixed(0)}–${Math.max(...runs).toFixed(0)})${versus}`,
    );
  }
  for (const peer of [READABLE, WEB]) {
    const r = med(CHANNEL_SYNC) / med(peer);
    if (r < TARGET) misses.push(`${size} B chunks: ${CHANNEL_SYNC.name} ${r.toFixed(2)}x ${peer.name}`);
  }
}
console.log(`\ntarget: ByteChannel >= ${TARGET}x both async peers at both chunk sizes: ${misses.length === 0 ? 'met' : `MISSED (${misses.join('; ')})`}`);
