/**
 * RST_STREAM at every phase of a WebSocket over HTTP/2, with the codes
 * NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR and CANCEL, sent by Node's http2
 * client: before the answer, after it, in the middle of a frame, in the
 * middle of a fragmented message, while the server writes a large message,
 * during a close handshake the server started, and after a completed one.
 * Each time the session ends with 1006 (1000 after a completed close
 * handshake), its job completes, and a WebSocket on the same connection
 * keeps echoing; the test guard fails the file on any uncaught error or
 * unhandled rejection.
 *
 * Then the other direction, against our client: the server resets one
 * client stream (the client session ends 1006, another session on the same
 * pooled connection goes on), and the server drops the whole connection
 * (every session on it, both sides, ends 1006).
 */
import { once } from 'node:events';
import { constants, createServer, type ClientHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CloseReason } from '../../src/frames/close.ts';
import { Opcode } from '../../src/frames/frame.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { handleHttp2Stream, http2ServerOptions } from '../../src/upgrade/h2-serve.ts';
import type { WebSocketHandler } from '../../src/upgrade/serve.ts';
import { sleep } from '../support/resources.ts';
import { maskedFrame } from '../support/wire-client.ts';
import { connectHeaders, echo, h2Connect, RawH2Stream, startH2Server, type H2TestServer } from '../support/h2.ts';

const CODES = [
  constants.NGHTTP2_NO_ERROR,
  constants.NGHTTP2_PROTOCOL_ERROR,
  constants.NGHTTP2_INTERNAL_ERROR,
  constants.NGHTTP2_CANCEL,
];
const ABNORMAL: CloseReason = { code: 1006, reason: '' };

/** Names of the errors the handlers' reads ended with. */
const readErrors: string[] = [];

/** Echoes until the session ends; the error that ends it (the reset) is recorded, as a user's handler would catch it. */
const reader: WebSocketHandler = async (session) => {
  try {
    for await (const message of session) await session.send(message);
  } catch (error) {
    readErrors.push((error as Error).name);
  }
};

let behaviour: WebSocketHandler = reader;
let server: H2TestServer;
let client: ClientHttp2Session;
let control: RawH2Stream;
let controlEchoes = 0;

test.before(async () => {
  // Long timeouts: every end seen below comes from the reset, not a timer.
  server = await startH2Server((session, request) => (request.url === '/control' ? echo(session, request) : behaviour(session, request)), {
    session: { closeTimeoutMs: 30_000, writeTimeoutMs: 30_000, partialFrameTimeoutMs: 30_000 },
  });
  client = await h2Connect(server.port);
  control = await RawH2Stream.open(client, connectHeaders('/control'));
});

test.after(async () => {
  control.sendClose();
  await control.until(() => control.ended);
  client.close();
  await server.close();
});

/** The control WebSocket on the same connection still echoes. */
async function controlStillEchoes(): Promise<void> {
  assert.not.ok(client.closed || client.destroyed, 'the connection is open');
  control.send(Opcode.Text, `ping ${++controlEchoes}`);
  await control.until(() => control.texts.length === controlEchoes, 5000, 'the control echo');
}

/**
 * Runs `act` once per reset code: it opens a WebSocket and resets it. Then
 * every session it started ended with `expected`, every job completed, and
 * the control WebSocket echoes.
 */
async function phase(act: (code: number) => Promise<void>, expected: CloseReason = ABNORMAL): Promise<void> {
  readErrors.length = 0;
  for (const code of CODES) {
    const jobs = server.jobs.length;
    const sessions = server.sessions.length;
    await act(code);
    await sleep(10);
    const started = server.jobs.slice(jobs);
    assert.is(started.length, 1, `one session (code ${code})`);
    await Promise.all(started.map((job) => job.join()));
    for (const job of started) assert.is(job.state, 'completed', `job after reset code ${code}`);
    for (const session of server.sessions.slice(sessions)) assert.equal(await session.closeReason, expected, `closeReason after code ${code}`);
    await controlStillEchoes();
  }
  if (expected.code === 1006) assert.equal(readErrors, CODES.map(() => 'ConnectionClosedError'), 'each read ended with the lost connection');
  else assert.equal(readErrors, []);
}

test('before the answer: the stream is already closed, nothing starts', async () => {
  const delayed = await startH2Server(echo, { delayMs: 50 });
  const session = await h2Connect(delayed.port);
  try {
    for (const code of CODES) {
      const ws = await RawH2Stream.open(session, connectHeaders('/'), false);
      ws.reset(code);
      await ws.until(() => ws.closed);
    }
    await sleep(100);
    assert.is(delayed.refused, CODES.length, 'handleHttp2Stream returned undefined each time');
    assert.is(delayed.jobs.length, 0);
    const ws = await RawH2Stream.open(session, connectHeaders('/'));
    ws.send(Opcode.Text, 'after');
    await ws.until(() => ws.texts.length === 1);
    ws.sendClose();
    await ws.until(() => ws.ended);
  } finally {
    session.close();
    await delayed.close();
  }
});

test('after the answer, before any frame', async () => {
  behaviour = reader;
  await phase(async (code) => {
    const ws = await RawH2Stream.open(client, connectHeaders('/'));
    assert.is(ws.status, 200);
    ws.reset(code);
  });
});

test('in the middle of a frame', async () => {
  behaviour = reader;
  await phase(async (code) => {
    const ws = await RawH2Stream.open(client, connectHeaders('/'));
    const frame = maskedFrame(Opcode.Binary, Buffer.alloc(10_000, 7));
    ws.write(frame.subarray(0, 5_000));
    await sleep(20);
    ws.reset(code);
  });
});

test('in the middle of a fragmented message', async () => {
  behaviour = reader;
  await phase(async (code) => {
    const ws = await RawH2Stream.open(client, connectHeaders('/'));
    ws.send(Opcode.Text, 'first half, ', false);
    await sleep(20);
    ws.reset(code);
  });
});

test('while the server writes a large message the client does not read', async () => {
  let writing!: () => void;
  behaviour = async (session, request) => {
    const sent = session.send(Buffer.alloc(8 * 1024 * 1024, 1));
    writing();
    await sent.catch(() => {});
    await reader(session, request);
  };
  await phase(async (code) => {
    const started = new Promise<void>((resolve) => (writing = resolve));
    const ws = await RawH2Stream.open(client, connectHeaders('/'));
    assert.is(ws.status, 200, 'the connection still takes new streams');
    ws.stream.pause();
    await started;
    await sleep(20);
    ws.reset(code);
  });
});

test('40 resets of streams holding 8 MiB unsent: the connection still takes new streams (maxSessionMemory not leaked)', async () => {
  const heavy = await startH2Server(async (session) => {
    await session.send(Buffer.alloc(8 * 1024 * 1024, 2)).catch(() => {});
    await reader(session, { httpVersion: '2.0', headers: {} });
  });
  const session = await h2Connect(heavy.port);
  try {
    for (let i = 0; i < 40; i++) {
      const ws = await RawH2Stream.open(session, connectHeaders('/'));
      assert.is(ws.status, 200, `stream ${i} accepted`);
      ws.stream.pause();
      await sleep(5);
      ws.reset(constants.NGHTTP2_CANCEL);
      await ws.until(() => ws.closed);
    }
    await Promise.all(heavy.jobs.map((job) => job.join()));
    assert.is(heavy.jobs.length, 40);
  } finally {
    session.close();
    await heavy.close();
  }
});

test('during a close handshake the server started', async () => {
  behaviour = async (session, request) => {
    await session.close(1000, 'server closes');
    await reader(session, request);
  };
  await phase(async (code) => {
    const ws = await RawH2Stream.open(client, connectHeaders('/'));
    await ws.until(() => ws.closeFrame !== undefined, 5000, 'the server close');
    ws.reset(code); // instead of answering the close
  });
});

test('after a completed close handshake, before the client ends its side', async () => {
  behaviour = reader;
  await phase(async (code) => {
    const ws = await RawH2Stream.open(client, connectHeaders('/'));
    ws.sendClose(1000, 'client closes');
    await ws.until(() => ws.closeFrame !== undefined, 5000, 'the close echo');
    ws.reset(code);
  }, { code: 1000, reason: 'client closes' });
});

test('the server resets one client stream: that session ends 1006, another on the same connection goes on', async () => {
  const streams: ServerHttp2Stream[] = [];
  const rogue = createServer(http2ServerOptions());
  rogue.on('stream', (stream, headers) => {
    streams.push(stream);
    handleHttp2Stream(stream, headers, async (session) => {
      for await (const message of session) {
        if (message === 'reset') stream.close(constants.NGHTTP2_INTERNAL_ERROR);
        else await session.send(message);
      }
    });
  });
  rogue.listen(0, '127.0.0.1');
  await once(rogue, 'listening');
  const url = `ws://127.0.0.1:${(rogue.address() as AddressInfo).port}/`;
  try {
    const victim = await connect(url, { http2: true });
    const bystander = await connect(url, { http2: true });
    assert.is(streams.length, 2);
    await victim.send('hello');
    assert.is(await victim.receive(), 'hello');
    await victim.send('reset');
    assert.equal(await victim.closeReason, ABNORMAL);
    try {
      await victim.receive();
      assert.unreachable('the reset session still receives');
    } catch (error) {
      assert.instance(error, Error);
    }
    await victim.raw.job.join();
    assert.is(victim.raw.job.state, 'completed');

    await bystander.send('unaffected');
    assert.is(await bystander.receive(), 'unaffected');
    await bystander.close();
  } finally {
    rogue.close();
  }
});

test('the server drops the whole connection: every session on it ends 1006, on both sides', async () => {
  const dropped = await startH2Server(reader);
  try {
    const url = `ws://127.0.0.1:${dropped.port}/`;
    const sessions = await Promise.all(Array.from({ length: 5 }, () => connect(url, { http2: true })));
    assert.is(dropped.connections.length, 1);
    for (const session of sessions) {
      await session.send('x');
      assert.is(await session.receive(), 'x');
    }
    dropped.connections[0]!.destroy();
    for (const session of sessions) assert.equal(await session.closeReason, ABNORMAL);
    await Promise.all(dropped.jobs.map((job) => job.join()));
    for (const job of dropped.jobs) assert.is(job.state, 'completed');
    for (const session of dropped.sessions) assert.equal(await session.closeReason, ABNORMAL);

    const again = await connect(url, { http2: true });
    await again.send('new connection');
    assert.is(await again.receive(), 'new connection');
    assert.is(dropped.connections.length, 2);
    await again.close();
  } finally {
    await dropped.close();
  }
});

test.run();
