/**
 * UTF-8: the incremental validator agrees with
 * `new TextDecoder('utf-8', { fatal: true })` on random byte strings under
 * every split, and reports failure at the first invalid byte: the longest
 * prefix a streaming fatal decoder accepts.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Utf8Validator, isValidUtf8 } from '../src/frames/index.ts';
import { cutsArb, fuzzRuns, parameters, withProgress } from '../tests/support/fuzz.ts';

const runs = fuzzRuns();

/** Bytes near UTF-8's edges: leads, continuations, the bounds of E0/ED/F0/F4, invalid bytes. */
const edgeByte = fc.constantFrom(0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff);
const piece = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }).map((s) => Buffer.from(s)),
  fc.array(edgeByte, { maxLength: 6 }).map((a) => Buffer.from(a)),
  fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
);
const bytesArb = fc.array(piece, { maxLength: 12 }).map((pieces) => Buffer.concat(pieces));

const fatal = new TextDecoder('utf-8', { fatal: true });

/** True if a streaming fatal decoder accepts `bytes` as a prefix. */
function acceptsPrefix(bytes: Uint8Array): boolean {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    decoder.decode(bytes, { stream: true });
    return true;
  } catch {
    return false;
  }
}

function validWhole(bytes: Uint8Array): boolean {
  try {
    fatal.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Runs the validator over `bytes` split at `cuts`; the first invalid index, or -1, and whether it ended on a boundary. */
function validate(bytes: Buffer, cuts: readonly number[]): [number, boolean] {
  const validator = new Utf8Validator();
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    const found = validator.push(bytes, from, cut);
    if (found !== -1) return [found, false];
    from = cut;
  }
  return [-1, validator.finish()];
}

test('agrees with the fatal TextDecoder under random splits, at the first invalid byte', () => {
  fc.assert(
    fc.property(
      bytesArb,
      cutsArb(),
      withProgress('utf8', runs, (bytes, cuts) => {
        const [invalidAt, complete] = validate(bytes, cuts(bytes.length));
        const valid = invalidAt === -1 && complete;
        assert.is(valid, validWhole(bytes));
        assert.is(isValidUtf8(bytes), valid);
        if (invalidAt !== -1) {
          assert.ok(acceptsPrefix(bytes.subarray(0, invalidAt)), `prefix before ${invalidAt} is valid`);
          assert.not.ok(acceptsPrefix(bytes.subarray(0, invalidAt + 1)), `byte ${invalidAt} is invalid`);
        } else {
          assert.ok(acceptsPrefix(bytes));
        }
        // Every split into two pieces, and one byte at a time, give the same answer.
        const expected = [invalidAt, complete];
        if (bytes.length <= 64) {
          for (let cut = 0; cut <= bytes.length; cut++) assert.equal(validate(bytes, [cut]), expected);
          assert.equal(validate(bytes, Array.from({ length: Math.max(0, bytes.length - 1) }, (_, i) => i + 1)), expected);
        }
      }),
    ),
    parameters(runs),
  );
});

test.run();
