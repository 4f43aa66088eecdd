import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Duplex } from 'node:stream';
import { coalesceWrites, forgetWriter } from '../../../src/channels/write-coalescing.ts';

/** A socket stand-in that records what reaches its underlying write, and when. */
class RecordingSocket extends Duplex {
  readonly writes: string[] = [];

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.writes.push(chunk.toString());
    callback();
  }

  override _writev(chunks: { chunk: Buffer }[], callback: () => void): void {
    this.writes.push(chunks.map(({ chunk }) => chunk.toString()).join('|'));
    callback();
  }
}

/** What a socket adapter does for each batch: ask, then write. */
function send(socket: RecordingSocket, text: string): void {
  coalesceWrites(socket, Buffer.byteLength(text));
  socket.write(text);
}

/** The socket the latest test left as the last writer (the tests share the module's state). */
let lastSocket: RecordingSocket | undefined;

const endOfTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// The tests share the module's state and run in this order.

test('one socket writing several times in a turn writes each at once', async () => {
  const socket = new RecordingSocket();
  for (const text of ['a', 'b', 'c']) send(socket, text);
  assert.equal(socket.writes, ['a', 'b', 'c']);
  await endOfTurn();
  assert.equal(socket.writes, ['a', 'b', 'c']);
});

test('writes of several sockets in one turn go out together at its end, each socket in order', async () => {
  const first = new RecordingSocket();
  const second = new RecordingSocket();
  // Another socket than the previous test's: coalescing starts with this write.
  send(first, '1a');
  send(second, '2a');
  send(first, '1b');
  assert.equal(first.writes, []);
  assert.equal(second.writes, []);
  assert.is(first.writableCorked, 1);
  await endOfTurn();
  assert.equal(first.writes, ['1a|1b']);
  assert.equal(second.writes, ['2a']);
  assert.is(first.writableCorked, 0);
});

test('a batch of the socket\'s high-water mark or more is written at once, even while coalescing; one byte less waits', async () => {
  const small = new RecordingSocket();
  const large = new RecordingSocket({ writableHighWaterMark: 4096 });
  send(small, 'x');
  const almost = 'a'.repeat(4095);
  send(large, almost);
  assert.equal(large.writes, []);
  const full = 'b'.repeat(4096);
  send(large, full);
  // The corked batch goes out first, then the one that fills the buffer.
  assert.equal(large.writes, [almost, full]);
  assert.equal(small.writes, []);
  await endOfTurn();
  // The flush found only `small`: `large` left its list when it was uncorked.
  assert.equal(small.writes, ['x']);
  assert.is(large.writableCorked, 0);
});

test('coalescing stops after eight turns in a row with a single socket', async () => {
  const socket = new RecordingSocket();
  // The previous test's flush found one socket: seven more single turns are deferred, then writes go at once.
  for (let turn = 1; turn <= 7; turn++) {
    send(socket, `t${turn}`);
    assert.is(socket.writes.length, turn - 1, `turn ${turn} deferred`);
    await endOfTurn();
    assert.is(socket.writes.length, turn);
  }
  send(socket, 'now');
  assert.is(socket.writes.at(-1), 'now');
  lastSocket = socket;
});

test('a closed socket is forgotten as the last writer: the next socket\'s write does not start coalescing', async () => {
  forgetWriter(lastSocket!);
  const socket = new RecordingSocket();
  send(socket, 'alone');
  assert.equal(socket.writes, ['alone']);
  assert.is(socket.writableCorked, 0);
  await endOfTurn();
  assert.equal(socket.writes, ['alone']);
});

test('a socket whose write throws at the flush is destroyed with the error; the others still get theirs', async () => {
  const failing = new (class extends RecordingSocket {
    override _writev(): void {
      throw new Error('boom');
    }
  })();
  const other = new RecordingSocket();
  const errors: Error[] = [];
  failing.on('error', (error) => errors.push(error));
  // The previous test left coalescing off with its socket as the last writer: another socket starts it again.
  send(failing, 'f1');
  send(failing, 'f2');
  send(other, 'o');
  await endOfTurn();
  await endOfTurn();
  assert.ok(failing.destroyed);
  assert.is(errors[0]?.message, 'boom');
  assert.equal(other.writes, ['o']);
});

test('a socket corked while the flush runs (its peer answers inside an uncork, as in-memory pairs do) goes out at the next flush', async () => {
  const answering = new RecordingSocket();
  const asking = new (class extends RecordingSocket {
    override _write(chunk: Buffer, encoding: BufferEncoding, callback: () => void): void {
      super._write(chunk, encoding, callback);
      send(answering, `re:${chunk.toString()}`);
    }
  })();
  // Still coalescing since the previous test (its flush found two sockets).
  send(asking, 'q');
  assert.equal(asking.writes, []);
  await endOfTurn();
  assert.equal(asking.writes, ['q']);
  await endOfTurn();
  assert.equal(answering.writes, ['re:q']);
  assert.is(answering.writableCorked, 0);
});

test.run();
