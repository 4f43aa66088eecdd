/**
 * The frame parser driven through real HTTP/2 streams: each run opens an
 * extended CONNECT stream on one shared loopback connection (Node's http2
 * client and server, SETTINGS_ENABLE_CONNECT_PROTOCOL on) and sends random
 * frame bytes split at random points, one `write` per piece, both ways:
 * masked bytes from the client (valid sequences, or mutated, truncated and
 * random ones), unmasked bytes from the server. Each side parses the pieces
 * in the chunking HTTP/2 delivered them (DATA frames, flow-control windows,
 * coalescing) and must get exactly what one parser gets from the same bytes
 * in one piece: the same frames and the same error at the same frame, and
 * the bytes themselves arrive intact. Each run is a round trip with up to
 * ~100 KB each way, so it makes a tenth of FUZZ_RUNS runs (default 10 000).
 */
import { once } from 'node:events';
import { connect as http2Connect, createServer, type ClientHttp2Session, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProtocolError } from '../src/frames/index.ts';
import { http2ServerOptions } from '../src/upgrade/h2-serve.ts';
import { comparable, cutsArb, fuzzRuns, hostileBytesArb, parameters } from '../tests/support/fuzz.ts';
import { drain, splitAt, type Drained } from '../tests/support/frames.ts';

const runs = fuzzRuns();
const RSV_ALLOWED = 0b100; // RSV1, as with permessage-deflate

const cases = new Map<string, { down: readonly Buffer[]; deliver: (chunks: Buffer[]) => void }>();
let server: Http2Server;
let client: ClientHttp2Session;
let nextId = 0;

test.before(async () => {
  server = createServer(http2ServerOptions({ maxConcurrentStreams: 1000 }));
  server.on('stream', (stream, headers) => {
    const entry = cases.get(String(headers[':path']).slice(1));
    if (entry === undefined) {
      stream.close();
      return;
    }
    stream.respond({ ':status': 200 });
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => entry.deliver(chunks));
    for (const piece of entry.down) stream.write(piece);
    stream.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  client = http2Connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  await once(client, 'remoteSettings');
});

test.after(() => {
  client.close();
  server.close();
});

/** Sends `up` on a new stream while the server sends `down`; resolves with what each side received, in its pieces. */
async function exchange(up: readonly Buffer[], down: readonly Buffer[]): Promise<{ atServer: Buffer[]; atClient: Buffer[] }> {
  const id = String(nextId++);
  let deliver!: (chunks: Buffer[]) => void;
  const atServer = new Promise<Buffer[]>((resolve) => (deliver = resolve));
  cases.set(id, { down, deliver });
  const stream = client.request(
    { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': `/${id}`, ':authority': '127.0.0.1', 'sec-websocket-version': '13' },
    { endStream: false },
  );
  const atClient: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => atClient.push(chunk));
  const ended = once(stream, 'end');
  for (const piece of up) stream.write(piece);
  stream.end();
  await ended;
  const result = { atServer: await atServer, atClient };
  cases.delete(id);
  return result;
}

function outcome({ frames, error }: Drained): unknown {
  return [comparable(frames), error instanceof ProtocolError ? [error.closeCode, error.message] : error];
}

test('frames split at random points and carried by an HTTP/2 stream parse as the same bytes in one piece, both ways', async () => {
  await fc.assert(
    fc.asyncProperty(
      hostileBytesArb(true),
      cutsArb(),
      hostileBytesArb(false),
      cutsArb(),
      async (upBytes, upCuts, downBytes, downCuts) => {
        const up = splitAt(upBytes, upCuts(upBytes.length)).filter((piece) => piece.length > 0);
        const down = splitAt(downBytes, downCuts(downBytes.length)).filter((piece) => piece.length > 0);
        const { atServer, atClient } = await exchange(up, down);
        assert.ok(Buffer.concat(atServer).equals(upBytes), 'client to server bytes intact');
        assert.ok(Buffer.concat(atClient).equals(downBytes), 'server to client bytes intact');
        const server = { role: 'server', rsvAllowed: RSV_ALLOWED, maxFrameSize: 1 << 20 } as const;
        const client = { role: 'client', rsvAllowed: RSV_ALLOWED, maxFrameSize: 1 << 20 } as const;
        assert.equal(outcome(drain(server, atServer)), outcome(drain(server, [upBytes])));
        assert.equal(outcome(drain(client, atClient)), outcome(drain(client, [downBytes])));
      },
    ),
    parameters(Math.max(1, Math.floor(runs / 10))),
  );
});

test.run();
