/**
 * Shared pieces of the codec's fast-check properties (fuzz/frames*,
 * fuzz/parser*, fuzz/utf8*): the run count from FUZZ_RUNS (default 100,000),
 * a progress line for long runs, and generators of valid frame sequences
 * and chunkings.
 */
import fc from 'fast-check';
import { FrameSerializer, Opcode, encodeClosePayload, fragmentMessage, frame, type Frame } from '../../src/frames/index.ts';

/** Runs per property: FUZZ_RUNS, or 100,000 when unset. */
export function fuzzRuns(): number {
  const value = Number(process.env.FUZZ_RUNS ?? 100_000);
  return Number.isInteger(value) && value > 0 ? value : 100_000;
}

/**
 * Wraps a predicate so that runs of 10,000 or more print a progress line
 * every tenth of the way (fast-check itself is silent until the end).
 */
export function withProgress<A extends unknown[]>(name: string, runs: number, predicate: (...args: A) => void): (...args: A) => void {
  if (runs < 10_000) return predicate;
  let done = 0;
  const step = Math.ceil(runs / 10);
  const started = Date.now();
  return (...args: A) => {
    predicate(...args);
    if (++done % step === 0) {
      console.log(`  ${name}: ${done}/${runs} runs (${((Date.now() - started) / 1000).toFixed(0)}s)`);
    }
  };
}

/** Longest counterexample text a failure report shows (some hold 100,000s of frames). */
const REPORT_CHARS = 4000;

/**
 * fast-check parameters for a property with `runs` runs. A failure is
 * reported with its seed, path and error, and the counterexample cut short.
 */
export function parameters<T>(runs: number): fc.Parameters<T> {
  return {
    numRuns: runs,
    endOnFailure: true,
    reporter(details) {
      if (!details.failed) return;
      const example = fc.stringify(details.counterexample);
      const error = details.errorInstance instanceof Error ? details.errorInstance.stack ?? details.errorInstance.message : String(details.errorInstance);
      throw new Error(
        `property failed after ${details.numRuns} runs; replay with { seed: ${details.seed}, path: ${JSON.stringify(details.counterexamplePath)} }\n` +
          `${error}\ncounterexample (${example.length} chars): ${example.slice(0, REPORT_CHARS)}${example.length > REPORT_CHARS ? ' ...' : ''}`,
      );
    },
  };
}

/** Deterministic filler bytes, so large payloads cost no generation time. */
function filler(length: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x;
  }
  return bytes;
}

/** Payload bytes: mostly small and generated, sometimes up to `maxLarge` bytes of filler. */
export function payloadArb(maxLarge: number): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 126, max: 70_000 }), fc.integer()).map(([n, s]) => filler(n, s)) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: maxLarge }), fc.integer()).map(([n, s]) => filler(n, s)) },
  );
}

/** Valid UTF-8 text, any code points. */
const textArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 5000 })).map(([s, n]) => Buffer.from(s.repeat(n))) },
);

const controlArb: fc.Arbitrary<Frame> = fc.oneof(
  fc
    .tuple(fc.constantFrom(Opcode.Ping, Opcode.Pong), fc.uint8Array({ maxLength: 125 }))
    .map(([opcode, bytes]) => frame(opcode, Buffer.from(bytes))),
  fc
    .option(fc.tuple(fc.constantFrom(1000, 1001, 1003, 1011, 3000, 4999), fc.string({ unit: 'binary', maxLength: 30 })))
    .map((reason) => frame(Opcode.Close, reason === null ? Buffer.alloc(0) : encodeClosePayload({ code: reason[0], reason: reason[1] }))),
);

/**
 * A valid frame sequence: messages (text or binary, maybe compressed =
 * RSV1 when `rsv1Allowed`, fragmented at random sizes) with control frames
 * between and inside them.
 */
export function frameSequenceArb(maxLarge: number, rsv1Allowed: boolean): fc.Arbitrary<Frame[]> {
  const messageArb = fc
    .record({
      text: fc.boolean(),
      compressed: rsv1Allowed ? fc.boolean() : fc.constant(false),
      binary: payloadArb(maxLarge),
      textPayload: textArb,
      fragmentSize: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 400_000 })),
      controls: fc.array(fc.tuple(fc.nat(), controlArb), { maxLength: 3 }),
    })
    .map(({ text, compressed, binary, textPayload, fragmentSize, controls }) => {
      const payload = text ? textPayload : binary;
      const fragments = fragmentMessage(text ? Opcode.Text : Opcode.Binary, payload, fragmentSize, compressed);
      const frames: Frame[] = [...fragments];
      for (const [where, control] of controls) {
        // Between fragments only (index 1..length-1), or before the message.
        frames.splice(where % fragments.length, 0, control);
      }
      return frames;
    });
  return fc
    .array(fc.oneof({ weight: 4, arbitrary: messageArb }, { weight: 1, arbitrary: controlArb.map((f) => [f]) }), { maxLength: 6 })
    .map((groups) => groups.flat());
}

/** Cut points for a byte string of `length`: none, a few random ones, or many. */
export function cutsArb(): fc.Arbitrary<(length: number) => number[]> {
  return fc
    .oneof(
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 20, maxLength: 200 }),
    )
    .map((fractions) => (length: number) =>
      [...new Set(fractions.map((f) => Math.floor(f * (length + 1))))].filter((c) => c > 0 && c < length).sort((a, b) => a - b),
    );
}

/** Frames as plain comparable records. */
export function comparable(frames: readonly Frame[]): unknown[] {
  return frames.map((f) => [f.opcode, f.fin, f.rsv1, f.rsv2, f.rsv3, f.payload.toString('hex')]);
}

/** The wire bytes of `frames`, as a client (masked) or a server would send them. */
export function wireBytes(frames: readonly Frame[], masked: boolean): Buffer {
  const serializer = new FrameSerializer({ role: masked ? 'client' : 'server' });
  for (const f of frames) serializer.write(f);
  return Buffer.concat(serializer.take());
}

/**
 * Bytes a hostile or broken peer might send, `masked` as a client's would
 * be: valid streams with a few bytes changed, cut short or with junk
 * appended, and plain random bytes.
 */
export function hostileBytesArb(masked: boolean): fc.Arbitrary<Buffer> {
  const valid = frameSequenceArb(100_000, true).map((frames) => wireBytes(frames, masked));
  const mutated = fc
    .tuple(valid, fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
    .map(([bytes, edits]) => {
      for (const [where, value] of edits) {
        if (bytes.length > 0) bytes[Math.floor(where * bytes.length)] = value;
      }
      return bytes;
    });
  const truncated = fc
    .tuple(valid, fc.double({ min: 0, max: 1, noNaN: true }), fc.uint8Array({ maxLength: 20 }))
    .map(([bytes, keep, junk]) => Buffer.concat([bytes.subarray(0, Math.floor(keep * bytes.length)), junk]));
  const random = fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a));
  return fc.oneof(mutated, truncated, random, valid);
}
