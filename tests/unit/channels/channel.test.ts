import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Channel } from '../../../src/channels/channel.ts';
import { CancellationError, ChannelClosedError, ClosedReceiveChannelError } from '../../../src/channels/errors.ts';
import { captureUncaught, isPending, rejection, runsAfterDoubleDispose, thrown, turn } from '../../support/async.ts';

test('the constructor takes 0, a positive integer or Infinity', () => {
  assert.is(new Channel().capacity, 0);
  assert.is(new Channel(Infinity).capacity, Infinity);
  for (const bad of [-1, 1.5, NaN]) assert.throws(() => new Channel(bad), RangeError);
});

test('rendezvous: send waits until a receiver takes the element', async () => {
  const ch = new Channel<string>();
  assert.is(ch.trySend('x'), false);
  const sending = ch.send('a');
  assert.ok(await isPending(sending));
  assert.is(ch.size, 0);
  assert.is(await ch.receive(), 'a');
  await sending;
});

test('rendezvous: a waiting receiver makes room for one element', async () => {
  const ch = new Channel<number>();
  const receiving = ch.receive();
  await Promise.resolve();
  assert.is(ch.trySend(1), true);
  assert.is(ch.trySend(2), false);
  assert.is(await receiving, 1);
  const sent = ch.send(3);
  assert.is(ch.tryReceive(), 3);
  await sent;
});

test('buffered: send completes while there is room, then waits; a receive resumes it', async () => {
  const ch = new Channel<number>(2);
  await ch.send(1);
  assert.ok(ch.trySend(2));
  assert.is(ch.size, 2);
  assert.is(ch.trySend(3), false);
  const parked = ch.send(3);
  assert.ok(await isPending(parked));
  assert.is(await ch.receive(), 1);
  await parked;
  assert.is(ch.size, 2);
  assert.equal([ch.tryReceive(), ch.tryReceive(), ch.tryReceive()], [2, 3, undefined]);
});

test('unbounded: sends never wait', async () => {
  const ch = new Channel<number>(Infinity);
  for (let i = 0; i < 10_000; i++) assert.ok(ch.trySend(i));
  assert.is(ch.size, 10_000);
  assert.is(await ch.receive(), 0);
});

test('receive waits for a send; null is a valid element', async () => {
  const ch = new Channel<number | null>(1);
  const receiving = ch.receive();
  assert.ok(await isPending(receiving));
  await ch.send(null);
  assert.is(await receiving, null);
  assert.is(ch.tryReceive(), undefined);
});

test('the batching pattern: await receive(), then drain with tryReceive()', async () => {
  const ch = new Channel<number>(8);
  for (let i = 0; i < 5; i++) ch.trySend(i);
  const batch = [await ch.receive()];
  for (let v = ch.tryReceive(); v !== undefined; v = ch.tryReceive()) batch.push(v);
  assert.equal(batch, [0, 1, 2, 3, 4]);
});

test('awaitReceivable: shared promise when ready, waits otherwise, takes nothing', async () => {
  const ch = new Channel<number>(4);
  const waiting = ch.awaitReceivable();
  assert.ok(await isPending(waiting));
  ch.trySend(7);
  assert.is(await waiting, true);
  assert.is(ch.size, 1);
  assert.is(ch.awaitReceivable(), ch.awaitReceivable());
  ch.close();
  assert.is(await ch.awaitReceivable(), true);
  ch.tryReceive();
  assert.is(await ch.awaitReceivable(), false);
});

test('awaitReceivable sees a sender parked on a rendezvous channel', async () => {
  const ch = new Channel<string>();
  const sending = ch.send('hello');
  assert.is(await ch.awaitReceivable(), true);
  assert.is(ch.tryReceive(), 'hello');
  await sending;
});

test('close(): receivers drain buffered and parked elements, then the channel ends', async () => {
  const ch = new Channel<number>(1);
  await ch.send(1);
  const parked = ch.send(2);
  assert.is(ch.close(), true);
  assert.is(ch.close(), false);
  assert.ok(ch.isClosedForSend);
  assert.not.ok(ch.isClosedForReceive);
  assert.instance(await rejection(ch.send(3)), ChannelClosedError);
  assert.instance(thrown(() => ch.trySend(3)), ChannelClosedError);
  assert.is(await ch.receive(), 1);
  await parked;
  assert.is(await ch.receive(), 2);
  assert.ok(ch.isClosedForReceive);
  assert.is(ch.tryReceive(), undefined);
  assert.instance(await rejection(ch.receive()), ClosedReceiveChannelError);
});

test('close() releases parked senders at once: their elements join the buffer in order, beyond the capacity', async () => {
  const ch = new Channel<number>(1);
  await ch.send(1);
  const parked = [ch.send(2), ch.send(3)];
  assert.ok(await isPending(parked[0] as Promise<void>));
  ch.close();
  for (const p of parked) assert.not.ok(await isPending(p), 'a parked send resolves without a receiver');
  await Promise.all(parked);
  assert.is(ch.size, 3, 'over the capacity of 1');
  assert.not.ok(ch.isClosedForReceive);
  assert.equal([await ch.receive(), ch.tryReceive(), await ch.receive()], [1, 2, 3]);
  assert.ok(ch.isClosedForReceive);
  assert.instance(await rejection(ch.receive()), ClosedReceiveChannelError);
});

test('close() ends a producer blocked on a full channel that nobody reads again', async () => {
  const ch = new Channel<number>(2);
  let produced = 0;
  const producer = (async () => {
    for (let i = 0; ; i++) {
      await ch.send(i);
      produced++;
    }
  })();
  await turn();
  assert.is(produced, 2);
  ch.close();
  const error = await rejection(producer);
  assert.instance(error, ChannelClosedError, 'the send after the close fails, ending the loop');
  assert.is(produced, 3, 'the parked send completed');
  assert.equal([ch.tryReceive(), ch.tryReceive(), ch.tryReceive(), ch.tryReceive()], [0, 1, 2, undefined]);
});

test('close() on a rendezvous channel: a parked sender resolves and its element is still received', async () => {
  const ch = new Channel<string>();
  const sending = ch.send('last');
  assert.ok(await isPending(sending));
  ch.close(new Error('done'));
  await sending;
  assert.is(ch.size, 1);
  assert.is(await ch.receive(), 'last');
  assert.is(((await rejection(ch.receive())) as Error).message, 'done');
});

test('close() releases waiting receivers', async () => {
  const ch = new Channel<number>();
  const receiving = ch.receive();
  const peeking = ch.awaitReceivable();
  ch.close();
  assert.instance(await rejection(receiving), ClosedReceiveChannelError);
  assert.is(await peeking, false);
});

test('close(cause): after the buffered elements, receivers fail with the cause', async () => {
  const ch = new Channel<number>(2);
  const cause = new Error('producer failed');
  await ch.send(1);
  const waiting = new Channel<number>();
  const parked = waiting.receive();
  ch.close(cause);
  waiting.close(cause);
  assert.is(ch.closedCause, cause);
  assert.is(await ch.receive(), 1);
  assert.is(thrown(() => ch.tryReceive()), cause);
  assert.is(await rejection(ch.receive()), cause);
  assert.is(await rejection(ch.awaitReceivable()), cause);
  assert.is(await rejection(parked), cause);
  const sendError = await rejection(ch.send(2));
  assert.instance(sendError, ChannelClosedError);
  assert.is((sendError as Error).cause, cause);
});

test('cancel(cause): drops the buffer and fails parked senders and receivers', async () => {
  const ch = new Channel<number>(1);
  await ch.send(1);
  const sender = ch.send(2);
  const other = new Channel<number>();
  const receiver = other.receive();
  const cause = new Error('stop');
  ch.cancel(cause);
  other.cancel(cause);
  assert.is(ch.size, 0);
  assert.is(await rejection(sender), cause);
  assert.is(await rejection(receiver), cause);
  assert.is(await rejection(ch.send(3)), cause);
  assert.is(await rejection(ch.receive()), cause);
  assert.ok(ch.isClosedForReceive);
  assert.is(ch.close(), false);
});

test('cancel() without a cause uses a CancellationError; cancel after close keeps the close cause', async () => {
  const ch = new Channel<number>(1);
  ch.cancel();
  assert.instance(ch.closedCause, CancellationError);
  ch.cancel(new Error('again'));
  assert.instance(ch.closedCause, CancellationError);

  const closed = new Channel<number>(1);
  await closed.send(1);
  const cause = new Error('closed first');
  closed.close(cause);
  closed.cancel();
  assert.is(closed.closedCause, cause);
  assert.is(closed.size, 0);
});

test('async iteration ends after a normal close', async () => {
  const ch = new Channel<number>();
  const seen: number[] = [];
  const consumer = (async () => {
    for await (const v of ch) seen.push(v);
  })();
  for (let i = 0; i < 5; i++) await ch.send(i);
  ch.close();
  await consumer;
  assert.equal(seen, [0, 1, 2, 3, 4]);
});

test('async iteration throws the close cause after the buffered elements', async () => {
  const ch = new Channel<number>(3);
  const cause = new Error('bad');
  await ch.send(1);
  await ch.send(2);
  ch.close(cause);
  const seen: number[] = [];
  const error = await rejection(
    (async () => {
      for await (const v of ch) seen.push(v);
    })(),
  );
  assert.equal(seen, [1, 2]);
  assert.is(error, cause);
});

test('several consumers share the elements without losing or duplicating any', async () => {
  const ch = new Channel<number>(2);
  const got: number[] = [];
  const consume = async (): Promise<void> => {
    for await (const v of ch) got.push(v);
  };
  const consumers = [consume(), consume(), consume()];
  for (let i = 0; i < 100; i++) await ch.send(i);
  ch.close();
  await Promise.all(consumers);
  assert.equal(
    got.sort((a, b) => a - b),
    Array.from({ length: 100 }, (_, i) => i),
  );
});

test('parked receive() callers each take one element; the ones left over keep waiting, then see the end', async () => {
  const ch = new Channel<number>(4);
  const first = ch.receive();
  const second = ch.receive();
  const third = ch.receive();
  ch.trySend(1);
  ch.trySend(2);
  assert.equal(await Promise.all([first, second]), [1, 2]);
  let settled = false;
  void third.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(settled, false, 'the third waits for a third element');
  ch.close();
  try {
    await third;
    assert.unreachable('the end of the channel rejects a parked receive');
  } catch (error) {
    assert.instance(error, ClosedReceiveChannelError);
  }
});

test('a look-only waiter behind a receive() that took the only element keeps waiting, then sees what comes next or the end', async () => {
  const ch = new Channel<number>(1);
  const taking = ch.receive();
  const looking = ch.awaitReceivable();
  ch.trySend(1);
  assert.is(await taking, 1);
  assert.ok(await isPending(looking), 'nothing is receivable: the look-only waiter waits again');
  assert.is(ch.tryReceive(), undefined);
  ch.trySend(2);
  assert.is(await looking, true);
  assert.is(ch.tryReceive(), 2);

  const taking2 = ch.receive();
  const looking2 = ch.awaitReceivable();
  ch.trySend(3);
  ch.close();
  assert.is(await taking2, 3);
  assert.is(await looking2, false, 'the only element was taken and the channel is closed');
});

test('a waiting receiver is resumed once per burst of sends and finds the whole burst', async () => {
  const ch = new Channel<number>(16);
  const batches: number[][] = [];
  const consumer = (async () => {
    while (await ch.awaitReceivable()) {
      const batch: number[] = [];
      for (let v = ch.tryReceive(); v !== undefined; v = ch.tryReceive()) batch.push(v);
      batches.push(batch);
    }
  })();
  await turn();
  for (let i = 0; i < 5; i++) await ch.send(i);
  await turn();
  await ch.send(5);
  await turn();
  ch.close();
  await consumer;
  assert.equal(batches, [[0, 1, 2, 3, 4], [5]]);
});

/** A channel of strings weighed by their length: up to 8 elements and 10 characters. */
function weighed(): Channel<string> {
  return new Channel<string>(8, { maxWeight: 10, weigh: (s) => s.length });
}

test('weight budget: a send waits while its weight does not fit beside what is buffered', async () => {
  const ch = weighed();
  assert.is(ch.maxWeight, 10);
  assert.ok(ch.trySend('aaaa'));
  assert.ok(ch.trySend('bbbbbb'));
  assert.is(ch.bufferedWeight, 10);
  assert.is(ch.trySend('c'), false);
  const parked = ch.send('c');
  assert.ok(await isPending(parked));
  assert.is(ch.tryReceive(), 'aaaa');
  await parked;
  assert.is(ch.bufferedWeight, 7);
  assert.equal([ch.tryReceive(), ch.tryReceive(), ch.tryReceive()], ['bbbbbb', 'c', undefined]);
  assert.is(ch.bufferedWeight, 0);
});

test('weight budget: an element heavier than the budget goes through alone, never beside another', async () => {
  const ch = weighed();
  assert.ok(ch.trySend('x'.repeat(25)));
  assert.is(ch.bufferedWeight, 25);
  assert.is(ch.trySend('y'), false);
  const parked = ch.send('y');
  assert.is(await ch.receive(), 'x'.repeat(25));
  await parked;
  const heavy = ch.send('z'.repeat(40));
  assert.ok(await isPending(heavy));
  assert.is(ch.tryReceive(), 'y');
  await heavy; // the channel is empty again: the heavy element is buffered alone
  assert.is(ch.bufferedWeight, 40);
});

test('weight budget: waiting senders are admitted in order while they fit; a light send never overtakes them', async () => {
  const ch = weighed();
  assert.ok(ch.trySend('aaaaaaaa'));
  const order: string[] = [];
  const parked = ['bbbbbb', 'cc', 'dd'].map((s) => ch.send(s).then(() => order.push(s)));
  assert.is(ch.trySend('e'), false, 'a light element waits behind the parked ones');
  assert.is(ch.tryReceive(), 'aaaaaaaa');
  await Promise.all(parked);
  assert.equal(order, ['bbbbbb', 'cc', 'dd']);
  assert.is(ch.bufferedWeight, 10);
  ch.cancel();
  assert.is(ch.bufferedWeight, 0);
});

test('weight budget: close() buffers the elements of parked senders beyond the budget, in order', async () => {
  const ch = weighed();
  assert.ok(ch.trySend('aaaaaaaa'));
  const parked = [ch.send('bbbbbb'), ch.send('cc')];
  ch.close();
  await Promise.all(parked);
  assert.is(ch.bufferedWeight, 16, 'over the budget of 10');
  assert.equal([ch.tryReceive(), ch.tryReceive(), ch.tryReceive(), ch.tryReceive()], ['aaaaaaaa', 'bbbbbb', 'cc', undefined]);
  assert.is(ch.bufferedWeight, 0);
  assert.ok(ch.isClosedForReceive);
});

test('weight budget: maxWeight must be a positive integer or Infinity', () => {
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => new Channel<string>(4, { maxWeight: bad, weigh: (s) => s.length }), RangeError);
  }
  const unbounded = new Channel<string>(4, { maxWeight: Infinity, weigh: (s) => s.length });
  for (let i = 0; i < 4; i++) assert.ok(unbounded.trySend('x'.repeat(1e6)));
  assert.is(unbounded.trySend('x'), false, 'the element count still bounds it');
  assert.is(unbounded.bufferedWeight, 0, 'no budget, nothing weighed');
});

test('a waiter woken for an element another consumer takes first sees the end once the channel is closed and drained', async () => {
  // (A parked receive or next() is handed the element by the send itself; these two are woken after the burst.)
  for (const wait of ['awaitReceivable', 'whenReceivable'] as const) {
    const channel = new Channel<string>(4);
    let outcome = 'pending';
    if (wait === 'awaitReceivable') void channel.awaitReceivable().then((ready) => (outcome = `ready ${ready}`));
    else channel.whenReceivable({ onReceivable: () => (outcome = `called, closed ${channel.isClosedForReceive}`) });
    await channel.send('x'); // wakes the waiter after the burst
    channel.close(); // an element is left: the close does not end the waiters itself
    assert.is(channel.tryReceive(), 'x'); // another consumer takes it first
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(channel.isClosedForReceive);
    assert.is.not(outcome, 'pending', `${wait} was left waiting on a closed, drained channel`);
  }
});

test('invokeOnClose runs once with the cause, at once when already closed, and can be disposed', async () => {
  const ch = new Channel<number>();
  const seen: unknown[] = [];
  ch.invokeOnClose((c) => seen.push(['a', c]));
  ch.invokeOnClose((c) => seen.push(['b', c]))();
  const cause = new Error('x');
  ch.close(cause);
  ch.cancel();
  ch.invokeOnClose((c) => seen.push(['c', c]));
  assert.equal(seen, [
    ['a', cause],
    ['c', cause],
  ]);
  const bug = new Error('handler bug');
  const other = new Channel<number>();
  other.invokeOnClose(() => {
    throw bug;
  });
  assert.equal(await captureUncaught(() => other.cancel()), [bug]);
  assert.ok(other.isClosedForReceive);
  // A disposer called twice takes out its own registration only, not another of the same function.
  const twice = new Channel<number>();
  assert.is(runsAfterDoubleDispose((h) => twice.invokeOnClose(h), () => twice.close()), 1);
});

test('rejectWaitingSenders: the waiting sends fail with the cause, their elements are not queued, the channel stays open', async () => {
  const ch = new Channel<number>(1);
  await ch.send(1);
  const waiting = ch.send(2);
  const cause = new Error('gave up');
  ch.rejectWaitingSenders(cause);
  assert.is(await rejection(waiting), cause);
  assert.is(ch.size, 1);
  assert.is(ch.tryReceive(), 1);
  assert.is(ch.tryReceive(), undefined, 'the rejected element was not queued');
  assert.ok(ch.trySend(3), 'still open');
  assert.is(await ch.receive(), 3);
});

test.run();
