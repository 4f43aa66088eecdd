/**
 * The conformance testee (`npm run testee -- --port N`, the built
 * build/examples/autobahn-testee.js in its own process) over cleartext
 * HTTP/2 with prior knowledge, next to HTTP/1.1 on the same port. Our client
 * (`connect(url, { http2: true })`) reaches it through a recording TCP
 * relay, which shows that its connection opened with the HTTP/2 preface and
 * carried every WebSocket; echoes of text, binary and a 1 MiB message come
 * back with their type; a /pubsub topic reaches an HTTP/1.1 and an HTTP/2
 * subscriber; Node's own http2 client opens an extended CONNECT; SIGTERM
 * closes the HTTP/2 sessions with 1001.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect as netConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../src/frames/frame.ts';
import { HTTP2_PREFACE } from '../../src/server/preface.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { connectHeaders, h2Connect, RawH2Stream } from '../support/h2.ts';
import { freePort } from '../support/interop.ts';
import { waitFor } from '../support/resources.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let testee: ChildProcess;
let output = '';
let port = 0;

/** A TCP relay to the testee that keeps the first bytes of each connection it relays. */
interface Relay {
  readonly port: number;
  readonly openings: Buffer[];
  close(): void;
}

async function relay(target: number): Promise<Relay> {
  const openings: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = netConnect(target, '127.0.0.1');
    const index = openings.push(Buffer.alloc(0)) - 1;
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.on('data', (chunk: Buffer) => {
      if (openings[index]!.length < 64) openings[index] = Buffer.concat([openings[index]!, chunk]).subarray(0, 64);
    });
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    openings,
    close() {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

test.before(async () => {
  port = await freePort();
  testee = spawn(process.execPath, ['build/examples/autobahn-testee.js', '--port', String(port)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  testee.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
  testee.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
  await waitFor(() => output.includes('testee listening'), 20_000, `the testee to start: ${output}`);
});

test.after(() => {
  if (testee.exitCode === null) testee.kill('SIGKILL');
});

test('our client over HTTP/2 with prior knowledge: one connection opening with the preface carries every WebSocket; echoes keep their type', async () => {
  const relayed = await relay(port);
  try {
    const url = `ws://127.0.0.1:${relayed.port}/echo`;
    const sessions = await Promise.all([1, 2, 3].map(() => connect(url, { http2: true })));
    assert.is(relayed.openings.length, 1, 'one TCP connection for three WebSockets');
    assert.ok(relayed.openings[0]!.subarray(0, HTTP2_PREFACE.length).equals(HTTP2_PREFACE), 'it opened with the HTTP/2 preface');
    const [a, b, c] = sessions as [typeof sessions[0], typeof sessions[0], typeof sessions[0]];
    await a.send('text ✓');
    assert.is(await a.receive(), 'text ✓');
    await b.send(Buffer.from([0, 1, 2, 255]));
    const binary = await b.receive();
    assert.ok(Buffer.isBuffer(binary) && binary.equals(Buffer.from([0, 1, 2, 255])), 'binary comes back binary');
    const big = Buffer.alloc(1024 * 1024, 7);
    await c.send(big);
    assert.ok((await c.receive() as Buffer).equals(big), 'the 1 MiB message');
    for (const session of sessions) assert.equal(await session.close(1000), { code: 1000, reason: '' });
    // HTTP/1.1 through the same relay and port: a second connection, a request head.
    const plain = await connect(url);
    await plain.send('over 1.1');
    assert.is(await plain.receive(), 'over 1.1');
    await plain.close();
    assert.is(relayed.openings.length, 2);
    assert.match(relayed.openings[1]!.toString('latin1'), /^GET \/echo HTTP\/1\.1\r\n/);
  } finally {
    relayed.close();
  }
});

test('a /pubsub topic reaches an HTTP/1.1 and an HTTP/2 subscriber; Node\'s http2 client opens an extended CONNECT', async () => {
  const url = `ws://127.0.0.1:${port}/pubsub/mixed`;
  const overH2 = await connect(url, { http2: true });
  const overH1 = await connect(url);
  const client = await h2Connect(port);
  try {
    const raw = await RawH2Stream.open(client, connectHeaders('/pubsub/mixed'));
    assert.is(raw.status, 200);
    // Subscriptions are made when each handler starts: give the last one a round trip.
    raw.send(Opcode.Text, 'from node');
    await raw.until(() => raw.texts.length === 1, 5000, 'its own message back');
    await overH2.send('from h2');
    assert.is(await overH2.receive(), 'from node');
    assert.is(await overH2.receive(), 'from h2');
    await overH1.send('from h1');
    assert.is(await overH1.receive(), 'from node');
    assert.is(await overH1.receive(), 'from h2');
    assert.is(await overH1.receive(), 'from h1');
    assert.is(await overH2.receive(), 'from h1');
    await raw.until(() => raw.texts.length === 3, 5000, 'the others\' messages');
    assert.equal(raw.texts, ['from node', 'from h2', 'from h1']);
  } finally {
    await Promise.all([overH2.close(), overH1.close()]);
    client.destroy();
  }
});

test('SIGTERM: an HTTP/2 session gets 1001 and the testee exits', async () => {
  const session = await connect(`ws://127.0.0.1:${port}/echo`, { http2: true });
  await session.send('ping');
  assert.is(await session.receive(), 'ping');
  const exited = once(testee, 'exit');
  testee.kill('SIGTERM');
  assert.equal(await session.closeReason, { code: 1001, reason: '' });
  const [code] = (await exited) as [number | null];
  assert.is(code, 0, output);
});

test.run();
