/**
 * Interop: the `ws` package (an independent RFC 6455 client) against this
 * project's server over loopback: message sizes around every length-encoding
 * boundary, fragmentation from the client, ping/pong both ways, close codes
 * and reasons both ways, subprotocol negotiation and many concurrent clients.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CloseReason } from '../../src/frames/close.ts';
import { permessageDeflate } from '../../src/extensions/permessage-deflate.ts';
import type { DefaultWebSocketSession, Message } from '../../src/session/default-session.ts';
import type { UpgradeCall } from '../../src/upgrade/handshake.ts';
import { bytesOf, textOfBytes, WsPeer } from '../support/interop.ts';
import { startServer, type TestServer } from '../support/server.ts';

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

const seen: ServerSide[] = [];

async function handler(session: DefaultWebSocketSession, request: UpgradeCall): Promise<void> {
  let finish!: () => void;
  const side: ServerSide = {
    url: request.url ?? '',
    protocol: session.protocol,
    messages: [],
    done: new Promise((resolve) => (finish = resolve)),
  };
  seen.push(side);
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

test.before(async () => {
  server = await startServer(handler, { protocols: ['b', 'a'] });
  base = `ws://127.0.0.1:${server.port}`;
});

test.after(async () => {
  await server.close();
});

/** The server side of the connection most recently opened on `url`. */
function lastSide(url: string): ServerSide {
  const side = seen.filter((s) => s.url === url).at(-1);
  if (side === undefined) throw new Error(`no server session for ${url}`);
  return side;
}

const SIZES = [0, 1, 125, 126, 65535, 65536, 8 * 1024 * 1024];

test('text and binary messages of 0, 1, 125, 126, 65535, 65536 bytes and 8 MiB echo with the same bytes and type', async () => {
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

test('fragmented messages from the client (text split inside a character, binary, a ping between fragments) are reassembled', async () => {
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

test('a client ping is answered with a pong carrying the same payload (empty and 125 bytes too)', async () => {
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

test('server pings (pingIntervalMs) are answered by ws automatically and the session stays up past the ping timeout', async () => {
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

test('a slow handler does not get a live ws peer dropped: the pong wait pauses while our reader is held by backpressure', async () => {
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

test('a client that does not answer pings (ws autoPong: false) is dropped after the ping timeout (1006 both sides)', async () => {
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

test("client closes with 4001 'bye': the server's closeReason is {4001, 'bye'} and ws sees 4001 echoed", async () => {
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

test('client close with a 123-byte UTF-8 reason arrives intact', async () => {
  const peer = await WsPeer.open(`${base}/client-close-long`);
  const reason = textOfBytes(123);
  peer.socket.close(4999, reason);
  assert.is((await peer.closed).code, 4999);
  const side = lastSide('/client-close-long');
  await side.done;
  assert.equal(side.closeReason, { code: 4999, reason });
});

test("server session.close(4002, 'srv'): ws gets 4002 'srv', the server's close() resolves with ws's echo", async () => {
  const peer = await WsPeer.open(`${base}/server-close`);
  const closed = await peer.closed;
  assert.equal(closed, { code: 4002, reason: 'srv' });
  assert.is(peer.messages.length, 1);
  assert.is(peer.messages[0]!.data.toString(), 'closing soon');
  const side = lastSide('/server-close');
  await side.done;
  assert.is(side.closeReply?.code, 4002, 'ws echoes the code');
});

test("subprotocols: server preference ['b', 'a']; client ['a', 'b'] gets 'b', ['a'] gets 'a', ['c'] and none get ''", async () => {
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

test('permessage-deflate negotiated with ws: compressed messages of every size round-trip both ways', async () => {
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

test('200 concurrent clients each send 20 messages and get all echoed back in order', async () => {
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

test.run();
