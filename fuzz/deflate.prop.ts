/**
 * permessage-deflate round trip: for any client and server settings, the
 * negotiation succeeds (our client accepts every response our server
 * gives), and for any sequence of text and binary messages in both
 * directions, compressing, fragmenting into frames (RSV1 on the first
 * only), serializing (masked from the client), splitting the wire bytes at
 * random points, parsing, joining the fragments and decompressing gives
 * every message back, in order.
 *
 * Runs: FUZZ_RUNS (default 100000; the test runner sets it small).
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fragmentMessage } from '../src/frames/fragment.ts';
import { Opcode, type Frame } from '../src/frames/frame.ts';
import { FrameParser, Rsv } from '../src/frames/parser.ts';
import { serializeFrame } from '../src/frames/serializer.ts';
import { splitAt } from '../tests/support/frames.ts';
import {
  permessageDeflate,
  type PerMessageDeflate,
  type PerMessageDeflateOptions,
} from '../src/extensions/permessage-deflate.ts';

const runs = Number(process.env['FUZZ_RUNS'] ?? 100_000);
const MAX_MESSAGE = 1024 * 1024;

const optionsArb: fc.Arbitrary<PerMessageDeflateOptions> = fc.record(
  {
    serverNoContextTakeover: fc.boolean(),
    clientNoContextTakeover: fc.boolean(),
    serverMaxWindowBits: fc.integer({ min: 8, max: 15 }),
    clientMaxWindowBits: fc.integer({ min: 8, max: 15 }),
    level: fc.integer({ min: -1, max: 9 }),
    memLevel: fc.integer({ min: 1, max: 9 }),
    threshold: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2048 })),
  },
  { requiredKeys: [] },
);

/** Payloads that compress (few distinct bytes, repeats) and ones that do not. */
const payloadArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 3000 }),
  fc
    .tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 400 }))
    .map(([unit, times]) => Buffer.concat(Array.from({ length: times }, () => unit))),
  fc.array(fc.constantFrom(...Buffer.from('{"user":"ktor","text":"hi é€"}, ')), { maxLength: 5000 }).map(
    (bytes) => Uint8Array.from(bytes),
  ),
);

const messageArb = fc.record({
  fromClient: fc.boolean(),
  binary: fc.boolean(),
  payload: payloadArb,
  fragmentSize: fc.integer({ min: 1, max: 4096 }),
  cuts: fc.array(fc.nat(), { maxLength: 8 }),
});

/** Splits `bytes` at the given positions (taken modulo its length). */
function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  return splitAt(bytes, [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b));
}

/** Frames parsed from the chunks; every frame must be complete by the end. */
function parse(parser: FrameParser, chunks: readonly Buffer[]): Frame[] {
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    // The parser may unmask in place: give it its own copy.
    parser.push(Buffer.from(chunk));
    for (let f = parser.next(); f !== undefined; f = parser.next()) frames.push(f);
  }
  return frames;
}

test('compress, fragment, chunk, parse, reassemble, decompress is the identity', async () => {
  let negotiated = 0;
  await fc.assert(
    fc.asyncProperty(optionsArb, optionsArb, fc.array(messageArb, { maxLength: 8 }), async (server, client, messages) => {
      const accepted = permessageDeflate(server).negotiate([permessageDeflate(client).offer()]);
      // Our client always offers client_max_window_bits, so a server window limit never declines it.
      assert.ok(accepted, 'declined');
      negotiated++;
      const ends: Record<'server' | 'client', PerMessageDeflate> = {
        server: accepted.extension as PerMessageDeflate,
        client: permessageDeflate(client).accept(accepted.response),
      };
      assert.equal(ends.client.params, ends.server.params);
      // Payloads are arbitrary bytes, text too: UTF-8 has its own properties (fuzz/utf8.prop.ts).
      const parserOptions = { rsvAllowed: Rsv.Rsv1, maxFrameSize: MAX_MESSAGE, validateUtf8: false } as const;
      const parsers = {
        server: new FrameParser({ role: 'server', ...parserOptions }),
        client: new FrameParser({ role: 'client', ...parserOptions }),
      };
      try {
        for (const { fromClient, binary, payload, fragmentSize, cuts } of messages) {
          const sender = fromClient ? ends.client : ends.server;
          const receiver = fromClient ? ends.server : ends.client;
          const opcode = binary ? Opcode.Binary : Opcode.Text;
          const original = Buffer.from(payload);
          const encoded = await sender.encode(opcode, Buffer.from(original));
          const frames = fragmentMessage(opcode, encoded.payload, fragmentSize, encoded.rsv === Rsv.Rsv1);
          const mask = fromClient ? Buffer.from([1, 2, 3, 4]) : undefined;
          const wire = Buffer.concat(frames.map((f) => serializeFrame(f, mask)));
          const received = parse(fromClient ? parsers.server : parsers.client, split(wire, cuts));
          assert.is(received.length, frames.length);
          received.forEach((f, i) => {
            assert.is(f.rsv1, i === 0 && encoded.rsv === Rsv.Rsv1, 'RSV1 only on the first frame of a compressed message');
            assert.is(f.fin, i === received.length - 1);
          });
          const joined = Buffer.concat(received.map((f) => f.payload));
          const rsv = received[0]?.rsv1 === true ? Rsv.Rsv1 : 0;
          const decoded = await receiver.decode(joined, rsv, MAX_MESSAGE);
          assert.ok(decoded.equals(original), `message of ${original.length} B from the ${sender.role}`);
        }
      } finally {
        ends.server.dispose();
        ends.client.dispose();
      }
    }),
    { numRuns: runs },
  );
  assert.is(negotiated, runs);
});

test.run();
