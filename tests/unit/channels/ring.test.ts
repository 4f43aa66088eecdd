import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { emptyRing, releaseIfIdle, Ring, ringFor } from '../../../src/channels/ring.ts';

test('FIFO order across wrap-around and growth', () => {
  const ring = new Ring<number>();
  let next = 0;
  let expected = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < round % 13; i++) ring.push(next++);
    for (let i = 0; i < round % 7 && ring.length > 0; i++) assert.is(ring.shift(), expected++);
  }
  assert.is(ring.length, next - expected);
  while (ring.length > 0) assert.is(ring.shift(), expected++);
  assert.is(expected, next);
});

test('one element at a time needs no slots; a second one grows the ring, keeping the order', () => {
  const ring = new Ring<number>();
  for (let i = 0; i < 5; i++) {
    ring.push(i);
    assert.is(ring.peek(), i);
    assert.is(ring.shift(), i);
    assert.is(ring.length, 0);
  }
  ring.push(10);
  ring.push(11); // grows: 10 moves into the slots first
  ring.push(12);
  assert.is(ring.peek(), 10);
  assert.equal([ring.shift(), ring.shift(), ring.shift(), ring.shift()], [10, 11, 12, undefined]);
  ring.push(null as unknown as number);
  assert.is(ring.length, 1);
  ring.clear();
  assert.is(ring.length, 0);
  assert.is(ring.peek(), undefined);
});

test('peek, shift and clear on empty and non-empty rings; null is an element', () => {
  const ring = new Ring<string | null>();
  assert.is(ring.peek(), undefined);
  assert.is(ring.shift(), undefined);
  ring.push(null);
  ring.push('a');
  assert.is(ring.peek(), null);
  assert.is(ring.length, 2);
  ring.clear();
  assert.is(ring.length, 0);
  assert.is(ring.peek(), undefined);
  ring.push('b');
  assert.is(ring.shift(), 'b');
});

test('the shared empty ring reads as empty and is swapped for a fresh ring before a push', () => {
  const shared = emptyRing<string>();
  assert.is(emptyRing<number>() as unknown, shared as unknown, 'one ring for every owner');
  assert.is(shared.length, 0);
  assert.is(shared.peek(), undefined);
  assert.is(shared.shift(), undefined);
  const own = ringFor(shared);
  assert.is.not(own, shared);
  own.push('x');
  assert.is(shared.length, 0, 'the shared ring stays empty');
  assert.is(ringFor(own), own, 'a ring of its own is kept');
});

test('releaseIfIdle gives back a ring that is empty and never grew; a busy or grown one is kept', () => {
  let ring = ringFor(emptyRing<number>());
  ring.push(1);
  assert.is(releaseIfIdle(ring), ring, 'still holds an element');
  ring.shift();
  assert.is(releaseIfIdle(ring), emptyRing<number>(), 'empty, one element at a time: released');
  ring = ringFor(emptyRing<number>());
  ring.push(1);
  ring.push(2); // grows slots
  ring.shift();
  ring.shift();
  assert.is(releaseIfIdle(ring), ring, 'grew for a burst: kept with its slots');
});

test.run();
