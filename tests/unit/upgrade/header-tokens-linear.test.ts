/**
 * The header parsers run in linear time on pathological values (ws advisory
 * GHSA-6fc8-4gx4-v693, websocket-extensions GHSA-g78m-2chm-r7qv): parsing a
 * 640 KiB value costs about 10x a 64 KiB one, far from the 100x of a
 * quadratic parser. The bound is generous (30x) to survive a noisy machine.
 */
import { performance } from 'node:perf_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseExtensions, parseSubprotocols, parseTokenList } from '../../../src/upgrade/header-tokens.ts';

const KIB = 1024;

/** A value of exactly `size` characters: `prefix`, then `unit` repeated, then `suffix`. */
function build(size: number, prefix: string, unit: string, suffix: string): string {
  const body = unit.repeat(Math.ceil((size - prefix.length - suffix.length) / unit.length));
  return (prefix + body).slice(0, size - suffix.length) + suffix;
}

/** The best of several timings of `rounds` calls, in milliseconds. */
function time(parse: (value: string) => unknown, value: string, rounds: number): number {
  let best = Infinity;
  for (let trial = 0; trial < 7; trial++) {
    const start = performance.now();
    for (let i = 0; i < rounds; i++) parse(value);
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

/**
 * Values that produce little output but make a backtracking or rescanning
 * parser super-linear: compared at 64 KiB and 640 KiB.
 */
const pathological: Array<[string, (value: string) => unknown, string, string, string]> = [
  ['protocol: token, spaces, token (the ws PoC)', parseSubprotocols, 'b', ' ', 'x'],
  ['protocol: many empty elements', parseSubprotocols, 'a', ' ,', 'b'],
  ['protocol: whitespace runs between tokens, then a bad char', parseSubprotocols, 'a', ' \t ,\t ', '@'],
  ['token list: spaces then an invalid char', parseTokenList, 'a', ' ', ';'],
  ['token list: one huge token', parseTokenList, '', 'x', ' y'],
  ['extensions: unterminated quoted string of escapes', parseExtensions, 'a; b="', '\\c', ''],
  ['extensions: whitespace run then an invalid char', parseExtensions, 'x;a=1', ' ', '@'],
  ['extensions: whitespace around separators', parseExtensions, 'x', ' ; a \t= \t1 \t', ',y z'],
  ['extensions: many semicolons', parseExtensions, 'x', ';', ''],
];

/**
 * Valid values of very many elements: the parse is linear, but above about
 * 100 KiB the cost of allocating the result (hundreds of thousands of
 * objects leaving V8's young generation) dominates and is not linear in
 * wall time, so these are compared at 6 KiB and 60 KiB. Real values are
 * bounded by the request head limit (16 KiB by default) anyway.
 */
const manyElements: Array<[string, (value: string) => unknown, string, string, string]> = [
  ['protocol: many elements', parseSubprotocols, '', 'a,', 'a'],
  ['extensions: many parameters', parseExtensions, 'x', '; a=1', ''],
  ['extensions: many offers', parseExtensions, '', 'x;a,', 'x'],
];

function check(
  name: string,
  parse: (value: string) => unknown,
  [prefix, unit, suffix]: [string, string, string],
  smallSize: number,
): void {
  test(`linear time: ${name}`, () => {
    const small = build(smallSize, prefix, unit, suffix);
    const large = build(smallSize * 10, prefix, unit, suffix);
    parse(small); // warm up
    parse(large);
    const smallMs = time(parse, small, 20);
    const largeMs = time(parse, large, 20);
    const ratio = largeMs / Math.max(smallMs, 0.05);
    const label = `${large.length / KIB} KiB took ${largeMs.toFixed(2)} ms, ${small.length / KIB} KiB ${smallMs.toFixed(2)} ms`;
    assert.ok(ratio < 30, `${label} (x${ratio.toFixed(1)})`);
    assert.ok(largeMs / 20 < 200, `one ${large.length / KIB} KiB parse took ${(largeMs / 20).toFixed(2)} ms`);
  });
}

for (const [name, parse, prefix, unit, suffix] of pathological) check(name, parse, [prefix, unit, suffix], 64 * KIB);
for (const [name, parse, prefix, unit, suffix] of manyElements) check(name, parse, [prefix, unit, suffix], 6 * KIB);

test('a 64 KiB value of tiny extension offers parses in a few milliseconds', () => {
  const value = build(64 * KIB, '', 'x;a,', 'x');
  parseExtensions(value);
  const ms = time(parseExtensions, value, 1);
  assert.ok(ms < 50, `took ${ms.toFixed(2)} ms`);
});

test.run();
