/**
 * `socketChannels` with `maxPendingWriteBytes`: over a Duplex that finishes
 * each write only when the test says so, the bytes handed to it and not yet
 * written never exceed the bound (a large chunk is split), every byte
 * arrives in order, and an invalid bound is a RangeError.
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

test('an invalid bound is a RangeError', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => socketChannels(new SlowSink(), { maxPendingWriteBytes: bad }), RangeError);
  }
});

test.run();
