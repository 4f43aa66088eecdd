/**
 * The seam a server object's verify hook uses over HTTP/2:
 * `prepareHttp2Upgrade` validates a stream without answering it, then
 * - `accept(extraHeaders, data)` answers 200 with the extra headers (a
 *   repeated name sends every value) and starts the session with `data`;
 * - a malformed or connection-specific extra header is a TypeError and
 *   nothing is sent (the stream can still be accepted);
 * - `refuseHttp2Stream` answers a HandshakeError's status and body instead;
 * - a stream the client reset meanwhile: `accept` returns undefined.
 */
import { once } from 'node:events';
import { constants, createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../src/frames/frame.ts';
import { HandshakeError } from '../../src/upgrade/errors.ts';
import { http2ServerOptions, prepareHttp2Upgrade, refuseHttp2Stream } from '../../src/upgrade/h2-serve.ts';
import { sleep } from '../support/resources.ts';
import { connectHeaders, h2Connect, RawH2Stream } from '../support/h2.ts';

interface Arrival {
  readonly stream: ServerHttp2Stream;
  readonly headers: IncomingHttpHeaders;
}

let server: Http2Server;
let port = 0;
const arrivals: Arrival[] = [];
const waiters: (() => void)[] = [];

test.before(async () => {
  server = createServer(http2ServerOptions());
  server.on('stream', (stream, headers) => {
    arrivals.push({ stream, headers });
    for (const wake of waiters.splice(0)) wake();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

test.after(() => {
  server.close();
});

async function nextArrival(): Promise<Arrival> {
  while (arrivals.length === 0) await new Promise<void>((resolve) => waiters.push(resolve));
  return arrivals.shift()!;
}

test('accept with extra headers and data: 200 with them, the session has the data', async () => {
  const client = await h2Connect(port);
  try {
    const opening = RawH2Stream.open(client, connectHeaders('/verified', { 'sec-websocket-protocol': 'chat' }));
    const { stream, headers } = await nextArrival();
    const seen: unknown[] = [];
    const pending = prepareHttp2Upgrade<{ user: string }>(
      stream,
      headers,
      async (session, request) => {
        seen.push(session.data.user, request.httpVersion);
        for await (const message of session) await session.send(`${session.data.user}: ${String(message)}`);
      },
      { protocols: ['chat'] },
    );
    assert.ok(pending);
    assert.is(pending.protocol, 'chat');
    assert.is(pending.request.url, '/verified');
    assert.equal(pending.headers, { ':status': 200, 'sec-websocket-protocol': 'chat' });
    await sleep(20);
    assert.is(stream.headersSent, false, 'nothing answered before accept');

    assert.throws(() => pending.accept([['Connection', 'close']]), TypeError);
    assert.throws(() => pending.accept([['bad name', 'x']]), TypeError);
    assert.throws(() => pending.accept([['x-ctl', 'a\x01b']]), TypeError);
    assert.throws(() => pending.accept([['sec-websocket-protocol', 'other']]), TypeError);
    assert.is(stream.headersSent, false, 'a refused header sends nothing');

    const job = pending.accept([['Set-Cookie', 'a=1'], ['set-cookie', 'b=2'], ['X-Extra', 'yes']], { user: 'ann' });
    assert.ok(job);
    const ws = await opening;
    assert.is(ws.status, 200);
    assert.equal(ws.response!['set-cookie'], ['a=1', 'b=2']);
    assert.is(ws.response!['x-extra'], 'yes');
    assert.is(ws.response!['sec-websocket-protocol'], 'chat');
    ws.send(Opcode.Text, 'hi');
    await ws.until(() => ws.texts.length === 1);
    assert.equal(ws.texts, ['ann: hi']);
    assert.equal(seen, ['ann', '2.0']);
    assert.throws(() => pending.accept(), Error, 'accepted twice');
    ws.sendClose();
    await ws.until(() => ws.ended);
    await job.join();
    assert.is(job.state, 'completed');
  } finally {
    client.close();
  }
});

test('refuseHttp2Stream: the status, headers and body of the HandshakeError, then the stream closes', async () => {
  const client = await h2Connect(port);
  try {
    const opening = RawH2Stream.open(client, connectHeaders('/private'));
    const { stream, headers } = await nextArrival();
    const pending = prepareHttp2Upgrade(stream, headers, () => {}, {});
    assert.ok(pending);
    refuseHttp2Stream(stream, new HandshakeError(401, 'who are you?', { 'WWW-Authenticate': 'Bearer' }));
    const ws = await opening;
    assert.is(ws.status, 401);
    assert.is(ws.response!['www-authenticate'], 'Bearer');
    await ws.until(() => ws.closed);
    assert.is(ws.body, 'who are you?\n');
    assert.not.ok(client.closed || client.destroyed);
  } finally {
    client.close();
  }
});

test('a stream the client reset before accept: accept returns undefined, nothing breaks', async () => {
  const client = await h2Connect(port);
  try {
    const ws = await RawH2Stream.open(client, connectHeaders('/gone', { 'sec-websocket-extensions': 'permessage-deflate' }), false);
    const { stream, headers } = await nextArrival();
    const pending = prepareHttp2Upgrade(stream, headers, () => {}, {});
    assert.ok(pending);
    ws.reset(constants.NGHTTP2_INTERNAL_ERROR);
    await ws.until(() => ws.closed);
    await sleep(20);
    assert.is(pending.accept(), undefined);
  } finally {
    client.close();
  }
});

test.run();
