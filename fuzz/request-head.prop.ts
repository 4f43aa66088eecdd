/**
 * Properties of the request-head parser: any bytes end in a head, a
 * `HandshakeError` or an `IncompleteRequestHeadError` (nothing else is ever
 * thrown), and a valid head gives the same result and the same leftover
 * bytes under any chunking. FUZZ_RUNS sets the number of runs per property
 * (default 100 000).
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteChannel } from '../src/channels/byte-channel.ts';
import { HandshakeError, IncompleteRequestHeadError } from '../src/upgrade/errors.ts';
import { readRequestHead } from '../src/upgrade/request-head.ts';

const runs = Number(process.env['FUZZ_RUNS'] ?? 100_000);
const parameters = { numRuns: runs };

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const tokenArb = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 10 });
const valueArb = fc
  .string({ unit: fc.constantFrom(...'abc XYZ\t,;="/\u00e9\u00ff'), maxLength: 20 })
  .map((value) => value.replace(/^[ \t]+/, '').replace(/[ \t]+$/, ''));
const headerArb = fc
  .tuple(tokenArb, valueArb)
  .filter(([name]) => name.toLowerCase() !== 'host');
const headArb = fc
  .record({
    method: tokenArb,
    target: fc.string({ unit: fc.constantFrom(...'/az09?=&%.-~'), minLength: 1, maxLength: 20 }),
    headers: fc.array(headerArb, { maxLength: 12 }),
  })
  .map(({ method, target, headers }) => ({
    headers,
    bytes: Buffer.from(
      `${method} ${target} HTTP/1.1\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`,
      'latin1',
    ),
  }));

/** `bytes` cut at the given fractions into chunks, written to a closed channel. */
function channelWith(bytes: Buffer, cuts: readonly number[]): ByteChannel {
  const channel = new ByteChannel(1 << 20);
  const points = [...new Set(cuts.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
  let from = 0;
  for (const point of [...points, bytes.length]) {
    if (point > from) channel.tryWriteFully(bytes.subarray(from, point));
    from = Math.max(from, point);
  }
  channel.close();
  return channel;
}

function rest(channel: ByteChannel): Buffer {
  const parts: Buffer[] = [];
  for (let chunk = channel.tryReadChunk(); chunk !== undefined; chunk = channel.tryReadChunk()) parts.push(chunk);
  return Buffer.concat(parts);
}

const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });
/** Tight limits, so random input also reaches the 431 paths. */
const options = { timeoutMs: Infinity, maxHeadSize: 256, maxHeaders: 6 };
/** Limits every generated valid head fits in (at most 12 headers, well under 2 KiB). */
const validOptions = { timeoutMs: Infinity, maxHeadSize: 2048, maxHeaders: 12 };

test('any bytes: a head, a HandshakeError or an IncompleteRequestHeadError, never anything else', async () => {
  const bytesArb = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    fc
      .string({ unit: fc.constantFrom(...'GET / HTTP/1.1\r\n:Host: a\t\u0000\u00e9'), maxLength: 300 })
      .map((s) => Buffer.from(s, 'latin1')),
    headArb.map(({ bytes }) => bytes),
  );
  await fc.assert(
    fc.asyncProperty(bytesArb, cutsArb, async (bytes, cuts) => {
      try {
        const head = await readRequestHead(channelWith(bytes, cuts), options);
        assert.is(Object.getPrototypeOf(head.headers), null);
        assert.is(head.rawHeaders.length % 2, 0);
      } catch (error) {
        assert.ok(
          error instanceof HandshakeError || error instanceof IncompleteRequestHeadError,
          String(error),
        );
        if (error instanceof HandshakeError) assert.ok([400, 431].includes(error.status));
      }
    }),
    parameters,
  );
});

test('a valid head parses the same under any chunking and leaves the trailing bytes', async () => {
  await fc.assert(
    fc.asyncProperty(
      headArb,
      fc.uint8Array({ maxLength: 40 }),
      cutsArb,
      async ({ headers, bytes }, trailing, cuts) => {
        const whole = Buffer.concat([bytes, trailing]);
        const reference = await readRequestHead(channelWith(bytes, []), validOptions);
        assert.equal(reference.rawHeaders, headers.flat());
        const channel = channelWith(whole, cuts);
        const head = await readRequestHead(channel, validOptions);
        assert.equal(head.rawHeaders, reference.rawHeaders);
        assert.equal({ ...head.headers }, { ...reference.headers });
        assert.is(head.url, reference.url);
        assert.equal(rest(channel), Buffer.from(trailing));
      },
    ),
    parameters,
  );
});

test.run();
