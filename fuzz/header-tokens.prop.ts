/**
 * Properties of the handshake header parsers: no input makes them throw,
 * whatever they return is well-formed, and formatting then parsing any valid
 * offer list (or re-rendering it with arbitrary whitespace, quoting and empty
 * elements) gives the same offers back. FUZZ_RUNS sets the number of runs
 * per property (default 100 000).
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  formatExtensions,
  isToken,
  parseExtensions,
  parseSubprotocols,
  parseTokenList,
  parseUpgradeProtocols,
} from '../src/upgrade/header-tokens.ts';
import type { ExtensionOffer } from '../src/extensions/extension.ts';

const runs = Number(process.env['FUZZ_RUNS'] ?? 100_000);
const parameters = { numRuns: runs };

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/** Characters that steer the parsers into every branch. */
const INTERESTING = [...'ab-9 \t,;="\\/:()é\r\n\u0000\u007f\u00ff\u2028'];

const tokenArb = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 12 });
const owsArb = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 3 });
/** Any string, either fully random or made of grammar characters. */
const inputArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: fc.constantFrom(...INTERESTING), maxLength: 200 }),
);

const offerArb: fc.Arbitrary<ExtensionOffer> = fc
  .tuple(tokenArb, fc.array(fc.tuple(tokenArb, fc.oneof(fc.constant(true as const), tokenArb)), { maxLength: 5 }))
  .map(([name, params]) => ({ name, params }));
const offersArb = fc.array(offerArb, { minLength: 1, maxLength: 6 });

function checkList(list: string[] | null): void {
  if (list !== null) for (const element of list) assert.ok(element.length > 0);
}

test('no input makes a parser throw; results are well-formed', () => {
  fc.assert(
    fc.property(inputArb, (value) => {
      const tokens = parseTokenList(value);
      checkList(tokens);
      if (tokens !== null) for (const token of tokens) assert.ok(isToken(token));
      checkList(parseUpgradeProtocols(value));
      const protocols = parseSubprotocols(value);
      if (protocols !== null) {
        assert.ok(protocols.length > 0);
        assert.is(new Set(protocols).size, protocols.length);
        for (const protocol of protocols) assert.ok(isToken(protocol));
      }
      const offers = parseExtensions(value);
      if (offers !== null) {
        assert.ok(offers.length > 0);
        for (const offer of offers) {
          assert.ok(isToken(offer.name));
          for (const [name, paramValue] of offer.params) {
            assert.ok(isToken(name));
            assert.ok(paramValue === true || isToken(paramValue));
          }
        }
        // Whatever parses formats to a canonical form that parses the same.
        assert.equal(parseExtensions(formatExtensions(offers)), offers);
      }
    }),
    parameters,
  );
});

test('parseExtensions(formatExtensions(offers)) deep-equals offers', () => {
  fc.assert(
    fc.property(offersArb, (offers) => {
      assert.equal(parseExtensions(formatExtensions(offers)), offers);
    }),
    parameters,
  );
});

/** Renders offers with random OWS, quoted (and escaped) values and empty list elements. */
const renderedArb = offersArb.chain((offers) => {
  const parts = offers.map((offer) =>
    fc
      .tuple(
        owsArb,
        fc.array(fc.tuple(owsArb, owsArb, owsArb, owsArb, fc.integer({ min: 0, max: 2 })), {
          minLength: offer.params.length,
          maxLength: offer.params.length,
        }),
        owsArb,
      )
      .map(([lead, spacing, trail]) => {
        let text = lead + offer.name;
        offer.params.forEach(([name, value], i) => {
          const [a, b, c, d, style] = spacing[i] ?? ['', '', '', '', 0];
          text += `${a};${b}${name}`;
          if (value !== true) {
            const rendered =
              style === 0 ? value : style === 1 ? `"${value}"` : `"${[...value].map((ch) => '\\' + ch).join('')}"`;
            text += `${c}=${d}${rendered}`;
          }
        });
        return text + trail;
      }),
  );
  return fc
    .tuple(fc.tuple(...parts), fc.array(fc.constantFrom(',', ' ,', ', '), { minLength: offers.length + 1, maxLength: offers.length + 1 }))
    .map(([rendered, separators]) => ({
      offers,
      value: rendered.reduce((text, part, i) => text + part + (separators[i + 1] ?? ','), separators[0] ?? ''),
    }));
});

test('any valid rendering (whitespace, quoting, escapes, empty elements) parses to the same offers', () => {
  fc.assert(
    fc.property(renderedArb, ({ offers, value }) => {
      assert.equal(parseExtensions(value), offers, value);
    }),
    parameters,
  );
});

test('token lists: any rendering with OWS and empty elements parses to the tokens', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(tokenArb, owsArb, owsArb, fc.constantFrom(',', ',,', ', ,')), { maxLength: 8 }),
      (items) => {
        const value = items.map(([token, before, after, comma]) => before + token + after + comma).join('');
        const tokens = items.map(([token]) => token);
        assert.equal(parseTokenList(value), tokens, value);
        assert.equal(parseUpgradeProtocols(value), tokens, value);
        const unique = new Set(tokens).size === tokens.length && tokens.length > 0;
        assert.equal(parseSubprotocols(value), unique ? tokens : null, value);
      },
    ),
    parameters,
  );
});

test.run();
