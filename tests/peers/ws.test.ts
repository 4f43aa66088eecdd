/**
 * `ws` (the npm package, an independent RFC 6455 implementation) against
 * this project over loopback, in both directions.
 *
 * Our server, `ws` as the client: message sizes around every
 * length-encoding boundary, fragmentation from the client, ping/pong both
 * ways, close codes and reasons both ways, subprotocol negotiation, many
 * concurrent clients; and permessage-deflate against `createWebSocketServer`
 * with `extensions: [permessageDeflate(...)]` for each parameter set (context
 * takeover on and off, requested by either side, small windows down to 8
 * bits): text and binary messages from 0 B to 8 MiB echo intact both ways,
 * whole and fragmented by the client, and compressible ones really travel
 * compressed in both directions.
 *
 * Our client, a `ws` server: every message size both ways, fragmented
 * messages from the server, ping/pong both ways, close in both directions
 * with codes and reasons, subprotocol selection, permessage-deflate, extra
 * headers, and masking as `ws` checks it (ws fails any unmasked client frame
 * with 1002).
 */
import { once } from 'node:events';
import type { AddressInfo, Server, Socket } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket, { WebSocketServer, type PerMessageDeflateOptions as WsDeflateOptions } from 'ws';
import type { CloseReason } from '../../src/frames/close.ts';
import { Opcode, frame } from '../../src/frames/frame.ts';
import {
  PerMessageDeflate,
  permessageDeflate,
  type DeflateParams,
  type PerMessageDeflateOptions,
} from '../../src/extensions/permessage-deflate.ts';
import type { DefaultWebSocketSession, Message } from '../../src/session/default-session.ts';
import { connect } from '../../src/upgrade/connect.ts';
import type { UpgradeCall } from '../../src/upgrade/handshake.ts';
import { createWebSocketServer } from '../../src/upgrade/serve.ts';
import { bytesOf, textOfBytes, WsPeer } from '../support/interop.ts';
import { startServer, type TestServer } from '../support/server.ts';

const MiB = 1024 * 1024;
/** Around every length-encoding boundary, and a large message. */
const SIZES = [0, 1, 125, 126, 65535, 65536, 8 * 1024 * 1024];

const asServer = suite('our server, ws as the client');
const asClient = suite('our client, ws as the server');

// ---------------------------------------------------------------------------
// Our server, ws as the client.

/** What the server's handler saw on one connection. */
interface ServerSide {
  readonly url: string;
  readonly protocol: string | undefined;
  readonly messages: Message[];
  /** Set once the handler's loop ended: the peer's close (or 1006). */
  closeReason?: CloseReason;
  /** `session.close()`'s result on /server-close. */
  closeReply?: CloseReason;
  /** Resolves when the handler returned. */
  done: Promise<void>;
}

const serverSides: ServerSide[] = [];

async function handler(session: DefaultWebSocketSession, request: UpgradeCall): Promise<void> {
  let finish!: () => void;
  const side: ServerSide = {
    url: request.url ?? '',
    protocol: session.protocol,
    messages: [],
    done: new Promise((resolve) => (finish = resolve)),
  };
  serverSides.push(side);
  try {
    if (side.url === '/server-close') {
      await session.send('closing soon');
      side.closeReply = await session.close(4002, 'srv');
      return;
    }
    for await (const message of session) {
      side.messages.push(message);
      await session.send(message);
    }
    side.closeReason = await session.closeReason;
  } finally {
    finish();
  }
}

let server: TestServer;
let base = '';

asServer.before(async () => {
  server = await startServer(handler, { protocols: ['b', 'a'] });
  base = `ws://127.0.0.1:${server.port}`;
});

asServer.after(async () => {
  await server.close();
});

/** The server side of the connection most recently opened on `url`. */
function lastSide(url: string): ServerSide {
  const side = serverSides.filter((s) => s.url === url).at(-1);
  if (side === undefined) throw new Error(`no server session for ${url}`);
  return side;
}

asServer('text and binary messages of 0, 1, 125, 126, 65535, 65536 bytes and 8 MiB echo with the same bytes and type', async () => {
  const peer = await WsPeer.open(`${base}/sizes`);
  try {
    for (const size of SIZES) {
      const text = textOfBytes(size);
      const binary = bytesOf(size, size + 7);
      await peer.send(text);
      await peer.send(binary);
      const textEcho = await peer.next(20_000);
      const binaryEcho = await peer.next(20_000);
      assert.is(textEcho.isBinary, false, `text ${size}: type`);
      assert.is(textEcho.data.length, size, `text ${size}: length`);
      assert.ok(textEcho.data.equals(Buffer.from(text, 'utf8')), `text ${size}: bytes`);
      assert.is(binaryEcho.isBinary, true, `binary ${size}: type`);
      assert.is(binaryEcho.data.length, size, `binary ${size}: length`);
      assert.ok(binaryEcho.data.equals(binary), `binary ${size}: bytes`);
    }
    // The server got them as whole messages of the right type too.
    const side = lastSide('/sizes');
    assert.is(side.messages.length, SIZES.length * 2);
    for (const [i, size] of SIZES.entries()) {
      const text = side.messages[2 * i];
      const binary = side.messages[2 * i + 1];
      assert.type(text, 'string', `server text ${size}`);
      assert.is(Buffer.byteLength(text as string), size);
      assert.ok(Buffer.isBuffer(binary), `server binary ${size}`);
      assert.is((binary as Buffer).length, size);
    }
  } finally {
    peer.socket.close(1000);
    await peer.closed;
  }
});

asServer('fragmented messages from the client (text split inside a character, binary, a ping between fragments) are reassembled', async () => {
  const peer = await WsPeer.open(`${base}/fragments`);
  try {
    // "héllo wörld" with the 2-byte "é" split across two fragments.
    const text = Buffer.from('héllo wörld', 'utf8');
    await peer.send(text.subarray(0, 2), { binary: false, fin: false });
    await peer.send(text.subarray(2, 5), { binary: false, fin: false });
    await peer.send(text.subarray(5), { binary: false, fin: true });

    const parts = [bytesOf(1000, 1), bytesOf(0, 2), bytesOf(70_000, 3), bytesOf(5, 4)];
    for (const [i, part] of parts.entries()) {
      await peer.send(part, { binary: true, fin: i === parts.length - 1 });
      if (i === 1) peer.socket.ping(Buffer.from('mid-message'));
    }

    const first = await peer.next();
    assert.is(first.isBinary, false);
    assert.is(first.data.toString('utf8'), 'héllo wörld');
    const second = await peer.next();
    assert.is(second.isBinary, true);
    assert.ok(second.data.equals(Buffer.concat(parts)));
    await peer.until(() => peer.pongs.length === 1, 'the pong to the ping sent between fragments');
    assert.is(peer.pongs[0]!.toString(), 'mid-message');

    const side = lastSide('/fragments');
    assert.equal(side.messages.length, 2, 'the server saw two whole messages, not fragments');
    assert.is(side.messages[0], 'héllo wörld');
  } finally {
    peer.socket.close(1000);
    await peer.closed;
  }
});

asServer('a client ping is answered with a pong carrying the same payload (empty and 125 bytes too)', async () => {
  const peer = await WsPeer.open(`${base}/ping`);
  try {
    const payloads = [Buffer.from('are you there?'), Buffer.alloc(0), bytesOf(125, 9)];
    for (const payload of payloads) peer.socket.ping(payload);
    await peer.until(() => peer.pongs.length === payloads.length, 'three pongs');
    for (const [i, payload] of payloads.entries()) assert.ok(peer.pongs[i]!.equals(payload), `pong ${i}`);
    // The session is still usable.
    await peer.send('after pings');
    assert.is((await peer.next()).data.toString(), 'after pings');
  } finally {
    peer.socket.close(1000);
    await peer.closed;
  }
});

asServer('server pings (pingIntervalMs) are answered by ws automatically and the session stays up past the ping timeout', async () => {
  const pinging = await startServer(
    async (session) => {
      for await (const message of session) await session.send(message);
    },
    { defaultSession: { pingIntervalMs: 50, pingTimeoutMs: 150 } },
  );
  const peer = await WsPeer.open(`ws://127.0.0.1:${pinging.port}/`);
  try {
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.ok(peer.pings.length >= 5, `ws saw ${peer.pings.length} pings in 700 ms`);
    assert.ok(peer.pings.every((p) => p.length === 8), 'each ping carries the 8-byte sequence number');
    assert.is(new Set(peer.pings.map((p) => p.toString('hex'))).size, peer.pings.length, 'ping payloads differ');
    assert.is(peer.socket.readyState, peer.socket.OPEN);
    assert.ok((await pinging.job()).isActive, 'the session job is still running');
    await peer.send('still here');
    assert.is((await peer.next()).data.toString(), 'still here');
  } finally {
    peer.socket.close(1000);
    await peer.closed;
    await pinging.close();
  }
});

asServer('a slow handler does not get a live ws peer dropped: the pong wait pauses while our reader is held by backpressure', async () => {
  const pinging = await startServer(
    async (session) => {
      await new Promise((resolve) => setTimeout(resolve, 700)); // takes nothing for 700 ms
      for await (const message of session) await session.send(message);
    },
    { defaultSession: { pingIntervalMs: 50, pingTimeoutMs: 150, messageQueue: 1 } },
  );
  const peer = await WsPeer.open(`ws://127.0.0.1:${pinging.port}/`);
  try {
    // One message fills the queue; the reader then waits, and ws's pongs sit unread behind the rest.
    for (let i = 0; i < 5; i++) await peer.send(`m${i}`);
    const echoed: string[] = [];
    for (let i = 0; i < 5; i++) echoed.push((await peer.next()).data.toString());
    assert.equal(echoed, ['m0', 'm1', 'm2', 'm3', 'm4']);
    assert.is(peer.socket.readyState, peer.socket.OPEN);
    assert.ok((await pinging.job()).isActive, 'the session job is still running');
    assert.ok(peer.pings.length >= 1, 'the server pinged while its handler was busy');
  } finally {
    peer.socket.close(1000);
    await peer.closed;
    await pinging.close();
  }
});

asServer('a client that does not answer pings (ws autoPong: false) is dropped after the ping timeout (1006 both sides)', async () => {
  let serverReason: CloseReason | undefined;
  const pinging = await startServer(
    async (session) => {
      try {
        for await (const message of session) await session.send(message);
      } finally {
        serverReason = await session.closeReason;
      }
    },
    { defaultSession: { pingIntervalMs: 50, pingTimeoutMs: 150 } },
  );
  const peer = await WsPeer.open(`ws://127.0.0.1:${pinging.port}/`, undefined, { autoPong: false });
  try {
    const started = Date.now();
    const job = await pinging.job();
    const closed = await peer.closed;
    const elapsed = Date.now() - started;
    assert.is(closed.code, 1006, 'dropped without a close frame');
    assert.ok(peer.pings.length >= 1, 'ws saw the unanswered ping');
    assert.ok(elapsed >= 150 && elapsed < 3000, `dropped after ${elapsed} ms`);
    await job.join();
    assert.ok(job.isCompleted, `job state ${job.state}`);
    assert.is(serverReason?.code, 1006);
  } finally {
    await peer.terminate();
    await pinging.close();
  }
});

asServer("client closes with 4001 'bye': the server's closeReason is {4001, 'bye'} and ws sees 4001 echoed", async () => {
  const peer = await WsPeer.open(`${base}/client-close`);
  await peer.send('one');
  await peer.next();
  peer.socket.close(4001, 'bye');
  const closed = await peer.closed;
  assert.is(closed.code, 4001, 'the echoed close code');
  const side = lastSide('/client-close');
  await side.done;
  assert.equal(side.closeReason, { code: 4001, reason: 'bye' });
  assert.equal(side.messages, ['one']);
});

asServer('client close with a 123-byte UTF-8 reason arrives intact', async () => {
  const peer = await WsPeer.open(`${base}/client-close-long`);
  const reason = textOfBytes(123);
  peer.socket.close(4999, reason);
  assert.is((await peer.closed).code, 4999);
  const side = lastSide('/client-close-long');
  await side.done;
  assert.equal(side.closeReason, { code: 4999, reason });
});

asServer("server session.close(4002, 'srv'): ws gets 4002 'srv', the server's close() resolves with ws's echo", async () => {
  const peer = await WsPeer.open(`${base}/server-close`);
  const closed = await peer.closed;
  assert.equal(closed, { code: 4002, reason: 'srv' });
  assert.is(peer.messages.length, 1);
  assert.is(peer.messages[0]!.data.toString(), 'closing soon');
  const side = lastSide('/server-close');
  await side.done;
  assert.is(side.closeReply?.code, 4002, 'ws echoes the code');
});

asServer("subprotocols: server preference ['b', 'a']; client ['a', 'b'] gets 'b', ['a'] gets 'a', ['c'] and none get ''", async () => {
  const cases: Array<[string, string[] | undefined, string]> = [
    ['/proto-ab', ['a', 'b'], 'b'],
    ['/proto-a', ['a'], 'a'],
    ['/proto-none', undefined, ''],
  ];
  for (const [path, offer, expected] of cases) {
    const peer = await WsPeer.open(`${base}${path}`, offer);
    assert.is(peer.socket.protocol, expected, `${path}: ws protocol`);
    await peer.send('x');
    await peer.next();
    assert.is(lastSide(path).protocol, expected === '' ? undefined : expected, `${path}: server protocol`);
    peer.socket.close(1000);
    await peer.closed;
  }
  // Offering only protocols the server does not speak: the 101 carries none and
  // ws (per RFC 6455 4.1) fails the connection because it asked for one.
  const refused = await WsPeer.open(`${base}/proto-c`, ['c']).then(
    async (peer) => {
      await peer.terminate();
      return `opened with protocol ${JSON.stringify(peer.socket.protocol)}`;
    },
    (error: Error) => error.message,
  );
  assert.match(refused, /Server sent no subprotocol/);
  const side = lastSide('/proto-c');
  await side.done;
  assert.is(side.protocol, undefined);
});

asServer('permessage-deflate negotiated with ws: compressed messages of every size round-trip both ways', async () => {
  const deflating = await startServer(
    async (session) => {
      for await (const message of session) await session.send(message);
    },
    { extensions: [permessageDeflate()] },
  );
  const peer = await WsPeer.open(`ws://127.0.0.1:${deflating.port}/`, undefined, {
    perMessageDeflate: { threshold: 0 },
  });
  try {
    assert.match(peer.socket.extensions, /^permessage-deflate/, `negotiated: ${peer.socket.extensions}`);
    for (const size of SIZES) {
      const text = 'compress me '.repeat(Math.ceil(size / 12)).slice(0, size);
      const binary = bytesOf(size, size);
      peer.socket.send(text, { compress: true });
      peer.socket.send(binary, { compress: true });
      const textEcho = await peer.next(20_000);
      const binaryEcho = await peer.next(20_000);
      assert.is(textEcho.isBinary, false);
      assert.is(textEcho.data.toString('utf8'), text, `text ${size}`);
      assert.is(binaryEcho.isBinary, true);
      assert.ok(binaryEcho.data.equals(binary), `binary ${size}`);
    }
  } finally {
    peer.socket.close(1000);
    await peer.closed;
    await deflating.close();
  }
});

asServer('200 concurrent clients each send 20 messages and get all echoed back in order', async () => {
  const CLIENTS = 200;
  const MESSAGES = 20;
  const peers = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => WsPeer.open(`${base}/many/${i}`)));
  try {
    await Promise.all(
      peers.map(async (peer, i) => {
        for (let j = 0; j < MESSAGES; j++) {
          if (j % 2 === 0) peer.socket.send(`client ${i} message ${j}`);
          else peer.socket.send(Buffer.from(`client ${i} binary ${j}`));
        }
        await peer.until(() => peer.messages.length === MESSAGES, `client ${i}'s echoes`, 20_000);
        peer.messages.forEach((m, j) => {
          const expected = j % 2 === 0 ? `client ${i} message ${j}` : `client ${i} binary ${j}`;
          assert.is(m.data.toString(), expected);
          assert.is(m.isBinary, j % 2 === 1);
        });
      }),
    );
    for (let i = 0; i < CLIENTS; i++) assert.is(lastSide(`/many/${i}`).messages.length, MESSAGES);
  } finally {
    for (const peer of peers) peer.socket.close(1000);
    const closes = await Promise.all(peers.map((p) => p.closed));
    assert.ok(closes.every((c) => c.code === 1000), 'every client closed cleanly');
  }
});

// permessage-deflate with ws as the client, per parameter set (against createWebSocketServer).

/** A `createWebSocketServer` echo server with permessage-deflate, and what it negotiated. */
interface Running {
  port: number;
  server: Server;
  sockets: Socket[];
  /** Negotiated parameters of each session, in connection order. */
  params: DeflateParams[];
}

async function deflateEchoServer(options: PerMessageDeflateOptions): Promise<Running> {
  const params: DeflateParams[] = [];
  const handler = async (session: DefaultWebSocketSession) => {
    const extension = session.extensions[0];
    if (extension instanceof PerMessageDeflate) params.push(extension.params);
    for await (const message of session) await session.send(message);
  };
  const server = createWebSocketServer(handler, { extensions: [permessageDeflate(options)] });
  const sockets: Socket[] = [];
  server.on('connection', (socket: Socket) => sockets.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, server, sockets, params };
}

async function stop(running: Running): Promise<void> {
  running.server.close();
  for (const socket of running.sockets) socket.destroy();
}

/** Compressible text of exactly `n` UTF-8 bytes. */
function compressibleText(n: number): string {
  const unit = '{"user":"ktor","text":"hé€llo"} '; // 35 bytes
  const s = unit.repeat(Math.floor(n / 35)) + 'x'.repeat(n % 35);
  assert.is(Buffer.byteLength(s), n);
  return s;
}

const DEFLATE_SIZES = [0, 1, 1023, 1024, 64 * 1024, MiB, 8 * MiB];
/** Waiting for one echo of up to 8 MiB compressed with small windows, on a busy machine. */
const DEFLATE_WAIT_MS = 60_000;

/** [label, our server's options, ws client's options, expected negotiated params] */
const cases: Array<[string, PerMessageDeflateOptions, WsDeflateOptions, DeflateParams]> = [
  [
    'context takeover both ways',
    { threshold: 0 },
    { threshold: 0 },
    { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 },
  ],
  [
    'server turns context takeover off both ways',
    { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true },
    { threshold: 0 },
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 },
  ],
  [
    'client asks for no context takeover both ways',
    { threshold: 0 },
    { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true },
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 },
  ],
  [
    'server limits both windows to 9 bits',
    { threshold: 0, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
    { threshold: 0 },
    { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
  ],
  [
    'client asks for 8-bit windows both ways',
    { threshold: 0 },
    { threshold: 0, serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
    { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
  ],
  [
    'client asks for a 10-bit server window, no takeover on its side',
    { threshold: 0 },
    { threshold: 0, serverMaxWindowBits: 10, clientNoContextTakeover: true },
    { serverNoContextTakeover: false, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 15 },
  ],
];

for (const [label, serverOptions, clientOptions, expected] of cases) {
  asServer(`ws interop, ${label}: 0 B to 8 MiB, text and binary, whole and fragmented, both ways`, async () => {
    const running = await deflateEchoServer(serverOptions);
    const client = await WsPeer.open(`ws://127.0.0.1:${running.port}/`, undefined, { perMessageDeflate: clientOptions });
    try {
      assert.match(client.socket.extensions, /^permessage-deflate/);
      assert.equal(running.params[0], expected);
      for (const size of DEFLATE_SIZES) {
        const t = compressibleText(size);
        const b = bytesOf(size, size + 1);
        await client.send(t, { binary: false, compress: true });
        await client.send(b, { binary: true, compress: true });
        const textEcho = await client.next(DEFLATE_WAIT_MS);
        assert.is(textEcho.isBinary, false);
        assert.ok(textEcho.data.equals(Buffer.from(t)), `text ${size}`);
        const binaryEcho = await client.next(DEFLATE_WAIT_MS);
        assert.is(binaryEcho.isBinary, true);
        assert.ok(binaryEcho.data.equals(b), `binary ${size}`);
      }
      // Fragmented by the client: ws compresses the message as a whole (RSV1 on its first frame only).
      for (const size of [3000, 200_000]) {
        const whole = Buffer.from(compressibleText(size));
        const cuts = [0, Math.floor(size / 3), Math.floor(size / 2), size];
        for (let i = 0; i + 1 < cuts.length; i++) {
          await client.send(whole.subarray(cuts[i], cuts[i + 1]), { binary: false, fin: i + 2 === cuts.length, compress: true });
        }
        const echo = await client.next(DEFLATE_WAIT_MS);
        assert.ok(echo.data.equals(whole), `fragmented text ${size}`);
      }
      // Compressible traffic is compressed on the wire both ways: 1 MiB of text costs far less.
      const socket = running.sockets[0] as Socket;
      const [readBefore, writtenBefore] = [socket.bytesRead, socket.bytesWritten];
      const big = compressibleText(MiB);
      await client.send(big, { binary: false, compress: true });
      assert.is((await client.next(DEFLATE_WAIT_MS)).data.length, MiB);
      const inbound = socket.bytesRead - readBefore;
      const outbound = socket.bytesWritten - writtenBefore;
      assert.ok(inbound < MiB / 4, `client to server: ${inbound} B on the wire`);
      assert.ok(outbound < MiB / 4, `server to client: ${outbound} B on the wire`);
      client.socket.close(1000);
      assert.is((await client.closed).code, 1000);
    } finally {
      client.socket.terminate();
      await stop(running);
    }
  });
}

// ---------------------------------------------------------------------------
// Our client, a ws server.

const LIMITS = { maxFrameSize: 16 * 1024 * 1024, maxMessageSize: 16 * 1024 * 1024 };

let wss: WebSocketServer;
let wsUrl = '';
/** What the server side of each connection does; set per test. */
let onConnection: (ws: WebSocket, protocol: string) => void = () => {};

asClient.before(async () => {
  wss = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    maxPayload: 64 * 1024 * 1024,
    perMessageDeflate: { threshold: 0 },
    handleProtocols: (offered) => (offered.has('v2.chat') ? 'v2.chat' : false),
  });
  await once(wss, 'listening');
  wsUrl = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  wss.on('connection', (ws) => onConnection(ws, ws.protocol));
});

asClient.after(async () => {
  for (const client of wss.clients) client.terminate();
  await new Promise((resolve) => wss.close(resolve));
});

/** The ws server echoes every message with its type. */
function wsEchoes(): void {
  onConnection = (ws) => ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
}

async function closeClean(session: DefaultWebSocketSession): Promise<void> {
  assert.equal(await session.close(1000, 'done'), { code: 1000, reason: 'done' });
  await session.raw.job.join();
  assert.is(session.raw.job.state, 'completed');
}

asClient('text and binary of 0, 1, 125, 126, 65535, 65536 bytes and 8 MiB round-trip through a ws echo server', async () => {
  wsEchoes();
  const session = await connect(wsUrl, { session: LIMITS });
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

asClient('fragmented messages from the server are reassembled', async () => {
  onConnection = (ws) => {
    ws.send('Hel', { fin: false });
    ws.send('lo, ', { fin: false });
    ws.send('world', { fin: true });
    ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
    ws.send(Buffer.alloc(70_000, 3), { binary: true, fin: true });
  };
  const session = await connect(wsUrl);
  assert.is(await session.receive(), 'Hello, world');
  const binary = (await session.receive()) as Buffer;
  assert.is(binary.length, 70_002);
  assert.equal([...binary.subarray(0, 3)], [1, 2, 3]);
  await closeClean(session);
});

asClient('ping/pong: the server pings and gets our pong; our ping gets the server pong', async () => {
  const pongs: string[] = [];
  onConnection = (ws) => {
    ws.on('pong', (data) => pongs.push(data.toString()));
    ws.ping('from-server');
  };
  const raw = await connect(wsUrl, { raw: true });
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
  const session = await connect(wsUrl, { defaultSession: { pingIntervalMs: 20, pingTimeoutMs: 1000 } });
  assert.is(await answered, 'auto');
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.not.ok(session.raw.isClosing, 'our pings got pongs in time');
  assert.is(session.raw.failure, undefined);
  await closeClean(session);
});

asClient('close from the client: code and reason reach the server, which echoes', async () => {
  const closed = new Promise<[number, string]>((resolve) => {
    onConnection = (ws) => ws.on('close', (code, reason) => resolve([code, reason.toString()]));
  });
  const session = await connect(wsUrl);
  assert.equal(await session.close(4001, 'client says bye'), { code: 4001, reason: 'client says bye' });
  assert.equal(await closed, [4001, 'client says bye']);
  await session.raw.job.join();
  assert.is(session.raw.job.state, 'completed');
});

asClient('close from the server: the session sees its code and reason and echoes the code', async () => {
  const closed = new Promise<number>((resolve) => {
    onConnection = (ws) => {
      ws.on('close', (code) => resolve(code));
      ws.send('last words');
      ws.close(4002, 'server says bye');
    };
  });
  const session = await connect(wsUrl);
  const messages: unknown[] = [];
  for await (const message of session) messages.push(message);
  assert.equal(messages, ['last words']);
  assert.equal(await session.closeReason, { code: 4002, reason: 'server says bye' });
  assert.is(await closed, 4002);
  await session.raw.job.join();
  assert.is(session.raw.job.state, 'completed');
});

asClient('subprotocols: the server picks one we offered; none when it speaks none of ours', async () => {
  const seen = new Promise<string>((resolve) => {
    onConnection = (_ws, protocol) => resolve(protocol);
  });
  const chosen = await connect(wsUrl, { protocols: ['v3.chat', 'v2.chat'] });
  assert.is(chosen.protocol, 'v2.chat');
  assert.is(await seen, 'v2.chat');
  await closeClean(chosen);
  const none = await connect(wsUrl, { protocols: ['v9.chat'] });
  assert.is(none.protocol, undefined);
  await closeClean(none);
});

asClient('permessage-deflate: negotiated with ws, messages compressed both ways', async () => {
  wsEchoes();
  const session = await connect(wsUrl, { extensions: [permessageDeflate({ threshold: 0 })], session: LIMITS });
  assert.equal(session.extensions.map((e) => e.name), ['permessage-deflate']);
  const text = 'compress me '.repeat(10_000);
  await session.send(text);
  assert.is(await session.receive(), text);
  const binary = Buffer.alloc(3 * 1024 * 1024, 7);
  await session.send(binary);
  assert.ok(binary.equals((await session.receive()) as Buffer));
  await closeClean(session);
});

asClient('extra headers reach the server', async () => {
  const headers = new Promise<Record<string, unknown>>((resolve) => {
    wss.once('headers', (_lines, request) => resolve(request.headers));
  });
  onConnection = () => {};
  const session = await connect(`${wsUrl}/path?q=1`, { headers: { Origin: 'https://app.example', 'X-Trace': 'abc' } });
  const seen = await headers;
  assert.is(seen['origin'], 'https://app.example');
  assert.is(seen['x-trace'], 'abc');
  await closeClean(session);
});

asServer.run();
asClient.run();
