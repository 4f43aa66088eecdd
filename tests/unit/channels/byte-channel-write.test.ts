import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteChannel } from '../../../src/channels/byte-channel.ts';
import { bytes, isPending, rejection, thrown } from '../../support/async.ts';

test('the constructor takes a positive integer capacity, 64 KiB by default', () => {
  assert.is(new ByteChannel().capacity, 64 * 1024);
  assert.is(new ByteChannel(1).capacity, 1);
  for (const bad of [0, -1, 1.5, NaN, Infinity]) assert.throws(() => new ByteChannel(bad), RangeError);
});

test('a plain Uint8Array is queued as a view, not a copy', async () => {
  const ch = new ByteChannel();
  const src = new Uint8Array([1, 2, 3, 4]).subarray(1);
  await ch.writeFully(src);
  const out = ch.tryReadChunk() as Buffer;
  assert.ok(Buffer.isBuffer(out));
  assert.is(out.buffer, src.buffer);
  assert.is(out.byteOffset, 1);
  assert.equal([...out], [2, 3, 4]);
});

test('capacity rule: an empty channel takes any chunk; otherwise it must fit', async () => {
  const ch = new ByteChannel(8);
  assert.is(ch.availableForWrite, 8);
  await ch.writeFully(bytes(20)); // larger than the capacity, but the channel was empty
  assert.is(ch.availableForRead, 20);
  assert.is(ch.availableForWrite, 0);
  assert.is(ch.tryWriteFully(bytes(1)), false);
  await ch.discard(20);
  assert.ok(ch.tryWriteFully(bytes(5)));
  assert.ok(ch.tryWriteFully(bytes(3)));
  assert.is(ch.availableForWrite, 0);
  assert.is(ch.tryWriteFully(bytes(1)), false);
  assert.ok(ch.tryWriteFully(new Uint8Array(0)));
});

test('a writer parked on a full channel is resumed by the reader', async () => {
  const ch = new ByteChannel(4);
  await ch.writeFully(bytes(3));
  const parked = ch.writeFully(bytes(2, 3));
  assert.ok(await isPending(parked));
  assert.is(ch.availableForWrite, 0);
  assert.is((await ch.readChunk())?.length, 3);
  await parked;
  assert.equal([...((await ch.readChunk()) as Buffer)], [3, 4]);
});

test('waiting writers are served in order; tryWriteFully does not jump the queue', async () => {
  const ch = new ByteChannel(4);
  await ch.writeFully(bytes(4));
  const order: number[] = [];
  const a = ch.writeFully(Buffer.from([10, 11, 12])).then(() => order.push(1));
  const b = ch.writeFully(Buffer.from([13])).then(() => order.push(2));
  assert.is(ch.tryWriteFully(Buffer.from([14])), false);
  assert.is(ch.availableForWrite, 0);
  await ch.discard(4);
  await Promise.all([a, b]);
  assert.equal(order, [1, 2]);
  assert.equal([...(await ch.readFully(4))], [10, 11, 12, 13]);
});

test('a reader waiting for more than fits beside the buffer gets a prefix of the waiting write', async () => {
  const ch = new ByteChannel(8);
  await ch.writeFully(bytes(7));
  const src = bytes(4, 7);
  const write = ch.writeFully(src);
  assert.ok(await ch.awaitContent(8)); // would deadlock without the hand-over
  assert.is(ch.availableForRead, 8);
  assert.ok(await isPending(write));
  const head = await ch.readFully(7);
  const prefix = (await ch.readChunk()) as Buffer;
  assert.equal([...head], [0, 1, 2, 3, 4, 5, 6]);
  assert.is(prefix.buffer, src.buffer); // still a view, never a copy
  assert.equal([...prefix], [7]);
  await write;
  assert.equal([...(await ch.readFully(3))], [8, 9, 10]);
});

test('writeByte/Short/Int/Long write big-endian and accept two\'s complement negatives', async () => {
  const ch = new ByteChannel();
  await ch.writeByte(0xab);
  await ch.writeByte(-1);
  await ch.writeShort(0xbeef);
  await ch.writeShort(-2);
  await ch.writeInt(0xdeadbeef);
  await ch.writeInt(-3);
  await ch.writeLong(0x0102030405060708n);
  await ch.writeLong(-4n);
  assert.is(await ch.readByte(), 0xab);
  assert.is(await ch.readByte(), 0xff);
  assert.is(await ch.readShort(), 0xbeef);
  assert.is(await ch.readShort(), 0xfffe);
  assert.is(await ch.readInt(), 0xdeadbeef);
  assert.is(await ch.readInt(), 0xfffffffd);
  assert.is(await ch.readLong(), 0x0102030405060708n);
  assert.is(await ch.readLong(), 0xfffffffffffffffcn);
});

test('scalar writes reject values that do not fit', async () => {
  const ch = new ByteChannel();
  assert.instance(await rejection(ch.writeByte(256)), RangeError);
  assert.instance(await rejection(ch.writeByte(-129)), RangeError);
  assert.instance(await rejection(ch.writeShort(65536)), RangeError);
  assert.instance(await rejection(ch.writeInt(2 ** 32)), RangeError);
  assert.instance(await rejection(ch.writeInt(1.5)), RangeError);
  assert.instance(await rejection(ch.writeLong(1n << 64n)), RangeError);
  assert.instance(await rejection(ch.writeLong(-(1n << 63n) - 1n)), RangeError);
  assert.is(ch.availableForRead, 0);
});

test('writing something other than bytes rejects (or throws, for tryWriteFully) a TypeError and queues nothing', async () => {
  const ch = new ByteChannel();
  for (const bad of ['text', [1, 2], new Uint16Array(2), undefined] as unknown as Uint8Array[]) {
    const written = (() => {
      try {
        return ch.writeFully(bad);
      } catch (error) {
        return Promise.resolve(error);
      }
    })();
    assert.instance(await rejection(written), TypeError, 'writeFully rejects, it does not throw');
    assert.instance(thrown(() => ch.tryWriteFully(bad)), TypeError);
  }
  assert.is(ch.availableForRead, 0);
  assert.ok(ch.tryWriteFully(new Uint8Array([7])));
  assert.is(await ch.readByte(), 7);
});

test('autoFlush=false hides written bytes until flush()', async () => {
  const ch = new ByteChannel();
  ch.autoFlush = false;
  assert.is(ch.autoFlush, false);
  await ch.writeFully(bytes(3));
  assert.is(ch.availableForRead, 0);
  assert.is(ch.peekChunk(), undefined);
  const reading = ch.readChunk();
  assert.ok(await isPending(reading));
  ch.flush();
  assert.is((await reading)?.length, 3);
  await ch.writeFully(bytes(2));
  ch.autoFlush = true; // turning it back on flushes
  assert.is(ch.availableForRead, 2);
});

test('autoFlush=false: a write that has to wait flushes, and close flushes', async () => {
  const ch = new ByteChannel(4);
  ch.autoFlush = false;
  await ch.writeFully(bytes(3));
  const parked = ch.writeFully(bytes(3, 3));
  assert.is(ch.availableForRead, 3);
  assert.is((await ch.readChunk())?.length, 3);
  await parked;
  assert.is(ch.availableForRead, 0); // admitted after the reader made room: unflushed again
  ch.close();
  assert.is(ch.availableForRead, 3);
});

test('flush with autoFlush on, or with nothing pending, is a no-op', async () => {
  const ch = new ByteChannel();
  ch.flush();
  await ch.writeFully(bytes(2));
  ch.flush();
  assert.is(ch.availableForRead, 2);
});

test('tryWriteAll: all or nothing, by the capacity rule applied to the batch as one write', async () => {
  const ch = new ByteChannel(8);
  // An empty channel takes a batch larger than its capacity, in order.
  assert.ok(ch.tryWriteAll([Buffer.from('head'), Buffer.from('a payload over capacity'), Buffer.alloc(0)]));
  assert.is(ch.bufferedBytes, 27);
  // A non-empty channel takes a batch only if all of it fits; else nothing.
  assert.not.ok(ch.tryWriteAll([Buffer.from('x')]));
  assert.is((await ch.readFully(27)).toString(), 'heada payload over capacity');
  assert.ok(ch.tryWriteAll([Buffer.from('ab'), Buffer.from('cd')]));
  assert.not.ok(ch.tryWriteAll([Buffer.from('efg'), Buffer.from('hij')]), '4 + 6 > 8: nothing queued');
  assert.is(ch.bufferedBytes, 4);
  assert.ok(ch.tryWriteAll([Buffer.from('ef'), Uint8Array.from([0x67, 0x68])]));
  assert.is((await ch.readFully(8)).toString(), 'abcdefgh');
  ch.close();
  assert.throws(() => ch.tryWriteAll([Buffer.from('late')]), (error: unknown) => error instanceof Error && error.name === 'ChannelClosedError');
});

test('tryWriteAll makes a batch readable in one piece: a parked listener is called once, after the last chunk', () => {
  const ch = new ByteChannel();
  const seen: number[] = [];
  const listener = { onReadable: () => seen.push(ch.availableForRead) };
  assert.not.ok(ch.whenReadable(listener));
  assert.ok(ch.tryWriteAll([Buffer.from('ab'), Buffer.from('cd'), Buffer.from('e')]));
  assert.equal(seen, [5], 'one call, with the whole batch readable');
});

test('tryWriteAll hands a batch to a parked listener that takes batches, with nothing queued', () => {
  const ch = new ByteChannel(4);
  const taken: string[][] = [];
  let readable = 0;
  const listener = {
    onReadable: () => readable++,
    takeChunks: (chunks: readonly Buffer[]) => {
      taken.push(chunks.map((c) => c.toString()));
      assert.is(ch.bufferedBytes, 0, 'nothing is queued while the listener takes the batch');
      return true;
    },
  };
  assert.not.ok(ch.whenReadable(listener));
  const head = Buffer.from('head');
  const payload = Buffer.from('a payload over capacity');
  assert.ok(ch.tryWriteAll([head, payload]));
  assert.equal(taken, [['head', 'a payload over capacity']]);
  assert.is(ch.bufferedBytes, 0);
  assert.is(readable, 0);
  // Taking the batch unparked the listener: the next write is queued, and nobody is called.
  assert.ok(ch.tryWriteAll([Buffer.from('x')]));
  assert.is(taken.length, 1);
  assert.is(ch.bufferedBytes, 1);
  assert.is(readable, 0);
});

test('tryWriteAll queues the batch as usual when the listener declines it, and when a hand-off does not apply', () => {
  // Declined: queued in order, then onReadable once.
  const ch = new ByteChannel();
  let offered = 0;
  let readable = 0;
  const declines = { onReadable: () => readable++, takeChunks: () => (offered++, false) };
  assert.not.ok(ch.whenReadable(declines));
  assert.ok(ch.tryWriteAll([Buffer.from('ab'), Buffer.from('cd')]));
  assert.is(offered, 1);
  assert.is(readable, 1);
  assert.is(ch.tryReadChunk()?.toString(), 'ab');
  assert.is(ch.tryReadChunk()?.toString(), 'cd');

  // Not offered: with autoFlush off (the bytes are not readable before flush), with a chunk that
  // is not a Buffer or is empty, or with bytes already queued.
  const takes = { onReadable: () => readable++, takeChunks: () => (offered++, true) };
  const quiet = new ByteChannel();
  quiet.autoFlush = false;
  assert.not.ok(quiet.whenReadable(takes));
  assert.ok(quiet.tryWriteAll([Buffer.from('ab')]));
  assert.is(offered, 1);
  quiet.flush();
  assert.is(readable, 2, 'flush calls onReadable');
  for (const batch of [[Uint8Array.from([1])], [Buffer.from('a'), Buffer.alloc(0)]]) {
    const other = new ByteChannel();
    assert.not.ok(other.whenReadable(takes));
    assert.ok(other.tryWriteAll(batch));
    assert.is(offered, 1);
    assert.is(other.bufferedBytes, 1);
  }
  const busy = new ByteChannel();
  assert.ok(busy.tryWriteFully(Buffer.from('q')));
  assert.ok(busy.whenReadable(takes), 'bytes are readable: not parked');
  assert.ok(busy.tryWriteAll([Buffer.from('r')]));
  assert.is(offered, 1);
  assert.is(busy.bufferedBytes, 2);
});

test.run();
