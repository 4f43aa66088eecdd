/**
 * Python `h2` (Debian python3-h2, run with /usr/bin/python3) as an
 * independent RFC 8441 peer against `handleHttp2Stream` on a node:http2
 * server: tests/support/python-h2-client.py drives one HTTP/2 connection
 * (prior knowledge) and reports what it saw. It exchanges, in order:
 * - the server's SETTINGS: ENABLE_CONNECT_PROTOCOL = 1 and
 *   MAX_CONCURRENT_STREAMS = 100 (http2ServerOptions' defaults);
 * - an extended CONNECT on /py?x=1 offering "superchat, chat" with an
 *   Origin: 200, subprotocol chat (the server's preference), no
 *   sec-websocket-accept;
 * - masked frames written by hand: text "hello from python h2", a 1 KiB
 *   binary frame (16-bit length), "frag" + "mented" in two fragments, a ping
 *   "py-ping": the two texts and the binary echoed in order, the pong;
 * - a close 1000 "bye": the close echoed (1000, empty reason) and
 *   END_STREAM;
 * - sec-websocket-version 8: 426 with sec-websocket-version 13 and a text body;
 * - an extended CONNECT without :path: RST_STREAM PROTOCOL_ERROR from
 *   node:http2, no response, no session;
 * - one more WebSocket on the same connection: "still alive" echoed.
 * The server side checks what its sessions saw (HTTP/2 request, path,
 * origin, protocol) and that each ended as it should. The same exchange
 * then runs against the server object (`WebSocketServer.listen`, one
 * cleartext port for HTTP/1.1 and HTTP/2, the connection recognised by its
 * preface), with the same answers.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketServer } from '../../src/server/websocket-server.ts';
import type { DefaultWebSocketSession } from '../../src/session/default-session.ts';
import type { UpgradeCall } from '../../src/upgrade/handshake.ts';
import { echo, startH2Server } from '../support/h2.ts';
import { describeResult, runPython } from '../support/python-peer.ts';

const SCRIPT = readFileSync(new URL('../support/python-h2-client.py', import.meta.url), 'utf8');

/** What the script reports against a server with subprotocols chat and superchat and the default HTTP/2 limits. */
const EXPECTED = {
  enable_connect_protocol: 1,
  max_concurrent_streams: 100,
  status: '200',
  protocol: 'chat',
  accept: null,
  texts: ['hello from python h2', 'fragmented'],
  binary_ok: true,
  pongs: ['py-ping'],
  close: [1000, ''],
  bad_version: { status: '426', version: '13', body: 'unsupported Sec-WebSocket-Version; the supported version is 13\n' },
  no_path_reset: 1,
  no_path_response: false,
  after: ['still alive'],
};

test('the peer interpreter imports h2', async () => {
  const r = await runPython('import h2; print(h2.__version__)', { timeoutMs: 10_000 });
  assert.is(r.code, 0, `/usr/bin/python3 must import h2 (apt-get install python3-h2)\n${describeResult(r)}`);
  assert.match(r.stdout.trim(), /^\d+\.\d+/);
});

test('Python h2: extended CONNECT, masked frames echoed, close, a bad version, a malformed request, the connection still serving', async () => {
  const server = await startH2Server(echo, { protocols: ['chat', 'superchat'] });
  try {
    const r = await runPython(SCRIPT, { args: [String(server.port)], timeoutMs: 20_000 });
    assert.is(r.code, 0, describeResult(r));
    assert.equal(JSON.parse(r.stdout), EXPECTED);

    assert.is(server.connections.length, 1);
    assert.is(server.jobs.length, 2, 'two WebSockets; the bad and the malformed requests started nothing');
    assert.is(server.refused, 1, 'the bad version reached handleHttp2Stream; the malformed request did not');
    await Promise.all(server.jobs.map((job) => job.join()));
    assert.ok(server.jobs.every((job) => job.state === 'completed'));
    const [first, second] = server.sessions;
    const request = first!.request as UpgradeCall;
    assert.is(request.httpVersion, '2.0');
    assert.is(request.url, '/py?x=1');
    assert.is(request.headers['origin'], 'http://python.test');
    assert.is(first!.protocol, 'chat');
    assert.equal(await first!.closeReason, { code: 1000, reason: 'bye' });
    assert.is((second!.request as UpgradeCall).url, '/py-again');
    assert.equal(await second!.closeReason, { code: 1000, reason: '' });
  } finally {
    await server.close();
  }
});

test('Python h2 against the server object: the same exchange on the one port WebSocketServer.listen serves', async () => {
  const sessions: DefaultWebSocketSession[] = [];
  const server = new WebSocketServer({ protocols: ['chat', 'superchat'] }).route('*', async (session) => {
    sessions.push(session);
    for await (const message of session) await session.send(message);
  });
  const { port } = await server.listen(0, '127.0.0.1');
  try {
    const r = await runPython(SCRIPT, { args: [String(port)], timeoutMs: 20_000 });
    assert.is(r.code, 0, describeResult(r));
    assert.equal(JSON.parse(r.stdout), EXPECTED);
    assert.equal(sessions.map((session) => [session.request?.httpVersion, session.request?.url, session.protocol]), [
      ['2.0', '/py?x=1', 'chat'],
      ['2.0', '/py-again', undefined],
    ]);
    assert.equal(await sessions[0]!.closeReason, { code: 1000, reason: 'bye' });
  } finally {
    await server.close();
  }
});

test.run();
