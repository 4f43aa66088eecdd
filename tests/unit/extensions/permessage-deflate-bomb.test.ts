/**
 * Decompression bombs: inflating stops with 1009 as soon as the output
 * passes the limit, so a message that would expand to 1 GiB never costs
 * more than about the limit in memory. Measured with process.memoryUsage
 * (arrayBuffers, where zlib's output chunks live, and rss), sampled while
 * the bomb is being inflated.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import zlib from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProtocolError } from '../../../src/frames/errors.ts';
import { permessageDeflate } from '../../../src/extensions/permessage-deflate.ts';

const MiB = 1024 * 1024;
const RSV1 = 0b100;

/**
 * `zeros` bytes of zeros as a permessage-deflate payload (tail stripped).
 * A run of zeros compressed on its own and ending with a sync flush is a
 * byte-aligned, self-contained sequence of blocks, so `copies` of it back
 * to back are a valid stream that inflates to `copies * zeros` bytes.
 */
function bomb(zeros: number, copies: number): Buffer {
  const unit = zlib.deflateRawSync(Buffer.alloc(zeros), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const all = Buffer.concat(Array.from({ length: copies }, () => unit));
  return all.subarray(0, all.length - 4);
}

function serverExtension() {
  const accepted = permessageDeflate().negotiate([permessageDeflate().offer()]);
  assert.ok(accepted);
  return accepted.extension;
}

// A full GC before each baseline, so garbage from building the bombs is not counted (or freed) during a measurement.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Peak growth of arrayBuffers and rss over the baseline while `work` runs. */
async function peakGrowth(work: () => Promise<unknown>): Promise<{ arrayBuffers: number; rss: number }> {
  gc();
  const base = process.memoryUsage();
  let arrayBuffers = 0;
  let rss = 0;
  const sample = () => {
    const now = process.memoryUsage();
    arrayBuffers = Math.max(arrayBuffers, now.arrayBuffers - base.arrayBuffers);
    rss = Math.max(rss, now.rss - base.rss);
  };
  const timer = setInterval(sample, 1);
  try {
    await work();
  } finally {
    clearInterval(timer);
    sample();
  }
  return { arrayBuffers, rss };
}

async function expect1009(promise: Promise<unknown> | unknown): Promise<void> {
  try {
    await promise;
    assert.unreachable('the bomb inflated');
  } catch (error) {
    assert.instance(error, ProtocolError);
    assert.is((error as ProtocolError).closeCode, 1009);
  }
}

const smallBomb = bomb(10 * MiB, 1);
const bigBomb = bomb(16 * MiB, 64); // 64 x 16 MiB = 1 GiB of zeros

test('a 10 KiB bomb (10 MiB inflated) against a 1 MiB limit fails with 1009', async () => {
  const payload = smallBomb;
  assert.ok(payload.length <= 11 * 1024, `bomb is ${payload.length} B`);
  const extension = serverExtension();
  const growth = await peakGrowth(() => expect1009(extension.decode(payload, RSV1, MiB)));
  assert.ok(growth.arrayBuffers < 4 * MiB, `arrayBuffers grew ${(growth.arrayBuffers / MiB).toFixed(1)} MiB`);
  extension.dispose();
});

test('a 1 GiB bomb against the 16 MiB default message limit: 1009, memory stays near the limit', async () => {
  const payload = bigBomb;
  assert.ok(payload.length < 1.2 * MiB, `bomb is ${payload.length} B`);
  const extension = serverExtension();
  const started = performance.now();
  const growth = await peakGrowth(() => expect1009(extension.decode(payload, RSV1, 16 * MiB)));
  const ms = performance.now() - started;
  console.log(
    `1 GiB bomb (${(payload.length / 1024).toFixed(0)} KiB) vs 16 MiB limit: rejected in ${ms.toFixed(0)} ms, ` +
      `peak growth arrayBuffers ${(growth.arrayBuffers / MiB).toFixed(1)} MiB, rss ${(growth.rss / MiB).toFixed(1)} MiB`,
  );
  assert.ok(growth.arrayBuffers < 16 * MiB + 8 * MiB, `arrayBuffers grew ${growth.arrayBuffers}`);
  // The meter does see the output held up to the limit, so the bound above is meaningful.
  assert.ok(growth.arrayBuffers > 8 * MiB, `arrayBuffers grew only ${growth.arrayBuffers}`);
  assert.ok(growth.rss < 128 * MiB, `rss grew ${growth.rss}`);
  extension.dispose();
});

test('the same bomb on a client-side extension, and after a good message (context kept until the failure)', async () => {
  const accepted = permessageDeflate().negotiate([permessageDeflate().offer()]);
  assert.ok(accepted);
  const client = permessageDeflate().accept(accepted.response);
  const good = await accepted.extension.encode(1, Buffer.alloc(4096, 'x'));
  assert.is((await client.decode(good.payload, good.rsv, MiB)).length, 4096);
  // A bomb continues a stream at a byte boundary, so it is valid after earlier messages too.
  const growth = await peakGrowth(() => expect1009(client.decode(bigBomb, RSV1, 8 * MiB)));
  assert.ok(growth.arrayBuffers < 8 * MiB + 8 * MiB, `arrayBuffers grew ${growth.arrayBuffers}`);
  accepted.extension.dispose();
  client.dispose();
});

test.run();
