/**
 * The wake queue: wake-ups go to process.nextTick, except inside
 * withWakesAfter, where they run in order before it returns (with the ones
 * they schedule); a wake-up that throws leaves the rest to the next tick.
 * And a channel woken this way: its parked consumer runs inside the scope.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Channel } from '../../../src/channels/channel.ts';
import { scheduleWake, withWakesAfter } from '../../../src/channels/wake-queue.ts';

const tick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

test('outside a scope, a wake-up runs from process.nextTick, not in the caller', async () => {
  const log: string[] = [];
  scheduleWake((s: string) => log.push(s), 'woken');
  log.push('returned');
  await tick();
  assert.equal(log, ['returned', 'woken']);
});

test('inside withWakesAfter, wake-ups run in order after fn and before it returns, with those they schedule', () => {
  const log: string[] = [];
  const wake = (s: string): void => {
    log.push(s);
    if (s === 'a') scheduleWake(wake, 'c');
  };
  withWakesAfter(
    (first: string, second: string) => {
      scheduleWake(wake, first);
      scheduleWake(wake, second);
      log.push('fn done');
    },
    'a',
    'b',
  );
  log.push('returned');
  assert.equal(log, ['fn done', 'a', 'b', 'c', 'returned']);
});

test('a nested scope does not run the wake-ups early: the outermost one does', () => {
  const log: string[] = [];
  withWakesAfter(
    () => {
      withWakesAfter(() => scheduleWake((s: string) => log.push(s), 'woken'), undefined, undefined);
      log.push('inner returned');
    },
    undefined,
    undefined,
  );
  assert.equal(log, ['inner returned', 'woken']);
});

test('a wake-up that throws: the error leaves the scope, the rest run from the next tick, and the queue is reset', async () => {
  const log: string[] = [];
  const boom = new Error('boom');
  assert.throws(
    () =>
      withWakesAfter(
        () => {
          scheduleWake(() => {
            throw boom;
          }, undefined);
          scheduleWake((s: string) => log.push(s), 'after the throw');
        },
        undefined,
        undefined,
      ),
    (error: unknown) => error === boom,
  );
  assert.equal(log, []);
  await tick();
  assert.equal(log, ['after the throw']);
  scheduleWake((s: string) => log.push(s), 'outside again');
  assert.equal(log, ['after the throw'], 'no scope is open any more: the next wake-up waits for a tick');
  await tick();
  assert.equal(log, ['after the throw', 'outside again']);
});

test('a channel sent to inside a scope wakes its parked consumer before the scope returns, once for the burst', () => {
  const ch = new Channel<number>(8);
  const batches: number[][] = [];
  const listener = {
    onReceivable(): void {
      const batch: number[] = [];
      for (let n = ch.tryReceive(); n !== undefined; n = ch.tryReceive()) batch.push(n);
      batches.push(batch);
      ch.whenReceivable(listener);
    },
  };
  assert.not.ok(ch.whenReceivable(listener));
  withWakesAfter(
    (channel: Channel<number>) => {
      for (let i = 0; i < 3; i++) channel.trySend(i);
      assert.equal(batches, [], 'not inside the sends');
    },
    ch,
    undefined,
  );
  assert.equal(batches, [[0, 1, 2]]);
});

test.run();
