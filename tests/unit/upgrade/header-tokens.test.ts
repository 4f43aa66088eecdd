/** Table tests of the RFC 7230 list, subprotocol and extension parsers and the extension formatter. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  formatExtensions,
  isToken,
  parseExtensions,
  parseSubprotocols,
  parseTokenList,
  parseUpgradeProtocols,
} from '../../../src/upgrade/header-tokens.ts';
import type { ExtensionOffer } from '../../../src/extensions/extension.ts';

test('isToken', () => {
  assert.ok(isToken("!#$%&'*+-.^_`|~09azAZ"));
  for (const bad of ['', 'a b', 'a,b', 'a;b', 'a"', 'a/b', 'a=b', 'a\tb', 'é', 'a\u0000', '(x)', '{x}', '[x]', 'a@b', 'a:b', 'a?b']) {
    assert.not.ok(isToken(bad), JSON.stringify(bad));
  }
});

const tokenLists: Array<[string, string[] | null]> = [
  ['Upgrade', ['Upgrade']],
  ['keep-alive, Upgrade', ['keep-alive', 'Upgrade']],
  ['keep-alive,Upgrade', ['keep-alive', 'Upgrade']],
  [' \tkeep-alive \t, \tUpgrade\t ', ['keep-alive', 'Upgrade']],
  ['a, , b', ['a', 'b']],
  [',a,,b,', ['a', 'b']],
  ['', []],
  ['  ', []],
  [', ,', []],
  ['a b', null],
  ['a, b c', null],
  ['a;b', null],
  ['"a"', null],
  ['a/1', null],
  ['a\r\nb', null],
  ['é', null],
];

test('parseTokenList table', () => {
  for (const [input, expected] of tokenLists) {
    assert.equal(parseTokenList(input), expected, JSON.stringify(input));
  }
});

test('parseUpgradeProtocols accepts protocol/version', () => {
  assert.equal(parseUpgradeProtocols('HTTP/2.0, websocket'), ['HTTP/2.0', 'websocket']);
  assert.equal(parseUpgradeProtocols('websocket'), ['websocket']);
  assert.equal(parseUpgradeProtocols(' , websocket ,'), ['websocket']);
  for (const bad of ['websocket/', '/1', 'a/b/c', 'a / b', 'web socket']) {
    assert.is(parseUpgradeProtocols(bad), null, bad);
  }
});

test('parseSubprotocols table', () => {
  assert.equal(parseSubprotocols('chat'), ['chat']);
  assert.equal(parseSubprotocols('chat, superchat'), ['chat', 'superchat']);
  assert.equal(parseSubprotocols('v2.json,v1.json'), ['v2.json', 'v1.json']);
  assert.equal(parseSubprotocols(' chat ,, superchat '), ['chat', 'superchat']);
  assert.equal(parseSubprotocols('Chat, chat'), ['Chat', 'chat'], 'case-sensitive names');
  for (const bad of ['', ' ', ',', 'chat, chat', 'a b', 'a;b', '"chat"', 'chat/1', 'a,b c']) {
    assert.is(parseSubprotocols(bad), null, JSON.stringify(bad));
  }
});

const extensions: Array<[string, ExtensionOffer[] | null]> = [
  ['permessage-deflate', [{ name: 'permessage-deflate', params: [] }]],
  [
    'permessage-deflate; client_max_window_bits',
    [{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] }],
  ],
  [
    'permessage-deflate; server_max_window_bits=10; client_max_window_bits',
    [
      {
        name: 'permessage-deflate',
        params: [
          ['server_max_window_bits', '10'],
          ['client_max_window_bits', true],
        ],
      },
    ],
  ],
  [
    'permessage-deflate;server_max_window_bits="10", permessage-deflate',
    [
      { name: 'permessage-deflate', params: [['server_max_window_bits', '10']] },
      { name: 'permessage-deflate', params: [] },
    ],
  ],
  ['x; a = 1 ; b\t=\t"2" ;c', [{ name: 'x', params: [['a', '1'], ['b', '2'], ['c', true]] }]],
  ['x; a="\\1\\0"', [{ name: 'x', params: [['a', '10']] }]],
  ['x; a=1; a=2; a', [{ name: 'x', params: [['a', '1'], ['a', '2'], ['a', true]] }]],
  ['x, , y,', [{ name: 'x', params: [] }, { name: 'y', params: [] }]],
  ['foo, bar; baz=2', [{ name: 'foo', params: [] }, { name: 'bar', params: [['baz', '2']] }]],
  ['', null],
  [' , ', null],
  ['x;', null],
  ['x; ', null],
  ['x;;a', null],
  [';a', null],
  ['x; a=', null],
  ['x; =1', null],
  ['x; a==1', null],
  ['x; a=1 2', null],
  ['x y', null],
  ['x; a="1', null],
  ['x; a=""', null],
  ['x; a="1 2"', null],
  ['x; a="a,b"', null],
  ['x; a="\\"', null],
  ['x; a="1\\ "', null],
  ['x; a="1"2', null],
  ['x; a=1"', null],
  ['x, y z', null],
  ['x; a=é', null],
  ['x\r\n; a', null],
];

test('parseExtensions table', () => {
  for (const [input, expected] of extensions) {
    assert.equal(parseExtensions(input), expected, JSON.stringify(input));
  }
});

test('parseExtensions on header lines joined with ", " like node:http does', () => {
  const joined = ['permessage-deflate; client_max_window_bits', 'x-custom; a="b"'].join(', ');
  assert.equal(parseExtensions(joined), [
    { name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
    { name: 'x-custom', params: [['a', 'b']] },
  ]);
});

test('formatExtensions', () => {
  assert.is(formatExtensions([]), '');
  assert.is(
    formatExtensions([
      { name: 'permessage-deflate', params: [['server_no_context_takeover', true], ['server_max_window_bits', '10']] },
      { name: 'x', params: [] },
    ]),
    'permessage-deflate; server_no_context_takeover; server_max_window_bits=10, x',
  );
});

test('formatExtensions rejects non-tokens with TypeError', () => {
  assert.throws(() => formatExtensions([{ name: 'a b', params: [] }]), TypeError);
  assert.throws(() => formatExtensions([{ name: 'x', params: [['a=b', true]] }]), TypeError);
  assert.throws(() => formatExtensions([{ name: 'x', params: [['a', '1\r\nInjected: yes']] }]), TypeError);
  assert.throws(() => formatExtensions([{ name: 'x', params: [['a', '']] }]), TypeError);
});

test('format then parse round-trips', () => {
  const offers: ExtensionOffer[] = [
    { name: 'permessage-deflate', params: [['client_max_window_bits', true], ['server_max_window_bits', '15']] },
    { name: 'permessage-deflate', params: [] },
  ];
  assert.equal(parseExtensions(formatExtensions(offers)), offers);
});

test.run();
