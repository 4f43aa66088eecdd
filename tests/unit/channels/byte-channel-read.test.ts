import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteChannel } from '../../../src/channels/byte-channel.ts';
import { ConcurrentReadError, EndOfStreamError, LimitExceededError } from '../../../src/channels/errors.ts';
import { bytes, isPending, rejection, thrown, turn } from '../../support/async.ts';

test('a whole-chunk read returns the very buffer written (queued by reference)', async () => {
  const ch = new ByteChannel();
  const a = bytes(10);
  const b = bytes(10, 50);
  await ch.writeFully(a);
  await ch.writeFully(b);
  assert.is(ch.tryReadChunk(), a);
  assert.is(await ch.readFully(10), b);
});

test('partial reads are views that share memory with the written chunk', async () => {
  const ch = new ByteChannel();
  const src = bytes(8);
  await ch.writeFully(src);
  const first = ch.tryReadChunk(3) as Buffer;
  assert.equal([...first], [0, 1, 2]);
  first[0] = 99;
  assert.is(src[0], 99);
  assert.equal([...(ch.peekChunk() as Buffer)], [3, 4, 5, 6, 7]);
  assert.is(ch.availableForRead, 5);
  const rest = (await ch.readChunk()) as Buffer;
  assert.is(rest.buffer, src.buffer);
  assert.is(rest.byteOffset, src.byteOffset + 3);
});

test('peekChunk does not consume; tryReadChunk on an empty channel is undefined', async () => {
  const ch = new ByteChannel();
  assert.is(ch.peekChunk(), undefined);
  assert.is(ch.tryReadChunk(), undefined);
  const src = bytes(4);
  await ch.writeFully(src);
  assert.is(ch.peekChunk(), src);
  assert.is(ch.peekChunk(), src);
  assert.is(ch.availableForRead, 4);
  assert.instance(thrown(() => ch.tryReadChunk(0)), RangeError);
});

test('tryReadChunk never spans two chunks', async () => {
  const ch = new ByteChannel();
  await ch.writeFully(bytes(3));
  await ch.writeFully(bytes(3, 3));
  assert.is(ch.tryReadChunk(100)?.length, 3);
  assert.is(ch.tryReadChunk(100)?.length, 3);
});

test('multi-byte reads gather across many one-byte chunks (big-endian)', async () => {
  const ch = new ByteChannel();
  const value = Buffer.from([0x12, 0x34, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xff]);
  for (const b of value) await ch.writeFully(Buffer.from([b]));
  assert.is(await ch.readShort(), 0x1234);
  assert.is(await ch.readInt(), 0x89abcdef);
  assert.is(await ch.readLong(), 0x0123456789abcdefn);
  assert.is(await ch.readByte(), 0xff);
  assert.is(ch.availableForRead, 0);
});

test('multi-byte reads wait for bytes that arrive one at a time', async () => {
  const ch = new ByteChannel(1);
  const long = ch.readLong();
  for (const b of [0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88]) {
    assert.ok(await isPending(long));
    await ch.writeFully(Buffer.from([b]));
  }
  assert.is(await long, 0xffeeddccbbaa9988n);
  const short = ch.readShort();
  await ch.writeFully(Buffer.from([0x01]));
  await ch.writeFully(Buffer.from([0x02]));
  assert.is(await short, 0x0102);
});

test('readFully gathers across chunks into one buffer of the exact size', async () => {
  const ch = new ByteChannel();
  await ch.writeFully(bytes(3));
  await ch.writeFully(bytes(3, 3));
  await ch.writeFully(bytes(3, 6));
  const out = await ch.readFully(7);
  assert.equal([...out], [0, 1, 2, 3, 4, 5, 6]);
  assert.is(ch.availableForRead, 2);
  assert.is((await ch.readFully(0)).length, 0);
});

test('readFully larger than the capacity streams through a small channel', async () => {
  const ch = new ByteChannel(4);
  const src = bytes(1000);
  const writer = (async () => {
    for (let i = 0; i < 1000; i += 3) await ch.writeFully(src.subarray(i, i + 3));
  })();
  assert.ok((await ch.readFully(1000)).equals(src));
  await writer;
});

test('readFully hitting the end of stream rejects with EndOfStreamError(wanted, available)', async () => {
  const ch = new ByteChannel();
  const pending = ch.readFully(10);
  await ch.writeFully(bytes(4));
  ch.close();
  const error = await rejection(pending);
  assert.instance(error, EndOfStreamError);
  assert.is((error as EndOfStreamError).wanted, 10);
  assert.is((error as EndOfStreamError).available, 4);
  const again = await rejection(ch.readInt());
  assert.instance(again, EndOfStreamError);
  assert.is((again as EndOfStreamError).available, 0);
  assert.instance(await rejection(ch.readFully(-1)), RangeError);
});

test('readAvailable copies what is there, waits when empty, -1 at the end', async () => {
  const ch = new ByteChannel();
  const dst = Buffer.alloc(10);
  await ch.writeFully(bytes(3));
  await ch.writeFully(bytes(3, 3));
  assert.is(await ch.readAvailable(dst, 2, 5), 5);
  assert.equal([...dst.subarray(2, 7)], [0, 1, 2, 3, 4]);
  assert.is(await ch.readAvailable(dst, 0, 0), 0);
  assert.is(await ch.readAvailable(dst), 1);
  const waiting = ch.readAvailable(dst);
  assert.ok(await isPending(waiting));
  await ch.writeFully(bytes(2, 7));
  assert.is(await waiting, 2);
  ch.close();
  assert.is(await ch.readAvailable(dst), -1);
  assert.instance(await rejection(ch.readAvailable(dst, 8, 5)), RangeError);
});

test('readChunk waits, honours max, and resolves null at the end', async () => {
  const ch = new ByteChannel();
  const waiting = ch.readChunk(2);
  assert.ok(await isPending(waiting));
  await ch.writeFully(bytes(5));
  assert.equal([...((await waiting) as Buffer)], [0, 1]);
  assert.equal([...((await ch.readChunk()) as Buffer)], [2, 3, 4]);
  ch.close();
  assert.is(await ch.readChunk(), null);
  assert.instance(await rejection(ch.readChunk(0)), RangeError);
});

test('discard skips across chunks, waits for more, and stops short at the end', async () => {
  const ch = new ByteChannel();
  await ch.writeFully(bytes(3));
  await ch.writeFully(bytes(3, 3));
  assert.is(await ch.discard(4), 4);
  assert.is(await ch.readByte(), 4);
  const skipping = ch.discard(5);
  assert.ok(await isPending(skipping));
  await ch.writeFully(bytes(2));
  ch.close();
  assert.is(await skipping, 3);
  assert.is(await ch.discard(Infinity), 0);
  assert.instance(await rejection(ch.discard(-1)), RangeError);
});

test('count arguments must be integers (or Infinity where it means "no limit"): bad ones fail and leave the channel intact', async () => {
  const ch = new ByteChannel(16);
  await ch.writeFully(bytes(4));
  for (const bad of [1.5, 0.5, NaN, -1]) {
    assert.instance(thrown(() => ch.tryReadChunk(bad)), RangeError, `tryReadChunk(${bad})`);
    assert.instance(await rejection(ch.readChunk(bad)), RangeError, `readChunk(${bad})`);
    assert.instance(await rejection(ch.discard(bad)), RangeError, `discard(${bad})`);
    assert.instance(await rejection(ch.readFully(bad)), RangeError, `readFully(${bad})`);
    assert.instance(await rejection(ch.awaitContent(bad)), RangeError, `awaitContent(${bad})`);
    assert.instance(await rejection(ch.readRemaining(bad)), RangeError, `readRemaining(${bad})`);
  }
  assert.instance(await rejection(ch.readFully(Infinity)), RangeError);
  assert.instance(await rejection(ch.awaitContent(Infinity)), RangeError);
  assert.is(ch.availableForRead, 4, 'nothing was consumed');
  assert.is(await ch.discard(1), 1);
  assert.is(ch.availableForRead, 3);
  assert.is(await ch.readByte(), 1);
  assert.equal([...(ch.tryReadChunk(Infinity) as Buffer)], [2, 3]);
  await ch.writeFully(bytes(2, 4));
  assert.equal([...((await ch.readChunk(Infinity)) as Buffer)], [4, 5]);
  ch.close();
  assert.is(await ch.discard(Infinity), 0);
  assert.is((await ch.readRemaining(Infinity)).length, 0);
});

test('readRemaining returns everything until the end; one chunk comes back as itself', async () => {
  const one = new ByteChannel();
  const src = bytes(5);
  await one.writeFully(src);
  one.close();
  assert.is(await one.readRemaining(), src);

  const many = new ByteChannel(4);
  const reading = many.readRemaining();
  for (let i = 0; i < 20; i += 2) await many.writeFully(bytes(2, i));
  many.close();
  assert.ok((await reading).equals(bytes(20)));
});

test('readRemaining past its limit rejects with LimitExceededError', async () => {
  const ch = new ByteChannel();
  await ch.writeFully(bytes(6));
  ch.close();
  const error = await rejection(ch.readRemaining(5));
  assert.instance(error, LimitExceededError);
  assert.is((error as LimitExceededError).limit, 5);
});

test('awaitContent: true when enough, waits for min, false at a normal end', async () => {
  const ch = new ByteChannel(16);
  const waiting = ch.awaitContent(4);
  await ch.writeFully(bytes(3));
  assert.ok(await isPending(waiting));
  await ch.writeFully(bytes(1));
  assert.is(await waiting, true);
  assert.is(await ch.awaitContent(0), true);
  await ch.discard(4);
  const ending = ch.awaitContent(2);
  await ch.writeFully(bytes(1));
  ch.close();
  assert.is(await ending, false);
  assert.is(await ch.awaitContent(1), true);
  await ch.discard(1);
  assert.is(await ch.awaitContent(1), false);
});

test('awaitContent beyond the capacity is a RangeError; two parked reads are a ConcurrentReadError', async () => {
  const ch = new ByteChannel(8);
  assert.instance(await rejection(ch.awaitContent(9)), RangeError);
  const first = ch.readByte();
  assert.instance(await rejection(ch.readByte()), ConcurrentReadError);
  await ch.writeFully(bytes(1, 7));
  assert.is(await first, 7);
});

test('the synchronous fast path hands out shared, already-resolved promises', async () => {
  const ch = new ByteChannel();
  await ch.writeFully(bytes(4));
  assert.is(ch.awaitContent(), ch.awaitContent());
  assert.is(ch.writeFully(bytes(1)), ch.writeFully(bytes(1)));
});

test('a parked reader is resumed once per burst of writes and finds the whole burst', async () => {
  const ch = new ByteChannel();
  const seen: number[] = [];
  const reader = (async () => {
    while (await ch.awaitContent()) {
      seen.push(ch.availableForRead);
      await ch.discard(ch.availableForRead);
    }
  })();
  await turn();
  for (let i = 0; i < 10; i++) await ch.writeFully(bytes(1)); // only microtasks between the writes
  await turn();
  await ch.writeFully(bytes(2));
  ch.close(); // wakes at once
  await reader;
  assert.equal(seen, [10, 2]);
});

test.run();
