/**
 * consumeEach: every element handed to the callback in order, the callback's
 * promise as backpressure (and the fulfilled one that is not), the
 * immediate wake (inside the send), the channel's end and failure, the
 * callback's failure, and no reference to an element once its callback is
 * done.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Channel } from '../../../src/channels/channel.ts';
import { consumeEach } from '../../../src/channels/consume-each.ts';
import { isPending, rejection, turn } from '../../support/async.ts';
import { gc } from '../../support/resources.ts';

test('every element, in order, buffered before and sent after the start; resolves once closed and drained', async () => {
  const ch = new Channel<number>(8);
  ch.trySend(1);
  ch.trySend(2);
  const seen: number[] = [];
  const done = consumeEach(ch, (n) => void seen.push(n));
  assert.equal(seen, [1, 2], 'buffered elements are taken at once, synchronously');
  await ch.send(3);
  await turn();
  ch.trySend(4);
  ch.trySend(5);
  ch.close();
  await done;
  assert.equal(seen, [1, 2, 3, 4, 5]);
});

test('a promise from the callback holds back the next element until it settles', async () => {
  const ch = new Channel<string>(8);
  const seen: string[] = [];
  let release!: () => void;
  const done = consumeEach(ch, (s) => {
    seen.push(s);
    if (s === 'a') return new Promise<void>((r) => (release = r));
  });
  ch.trySend('a');
  ch.trySend('b');
  await turn();
  assert.equal(seen, ['a']);
  assert.is(ch.size, 1, '"b" waits in the channel');
  release();
  await turn();
  assert.equal(seen, ['a', 'b']);
  ch.close();
  await done;
});

test('a burst is handed on before the ticks its actions schedule run, as a resumed for await would', async () => {
  // The session's writer is scheduled with process.nextTick by the first send of a burst and writes
  // everything sent by then: every message of the burst must have been handed on before that tick.
  const ch = new Channel<number>(16);
  const flushes: number[] = [];
  let unflushed = 0;
  const done = consumeEach(ch, () => {
    if (unflushed++ === 0) {
      process.nextTick(() => {
        flushes.push(unflushed);
        unflushed = 0;
      });
    }
    return Promise.resolve();
  });
  await turn();
  for (let i = 0; i < 5; i++) ch.trySend(i);
  await new Promise((r) => setImmediate(r));
  assert.equal(flushes, [5], 'one flush for the whole burst');
  ch.close();
  await done;
});

test('immediate: a waiting action is called inside the send that delivers the element', async () => {
  const ch = new Channel<string>(8);
  const log: string[] = [];
  const done = consumeEach(ch, (s) => void log.push(`action ${s}`), { immediate: true });
  await turn(); // parked
  for (const s of ['a', 'b']) {
    ch.trySend(s);
    log.push(`sent ${s}`);
  }
  assert.equal(log, ['action a', 'sent a', 'action b', 'sent b']);
  assert.is(ch.size, 0);
  ch.close();
  await done;
});

test('immediate: an element sent while the promise of the action is pending waits for it, then is handed on', async () => {
  const ch = new Channel<string>(8);
  const seen: string[] = [];
  let release!: () => void;
  const done = consumeEach(
    ch,
    (s) => {
      seen.push(s);
      if (s === 'a') return new Promise<void>((r) => (release = r));
    },
    { immediate: true },
  );
  ch.trySend('a');
  ch.trySend('b');
  assert.equal(seen, ['a'], 'the first is taken inside its send; the second waits');
  assert.is(ch.size, 1);
  release();
  await turn();
  assert.equal(seen, ['a', 'b']);
  ch.trySend('c');
  assert.equal(seen, ['a', 'b', 'c'], 'parked again, so the next is taken inside its send');
  ch.close();
  await done;
});

test('immediate: the ticks the actions of one burst schedule still run once, after the whole burst', async () => {
  const ch = new Channel<number>(16);
  const flushes: number[] = [];
  let unflushed = 0;
  const done = consumeEach(
    ch,
    () => {
      if (unflushed++ === 0) {
        process.nextTick(() => {
          flushes.push(unflushed);
          unflushed = 0;
        });
      }
    },
    { immediate: true },
  );
  await turn();
  for (let i = 0; i < 5; i++) ch.trySend(i);
  await new Promise((r) => setImmediate(r));
  assert.equal(flushes, [5], 'one flush for the whole burst');
  ch.close();
  await done;
});

test('fulfilled: an action returning that promise counts as returning nothing; any other promise is waited for', async () => {
  const done = Promise.resolve();
  const ch = new Channel<string>(8);
  const seen: string[] = [];
  const consumed = consumeEach(
    ch,
    (s) => {
      seen.push(s);
      return s === 'other' ? Promise.resolve() : done;
    },
    { fulfilled: done, immediate: true },
  );
  for (const s of ['a', 'b', 'other', 'c']) ch.trySend(s);
  assert.equal(seen, ['a', 'b', 'other'], 'taken inside the sends, until a promise that must be waited for');
  assert.is(ch.size, 1);
  await turn();
  assert.equal(seen, ['a', 'b', 'other', 'c']);
  ch.close();
  await consumed;
});

test('a channel that fails rejects with its cause, after the elements buffered before', async () => {
  const ch = new Channel<number>(8);
  const seen: number[] = [];
  const done = consumeEach(ch, (n) => void seen.push(n));
  const cause = new Error('lost');
  ch.trySend(1);
  ch.close(cause);
  assert.is(await rejection(done), cause);
  assert.equal(seen, [1]);
});

test('the callback throwing or rejecting stops the loop and rejects with its error; the channel is left as it is', async () => {
  const boom = new Error('boom');
  const ch = new Channel<number>(8);
  const seen: number[] = [];
  ch.trySend(1);
  ch.trySend(2);
  const thrown = consumeEach(ch, (n) => {
    seen.push(n);
    throw boom;
  });
  assert.is(await rejection(thrown), boom);
  assert.equal(seen, [1]);
  assert.is(ch.tryReceive(), 2, 'what followed is still in the channel');
  assert.not.ok(ch.isClosedForSend);

  const bad = new Error('bad');
  ch.trySend(3);
  ch.trySend(4);
  const rejected = consumeEach(ch, async () => {
    throw bad;
  });
  assert.is(await rejection(rejected), bad);
  assert.is(ch.tryReceive(), 4);
});

test('parked on an empty channel it is pending, and a cancel rejects it', async () => {
  const ch = new Channel<number>();
  const done = consumeEach(ch, () => {});
  assert.ok(await isPending(done));
  ch.cancel(new Error('gone'));
  assert.is(((await rejection(done)) as Error).message, 'gone');
});

test('once its callback is done, nothing of the loop keeps an element alive', async () => {
  const ch = new Channel<object>(1);
  let ref: WeakRef<object> | undefined;
  const done = consumeEach(ch, async (element) => {
    ref = new WeakRef(element);
    await turn();
  });
  ch.trySend({ large: new Uint8Array(1 << 20) });
  await turn();
  await turn();
  await new Promise((r) => setImmediate(r));
  gc();
  assert.ok(ref !== undefined);
  assert.is(ref.deref(), undefined, 'the element was collected while the loop waits for the next one');
  ch.close();
  await done;
});

test.run();
