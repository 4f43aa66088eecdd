import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnectionResetError } from '../../src/channels/errors.ts';
import { socketChannels } from '../../src/channels/node-adapter.ts';
import { rejection } from './support.ts';

const EVENTS = ['data', 'end', 'error', 'close', 'drain'] as const;

/** A connected loopback pair: `local` is the accepted socket the adapter wraps, `peer` the client. */
async function connect(): Promise<{ local: net.Socket; peer: net.Socket }> {
  const server = net.createServer({ allowHalfOpen: true });
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
  let sawPaused = false;
  let sinceNap = 0;
  for (;;) {
    maxBuffered = Math.max(maxBuffered, input.availableForRead);
    const chunk = await input.readChunk();
    if (chunk === null) break;
    hash.update(chunk);
    received += chunk.length;
    sinceNap += chunk.length;
    if (sinceNap >= 1024 * 1024) {
      sinceNap = 0;
      await sleep(2); // slow reader: the peer keeps sending meanwhile
      maxBuffered = Math.max(maxBuffered, input.availableForRead);
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

test('an already destroyed socket gives closed channels', async () => {
  const { local, peer } = await connect();
  local.destroy();
  const { input, output } = socketChannels(local);
  assert.instance(await rejection(input.readChunk()), ConnectionResetError);
  assert.ok(output.isClosedForWrite);
  peer.destroy();
});

test.run();
