import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteChannel } from '../../../src/channels/byte-channel.ts';
import { CancellationError } from '../../../src/channels/errors.ts';
import {
  channelToReadable,
  channelToWritable,
  readableToChannel,
  writableToChannel,
} from '../../../src/channels/web-streams.ts';
import { bytes, isPending, rejection, turn } from '../../support/async.ts';

/** A pull-based source of `count` chunks of `size` bytes; `pulled()` tells how many it produced. */
function source(count: number, size: number): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let produced = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (produced === count) controller.close();
        else controller.enqueue(bytes(size, produced++ * size));
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => produced };
}

/** A sink that records chunks and can be held (its writes stay pending until `release`). */
function sink(): { stream: WritableStream<Uint8Array>; chunks: Uint8Array[]; hold: () => void; release: () => void; closed: Promise<void> } {
  const chunks: Uint8Array[] = [];
  let gate: Promise<void> | undefined;
  let open: () => void = () => {};
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  const stream = new WritableStream<Uint8Array>(
    {
      async write(chunk) {
        chunks.push(chunk);
        if (gate) await gate;
      },
      close() {
        markClosed();
      },
    },
    { highWaterMark: 1 },
  );
  return {
    stream,
    chunks,
    closed,
    hold: () => void (gate = new Promise((resolve) => (open = resolve))),
    release: () => {
      gate = undefined;
      open();
    },
  };
}

test('readableToChannel reads only as fast as the channel drains (pull-based)', async () => {
  const { stream, pulled } = source(100, 10);
  const ch = readableToChannel(stream, 30);
  await turn();
  assert.ok(pulled() <= 5, `read ahead ${pulled()} chunks into a 30-byte channel`);
  assert.ok(ch.availableForRead <= 30);
  const all = await ch.readRemaining();
  assert.ok(all.equals(bytes(1000)));
  assert.is(pulled(), 100);
});

test('readableToChannel: a stream error closes the channel with it; cancelling the channel cancels the stream', async () => {
  const boom = new Error('source failed');
  const failing = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes(3));
      controller.error(boom);
    },
  });
  const ch = readableToChannel(failing);
  assert.is(await rejection(ch.readRemaining()), boom);

  let cancelled: unknown;
  const endless = new ReadableStream<Uint8Array>({
    pull: (controller) => controller.enqueue(bytes(1)),
    cancel: (reason) => void (cancelled = reason),
  });
  const reader = readableToChannel(endless, 4);
  await turn();
  const cause = new Error('enough');
  reader.cancel(cause);
  await turn();
  assert.is(cancelled, cause);
});

test('readableToChannel: a chunk that is not bytes closes the channel with a TypeError and cancels the source', async () => {
  let cancelled: unknown;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes(4, 0));
      controller.enqueue('text' as unknown as Uint8Array);
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  const ch = readableToChannel(stream);
  assert.equal([...(await ch.readChunk())!], [...bytes(4, 0)]);
  const error = await rejection(ch.readChunk());
  assert.instance(error, TypeError);
  await turn();
  assert.is(cancelled, error, 'the source was cancelled with the same error');
});

test('channelToReadable: one chunk per pull, closes at the end, by reference', async () => {
  const ch = new ByteChannel();
  const first = bytes(4);
  await ch.writeFully(first);
  await ch.writeFully(bytes(2, 4));
  ch.close();
  const reader = channelToReadable(ch).getReader();
  const a = await reader.read();
  assert.is(a.value, first);
  const b = await reader.read();
  assert.equal([...(b.value as Uint8Array)], [4, 5]);
  assert.ok((await reader.read()).done);
});

test('channelToReadable: reads nothing ahead; a close cause errors the stream; cancel cancels the channel', async () => {
  const ch = new ByteChannel();
  await ch.writeFully(bytes(1));
  await ch.writeFully(bytes(1));
  const stream = channelToReadable(ch);
  await turn();
  assert.is(ch.availableForRead, 2);
  const reader = stream.getReader();
  await reader.read();
  assert.is(ch.availableForRead, 1);
  const cause = new Error('upstream broke');
  await ch.readChunk();
  ch.close(cause);
  assert.is(await rejection(reader.read()), cause);

  const other = new ByteChannel();
  await channelToReadable(other).cancel();
  assert.instance(other.closedCause, CancellationError);
  const third = new ByteChannel();
  const reason = new Error('consumer left');
  await channelToReadable(third).cancel(reason);
  assert.is(third.closedCause, reason);
});

test('writableToChannel: chunks reach the sink in order, close closes it, backpressure holds writers', async () => {
  const target = sink();
  const ch = writableToChannel(target.stream, 8);
  target.hold();
  await ch.writeFully(bytes(4));
  await turn();
  assert.is(target.chunks.length, 1);
  await ch.writeFully(bytes(4, 4));
  await ch.writeFully(bytes(4, 8)); // the pump took one chunk, so this one still fits
  const parked = ch.writeFully(bytes(4, 12));
  assert.ok(await isPending(parked));
  target.release();
  await parked;
  ch.close();
  await target.closed;
  assert.ok(Buffer.concat(target.chunks).equals(bytes(16)));
});

test('writableToChannel: close(cause) aborts the stream; a stream error fails the writers', async () => {
  let aborted: unknown;
  const abortable = new WritableStream<Uint8Array>({ abort: (reason) => void (aborted = reason) });
  const ch = writableToChannel(abortable);
  const cause = new Error('producer failed');
  ch.close(cause);
  await turn();
  assert.is(aborted, cause);

  const boom = new Error('sink failed');
  const failing = new WritableStream<Uint8Array>({
    write() {
      throw boom;
    },
  });
  const out = writableToChannel(failing);
  await out.writeFully(bytes(1));
  await turn();
  assert.is(await rejection(out.writeFully(bytes(1))), boom);
});

test('writableToChannel: a stream error cancels the channel at once, even while nothing is being written', async () => {
  let controller: WritableStreamDefaultController | undefined;
  const taken: Uint8Array[] = [];
  const stream = new WritableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    write(chunk) {
      taken.push(chunk);
    },
  });
  const ch = writableToChannel(stream);
  await ch.writeFully(bytes(2));
  await turn();
  assert.is(taken.length, 1);
  const boom = new Error('sink failed');
  controller?.error(boom);
  await turn();
  assert.ok(ch.isClosedForWrite, 'the error is noticed without waiting for the next chunk');
  assert.is(await rejection(ch.writeFully(bytes(3))), boom, 'the next write fails instead of being taken and lost');
  assert.is(ch.close(), false, "the producer's close does not report success");
  await turn();
  assert.is(taken.length, 1);
});

test('channelToWritable: writes resolve as the channel queues them; close and abort map to close', async () => {
  const ch = new ByteChannel(4);
  const writer = channelToWritable(ch).getWriter();
  await writer.write(bytes(4));
  const second = writer.write(bytes(4, 4));
  assert.ok(await isPending(second));
  assert.is(await ch.readChunk().then((c) => c?.length), 4);
  await second;
  await writer.close();
  assert.ok((await ch.readRemaining()).equals(bytes(4, 4)));
  assert.ok(ch.isClosedForRead);

  const aborted = new ByteChannel();
  const reason = new Error('abandoned');
  await channelToWritable(aborted).abort(reason);
  assert.is(await rejection(aborted.readChunk()), reason);
  const plain = new ByteChannel();
  await channelToWritable(plain).abort();
  assert.instance(plain.closedCause, CancellationError);
});

test('channelToWritable: abort while a write waits for room (a reader that never reads) closes the channel at once', async () => {
  const ch = new ByteChannel(4);
  const writer = channelToWritable(ch).getWriter();
  await writer.write(bytes(4)); // the channel is full
  const waiting = writer.write(bytes(4, 4)).catch(() => {});
  assert.ok(await isPending(waiting));
  const reason = new Error('give up');
  await writer.abort(reason);
  assert.ok(ch.isClosedForWrite);
  assert.is(ch.closedCause, reason);
  await waiting;
});

test('round trip: ReadableStream → channel → ReadableStream → WritableStream → channel', async () => {
  const { stream } = source(300, 333);
  const readable = channelToReadable(readableToChannel(stream, 1024));
  const target = new ByteChannel(2048);
  const piping = readable.pipeTo(channelToWritable(target));
  const received = await target.readRemaining();
  await piping;
  assert.ok(received.equals(bytes(300 * 333)));
});

test.run();
