/**
 * `socketChannels` with `maxPendingWriteBytes`: over a Duplex that finishes
 * each write only when the test says so, the bytes handed to it and not yet
 * written never exceed the bound (a large chunk is split), every byte
 * arrives in order, and an invalid bound is a RangeError. And the output's
 * stalls (`watchStall`), with and without the bound: reported while bytes
 * handed to the socket wait, ended when they went.
 */
import { Duplex } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { socketChannels } from '../../../src/channels/node-adapter.ts';

/** A duplex whose writes complete only through `finishOne()`; it records what it was given. */
class SlowSink extends Duplex {
  readonly received: Buffer[] = [];
  pending: Array<() => void> = [];
  pendingBytes = 0;
  maxPendingBytes = 0;

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#take([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.#take(chunks.map((c) => c.chunk), callback);
  }

  #take(chunks: Buffer[], callback: () => void): void {
    const size = chunks.reduce((n, c) => n + c.length, 0);
    this.received.push(...chunks);
    this.pendingBytes += size;
    this.maxPendingBytes = Math.max(this.maxPendingBytes, this.pendingBytes);
    this.pending.push(() => {
      this.pendingBytes -= size;
      callback();
    });
  }

  /** Completes the oldest write; false when none is waiting. */
  finishOne(): boolean {
    const finish = this.pending.shift();
    finish?.();
    return finish !== undefined;
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('at most maxPendingWriteBytes unwritten; a large chunk is split; every byte in order', async () => {
  const sink = new SlowSink();
  const { output } = socketChannels(sink, { maxPendingWriteBytes: 1000, outputCapacity: 1 << 20 });
  const big = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
  const small = Buffer.from('tail');
  await output.writeFully(big);
  await output.writeFully(small);
  output.close();
  for (let rounds = 0; rounds < 1000; rounds++) {
    await tick();
    if (!sink.finishOne() && sink.writableEnded) break;
  }
  assert.ok(sink.maxPendingBytes <= 1000, `pending peaked at ${sink.maxPendingBytes}`);
  assert.ok(sink.maxPendingBytes > 0);
  assert.ok(Buffer.concat(sink.received).equals(Buffer.concat([big, small])));
});

test('without the option a turn goes out in one batch (unchanged behaviour)', async () => {
  const sink = new SlowSink();
  const { output } = socketChannels(sink, { outputCapacity: 1 << 20 });
  await output.writeFully(Buffer.alloc(10_000));
  await tick();
  assert.is(sink.maxPendingBytes, 10_000);
  sink.destroy();
});

/** A stall listener that records what it hears. */
function recorder(): { readonly heard: boolean[]; onStall(stalled: boolean): void } {
  const heard: boolean[] = [];
  return { heard, onStall: (stalled) => heard.push(stalled) };
}

test('watchStall: a write that fills the socket\'s buffer is a stall until \'drain\'; a listener that comes during one hears of it at once; removed, it hears nothing', async () => {
  const sink = new SlowSink({ writableHighWaterMark: 1000 });
  const { output } = socketChannels(sink, { outputCapacity: 1 << 20 });
  const first = recorder();
  output.watchStall!(first);
  assert.ok(output.tryWriteFully(Buffer.alloc(500)));
  await tick();
  assert.equal(first.heard, [], 'a write under the high-water mark is no stall');
  sink.finishOne();
  assert.ok(output.tryWriteFully(Buffer.alloc(5000)));
  assert.equal(first.heard, [true], 'the socket took 5,000 bytes over its 1,000-byte mark');
  const second = recorder();
  output.watchStall!(second);
  assert.equal(second.heard, [true], 'told at once');
  sink.finishOne();
  await tick();
  assert.equal(second.heard, [true, false], "'drain' ends the stall");
  assert.equal(first.heard, [true], 'one listener at a time');
  output.watchStall!(undefined);
  assert.ok(output.tryWriteFully(Buffer.alloc(5000)));
  assert.equal(second.heard, [true, false]);
  sink.destroy();
});

test('watchStall with maxPendingWriteBytes: each bounded batch is a stall until its write callbacks', async () => {
  const sink = new SlowSink();
  const { output } = socketChannels(sink, { maxPendingWriteBytes: 1000, outputCapacity: 1 << 20 });
  const stalls = recorder();
  output.watchStall!(stalls);
  assert.ok(output.tryWriteFully(Buffer.alloc(2500)));
  await tick();
  assert.equal(stalls.heard, [true]);
  for (let batch = 0; batch < 3; batch++) {
    assert.ok(sink.finishOne(), `batch ${batch} was written`);
    await tick();
  }
  assert.equal(stalls.heard, [true, false, true, false, true, false], 'three batches: 1,000, 1,000 and 500 bytes');
  sink.destroy();
});

test('an invalid bound is a RangeError', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => socketChannels(new SlowSink(), { maxPendingWriteBytes: bad }), RangeError);
  }
});

test.run();
