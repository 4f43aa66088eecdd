/**
 * Robustness: arbitrary bytes under any options and chunking never make the
 * parser throw anything but ProtocolError, always end, and never hold more
 * than one header plus the frame limit.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameParser, ProtocolError } from '../src/frames/index.ts';
import { cutsArb, fuzzRuns, hostileBytesArb, parameters, withProgress } from '../tests/support/fuzz.ts';
import { splitAt } from '../tests/support/frames.ts';

const runs = fuzzRuns();
const MAX_HEADER = 14;

test('hostile bytes: only ProtocolError, bounded memory, always ends', () => {
  fc.assert(
    fc.property(
      fc.boolean().chain((masked) => fc.tuple(fc.constant(masked), hostileBytesArb(masked))),
      fc.record({
        rsvAllowed: fc.integer({ min: 0, max: 7 }),
        maxFrameSize: fc.integer({ min: 0, max: 200_000 }),
        maxMessageSize: fc.integer({ min: 0, max: 300_000 }),
        validateUtf8: fc.boolean(),
      }),
      cutsArb(),
      withProgress('robustness', runs, ([masked, bytes], limits, cuts) => {
        const parser = new FrameParser({ role: masked ? 'server' : 'client', ...limits });
        let frames = 0;
        try {
          for (const chunk of splitAt(bytes, cuts(bytes.length))) {
            parser.push(chunk);
            for (let f = parser.next(); f !== undefined; f = parser.next()) {
              frames++;
              assert.ok(f.payload.length <= limits.maxFrameSize);
              assert.ok(frames <= bytes.length / 2, 'every frame takes at least 2 bytes');
            }
            assert.ok(parser.bufferedBytes <= MAX_HEADER + limits.maxFrameSize, `holds ${parser.bufferedBytes}`);
          }
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
          assert.ok([1002, 1007, 1009].includes(error.closeCode), String(error.closeCode));
          assert.throws(() => parser.next(), (again: unknown) => again === error);
        }
      }),
    ),
    parameters(runs),
  );
});

test.run();
