/**
 * permessage-deflate negotiation (RFC 7692 section 7.1): the server's choice
 * among offers and its response header byte for byte, the client's offer,
 * and the client's check of the response.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { negotiateExtensions } from '../../../src/upgrade/extension-negotiation.ts';
import { formatExtensions, parseExtensions } from '../../../src/upgrade/header-tokens.ts';
import {
  DeflateNegotiationError,
  permessageDeflate,
  PerMessageDeflate,
  type PerMessageDeflateOptions,
} from '../../../src/extensions/permessage-deflate.ts';

/** Runs the server negotiation on a request header value; returns the response header (or undefined). */
function respond(header: string, options: PerMessageDeflateOptions = {}): string | undefined {
  const offers = parseExtensions(header);
  assert.ok(offers, `unparseable test header ${header}`);
  const negotiated = negotiateExtensions(offers, [permessageDeflate(options)]);
  for (const extension of negotiated.extensions) extension.dispose();
  return negotiated.header;
}

const PMD = 'permessage-deflate';

/** [request header, server options, expected response header (undefined: declined)] */
const serverTable: Array<[string, PerMessageDeflateOptions, string | undefined]> = [
  // No parameters.
  [PMD, {}, PMD],
  ['Permessage-Deflate', {}, PMD],
  // Each parameter alone.
  [`${PMD}; server_no_context_takeover`, {}, `${PMD}; server_no_context_takeover`],
  [`${PMD}; client_no_context_takeover`, {}, `${PMD}; client_no_context_takeover`],
  [`${PMD}; server_max_window_bits=10`, {}, `${PMD}; server_max_window_bits=10`],
  [`${PMD}; server_max_window_bits=15`, {}, `${PMD}; server_max_window_bits=15`],
  [`${PMD}; server_max_window_bits=8`, {}, `${PMD}; server_max_window_bits=8`],
  [`${PMD}; server_max_window_bits="9"`, {}, `${PMD}; server_max_window_bits=9`],
  [`${PMD}; client_max_window_bits`, {}, PMD],
  [`${PMD}; client_max_window_bits=12`, {}, `${PMD}; client_max_window_bits=12`],
  [`${PMD}; client_max_window_bits=15`, {}, PMD],
  [`${PMD}; client_max_window_bits=8`, {}, `${PMD}; client_max_window_bits=8`],
  // Combined.
  [
    `${PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=11`,
    {},
    `${PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=11`,
  ],
  [
    `${PMD}; client_max_window_bits=11; server_max_window_bits=9; client_no_context_takeover; server_no_context_takeover`,
    {},
    `${PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=11`,
  ],
  // Server preferences.
  [PMD, { serverNoContextTakeover: true }, `${PMD}; server_no_context_takeover`],
  [PMD, { clientNoContextTakeover: true }, `${PMD}; client_no_context_takeover`],
  [PMD, { serverMaxWindowBits: 11 }, `${PMD}; server_max_window_bits=11`],
  [`${PMD}; server_max_window_bits=13`, { serverMaxWindowBits: 11 }, `${PMD}; server_max_window_bits=11`],
  [`${PMD}; server_max_window_bits=9`, { serverMaxWindowBits: 11 }, `${PMD}; server_max_window_bits=9`],
  [`${PMD}; client_max_window_bits`, { clientMaxWindowBits: 10 }, `${PMD}; client_max_window_bits=10`],
  [`${PMD}; client_max_window_bits=9`, { clientMaxWindowBits: 10 }, `${PMD}; client_max_window_bits=9`],
  [`${PMD}; client_max_window_bits=12`, { clientMaxWindowBits: 10 }, `${PMD}; client_max_window_bits=10`],
  // A client window limit cannot be imposed on an offer without client_max_window_bits.
  [PMD, { clientMaxWindowBits: 10 }, undefined],
  [`${PMD}; client_max_window_bits=10`, { clientMaxWindowBits: 15 }, `${PMD}; client_max_window_bits=10`],
  [
    `${PMD}; server_no_context_takeover`,
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12 },
    `${PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12`,
  ],
  // Invalid values.
  [`${PMD}; server_max_window_bits=7`, {}, undefined],
  [`${PMD}; server_max_window_bits=16`, {}, undefined],
  [`${PMD}; server_max_window_bits=08`, {}, undefined],
  [`${PMD}; server_max_window_bits=+9`, {}, undefined],
  [`${PMD}; server_max_window_bits=9.0`, {}, undefined],
  [`${PMD}; server_max_window_bits=abc`, {}, undefined],
  [`${PMD}; server_max_window_bits`, {}, undefined],
  [`${PMD}; client_max_window_bits=7`, {}, undefined],
  [`${PMD}; client_max_window_bits=16`, {}, undefined],
  [`${PMD}; client_max_window_bits=0x9`, {}, undefined],
  [`${PMD}; server_no_context_takeover=1`, {}, undefined],
  [`${PMD}; client_no_context_takeover=true`, {}, undefined],
  // Unknown and duplicate parameters.
  [`${PMD}; x_unknown`, {}, undefined],
  [`${PMD}; Server_No_Context_Takeover`, {}, undefined],
  [`${PMD}; server_no_context_takeover; server_no_context_takeover`, {}, undefined],
  [`${PMD}; client_no_context_takeover; client_no_context_takeover`, {}, undefined],
  [`${PMD}; server_max_window_bits=10; server_max_window_bits=10`, {}, undefined],
  [`${PMD}; client_max_window_bits; client_max_window_bits=10`, {}, undefined],
  // Several offers: the first acceptable one wins.
  [
    `${PMD}; server_max_window_bits=10, ${PMD}; client_max_window_bits`,
    {},
    `${PMD}; server_max_window_bits=10`,
  ],
  [`${PMD}; x_unknown, ${PMD}; client_max_window_bits=9`, {}, `${PMD}; client_max_window_bits=9`],
  [`${PMD}; server_max_window_bits=99, ${PMD}; server_max_window_bits=8, ${PMD}`, {}, `${PMD}; server_max_window_bits=8`],
  [`${PMD}; server_no_context_takeover; server_no_context_takeover, ${PMD}`, {}, PMD],
  [`${PMD}, ${PMD}; client_max_window_bits`, { clientMaxWindowBits: 9 }, `${PMD}; client_max_window_bits=9`],
  [`${PMD}; a, ${PMD}; b`, {}, undefined],
  // Other extensions are not ours.
  ['x-webkit-deflate-frame', {}, undefined],
  [`x-webkit-deflate-frame, ${PMD}; client_max_window_bits`, {}, PMD],
];

test('server negotiation table: response header byte for byte', () => {
  for (const [header, options, expected] of serverTable) {
    assert.is(respond(header, options), expected, `${header} with ${JSON.stringify(options)}`);
  }
});

test('server: negotiated parameters follow the response', () => {
  const offers = parseExtensions(`${PMD}; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits`);
  assert.ok(offers);
  const accepted = permessageDeflate({ clientMaxWindowBits: 12 }).negotiate(offers);
  assert.ok(accepted);
  const extension = accepted.extension;
  assert.instance(extension, PerMessageDeflate);
  assert.equal((extension as PerMessageDeflate).params, {
    serverNoContextTakeover: false,
    clientNoContextTakeover: true,
    serverMaxWindowBits: 10,
    clientMaxWindowBits: 12,
  });
  assert.is(extension.rsv, 0b100);
  assert.is(extension.name, PMD);
  extension.dispose();
});

/** [client options, expected offer header] */
const offerTable: Array<[PerMessageDeflateOptions, string]> = [
  [{}, `${PMD}; client_max_window_bits`],
  [{ clientMaxWindowBits: 10 }, `${PMD}; client_max_window_bits=10`],
  [{ serverNoContextTakeover: true }, `${PMD}; server_no_context_takeover; client_max_window_bits`],
  [{ clientNoContextTakeover: true }, `${PMD}; client_no_context_takeover; client_max_window_bits`],
  [{ serverMaxWindowBits: 9 }, `${PMD}; server_max_window_bits=9; client_max_window_bits`],
  [
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
    `${PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8`,
  ],
];

test('client offer table', () => {
  for (const [options, expected] of offerTable) {
    assert.is(formatExtensions([permessageDeflate(options).offer()]), expected, JSON.stringify(options));
  }
});

test('every client offer is accepted by the server, and the response by the client', () => {
  for (const [options] of offerTable) {
    const accepted = permessageDeflate().negotiate([permessageDeflate(options).offer()]);
    assert.ok(accepted, JSON.stringify(options));
    const client = permessageDeflate(options).accept(accepted.response);
    assert.equal(client.params, (accepted.extension as PerMessageDeflate).params, JSON.stringify(options));
    client.dispose();
    accepted.extension.dispose();
  }
});

/** [response header, client options, expected params or the error's message fragment] */
const responseTable: Array<
  [string, PerMessageDeflateOptions, { s: boolean; c: boolean; sb: number; cb: number } | string]
> = [
  [PMD, {}, { s: false, c: false, sb: 15, cb: 15 }],
  [`${PMD}; server_no_context_takeover`, {}, { s: true, c: false, sb: 15, cb: 15 }],
  [`${PMD}; client_no_context_takeover`, {}, { s: false, c: true, sb: 15, cb: 15 }],
  [PMD, { clientNoContextTakeover: true }, { s: false, c: true, sb: 15, cb: 15 }],
  [`${PMD}; server_max_window_bits=8`, {}, { s: false, c: false, sb: 8, cb: 15 }],
  [`${PMD}; client_max_window_bits=9`, {}, { s: false, c: false, sb: 15, cb: 9 }],
  [PMD, { clientMaxWindowBits: 11 }, { s: false, c: false, sb: 15, cb: 11 }],
  [`${PMD}; client_max_window_bits=10`, { clientMaxWindowBits: 11 }, { s: false, c: false, sb: 15, cb: 10 }],
  [`${PMD}; client_max_window_bits=12`, { clientMaxWindowBits: 11 }, 'exceeds the offered 11'],
  [`${PMD}; server_max_window_bits=10`, { serverMaxWindowBits: 10 }, { s: false, c: false, sb: 10, cb: 15 }],
  [`${PMD}; server_max_window_bits=9`, { serverMaxWindowBits: 10 }, { s: false, c: false, sb: 9, cb: 15 }],
  [`${PMD}; server_max_window_bits=11`, { serverMaxWindowBits: 10 }, 'exceeds the offered 10'],
  [PMD, { serverMaxWindowBits: 10 }, 'did not accept server_max_window_bits'],
  [PMD, { serverNoContextTakeover: true }, 'did not accept server_no_context_takeover'],
  [`${PMD}; server_no_context_takeover`, { serverNoContextTakeover: true }, { s: true, c: false, sb: 15, cb: 15 }],
  [`${PMD}; client_max_window_bits`, {}, 'must have a value'],
  [`${PMD}; server_max_window_bits=16`, {}, 'must be 8 to 15'],
  [`${PMD}; client_max_window_bits=7`, {}, 'must be 8 to 15'],
  [`${PMD}; server_no_context_takeover=1`, {}, 'must not have a value'],
  [`${PMD}; server_no_context_takeover; server_no_context_takeover`, {}, 'more than once'],
  [`${PMD}; foo`, {}, 'unknown parameter foo'],
  ['x-webkit-deflate-frame', {}, 'not permessage-deflate'],
];

test('client response check table', () => {
  for (const [header, options, expected] of responseTable) {
    const [response] = parseExtensions(header) ?? [];
    assert.ok(response);
    const label = `${header} after ${JSON.stringify(options)}`;
    if (typeof expected === 'string') {
      try {
        permessageDeflate(options).accept(response).dispose();
        assert.unreachable(label);
      } catch (error) {
        assert.instance(error, DeflateNegotiationError, label);
        assert.ok((error as Error).message.includes(expected), `${label}: ${(error as Error).message}`);
      }
    } else {
      const extension = permessageDeflate(options).accept(response);
      assert.equal(
        extension.params,
        {
          serverNoContextTakeover: expected.s,
          clientNoContextTakeover: expected.c,
          serverMaxWindowBits: expected.sb,
          clientMaxWindowBits: expected.cb,
        },
        label,
      );
      assert.is(extension.role, 'client');
      extension.dispose();
    }
  }
});

test('options out of range throw at configuration time', () => {
  const bad: PerMessageDeflateOptions[] = [
    { serverMaxWindowBits: 7 },
    { serverMaxWindowBits: 16 },
    { clientMaxWindowBits: 9.5 },
    { level: 10 },
    { level: -2 },
    { memLevel: 0 },
    { memLevel: 10 },
    { threshold: -1 },
    { maxConcurrency: 0 },
    { maxConcurrency: 1.5 },
  ];
  for (const options of bad) {
    assert.throws(() => permessageDeflate(options), RangeError, JSON.stringify(options));
    assert.throws(() => permessageDeflate(options).offer(), RangeError, JSON.stringify(options));
  }
  assert.throws(
    () => permessageDeflate({ serverNoContextTakeover: 'yes' as unknown as boolean }),
    TypeError,
  );
});

test.run();
