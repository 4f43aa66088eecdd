import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Channel } from '../../../src/channels/channel.ts';
import { ConnectionResetError } from '../../../src/channels/errors.ts';
import { socketChannels } from '../../../src/channels/node-adapter.ts';
import { rejection, turn } from '../../support/async.ts';

const EVENTS = ['data', 'end', 'error', 'close', 'drain'] as const;

/** A connected loopback pair: `local` is the accepted socket the adapter wraps, `peer` the client. */
async function connect(options: net.ServerOpts = {}): Promise<{ local: net.Socket; peer: net.Socket }> {
  const server = net.createServer({ allowHalfOpen: true, ...options });
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const peer = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const [[local]] = await Promise.all([accepted, once(peer, 'connect')]);
  server.close();
  return { local, peer };
}

/** Waits until the peer sees the connection end (a FIN, or a reset), then releases it. */
async function peerSeesEnd(peer: net.Socket): Promise<void> {
  if (!peer.readableEnded) {
    peer.resume();
    await once(peer, 'end').catch(() => {});
  }
  peer.destroy();
}

function listenerCounts(socket: net.Socket): number[] {
  return EVENTS.map((e) => socket.listenerCount(e));
}

/** Sends `total` random bytes in 64 KiB writes, honouring 'drain'; resolves with their SHA-256. */
async function sendRandom(socket: net.Socket, total: number): Promise<string> {
  const hash = createHash('sha256');
  for (let sent = 0; sent < total; ) {
    const chunk = randomBytes(Math.min(64 * 1024, total - sent));
    hash.update(chunk);
    sent += chunk.length;
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
  return hash.digest('hex');
}

test('64 MiB from a fast peer to a slow reader: bounded buffering, paused socket, intact bytes', async () => {
  const { local, peer } = await connect();
  const capacity = 64 * 1024;
  const { input, output } = socketChannels(local, { inputCapacity: capacity });
  const total = 64 * 1024 * 1024;
  const sending = sendRandom(peer, total).then((digest) => {
    peer.end();
    return digest;
  });

  const hash = createHash('sha256');
  let received = 0;
  let maxBuffered = 0;
  // The peer's end closes the input, which queues the writes still waiting for room beyond the
  // capacity (the close rule of ByteChannel): the bound holds only until then. The adapter's own
  // 'end' listener was added first, so while `ended` is false the input is still open.
  let ended = false;
  local.once('end', () => (ended = true));
  const sample = (): void => {
    if (!ended) maxBuffered = Math.max(maxBuffered, input.availableForRead);
  };
  let sawPaused = false;
  let sinceNap = 0;
  for (;;) {
    sample();
    const chunk = await input.readChunk();
    if (chunk === null) break;
    hash.update(chunk);
    received += chunk.length;
    sinceNap += chunk.length;
    if (sinceNap >= 1024 * 1024) {
      sinceNap = 0;
      await sleep(2); // slow reader: the peer keeps sending meanwhile
      sample();
      sawPaused ||= local.isPaused();
    }
  }
  assert.is(received, total);
  assert.is(hash.digest('hex'), await sending);
  assert.ok(maxBuffered <= capacity, `buffered ${maxBuffered} > capacity ${capacity}`);
  assert.ok(maxBuffered > 0);
  assert.ok(sawPaused, 'the socket was never paused');
  output.close();
  await once(local, 'close');
});

test('output: backpressure from a peer that does not read, then everything arrives and ends', async () => {
  const { local, peer } = await connect();
  const { output } = socketChannels(local, { outputCapacity: 64 * 1024 });
  peer.pause();
  const total = 16 * 1024 * 1024;
  const hash = createHash('sha256');
  let parked = false;
  const writing = (async () => {
    for (let sent = 0; sent < total; sent += 16 * 1024) {
      const chunk = randomBytes(16 * 1024);
      hash.update(chunk);
      if (!output.tryWriteFully(chunk)) {
        parked = true;
        await output.writeFully(chunk);
      }
    }
    output.close();
  })();
  await sleep(50);
  assert.ok(parked, 'the writer never had to wait');
  assert.ok(output.availableForWrite === 0);

  const got = createHash('sha256');
  let received = 0;
  peer.on('data', (chunk: Buffer) => {
    got.update(chunk);
    received += chunk.length;
  });
  peer.resume();
  await Promise.all([writing, once(peer, 'end')]);
  assert.is(received, total);
  assert.is(got.digest('hex'), hash.digest('hex'));
  peer.end();
  await once(local, 'close');
});

test('output: a batch written while the pump waits goes to the socket at once, in one writev; a full socket queues what follows, in order', async () => {
  const { local, peer } = await connect();
  const { output } = socketChannels(local);
  const writes: number[] = [];
  const write = local.write.bind(local);
  local.write = ((chunk: Buffer, ...rest: never[]) => {
    writes.push(local.writableCorked);
    return write(chunk, ...rest);
  }) as typeof local.write;
  peer.pause();

  // The pump is parked on the empty output: the batch is handed to the socket inside tryWriteAll, corked.
  assert.ok(output.tryWriteAll([Buffer.from('head'), Buffer.from('-body')]));
  assert.equal(writes, [1, 1], 'both chunks written inside one cork');
  assert.is(output.bufferedBytes, 0, 'nothing queued in the channel');

  // A batch larger than the socket's buffer: taken, but the socket is full, so the pump waits for 'drain'
  // and the next batches stay in the channel, in order.
  const big = randomBytes(4 * 1024 * 1024);
  assert.ok(output.tryWriteAll([big]));
  assert.is(output.bufferedBytes, 0);
  assert.ok(output.tryWriteAll([Buffer.from('after')]));
  assert.ok(output.tryWriteAll([Buffer.from('-last')]));
  assert.is(output.bufferedBytes, 10, 'queued behind the full socket');
  output.close();

  const received: Buffer[] = [];
  peer.on('data', (chunk: Buffer) => received.push(chunk));
  peer.resume();
  await once(peer, 'end');
  const all = Buffer.concat(received);
  assert.is(all.length, 9 + big.length + 10);
  assert.is(all.subarray(0, 9).toString(), 'head-body');
  assert.ok(all.subarray(9, 9 + big.length).equals(big));
  assert.is(all.subarray(9 + big.length).toString(), 'after-last');
  peer.end();
  await once(local, 'close');
});

test('half-close: the peer ends, input ends, output keeps working until closed', async () => {
  const { local, peer } = await connect();
  const before = listenerCounts(local);
  const { input, output } = socketChannels(local);
  peer.end(Buffer.from('last words'));
  assert.equal((await input.readRemaining()).toString(), 'last words');
  assert.ok(input.isClosedForRead);
  assert.is(input.closedCause, undefined);

  const reply = once(peer, 'data');
  await output.writeFully(Buffer.from('still here'));
  assert.is(String((await reply)[0]), 'still here');
  output.close();
  await Promise.all([once(peer, 'end'), once(local, 'close')]);
  assert.equal(listenerCounts(local), before);
});

test('a reset by the peer fails the input and then the output', async () => {
  const { local, peer } = await connect();
  const { input, output } = socketChannels(local);
  const reading = rejection(input.readChunk());
  peer.resetAndDestroy();
  const error = await reading;
  assert.instance(error, Error);
  assert.ok(input.isClosedForRead);
  await once(local, 'close');
  assert.ok(output.isClosedForWrite);
  assert.instance(await rejection(output.writeFully(Buffer.from('x'))), Error);
});

test('a close without an end maps to ConnectionResetError on the input', async () => {
  const { local, peer } = await connect();
  const { input } = socketChannels(local);
  local.destroy();
  await once(local, 'close');
  assert.instance(await rejection(input.readChunk()), ConnectionResetError);
  peer.destroy();
});

test('output closed with a cause destroys the socket; the input fails with that cause', async () => {
  const { local, peer } = await connect();
  const before = listenerCounts(local);
  const { input, output } = socketChannels(local);
  const cause = new Error('session failed');
  output.close(cause);
  await once(local, 'close');
  assert.ok(local.destroyed);
  assert.is(await rejection(input.readChunk()), cause);
  await peerSeesEnd(peer);
  assert.equal(listenerCounts(local), before);
});

/** A local socket whose output the peer does not read: the pump waits for 'drain' with more bytes queued behind. */
async function stalledOutput(options: { lingerMs?: number } = {}) {
  const { local, peer } = await connect();
  peer.pause();
  const channels = socketChannels(local, options);
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 200; i++) writes.push(channels.output.writeFully(Buffer.alloc(64 * 1024)).catch(() => {}));
  while (local.writableLength === 0 || !local.writableNeedDrain) await turn();
  return { local, peer, ...channels };
}

test('output closed with a cause while the pump waits for \'drain\' (a peer that reads nothing): the socket goes at once', async () => {
  const { local, peer, output } = await stalledOutput();
  const started = performance.now();
  output.close(new Error('abandoned'));
  await once(local, 'close');
  assert.ok(performance.now() - started < 1_000, 'destroyed without the peer reading');
  peer.destroy();
});

test('input cancelled after it ended (the peer\'s FIN read to the end) still lets the socket go: lingerMs later when the peer reads nothing', async () => {
  const lingerMs = 100;
  const { local, peer, input } = await stalledOutput({ lingerMs });
  peer.end(); // the peer half-closes and still reads nothing
  assert.is(await input.readChunk(), null, 'the input ended and is drained');
  const started = performance.now();
  input.cancel(new Error('session over')); // what the session does when it ends
  await once(local, 'close');
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= lingerMs - 5 && elapsed < 5_000, `destroyed after ${elapsed} ms`);
  peer.destroy();
});

test('cancelling the input destroys the socket and fails later output writes', async () => {
  const { local, peer } = await connect();
  const { input, output } = socketChannels(local);
  const cause = new Error('not interested');
  input.cancel(cause);
  await once(local, 'close');
  assert.ok(local.destroyed);
  assert.is(await rejection(output.writeFully(Buffer.from('x'))), cause);
  await peerSeesEnd(peer);
});

/**
 * A local socket whose pump has called `socket.end()` with most of `total`
 * bytes still in Node's writable buffer: the peer reads nothing, and the
 * high-water mark is above `total`, so the one big `write()` returned true.
 */
async function endedWithBytesPending(total: number, lingerMs?: number) {
  const { local, peer } = await connect({ highWaterMark: 2 * total });
  assert.ok(local.writableHighWaterMark >= 2 * total, 'this Node lets net.createServer set the high-water mark');
  peer.pause();
  const { input, output } = socketChannels(local, lingerMs === undefined ? {} : { lingerMs });
  const data = randomBytes(total);
  await output.writeFully(data);
  output.close();
  while (!local.writableEnded) await turn();
  assert.ok(local.writableLength > 0, 'bytes still wait in Node\'s buffer');
  return { local, peer, input, data };
}

test('input cancelled after the output ended: a slow peer still gets every byte, then the end', async () => {
  const total = 32 * 1024 * 1024;
  const { local, peer, input, data } = await endedWithBytesPending(total);
  const localClosed = once(local, 'close');
  input.cancel(); // what the session does when it ends, right after closing its output
  await turn();
  assert.not.ok(local.destroyed, 'not destroyed while bytes wait in its buffer');
  const chunks: Buffer[] = [];
  let peerError: unknown;
  peer.on('error', (error) => (peerError = error));
  peer.on('data', (chunk: Buffer) => chunks.push(chunk));
  peer.resume();
  await once(peer, 'end');
  const received = Buffer.concat(chunks);
  assert.is(received.length, total);
  assert.ok(received.equals(data));
  assert.is(peerError, undefined);
  peer.end();
  await localClosed;
});

test('input cancelled after the output ended: a peer that reads nothing is dropped lingerMs later', async () => {
  const lingerMs = 100;
  const { local, peer, input } = await endedWithBytesPending(32 * 1024 * 1024, lingerMs);
  const started = performance.now();
  input.cancel();
  await once(local, 'close');
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= lingerMs - 5, `destroyed after ${elapsed} ms, before lingerMs`);
  assert.ok(elapsed < 5_000, `destroyed after ${elapsed} ms`);
  peer.destroy();
});

test('input cancelled after the output was flushed and ended: the socket is destroyed at once', async () => {
  const { local, peer } = await connect();
  const { input, output } = socketChannels(local);
  await output.writeFully(Buffer.from('bye'));
  output.close();
  await once(peer, 'data');
  while (!local.writableFinished) await turn();
  const started = performance.now();
  input.cancel();
  await once(local, 'close');
  assert.ok(performance.now() - started < 1_000);
  await peerSeesEnd(peer);
});

test('a paused input that is cancelled is drained, so the close is a FIN and not a reset', async () => {
  const { local, peer } = await connect();
  const { input, output } = socketChannels(local, { inputCapacity: 1024 });
  const total = 32 * 1024 * 1024;
  let peerError: unknown;
  peer.on('error', (error) => (peerError = error));
  const chunks: Buffer[] = [];
  peer.on('data', (chunk: Buffer) => chunks.push(chunk));
  const peerEnded = once(peer, 'end');
  const localClosed = once(local, 'close');
  peer.write(Buffer.alloc(total)); // far more than the input and the kernel buffers hold
  while (!local.isPaused()) await turn(); // nobody reads the input: it is full and the socket paused
  input.cancel();
  for (const deadline = Date.now() + 2_000; local.bytesRead < total && Date.now() < deadline; ) await sleep(5);
  const drained = local.bytesRead;
  await output.writeFully(Buffer.from('bye'));
  output.close();
  await peerEnded;
  await localClosed;
  await sleep(20); // a reset would reach the peer meanwhile
  assert.is(drained, total, 'what the peer sent after the cancel was read and discarded');
  assert.is(peerError, undefined, 'the peer saw a reset');
  assert.is(Buffer.concat(chunks).toString(), 'bye');
  peer.end();
  await once(peer, 'close');
});

test('a chunk answered through a channel is written before its \'data\' callback returns (no tick)', async () => {
  const { local, peer } = await connect();
  const { input, output } = socketChannels(local);
  output.autoFlush = false;
  // A reader that forwards each chunk through a channel, and a writer parked on that channel:
  // the shape of a session's reader, handler and writer.
  const answers = new Channel<Buffer>(8);
  const writes: string[] = [];
  const write = local.write.bind(local);
  local.write = ((chunk: Buffer, ...rest: never[]) => {
    writes.push(chunk.toString());
    return write(chunk, ...rest);
  }) as typeof local.write;
  const reader = {
    onReadable(): void {
      try {
        for (let chunk = input.tryReadChunk(); chunk !== undefined; chunk = input.tryReadChunk()) answers.trySend(chunk);
        input.whenReadable(reader);
      } catch {
        // the connection is gone at the end of the test
      }
    },
  };
  const writer = {
    onReceivable(): void {
      for (let chunk = answers.tryReceive(); chunk !== undefined; chunk = answers.tryReceive()) output.tryWriteFully(chunk);
      output.flush();
      answers.whenReceivable(writer);
    },
  };
  input.whenReadable(reader);
  answers.whenReceivable(writer);
  const seenInData: string[][] = [];
  local.on('data', () => seenInData.push([...writes])); // runs after the adapter's listener, in the same emit
  try {
    peer.write('ping');
    const [echo] = (await once(peer, 'data')) as [Buffer];
    assert.is(echo.toString(), 'ping');
    assert.equal(seenInData, [['ping']], 'written inside the adapter\'s \'data\' listener');
  } finally {
    peer.destroy();
    local.destroy();
  }
});

test('an already destroyed socket gives closed channels', async () => {
  const { local, peer } = await connect();
  local.destroy();
  const { input, output } = socketChannels(local);
  assert.instance(await rejection(input.readChunk()), ConnectionResetError);
  assert.ok(output.isClosedForWrite);
  peer.destroy();
});

test.run();
