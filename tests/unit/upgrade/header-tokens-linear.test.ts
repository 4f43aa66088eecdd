/**
 * The header parsers run in linear time on pathological values (ws advisory
 * GHSA-6fc8-4gx4-v693, websocket-extensions GHSA-g78m-2chm-r7qv). Values far
 * larger than any request head (1 MiB, or 256 KiB of tiny elements) are
 * parsed once each: a linear parser needs milliseconds, a quadratic one
 * (about 10^11 to 10^12 steps at these sizes) minutes. The bound of 2 s sits
 * between the two with a margin of a hundred times either way, so a noisy
 * machine cannot fail it and a super-linear parser cannot pass it. (How
 * fast the parsers are is a benchmark's business, not this test's.)
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

/** Milliseconds one parse of `value` takes (after a warm-up parse of a small value). */
function time(parse: (value: string) => unknown, value: string): number {
  parse(value.slice(0, 1024));
  const start = performance.now();
  parse(value);
  return performance.now() - start;
}

const BOUND_MS = 2_000;

/** Values that produce little output but make a backtracking or rescanning parser super-linear: 1 MiB each. */
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
 * Valid values of very many elements: 256 KiB each (allocating the result,
 * tens of thousands of objects, dominates; real values are bounded by the
 * request head limit, 16 KiB by default, anyway).
 */
const manyElements: Array<[string, (value: string) => unknown, string, string, string]> = [
  ['protocol: many elements', parseSubprotocols, '', 'a,', 'a'],
  ['extensions: many parameters', parseExtensions, 'x', '; a=1', ''],
  ['extensions: many offers', parseExtensions, '', 'x;a,', 'x'],
];

function check(name: string, parse: (value: string) => unknown, [prefix, unit, suffix]: [string, string, string], size: number): void {
  test(`linear time: ${name}`, () => {
    const ms = time(parse, build(size, prefix, unit, suffix));
    assert.ok(ms < BOUND_MS, `one ${size / KIB} KiB parse took ${ms.toFixed(1)} ms`);
  });
}

for (const [name, parse, prefix, unit, suffix] of pathological) check(name, parse, [prefix, unit, suffix], 1024 * KIB);
for (const [name, parse, prefix, unit, suffix] of manyElements) check(name, parse, [prefix, unit, suffix], 256 * KIB);

test.run();
