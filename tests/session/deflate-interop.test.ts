/**
 * permessage-deflate end to end over loopback: the `ws` client (with its
 * own permessage-deflate) against `createWebSocketServer` with
 * `extensions: [permessageDeflate(...)]`. For each parameter set (context
 * takeover on and off, requested by either side, small windows down to 8
 * bits) text and binary messages from 0 B to 8 MiB echo intact both ways,
 * whole and fragmented by the client, and compressible ones really travel
 * compressed in both directions. A 1 GiB bomb sent over a raw socket gets
 * a 1009 close.
 */
import { once } from 'node:events';
import { connect, type AddressInfo, type Server, type Socket } from 'node:net';
import zlib from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket, { type PerMessageDeflateOptions as WsDeflateOptions } from 'ws';
import { decodeClosePayload } from '../../src/frames/close.ts';
import { Opcode, type Frame } from '../../src/frames/frame.ts';
import { FrameParser, Rsv } from '../../src/frames/parser.ts';
import { serializeFrame } from '../../src/frames/serializer.ts';
import type { DefaultWebSocketSession } from '../../src/session/default-session.ts';
import {
  PerMessageDeflate,
  permessageDeflate,
  type DeflateParams,
  type PerMessageDeflateOptions,
} from '../../src/extensions/permessage-deflate.ts';
import { createWebSocketServer } from '../../src/upgrade/serve.ts';

const MiB = 1024 * 1024;

interface Running {
  port: number;
  server: Server;
  sockets: Socket[];
  /** Negotiated parameters of each session, in connection order. */
  params: DeflateParams[];
}

async function echoServer(options: PerMessageDeflateOptions): Promise<Running> {
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

/** A ws client that queues what it receives. */
async function wsClient(port: number, perMessageDeflate: WsDeflateOptions) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate, maxPayload: 64 * MiB });
  const inbox: Array<{ data: Buffer; isBinary: boolean }> = [];
  let wake: (() => void) | undefined;
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    inbox.push({ data, isBinary });
    wake?.();
  });
  const closed = new Promise<number>((resolve) => socket.once('close', (code: number) => resolve(code)));
  await once(socket, 'open');
  return {
    socket,
    closed,
    async next(): Promise<{ data: Buffer; isBinary: boolean }> {
      while (inbox.length === 0) {
        if (socket.readyState !== WebSocket.OPEN) throw new Error('closed while waiting for a message');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 100);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return inbox.shift() as { data: Buffer; isBinary: boolean };
    },
    send(data: Buffer | string, options: { binary?: boolean; fin?: boolean }): Promise<void> {
      return new Promise((resolve, reject) =>
        socket.send(data, { ...options, compress: true }, (error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

/** Compressible text of exactly `n` UTF-8 bytes. */
function text(n: number): string {
  const unit = '{"user":"ktor","text":"hé€llo"} '; // 35 bytes
  const s = unit.repeat(Math.floor(n / 35)) + 'x'.repeat(n % 35);
  assert.is(Buffer.byteLength(s), n);
  return s;
}

/** Incompressible bytes, deterministic. */
function noise(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const SIZES = [0, 1, 1023, 1024, 64 * 1024, MiB, 8 * MiB];

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
  test(`ws interop, ${label}: 0 B to 8 MiB, text and binary, whole and fragmented, both ways`, async () => {
    const running = await echoServer(serverOptions);
    const client = await wsClient(running.port, clientOptions);
    try {
      assert.match(client.socket.extensions, /^permessage-deflate/);
      assert.equal(running.params[0], expected);
      for (const size of SIZES) {
        const t = text(size);
        const b = noise(size, size + 1);
        await client.send(t, { binary: false });
        await client.send(b, { binary: true });
        const textEcho = await client.next();
        assert.is(textEcho.isBinary, false);
        assert.ok(textEcho.data.equals(Buffer.from(t)), `text ${size}`);
        const binaryEcho = await client.next();
        assert.is(binaryEcho.isBinary, true);
        assert.ok(binaryEcho.data.equals(b), `binary ${size}`);
      }
      // Fragmented by the client: ws compresses the message as a whole (RSV1 on its first frame only).
      for (const size of [3000, 200_000]) {
        const whole = Buffer.from(text(size));
        const cuts = [0, Math.floor(size / 3), Math.floor(size / 2), size];
        for (let i = 0; i + 1 < cuts.length; i++) {
          await client.send(whole.subarray(cuts[i], cuts[i + 1]), { binary: false, fin: i + 2 === cuts.length });
        }
        const echo = await client.next();
        assert.ok(echo.data.equals(whole), `fragmented text ${size}`);
      }
      // Compressible traffic is compressed on the wire both ways: 1 MiB of text costs far less.
      const socket = running.sockets[0] as Socket;
      const [readBefore, writtenBefore] = [socket.bytesRead, socket.bytesWritten];
      const big = text(MiB);
      await client.send(big, { binary: false });
      assert.is((await client.next()).data.length, MiB);
      const inbound = socket.bytesRead - readBefore;
      const outbound = socket.bytesWritten - writtenBefore;
      assert.ok(inbound < MiB / 4, `client to server: ${inbound} B on the wire`);
      assert.ok(outbound < MiB / 4, `server to client: ${outbound} B on the wire`);
      client.socket.close(1000);
      assert.is(await client.closed, 1000);
    } finally {
      client.socket.terminate();
      await stop(running);
    }
  });
}

test('a 1 GiB bomb from a raw client gets a 1009 close', async () => {
  const running = await echoServer({});
  const socket = connect({ port: running.port, host: '127.0.0.1' });
  try {
    await once(socket, 'connect');
    socket.write(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n',
    );
    const parser = new FrameParser({ role: 'client', rsvAllowed: Rsv.Rsv1 });
    const frames: Frame[] = [];
    let head = '';
    let headDone = false;
    const closeFrame = new Promise<Frame>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('close', () => reject(new Error(`closed without a close frame; head ${JSON.stringify(head)}`)));
      socket.on('data', (chunk: Buffer) => {
        let rest = chunk;
        if (!headDone) {
          head += chunk.toString('latin1');
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          headDone = true;
          rest = Buffer.from(head.slice(end + 4), 'latin1');
          head = head.slice(0, end);
          // A 1 GiB run of zeros as 64 copies of a self-contained 16 MiB unit, about 1 MiB in all.
          const unit = zlib.deflateRawSync(Buffer.alloc(16 * MiB), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
          const bomb = Buffer.concat(Array.from({ length: 64 }, () => unit));
          const payload = bomb.subarray(0, bomb.length - 4);
          const f: Frame = { opcode: Opcode.Binary, fin: true, rsv1: true, rsv2: false, rsv3: false, payload };
          socket.write(serializeFrame(f, Buffer.from([9, 8, 7, 6])));
        }
        parser.push(rest);
        for (let f = parser.next(); f !== undefined; f = parser.next()) {
          frames.push(f);
          if (f.opcode === Opcode.Close) resolve(f);
        }
      });
    });
    const close = await closeFrame;
    assert.match(head, /^HTTP\/1\.1 101/);
    assert.match(head, /\r\nSec-WebSocket-Extensions: permessage-deflate\b/i);
    assert.is(decodeClosePayload(close.payload).code, 1009);
    assert.is(frames.length, 1, 'nothing was echoed');
  } finally {
    socket.destroy();
    await stop(running);
  }
});

test.run();
