/**
 * `sniffPreface`, which tells HTTP/2 with prior knowledge from HTTP/1.1 by a
 * connection's first bytes, over a real loopback socket pair: the preface
 * whole or a byte at a time is HTTP/2, a request is HTTP/1.1 as soon as a
 * byte differs (even one that starts like the preface), and the bytes read
 * are given back in order; a silent connection is destroyed after the
 * timeout, one that closes first is left alone.
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HTTP2_PREFACE, sniffPreface } from '../../../src/server/preface.ts';

/** A connected pair: the server's side and the client's. */
async function pair(): Promise<{ server: Socket; client: Socket; close(): void }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const client = connect((listener.address() as AddressInfo).port, '127.0.0.1');
  const [server] = (await once(listener, 'connection')) as [Socket];
  listener.close();
  return { server, client, close: () => (client.destroy(), server.destroy()) };
}

/** Writes `parts` 10 ms apart. */
async function writeSlowly(socket: Socket, parts: readonly Buffer[]): Promise<void> {
  for (const part of parts) {
    socket.write(part);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Everything the socket emits from now on, until `length` bytes came. */
async function readBack(socket: Socket, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    total += chunk.length;
  });
  socket.resume();
  while (total < length) await once(socket, 'data');
  return Buffer.concat(chunks);
}

test('the preface, whole or a byte at a time, is HTTP/2; the bytes come back in order, with what followed', async () => {
  for (const split of [false, true]) {
    const { server, client, close } = await pair();
    const bytes = Buffer.concat([HTTP2_PREFACE, Buffer.from('frames')]);
    const parts = split ? [...bytes].map((b) => Buffer.of(b)) : [bytes];
    const [decided] = await Promise.all([sniffPreface(server, 5000), writeSlowly(client, parts)]);
    assert.is(decided, true, split ? 'byte at a time' : 'whole');
    assert.ok((await readBack(server, bytes.length)).equals(bytes));
    close();
  }
});

test('anything else is HTTP/1.1 at the first byte that differs, even one that starts like the preface', async () => {
  for (const head of ['GET / HTTP/1.1\r\n\r\n', 'POST / HTTP/1.1\r\n\r\n', 'PRI * HTTP/1.1\r\n\r\n']) {
    const { server, client, close } = await pair();
    const bytes = Buffer.from(head, 'latin1');
    const decided = sniffPreface(server, 5000);
    // The bytes up to the first difference, a byte at a time: it decides without waiting for more.
    let differs = 0;
    while (bytes[differs] === HTTP2_PREFACE[differs]) differs++;
    await writeSlowly(client, [...bytes.subarray(0, differs + 1)].map((b) => Buffer.of(b)));
    assert.is(await decided, false, head);
    client.write(bytes.subarray(differs + 1));
    assert.ok((await readBack(server, bytes.length)).equals(bytes), head);
    close();
  }
});

test('a silent connection is destroyed after the timeout; one that closes first is left alone', async () => {
  const silent = await pair();
  assert.is(await sniffPreface(silent.server, 100), undefined);
  assert.ok(silent.server.destroyed);
  await once(silent.client, 'close');
  silent.close();

  const leaving = await pair();
  const decided = sniffPreface(leaving.server, 5000);
  leaving.client.end();
  leaving.server.end();
  assert.is(await decided, undefined);
  leaving.close();
});

test('a socket that ended or closed before the call is answered at once, even with no timeout', async () => {
  const closed = await pair();
  closed.server.on('error', () => {}); // the reset
  const gone = new Promise((resolve) => closed.server.on('close', resolve));
  closed.server.resume();
  closed.client.resetAndDestroy();
  await gone;
  assert.is(await sniffPreface(closed.server, Infinity), undefined);
  closed.close();

  // A half-open socket (allowHalfOpen) whose peer ended without a byte: nothing will decide it.
  const listener = createServer({ allowHalfOpen: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const client = connect((listener.address() as AddressInfo).port, '127.0.0.1');
  const [server] = (await once(listener, 'connection')) as [Socket];
  listener.close();
  const decided = sniffPreface(server, Infinity);
  client.end();
  assert.is(await decided, undefined);
  assert.ok(server.destroyed);
  client.destroy();
});

test.run();
