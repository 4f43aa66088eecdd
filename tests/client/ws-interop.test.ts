/**
 * The client against a `ws` server over loopback: every message size of the
 * server interop tests both ways, fragmented messages from the server,
 * ping/pong both ways, close in both directions with codes and reasons,
 * subprotocol selection, permessage-deflate, and masking as `ws` checks it
 * (ws fails any unmasked client frame with 1002).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket, { WebSocketServer } from 'ws';
import { Opcode, frame } from '../../src/frames/frame.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { permessageDeflate } from '../../src/extensions/permessage-deflate.ts';
import type { DefaultWebSocketSession } from '../../src/session/default-session.ts';

const SIZES = [0, 1, 125, 126, 65535, 65536, 8 * 1024 * 1024];
const LIMITS = { maxFrameSize: 16 * 1024 * 1024, maxMessageSize: 16 * 1024 * 1024 };

let wss: WebSocketServer;
let url = '';
/** What the server side of each connection does; set per test. */
let onConnection: (ws: WebSocket, protocol: string) => void = () => {};

test.before(async () => {
  wss = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    maxPayload: 64 * 1024 * 1024,
    perMessageDeflate: { threshold: 0 },
    handleProtocols: (offered) => (offered.has('v2.chat') ? 'v2.chat' : false),
  });
  await once(wss, 'listening');
  url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  wss.on('connection', (ws) => onConnection(ws, ws.protocol));
});

test.after(async () => {
  for (const client of wss.clients) client.terminate();
  await new Promise((resolve) => wss.close(resolve));
});

function echoServer(): void {
  onConnection = (ws) => ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
}

async function closeClean(session: DefaultWebSocketSession): Promise<void> {
  assert.equal(await session.close(1000, 'done'), { code: 1000, reason: 'done' });
  await session.raw.job.join();
  assert.is(session.raw.job.state, 'completed');
}

test('text and binary of 0, 1, 125, 126, 65535, 65536 bytes and 8 MiB round-trip through a ws echo server', async () => {
  echoServer();
  const session = await connect(url, { session: LIMITS });
  for (const size of SIZES) {
    const text = 'é'.repeat(size >> 1) + (size % 2 === 1 ? 'a' : '');
    await session.send(text);
    assert.is(await session.receive(), text, `text ${size}`);
    const binary = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4093) binary[i] = i & 0xff;
    await session.send(binary);
    const back = await session.receive();
    assert.ok(Buffer.isBuffer(back), `binary ${size} stays binary`);
    assert.ok(binary.equals(back as Buffer), `binary ${size}`);
  }
  await closeClean(session);
});

test('fragmented messages from the server are reassembled', async () => {
  onConnection = (ws) => {
    ws.send('Hel', { fin: false });
    ws.send('lo, ', { fin: false });
    ws.send('world', { fin: true });
    ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
    ws.send(Buffer.alloc(70_000, 3), { binary: true, fin: true });
  };
  const session = await connect(url);
  assert.is(await session.receive(), 'Hello, world');
  const binary = (await session.receive()) as Buffer;
  assert.is(binary.length, 70_002);
  assert.equal([...binary.subarray(0, 3)], [1, 2, 3]);
  await closeClean(session);
});

test('ping/pong: the server pings and gets our pong; our ping gets the server pong', async () => {
  const pongs: string[] = [];
  onConnection = (ws) => {
    ws.on('pong', (data) => pongs.push(data.toString()));
    ws.ping('from-server');
  };
  const raw = await connect(url, { raw: true });
  const ping = await raw.incoming.receive();
  assert.is(ping.opcode, Opcode.Ping);
  assert.is(ping.payload.toString(), 'from-server');
  await raw.send(frame(Opcode.Pong, ping.payload));
  await raw.send(frame(Opcode.Ping, Buffer.from('from-client')));
  const pong = await raw.incoming.receive();
  assert.is(pong.opcode, Opcode.Pong);
  assert.is(pong.payload.toString(), 'from-client');
  assert.equal(pongs, ['from-server']);
  raw.startClose({ code: 1000, reason: '' });
  assert.is((await raw.incoming.receive()).opcode, Opcode.Close);
  await raw.job.join();

  // The default session answers pings itself and keeps the connection alive with its own.
  const answered = new Promise<string>((resolve) => {
    onConnection = (ws) => {
      ws.on('pong', (data) => resolve(data.toString()));
      ws.ping('auto');
    };
  });
  const session = await connect(url, { defaultSession: { pingIntervalMs: 20, pingTimeoutMs: 1000 } });
  assert.is(await answered, 'auto');
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.not.ok(session.raw.isClosing, 'our pings got pongs in time');
  assert.is(session.raw.failure, undefined);
  await closeClean(session);
});

test('close from the client: code and reason reach the server, which echoes', async () => {
  const closed = new Promise<[number, string]>((resolve) => {
    onConnection = (ws) => ws.on('close', (code, reason) => resolve([code, reason.toString()]));
  });
  const session = await connect(url);
  assert.equal(await session.close(4001, 'client says bye'), { code: 4001, reason: 'client says bye' });
  assert.equal(await closed, [4001, 'client says bye']);
  await session.raw.job.join();
  assert.is(session.raw.job.state, 'completed');
});

test('close from the server: the session sees its code and reason and echoes the code', async () => {
  const closed = new Promise<number>((resolve) => {
    onConnection = (ws) => {
      ws.on('close', (code) => resolve(code));
      ws.send('last words');
      ws.close(4002, 'server says bye');
    };
  });
  const session = await connect(url);
  const messages: unknown[] = [];
  for await (const message of session) messages.push(message);
  assert.equal(messages, ['last words']);
  assert.equal(await session.closeReason, { code: 4002, reason: 'server says bye' });
  assert.is(await closed, 4002);
  await session.raw.job.join();
  assert.is(session.raw.job.state, 'completed');
});

test('subprotocols: the server picks one we offered; none when it speaks none of ours', async () => {
  const seen = new Promise<string>((resolve) => {
    onConnection = (_ws, protocol) => resolve(protocol);
  });
  const chosen = await connect(url, { protocols: ['v3.chat', 'v2.chat'] });
  assert.is(chosen.protocol, 'v2.chat');
  assert.is(await seen, 'v2.chat');
  await closeClean(chosen);
  const none = await connect(url, { protocols: ['v9.chat'] });
  assert.is(none.protocol, undefined);
  await closeClean(none);
});

test('permessage-deflate: negotiated with ws, messages compressed both ways', async () => {
  echoServer();
  const session = await connect(url, { extensions: [permessageDeflate({ threshold: 0 })], session: LIMITS });
  assert.equal(session.extensions.map((e) => e.name), ['permessage-deflate']);
  const text = 'compress me '.repeat(10_000);
  await session.send(text);
  assert.is(await session.receive(), text);
  const binary = Buffer.alloc(3 * 1024 * 1024, 7);
  await session.send(binary);
  assert.ok(binary.equals((await session.receive()) as Buffer));
  await closeClean(session);
});

test('extra headers reach the server', async () => {
  const headers = new Promise<Record<string, unknown>>((resolve) => {
    wss.once('headers', (_lines, request) => resolve(request.headers));
  });
  onConnection = () => {};
  const session = await connect(`${url}/path?q=1`, { headers: { Origin: 'https://app.example', 'X-Trace': 'abc' } });
  const seen = await headers;
  assert.is(seen['origin'], 'https://app.example');
  assert.is(seen['x-trace'], 'abc');
  await closeClean(session);
});

test.run();
