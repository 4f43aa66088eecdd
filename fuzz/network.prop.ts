/**
 * Fuzzing the network path, not only the parser: each run opens a real
 * loopback connection to one shared server, sends a random valid handshake
 * (random case of header names, random extra headers, random subprotocol
 * offers) and then random bytes — whole valid masked messages (some
 * fragmented), pings, pongs, and sometimes garbage — and ends its side.
 *
 * Properties: the handshake is always accepted with the right subprotocol;
 * what the server sends back always parses, and a close frame, if any, comes
 * last with a valid code (or the TCP connection is simply dropped); when
 * everything sent was valid and ended with a close frame, every message is
 * echoed in order (a prefix: our close may overtake the last echoes) and our close code comes back. Every few runs (and at the
 * end) a fresh client still echoes, and the process never sees an uncaught
 * error (the test guard counts those). FUZZ_RUNS sets the number of runs
 * (default 100 000).
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isValidCloseCode } from '../src/frames/close.ts';
import { Opcode, type Frame } from '../src/frames/frame.ts';
import { FrameParser } from '../src/frames/parser.ts';
import { HANDSHAKE_KEY, RawClient } from '../tests/support/raw-client.ts';
import { startServer, type TestServer } from '../tests/support/server.ts';
import { maskedFrame, WireClient } from '../tests/support/wire-client.ts';

const runs = Number(process.env['FUZZ_RUNS'] ?? 100_000);
const SERVER_PROTOCOLS = ['chat', 'superchat'];

type DataOpcode = typeof Opcode.Text | typeof Opcode.Binary;
type PingPong = typeof Opcode.Ping | typeof Opcode.Pong;

/** One unit of what the client sends after the handshake. */
type Unit =
  | { readonly kind: 'message'; readonly opcode: DataOpcode; readonly payload: Buffer; readonly pieces: number }
  | { readonly kind: 'control'; readonly opcode: PingPong; readonly payload: Buffer }
  | { readonly kind: 'garbage'; readonly bytes: Buffer };

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const tokenArb = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 12 });
const RESERVED = /^(host|upgrade|connection|sec-websocket-.*|content-length|transfer-encoding)$/i;
const extraHeaderArb = fc.tuple(
  tokenArb.filter((name) => !RESERVED.test(name)),
  fc.string({ unit: fc.constantFrom(...'abcXYZ019 ,;=/"-_.'), maxLength: 30 }).map((v) => v.trim()),
);

/** A string in random letter case. */
function randomCase(name: string, flips: readonly boolean[]): string {
  return [...name].map((c, i) => (flips[i % Math.max(1, flips.length)] ? c.toUpperCase() : c.toLowerCase())).join('');
}

const handshakeArb = fc.record({
  flips: fc.array(fc.boolean(), { minLength: 1, maxLength: 24 }),
  extra: fc.array(extraHeaderArb, { maxLength: 6 }),
  offers: fc.uniqueArray(fc.oneof(fc.constantFrom('chat', 'superchat', 'v2.chat'), tokenArb), { maxLength: 4 }), // RFC 6455: unique
});

const unitArb: fc.Arbitrary<Unit> = fc.oneof(
  { weight: 5, arbitrary: fc.record({
    kind: fc.constant('message' as const),
    opcode: fc.constant<DataOpcode>(Opcode.Text),
    payload: fc.string({ maxLength: 300 }).map((s) => Buffer.from(s, 'utf8')),
    pieces: fc.integer({ min: 1, max: 4 }),
  }) },
  { weight: 5, arbitrary: fc.record({
    kind: fc.constant('message' as const),
    opcode: fc.constant<DataOpcode>(Opcode.Binary),
    payload: fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
    pieces: fc.integer({ min: 1, max: 4 }),
  }) },
  { weight: 2, arbitrary: fc.record({
    kind: fc.constant('control' as const),
    opcode: fc.constantFrom<PingPong>(Opcode.Ping, Opcode.Pong),
    payload: fc.uint8Array({ maxLength: 125 }).map((b) => Buffer.from(b)),
  }) },
  { weight: 1, arbitrary: fc.record({
    kind: fc.constant('garbage' as const),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b)),
  }) },
);

const closeArb = fc.option(fc.constantFrom(1000, 1001, 3000, 4999), { nil: undefined });

function request(flips: readonly boolean[], extra: readonly (readonly [string, string])[], offers: readonly string[]): string {
  const headers: [string, string][] = [
    ['Host', '127.0.0.1'],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', HANDSHAKE_KEY],
    ['Sec-WebSocket-Version', '13'],
    ...extra.map(([n, v]) => [n, v] as [string, string]),
  ];
  if (offers.length > 0) headers.push(['Sec-WebSocket-Protocol', offers.join(', ')]);
  return `GET /fuzz HTTP/1.1\r\n${headers.map(([n, v]) => `${randomCase(n, flips)}: ${v}\r\n`).join('')}\r\n`;
}

/** The bytes of `unit` as the client sends them. */
function unitBytes(unit: Unit): Buffer {
  if (unit.kind === 'garbage') return unit.bytes;
  if (unit.kind === 'control') return maskedFrame(unit.opcode, unit.payload);
  const step = Math.ceil(unit.payload.length / unit.pieces) || 1;
  const frames: Buffer[] = [];
  for (let at = 0, first = true; first || at < unit.payload.length; at += step, first = false) {
    const last = at + step >= unit.payload.length;
    frames.push(maskedFrame(first ? unit.opcode : Opcode.Continuation, unit.payload.subarray(at, at + step), last));
  }
  return Buffer.concat(frames);
}

let server: TestServer;

test.before(async () => {
  server = await startServer(
    async (session) => {
      try {
        for await (const message of session) await session.send(message);
      } catch {
        // the protocol error or the lost connection ends the echo loop
      }
    },
    {
      protocols: SERVER_PROTOCOLS,
      session: { closeTimeoutMs: 300, partialFrameTimeoutMs: 300 },
      requestHead: { timeoutMs: 1000 },
    },
  );
});

test.after(async () => {
  await server.close();
});

async function assertStillServing(): Promise<void> {
  const client = await RawClient.open(server.port);
  client.sendFrame(Opcode.Text, 'still serving');
  assert.is((await client.nextFrame()).payload.toString(), 'still serving');
  client.destroy();
}

test('random handshakes and random frames over a real connection: valid close codes, echoes in order, still serving', async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(handshakeArb, fc.array(unitArb, { maxLength: 8 }), closeArb, async (handshake, units, close) => {
      const client = await WireClient.connect(server.port);
      try {
        client.write(request(handshake.flips, handshake.extra, handshake.offers));
        await client.until(() => client.received.includes('\r\n\r\n') || client.closed, 5000, 'the response head');
        const head = client.received.toString('latin1', 0, client.received.indexOf('\r\n\r\n'));
        assert.ok(head.startsWith('HTTP/1.1 101 '), head);
        const expectedProtocol = SERVER_PROTOCOLS.find((p) => handshake.offers.includes(p));
        const protocol = /\r\nSec-WebSocket-Protocol: ([^\r]*)/i.exec(head)?.[1];
        assert.is(protocol, expectedProtocol);

        for (const unit of units) client.write(unitBytes(unit));
        if (close !== undefined) client.write(maskedFrame(Opcode.Close, Buffer.from([close >> 8, close & 0xff])));
        client.socket.end();
        await client.untilClosed(5000);

        const parser = new FrameParser({ role: 'client', maxFrameSize: 1 << 24 });
        parser.push(client.afterHead);
        const frames: Frame[] = [];
        for (let f = parser.next(); f !== undefined; f = parser.next()) frames.push(f);
        assert.is(parser.bufferedBytes, 0, 'a partial frame on the wire');
        const closeAt = frames.findIndex((f) => f.opcode === Opcode.Close);
        if (closeAt >= 0) {
          assert.is(closeAt, frames.length - 1, 'frames after the close frame');
          const payload = frames[closeAt]!.payload;
          if (payload.length > 0) assert.ok(isValidCloseCode(payload.readUInt16BE(0)), `close code ${payload.readUInt16BE(0)}`);
        }
        if (close !== undefined && units.every((u) => u.kind !== 'garbage')) {
          const sent = units.filter((u) => u.kind === 'message').map((u) => (u.kind === 'message' ? u.payload : Buffer.alloc(0)));
          const echoed = frames.filter((f) => f.opcode === Opcode.Text || f.opcode === Opcode.Binary).map((f) => f.payload);
          // Our close may overtake the handler's echoes (the close reply goes out at once): the echoes
          // are a prefix of what was sent, in order, intact.
          assert.equal(echoed.map((b) => b.toString('hex')), sent.slice(0, echoed.length).map((b) => b.toString('hex')));
          assert.ok(closeAt >= 0, 'no close frame after a clean close');
          assert.is(frames[closeAt]!.payload.readUInt16BE(0), close);
        }
      } finally {
        client.socket.destroy();
      }
      if (++run % 50 === 0) await assertStillServing();
    }),
    { numRuns: runs },
  );
  await assertStillServing();
});

test.run();
