/**
 * Round trip: any sequence of valid frames (fragmented messages with control
 * frames between fragments, payloads up to a few hundred KiB, masked or
 * not), serialized and then parsed under any chunking, gives the same frames.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameSerializer, Opcode, Rsv, frame } from '../src/frames/index.ts';
import { GATHER_EXACT_MAX } from '../src/frames/parser.ts';
import { comparable, cutsArb, frameSequenceArb, fuzzRuns, parameters, withProgress } from '../tests/support/fuzz.ts';
import { drain, splitAt } from '../tests/support/frames.ts';

const runs = fuzzRuns();

test('serialize then parse under any chunking gives the same frames', () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.boolean(),
      fc.integer({ min: 0, max: 4096 }),
      fc.boolean().chain((rsv1) => fc.tuple(fc.constant(rsv1), frameSequenceArb(400_000, rsv1))),
      cutsArb(),
      withProgress('round trip', runs, (clientToServer, twoBatches, coalesceLimit, [rsv1, frames], cuts) => {
        const serializer = new FrameSerializer({ role: clientToServer ? 'client' : 'server', coalesceLimit });
        let batches: Buffer[] = [];
        frames.forEach((f, i) => {
          serializer.write(f);
          if (twoBatches && i === frames.length >> 1) batches = serializer.take();
        });
        const bytes = Buffer.concat(batches.concat(serializer.take()));
        const { frames: parsed, error } = drain(
          { role: clientToServer ? 'server' : 'client', maxFrameSize: 1 << 20, rsvAllowed: rsv1 ? Rsv.Rsv1 : 0 },
          splitAt(bytes, cuts(bytes.length)),
        );
        assert.is(error, undefined, String(error));
        assert.equal(comparable(parsed), comparable(frames));
      }),
    ),
    parameters(runs),
  );
});

test('frames over GATHER_EXACT_MAX (gathered in a growing buffer) round-trip under any chunking', () => {
  // Few runs: each moves a few MiB. The property above stays below the threshold.
  const bigRuns = Math.max(5, Math.min(50, Math.floor(runs / 2000)));
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.integer({ min: GATHER_EXACT_MAX + 1, max: 3 * GATHER_EXACT_MAX }),
      fc.integer(),
      cutsArb(),
      (clientToServer, length, seed, cuts) => {
        const payload = Buffer.allocUnsafe(length);
        let x = seed | 1;
        for (let i = 0; i < length; i += 4) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          payload.writeInt32LE(x, Math.min(i, length - 4));
        }
        const frames = [frame(Opcode.Binary, payload, false), frame(Opcode.Ping, Buffer.from('p')), frame(Opcode.Continuation, payload.subarray(7))];
        const serializer = new FrameSerializer({ role: clientToServer ? 'client' : 'server' });
        for (const f of frames) serializer.write(f);
        const bytes = Buffer.concat(serializer.take());
        const { frames: parsed, error } = drain(
          { role: clientToServer ? 'server' : 'client', maxFrameSize: 3 * GATHER_EXACT_MAX, maxMessageSize: 6 * GATHER_EXACT_MAX },
          splitAt(bytes, cuts(bytes.length)),
        );
        assert.is(error, undefined, String(error));
        assert.is(parsed.length, 3);
        assert.ok(parsed[0]!.payload.equals(payload) && parsed[2]!.payload.equals(payload.subarray(7)), 'byte-exact');
        assert.equal(comparable([parsed[1]!]), comparable([frames[1]!]));
      },
    ),
    parameters(bigRuns),
  );
});

test.run();
