/**
 * Node's own http2 client, driven by hand (extended CONNECT, masked frames
 * written with this project's serializer, the answers parsed as a client),
 * against `handleHttp2Stream` on a plain `http2.createServer` and on
 * `createSecureServer` (ALPN h2, self-signed certificate):
 * - the 200 answer with the negotiated subprotocol (and the connection's
 *   receive window raised to 1 MiB); text, binary, a
 *   fragmented message and a ping answered; the close handshake ends the
 *   stream and the job, never the connection, which serves a new stream;
 * - a close the handler starts;
 * - the session knows it came over HTTP/2 (request with httpVersion 2.0,
 *   pseudo-headers, the connection's address);
 * - backpressure through HTTP/2 flow control: a handler that does not read
 *   stops its stream's sender, while another stream of the same connection
 *   echoes on; every message then arrives, in order.
 */
import type { ClientHttp2Session } from 'node:http2';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../src/frames/frame.ts';
import type { UpgradeCall } from '../../src/upgrade/handshake.ts';
import type { WebSocketHandler } from '../../src/upgrade/serve.ts';
import { connectHeaders, echo, h2Connect, RawH2Stream, selfSignedCertificate, startH2Server, type H2TestServer } from '../support/h2.ts';
import { sleep, waitFor } from '../support/resources.ts';

let behaviour: WebSocketHandler = echo;
const requests: UpgradeCall[] = [];
let server: H2TestServer;
let client: ClientHttp2Session;
const certificate = selfSignedCertificate();

test.before(async () => {
  server = await startH2Server(
    (session, request) => {
      requests.push(request);
      return behaviour(session, request);
    },
    { protocols: ['v2.chat', 'v1.chat'] },
  );
  client = await h2Connect(server.port);
});

test.after(async () => {
  client.close();
  await server.close();
});

test('200 with the selected subprotocol; text, binary, fragments and ping answered; the close ends the stream, not the connection', async () => {
  behaviour = echo;
  const jobsBefore = server.jobs.length;
  const ws = await RawH2Stream.open(client, connectHeaders('/echo', { 'sec-websocket-protocol': 'v1.chat, v2.chat' }));
  assert.is(ws.status, 200);
  assert.is(ws.response!['sec-websocket-protocol'], 'v2.chat');
  assert.is(ws.response!['sec-websocket-accept'], undefined, 'no accept key over HTTP/2');
  await waitFor(() => (client.state.remoteWindowSize ?? 0) > 1_000_000, 2000, 'the server to raise its connection window');

  ws.send(Opcode.Text, 'héllo');
  ws.send(Opcode.Binary, Buffer.from([0, 1, 2, 255]));
  ws.send(Opcode.Text, 'frag', false);
  ws.send(Opcode.Continuation, 'men', false);
  ws.send(Opcode.Continuation, 'ted', true);
  ws.send(Opcode.Ping, 'are you there');
  await ws.until(() => ws.frames.length >= 4, 5000, 'four answers');
  // The pong comes from the reader, so it may overtake the handler's echoes; the echoes keep their order.
  const echoes = ws.frames.filter((f) => f.opcode !== Opcode.Pong).map((f) => [f.opcode, Buffer.from(f.payload).toString('hex')]);
  assert.equal(echoes, [
    [Opcode.Text, Buffer.from('héllo').toString('hex')],
    [Opcode.Binary, '000102ff'],
    [Opcode.Text, Buffer.from('fragmented').toString('hex')],
  ]);
  const pongs = ws.frames.filter((f) => f.opcode === Opcode.Pong).map((f) => Buffer.from(f.payload).toString());
  assert.equal(pongs, ['are you there']);

  ws.write(Buffer.from([0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2])); // close 1000, masked by hand
  ws.stream.end();
  await ws.until(() => ws.closed, 5000, 'the stream to close');
  assert.equal(ws.closeFrame, { code: 1000, reason: '' });
  assert.is(ws.stream.rstCode, 0, 'closed cleanly (END_STREAM both ways), not reset');
  const job = server.jobs[jobsBefore]!;
  await job.join();
  assert.is(job.state, 'completed');
  assert.equal(await server.sessions.at(-1)!.closeReason, { code: 1000, reason: '' });

  assert.not.ok(client.closed || client.destroyed, 'the connection is still open');
  const next = await RawH2Stream.open(client, connectHeaders('/echo'));
  next.send(Opcode.Text, 'again');
  await next.until(() => next.texts.length === 1);
  assert.equal(next.texts, ['again']);
  next.sendClose(1000, '');
  await next.until(() => next.ended);
  assert.is(server.connections.length, 1, 'one connection all along');
});

test('a close the handler starts: close frame, the client answers, the stream ends', async () => {
  behaviour = async (session) => {
    await session.send('closing soon');
    await session.close(4000, 'bye');
  };
  const ws = await RawH2Stream.open(client, connectHeaders('/'));
  await ws.until(() => ws.closeFrame !== undefined);
  assert.equal(ws.texts, ['closing soon']);
  assert.equal(ws.closeFrame, { code: 4000, reason: 'bye' });
  ws.sendClose(4000, 'bye');
  ws.stream.end();
  await ws.until(() => ws.closed);
  await server.jobs.at(-1)!.join();
  assert.is(server.jobs.at(-1)!.state, 'completed');
  assert.not.ok(client.closed || client.destroyed);
});

test('the session knows it came over HTTP/2: request (CONNECT, :path, httpVersion 2.0, pseudo-headers) and address', async () => {
  requests.length = 0;
  behaviour = async (session) => {
    const request = session.request as UpgradeCall;
    await session.send(JSON.stringify({
      httpVersion: request.httpVersion,
      method: request.method,
      url: request.url,
      protocol: request.headers[':protocol'],
      authority: request.headers[':authority'],
      custom: request.headers['x-custom'],
      remoteAddress: session.remoteAddress,
      hasPort: typeof session.remotePort === 'number',
    }));
    await session.close();
  };
  const ws = await RawH2Stream.open(client, connectHeaders('/info?x=1', { 'x-custom': 'yes' }));
  await ws.until(() => ws.texts.length === 1);
  assert.equal(JSON.parse(ws.texts[0]!), {
    httpVersion: '2.0',
    method: 'CONNECT',
    url: '/info?x=1',
    protocol: 'websocket',
    authority: '127.0.0.1',
    custom: 'yes',
    remoteAddress: '127.0.0.1',
    hasPort: true,
  });
  assert.is(requests[0]!.httpVersion, '2.0', 'the handler gets the same request');
  ws.sendClose(1000, '');
  await ws.until(() => ws.ended);
});

test('backpressure: a handler that does not read stops its sender (flow control); other streams go on; nothing lost', async () => {
  let startReading!: () => void;
  const reading = new Promise<void>((resolve) => (startReading = resolve));
  behaviour = async (session, request) => {
    if (request.url === '/slow') await reading;
    for await (const message of session) await session.send(typeof message === 'string' ? message : String(message.length));
  };
  const slow = await RawH2Stream.open(client, connectHeaders('/slow'));
  const payload = Buffer.alloc(64 * 1024, 0x61);
  const count = 64; // 4 MiB: far above the stream window (64 KiB) plus the session's buffers
  let accepted = 0;
  for (let i = 0; i < count; i++) {
    slow.send(Opcode.Binary, payload);
  }
  await sleep(200);
  accepted = slow.stream.writableLength;
  assert.ok(accepted > 2 * 1024 * 1024, `the sender still holds most of it (${accepted} bytes queued)`);

  const fast = await RawH2Stream.open(client, connectHeaders('/fast'));
  fast.send(Opcode.Text, 'not blocked');
  await fast.until(() => fast.texts.length === 1, 5000, 'the other stream to echo');
  assert.equal(fast.texts, ['not blocked']);

  startReading();
  await slow.until(() => slow.texts.length === count, 10_000, 'every slow message');
  assert.ok(slow.texts.every((text) => text === String(payload.length)));
  for (const ws of [slow, fast]) {
    ws.sendClose(1000, '');
    await ws.until(() => ws.ended);
  }
});

test('over TLS (ALPN h2, self-signed certificate): echo and close', async () => {
  const secure = await startH2Server(echo, { tls: certificate });
  const session = await h2Connect(secure.port, certificate);
  try {
    assert.is(session.alpnProtocol, 'h2');
    const ws = await RawH2Stream.open(session, { ...connectHeaders('/tls'), ':scheme': 'https' });
    assert.is(ws.status, 200);
    ws.send(Opcode.Text, 'secret');
    await ws.until(() => ws.texts.length === 1);
    assert.equal(ws.texts, ['secret']);
    ws.sendClose(1000, '');
    await ws.until(() => ws.ended);
    await secure.jobs[0]!.join();
    assert.is(secure.jobs[0]!.state, 'completed');
  } finally {
    session.close();
    await secure.close();
  }
});

test.run();
