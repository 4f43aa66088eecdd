/**
 * Round trip: any sequence of valid frames (fragmented messages with control
 * frames between fragments, payloads up to a few hundred KiB, masked or
 * not), serialized and then parsed under any chunking, gives the same frames.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameSerializer, Rsv } from '../src/frames/index.ts';
import { comparable, cutsArb, frameSequenceArb, fuzzRuns, parameters, withProgress } from '../tests/frames/property.ts';
import { drain, splitAt } from '../tests/frames/support.ts';

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

test.run();
