import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteChannel } from '../../../src/channels/byte-channel.ts';
import { CancellationError, ChannelClosedError } from '../../../src/channels/errors.ts';
import { bytes, captureUncaught, isPending, rejection, runsAfterDoubleDispose, thrown } from '../../support/async.ts';

test('close(): the reader drains the buffer, then sees the end everywhere', async () => {
  const ch = new ByteChannel();
  await ch.writeFully(bytes(2));
  assert.is(ch.close(), true);
  assert.is(ch.close(), false);
  assert.ok(ch.isClosedForWrite);
  assert.not.ok(ch.isClosedForRead);
  assert.is(ch.closedCause, undefined);
  assert.is((await ch.readChunk())?.length, 2);
  assert.ok(ch.isClosedForRead);
  assert.is(ch.tryReadChunk(), undefined);
  assert.is(await ch.readChunk(), null);
  assert.is(await ch.awaitContent(), false);
  assert.is(await ch.readAvailable(Buffer.alloc(1)), -1);
  assert.is(ch.availableForWrite, 0);
});

test('close() releases a parked reader with end of stream', async () => {
  const ch = new ByteChannel();
  const reading = ch.readChunk();
  const waiting = ch.readChunk().catch((e: unknown) => e); // concurrent: rejected at once
  ch.close();
  assert.is(await reading, null);
  await waiting;
});

test('writes after close reject with ChannelClosedError carrying the close cause', async () => {
  const ch = new ByteChannel();
  const cause = new Error('writer gave up');
  ch.close(cause);
  const error = await rejection(ch.writeFully(bytes(1)));
  assert.instance(error, ChannelClosedError);
  assert.is((error as Error).cause, cause);
  assert.instance(thrown(() => ch.tryWriteFully(bytes(1))), ChannelClosedError);
  assert.instance(await rejection(ch.writeFully(new Uint8Array(0))), ChannelClosedError);
});

test('close(cause): buffered bytes are still read, then reads fail with the cause', async () => {
  const ch = new ByteChannel();
  const cause = new Error('upstream failed');
  await ch.writeFully(bytes(3));
  ch.close(cause);
  assert.is(ch.closedCause, cause);
  assert.is(await ch.awaitContent(3), true);
  assert.is(await rejection(ch.awaitContent(4)), cause);
  assert.is(await rejection(ch.readFully(4)), cause);
  assert.is(ch.isClosedForRead, true);
  assert.is(thrown(() => ch.tryReadChunk()), cause);
  assert.is(await rejection(ch.readChunk()), cause);
  assert.is(await rejection(ch.readRemaining()), cause);
  assert.is(await rejection(ch.discard(1)), cause);
});

test('close(cause) reaches a parked reader', async () => {
  const ch = new ByteChannel();
  const cause = new Error('boom');
  const reading = ch.readInt();
  await ch.writeFully(bytes(2));
  assert.ok(await isPending(reading));
  ch.close(cause);
  assert.is(await rejection(reading), cause);
});

test('close() queues writes still waiting for room, so nothing written before it is lost', async () => {
  const ch = new ByteChannel(2);
  await ch.writeFully(bytes(2));
  const parked = ch.writeFully(bytes(3, 2));
  ch.close();
  await parked;
  assert.ok((await ch.readRemaining()).equals(bytes(5)));
});

test('cancel(cause) drops the buffer and fails parked and later writes with the cause', async () => {
  const ch = new ByteChannel(2);
  const cause = new Error('reader is done');
  await ch.writeFully(bytes(2));
  const parked = ch.writeFully(bytes(2));
  ch.cancel(cause);
  assert.is(await rejection(parked), cause);
  assert.is(await rejection(ch.writeFully(bytes(1))), cause);
  assert.is(thrown(() => ch.tryWriteFully(bytes(1))), cause);
  assert.is(ch.availableForRead, 0);
  assert.ok(ch.isClosedForRead);
  assert.ok(ch.isClosedForWrite);
  assert.is(ch.closedCause, cause);
  assert.is(await rejection(ch.readByte()), cause);
  assert.is(ch.close(), false);
});

test('cancel() without a cause uses a CancellationError and reaches a parked reader', async () => {
  const ch = new ByteChannel();
  const reading = ch.readChunk();
  ch.cancel();
  const error = await rejection(reading);
  assert.instance(error, CancellationError);
  assert.is(ch.closedCause, error);
  assert.is(await rejection(ch.writeFully(bytes(1))), error);
  ch.cancel(new Error('later')); // no-op
  assert.is(ch.closedCause, error);
});

test('cancel keeps the writer\'s close cause, and is a no-op after a drained normal close', async () => {
  const failed = new ByteChannel();
  const cause = new Error('first');
  await failed.writeFully(bytes(1));
  failed.close(cause);
  failed.cancel(new Error('second'));
  assert.is(failed.closedCause, cause);
  assert.is(failed.availableForRead, 0);

  const ended = new ByteChannel();
  ended.close();
  ended.cancel(new Error('too late'));
  assert.is(ended.closedCause, undefined);
});

test('invokeOnCancel runs once on cancel, at once when already cancelled, and can be disposed', async () => {
  const ch = new ByteChannel();
  const seen: unknown[] = [];
  ch.invokeOnCancel((c) => seen.push(['a', c]));
  const dispose = ch.invokeOnCancel((c) => seen.push(['b', c]));
  dispose();
  const cause = new Error('stop');
  ch.cancel(cause);
  ch.cancel(cause);
  ch.invokeOnCancel((c) => seen.push(['c', c]));
  assert.equal(seen, [
    ['a', cause],
    ['c', cause],
  ]);
  // A disposer called twice takes out its own registration only, not another of the same function.
  const twice = new ByteChannel();
  assert.is(runsAfterDoubleDispose((h) => twice.invokeOnCancel(h), () => twice.cancel()), 1);
});

test('a throwing cancel handler is reported as uncaught and does not break cancel', async () => {
  const ch = new ByteChannel();
  const parked = ch.readByte().catch((e: unknown) => e);
  const bug = new Error('handler bug');
  const caught = await captureUncaught(() => {
    ch.invokeOnCancel(() => {
      throw bug;
    });
    ch.cancel();
  });
  assert.equal(caught, [bug]);
  assert.instance(await parked, CancellationError);
});

test.run();
