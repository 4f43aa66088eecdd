/**
 * Chunking invariance: the same bytes, valid or not, split two different
 * ways give identical frames and the same error at the same frame.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProtocolError, Rsv } from '../src/frames/index.ts';
import { comparable, cutsArb, fuzzRuns, hostileBytesArb, parameters, withProgress } from '../tests/support/fuzz.ts';
import { bytewise, drain, splitAt, type Drained } from '../tests/support/frames.ts';

const runs = fuzzRuns();

function outcome({ frames, error }: Drained): unknown {
  const failure = error instanceof ProtocolError ? [error.closeCode, error.message] : error;
  return [comparable(frames), failure];
}

test('two chunkings of the same bytes agree on frames and error', () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.boolean().chain((masked) => fc.tuple(fc.constant(masked), hostileBytesArb(masked))),
      fc.integer({ min: 0, max: 7 }),
      fc.integer({ min: 0, max: 200_000 }),
      cutsArb(),
      cutsArb(),
      withProgress('chunking invariance', runs, (validateUtf8, [masked, bytes], rsvAllowed, maxFrameSize, cutsA, cutsB) => {
        const options = { role: masked ? 'server' : 'client', rsvAllowed, maxFrameSize, validateUtf8 } as const;
        const a = outcome(drain(options, splitAt(bytes, cutsA(bytes.length))));
        const b = outcome(drain(options, splitAt(bytes, cutsB(bytes.length))));
        assert.equal(a, b);
        assert.equal(outcome(drain(options, [bytes])), a);
        if (bytes.length <= 300) assert.equal(outcome(drain(options, bytewise(bytes))), a);
      }),
    ),
    parameters(runs),
  );
});

test('a fixed example: an error mid-stream is found at the same frame byte by byte', () => {
  const bytes = Buffer.from('8105486578796f0103486568' + '02', 'hex');
  const options = { role: 'client', rsvAllowed: Rsv.Rsv1 } as const;
  assert.equal(outcome(drain(options, bytewise(bytes))), outcome(drain(options, [bytes])));
});

test.run();
