/**
 * Bad extended CONNECT requests on one HTTP/2 connection, sent with Node's
 * http2 client while a WebSocket on the same connection keeps echoing:
 * a GET, a CONNECT without `:protocol` (a tunnel request), an unknown
 * `:protocol`, a missing or wrong `sec-websocket-version`, a malformed
 * subprotocol offer, a refused origin, headers over the `requestHead`
 * limits. Each gets its status (400, 426 with `sec-websocket-version: 13`,
 * 403, 431) and a one-line text body on its own
 * stream, which is then closed (NO_ERROR) although the client never ended
 * its side; no session starts; the connection and the open WebSocket are
 * unaffected.
 */
import type { ClientHttp2Session, OutgoingHttpHeaders } from 'node:http2';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../src/frames/frame.ts';
import { connectHeaders, echo, h2Connect, RawH2Stream, startH2Server, type H2TestServer } from '../support/h2.ts';

let server: H2TestServer;
let client: ClientHttp2Session;
let open: RawH2Stream;
let echoes = 0;

test.before(async () => {
  server = await startH2Server(echo, { protocols: ['chat'], checkOrigin: (origin) => origin !== 'https://evil.test' });
  client = await h2Connect(server.port);
  open = await RawH2Stream.open(client, connectHeaders('/open'));
  assert.is(open.status, 200);
});

test.after(async () => {
  open.sendClose();
  await open.until(() => open.ended);
  client.close();
  await server.close();
});

/** Sends `headers`, checks the status, headers and body, and that the open WebSocket still echoes. */
async function refused(headers: OutgoingHttpHeaders, status: number, body: RegExp, extra: Record<string, string> = {}): Promise<void> {
  const jobs = server.jobs.length;
  const refusedBefore = server.refused;
  const bad = await RawH2Stream.open(client, headers);
  assert.is(bad.status, status);
  for (const [name, value] of Object.entries(extra)) assert.is(bad.response![name], value);
  assert.is(bad.response!['content-type'], 'text/plain; charset=utf-8');
  await bad.until(() => bad.closed, 5000, 'the refused stream to close');
  assert.match(bad.body, body);
  assert.ok(bad.body.endsWith('\n'));
  assert.is(bad.stream.rstCode, 0, 'closed with NO_ERROR');
  assert.is(bad.error, undefined);
  assert.is(server.jobs.length, jobs, 'no session');
  assert.is(server.refused, refusedBefore + 1);

  assert.not.ok(client.closed || client.destroyed, 'the connection is still open');
  open.send(Opcode.Text, `still here ${++echoes}`);
  await open.until(() => open.texts.length === echoes);
  assert.is(open.texts.at(-1), `still here ${echoes}`);
}

test('a GET (no :protocol): 400', async () => {
  await refused({ ':method': 'GET', ':path': '/open', ':scheme': 'http', ':authority': '127.0.0.1' }, 400, /method GET cannot open a WebSocket/);
});

test('CONNECT without :protocol (a tunnel request): 400', async () => {
  await refused({ ':method': 'CONNECT', ':authority': '127.0.0.1:22' }, 400, /CONNECT without :protocol/);
});

test('an unknown :protocol: 400', async () => {
  await refused(connectHeaders('/open', { ':protocol': 'webtransport' }), 400, /"webtransport" is not served/);
});

test('a missing sec-websocket-version: 426 with sec-websocket-version 13', async () => {
  await refused(connectHeaders('/open', { 'sec-websocket-version': null }), 426, /missing Sec-WebSocket-Version/, { 'sec-websocket-version': '13' });
});

test('a wrong sec-websocket-version: 426 with sec-websocket-version 13', async () => {
  await refused(connectHeaders('/open', { 'sec-websocket-version': '8' }), 426, /unsupported Sec-WebSocket-Version/, { 'sec-websocket-version': '13' });
});

test('a malformed subprotocol offer: 400', async () => {
  await refused(connectHeaders('/open', { 'sec-websocket-protocol': 'chat, , x y' }), 400, /Sec-WebSocket-Protocol/);
});

test('a content-length (even 0): 400, where nghttp2 would reset the stream at its first WebSocket frame', async () => {
  for (const length of ['0', '5']) await refused(connectHeaders('/open', { 'content-length': length }), 400, /content-length is not allowed/);
});

test('an :authority that is not uri-host[:port] (userinfo, a bad port): 400', async () => {
  for (const authority of ['user@127.0.0.1', '127.0.0.1:http']) {
    await refused(connectHeaders('/open', { ':authority': authority }), 400, /invalid :authority/);
  }
});

test('a refused origin: 403', async () => {
  await refused(connectHeaders('/open', { origin: 'https://evil.test' }), 403, /origin not allowed/);
});

test('more header fields than requestHead.maxHeaders (100), or a larger head than maxHeadSize (16 KiB): 431, as over HTTP/1.1', async () => {
  const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`x-h${i}`, 'v']));
  await refused(connectHeaders('/open', many), 431, /more than 100 request header lines/);
  await refused(connectHeaders('/open', { 'x-big': 'b'.repeat(17 * 1024) }), 431, /request head larger than 16384 bytes/);
});

test('many bad requests at once, interleaved with good ones: each answered on its stream', async () => {
  const jobs = server.jobs.length;
  const bad = Array.from({ length: 20 }, (_, i) => RawH2Stream.open(client, connectHeaders('/x', { 'sec-websocket-version': String(i + 14) })));
  const good = Array.from({ length: 5 }, () => RawH2Stream.open(client, connectHeaders('/ok')));
  for (const stream of await Promise.all(bad)) assert.is(stream.status, 426);
  const goods = await Promise.all(good);
  for (const [i, stream] of goods.entries()) {
    assert.is(stream.status, 200);
    stream.send(Opcode.Text, `good ${i}`);
    await stream.until(() => stream.texts.length === 1);
    assert.equal(stream.texts, [`good ${i}`]);
    stream.sendClose();
    await stream.until(() => stream.ended);
  }
  assert.is(server.jobs.length, jobs + 5);
});

test.run();
