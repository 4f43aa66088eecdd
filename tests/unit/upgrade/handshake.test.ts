/** Tests of upgrade request validation, subprotocol selection and the 101 response headers. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HandshakeError } from '../../../src/upgrade/errors.ts';
import { responseHeaders, validateUpgradeRequest } from '../../../src/upgrade/handshake.ts';
import type { HandshakeOptions, UpgradeCall } from '../../../src/upgrade/handshake.ts';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

const GOOD_HEADERS: Record<string, string> = {
  host: 'server.example.com',
  upgrade: 'websocket',
  connection: 'Upgrade',
  'sec-websocket-key': KEY,
  'sec-websocket-version': '13',
};

function call(
  headers: Record<string, string | string[] | undefined> = GOOD_HEADERS,
  overrides: Partial<UpgradeCall> = {},
): UpgradeCall {
  return { method: 'GET', httpVersion: '1.1', url: '/', headers, ...overrides };
}

/** `GOOD_HEADERS` with `changes` applied (`undefined` deletes). */
function withHeaders(changes: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = { ...GOOD_HEADERS };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  return headers;
}

function rejects(request: UpgradeCall, status: number, options?: HandshakeOptions): HandshakeError {
  try {
    validateUpgradeRequest(request, options);
  } catch (error) {
    assert.instance(error, HandshakeError);
    const handshakeError = error as HandshakeError;
    assert.is(handshakeError.status, status, handshakeError.message);
    assert.not.match(handshakeError.message, /[\r\n]/);
    return handshakeError;
  }
  assert.unreachable(`accepted ${JSON.stringify(request)}`);
  throw new Error('unreachable');
}

test('a valid request: accept key, no protocol, no extensions', () => {
  const validated = validateUpgradeRequest(call());
  assert.is(validated.key, KEY);
  assert.is(validated.acceptKey, ACCEPT);
  assert.equal(validated.protocols, []);
  assert.is(validated.protocol, undefined);
  assert.equal(validated.extensions, []);
  assert.is(validated.origin, undefined);
});

test('method must be GET (400)', () => {
  for (const method of ['POST', 'get', 'HEAD', 'CONNECT', '', undefined]) {
    const error = rejects(call(GOOD_HEADERS, { method }), 400);
    assert.match(error.message, /GET/);
  }
});

test('HTTP/1.1 or a later 1.x (another major version is 505, anything else 400)', () => {
  for (const httpVersion of ['1.0', '', '1', 'x.y', '1.1.1', ' 1.1']) {
    rejects(call(GOOD_HEADERS, { httpVersion }), 400);
  }
  // HTTP/2 and later open WebSockets with an extended CONNECT (RFC 8441), never with Upgrade.
  for (const httpVersion of ['0.9', '2.0', '3.0']) rejects(call(GOOD_HEADERS, { httpVersion }), 505);
  for (const httpVersion of ['1.1', '1.2', '1.10']) {
    assert.is(validateUpgradeRequest(call(GOOD_HEADERS, { httpVersion })).acceptKey, ACCEPT);
  }
});

test('Upgrade must list websocket, any case, in a valid list (400)', () => {
  for (const upgrade of ['websocket', 'WebSocket', 'WEBSOCKET', 'h2c, websocket', 'HTTP/2.0, websocket', ' websocket , ']) {
    validateUpgradeRequest(call(withHeaders({ upgrade })));
  }
  for (const upgrade of [undefined, '', 'h2c', 'websockets', 'web socket', 'websocket/13', 'websocket;', '"websocket"']) {
    rejects(call(withHeaders({ upgrade })), 400);
  }
});

test('Connection must contain the token upgrade, any case (400)', () => {
  for (const connection of ['Upgrade', 'upgrade', 'UPGRADE', 'keep-alive, Upgrade', 'Upgrade,keep-alive', ',upgrade,']) {
    validateUpgradeRequest(call(withHeaders({ connection })));
  }
  for (const connection of [undefined, '', 'keep-alive', 'upgraded', 'keep-alive Upgrade', 'close; upgrade']) {
    rejects(call(withHeaders({ connection })), 400);
  }
});

test('Sec-WebSocket-Version must be 13, else 426 with Upgrade: websocket and Sec-WebSocket-Version: 13', () => {
  for (const version of [undefined, '', '8', '12', '14', '13, 8', ' 13x', '013']) {
    const error = rejects(call(withHeaders({ 'sec-websocket-version': version })), 426);
    assert.equal({ ...error.headers }, { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' });
  }
});

test('Sec-WebSocket-Key must be canonical base64 of exactly 16 bytes (400)', () => {
  const bad = [
    undefined,
    '',
    'dGhlIHNhbXBsZSBub25jZQ=', // 23 characters
    'dGhlIHNhbXBsZSBub25jZQ', // no padding
    'dGhlIHNhbXBsZSBub25jZQ===',
    'dGhlIHNhbXBsZSBub25jZR==', // non-zero padding bits (not canonical)
    'dGhlIHNhbXBsZSBub25j!Q==',
    'dGhlIHNhbXBsZSBub25jZ-_', // base64url, 24 chars
    'dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==',
    'AAAAAAAAAAAAAAAAAAAAAAAA', // 18 bytes
    ' dGhlIHNhbXBsZSBub25jZQ=',
    `${KEY}, ${KEY}`, // two key lines joined by node
  ];
  for (const key of bad) {
    const error = rejects(call(withHeaders({ 'sec-websocket-key': key })), 400);
    assert.match(error.message, /Sec-WebSocket-Key/);
  }
  validateUpgradeRequest(call(withHeaders({ 'sec-websocket-key': 'AAAAAAAAAAAAAAAAAAAAAA==' })));
  validateUpgradeRequest(call(withHeaders({ 'sec-websocket-key': '/+/+/+/+/+/+/+/+/+/+/w==' })));
});

test('the checks run in order: method, version, Host, Upgrade, Connection, Sec-WebSocket-Version, key', () => {
  assert.is(rejects(call({}, { method: 'POST', httpVersion: '1.0' }), 400).message.includes('GET'), true);
  assert.match(rejects(call({}, { httpVersion: '1.0' }), 400).message, /HTTP\/1\.1/);
  assert.match(rejects(call({}), 400).message, /Host/);
  assert.match(rejects(call({ host: 'h' }), 400).message, /Upgrade/);
  assert.match(rejects(call({ host: 'h', upgrade: 'websocket' }), 400).message, /Connection/);
  rejects(call({ host: 'h', upgrade: 'websocket', connection: 'upgrade' }), 426);
  assert.match(rejects(call(withHeaders({ 'sec-websocket-key': undefined })), 400).message, /Sec-WebSocket-Key/);
});

test('a request without Host is 400', () => {
  assert.match(rejects(call(withHeaders({ host: undefined })), 400).message, /missing Host/);
});

test('invalid Sec-WebSocket-Protocol syntax is 400', () => {
  for (const protocol of ['', ',', 'a b', 'chat, chat', '"chat"', 'chat;v=1', 'chat/1']) {
    const error = rejects(call(withHeaders({ 'sec-websocket-protocol': protocol })), 400);
    assert.match(error.message, /Sec-WebSocket-Protocol/);
  }
});

test('invalid Sec-WebSocket-Extensions syntax is 400', () => {
  for (const extensions of ['', 'x;', 'x; a=', 'x; a="b c"', 'x y', 'x; a="\\']) {
    const error = rejects(call(withHeaders({ 'sec-websocket-extensions': extensions })), 400);
    assert.match(error.message, /Sec-WebSocket-Extensions/);
  }
});

test('extension offers are parsed, not negotiated, across joined and array header lines', () => {
  const joined = validateUpgradeRequest(
    call(withHeaders({ 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits, x-foo' })),
  );
  const lines = validateUpgradeRequest(
    call(withHeaders({ 'sec-websocket-extensions': ['permessage-deflate; client_max_window_bits', 'x-foo'] })),
  );
  const expected = [
    { name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
    { name: 'x-foo', params: [] },
  ];
  assert.equal(joined.extensions, expected);
  assert.equal(lines.extensions, expected);
});

test('offered protocols from a joined header or an array of lines', () => {
  assert.equal(validateUpgradeRequest(call(withHeaders({ 'sec-websocket-protocol': 'a, b' }))).protocols, ['a', 'b']);
  assert.equal(validateUpgradeRequest(call(withHeaders({ 'sec-websocket-protocol': ['a', 'b, c'] }))).protocols, [
    'a',
    'b',
    'c',
  ]);
});

test('protocol list: the server preference order wins', () => {
  const request = call(withHeaders({ 'sec-websocket-protocol': 'v1, v2, v3' }));
  assert.is(validateUpgradeRequest(request, { protocols: ['v3', 'v2'] }).protocol, 'v3');
  assert.is(validateUpgradeRequest(request, { protocols: ['v2', 'v3'] }).protocol, 'v2');
  assert.is(validateUpgradeRequest(request, { protocols: ['x', 'v1'] }).protocol, 'v1');
  assert.is(validateUpgradeRequest(request, { protocols: ['V1'] }).protocol, undefined, 'case-sensitive');
  assert.is(validateUpgradeRequest(request, { protocols: [] }).protocol, undefined);
  assert.is(validateUpgradeRequest(request).protocol, undefined);
  assert.is(validateUpgradeRequest(call(), { protocols: ['v1'] }).protocol, undefined, 'nothing offered');
});

test('protocol function: sees the offer and the call, may decline', () => {
  const request = call(withHeaders({ 'sec-websocket-protocol': 'a, b' }));
  let seen: unknown[] = [];
  const validated = validateUpgradeRequest(request, {
    protocols: (offered, c) => {
      seen = [offered, c];
      return offered.at(-1);
    },
  });
  assert.is(validated.protocol, 'b');
  assert.equal(seen, [['a', 'b'], request]);
  assert.is(validateUpgradeRequest(request, { protocols: () => undefined }).protocol, undefined);
  let called = false;
  validateUpgradeRequest(call(), {
    protocols: () => {
      called = true;
      return undefined;
    },
  });
  assert.not.ok(called, 'not called when nothing was offered');
});

test('protocol function returning an unoffered protocol is a TypeError (programmer misuse)', () => {
  const request = call(withHeaders({ 'sec-websocket-protocol': 'a' }));
  assert.throws(() => validateUpgradeRequest(request, { protocols: () => 'b' }), (e: unknown) => {
    return e instanceof TypeError && /did not offer/.test(e.message);
  });
});

test('checkOrigin: refused is 403, accepted passes, absent origin is undefined', () => {
  const origins: Array<string | undefined> = [];
  const checkOrigin = (origin: string | undefined): boolean => {
    origins.push(origin);
    return origin === 'https://good.example';
  };
  const good = validateUpgradeRequest(call(withHeaders({ origin: 'https://good.example' })), { checkOrigin });
  assert.is(good.origin, 'https://good.example');
  rejects(call(withHeaders({ origin: 'https://evil.example' })), 403, { checkOrigin });
  rejects(call(), 403, { checkOrigin });
  assert.equal(origins, ['https://good.example', 'https://evil.example', undefined]);
});

test('checkOrigin is not consulted for a request that is invalid anyway', () => {
  let called = false;
  rejects(call(withHeaders({ 'sec-websocket-key': 'bad' })), 400, {
    checkOrigin: () => {
      called = true;
      return false;
    },
  });
  assert.not.ok(called);
});

test('missing headers never crash: every subset of the required headers', () => {
  const names = Object.keys(GOOD_HEADERS);
  for (let mask = 0; mask < 1 << names.length; mask++) {
    const headers: Record<string, string> = {};
    names.forEach((name, i) => {
      if (mask & (1 << i)) headers[name] = GOOD_HEADERS[name] as string;
    });
    try {
      validateUpgradeRequest(call(headers));
    } catch (error) {
      assert.instance(error, HandshakeError);
    }
  }
  for (const empty of [{}, Object.create(null) as Record<string, string>]) rejects(call(empty), 400);
});

test('headers of undefined, empty arrays or non-strings count as missing', () => {
  rejects(call(withHeaders({ upgrade: [] })), 400);
  rejects(call({ ...GOOD_HEADERS, connection: undefined }), 400);
  const weird = { ...GOOD_HEADERS, 'sec-websocket-key': 42 } as unknown as Record<string, string>;
  rejects(call(weird), 400);
});

test('__proto__, constructor and hasOwnProperty headers never reach a prototype', () => {
  const hostile = JSON.parse(
    JSON.stringify(GOOD_HEADERS).replace(
      '{',
      '{"__proto__":{"polluted":"yes"},"constructor":"x","hasOwnProperty":"x","toString":"x",',
    ),
  ) as Record<string, string>;
  assert.ok(Object.hasOwn(hostile, '__proto__'));
  const validated = validateUpgradeRequest(call(hostile));
  assert.is(validated.acceptKey, ACCEPT);
  assert.is(({} as Record<string, unknown>)['polluted'], undefined);
  const nullProto = Object.assign(Object.create(null) as Record<string, string>, GOOD_HEADERS, {
    hasOwnProperty: 'x',
    ['__proto__']: 'x',
  });
  assert.ok(Object.hasOwn(nullProto, '__proto__'));
  assert.is(validateUpgradeRequest(call(nullProto)).acceptKey, ACCEPT);
});

test('headers inherited from a prototype (e.g. a polluted Object.prototype) are ignored', () => {
  const inherited = Object.create(GOOD_HEADERS) as Record<string, string>;
  rejects(call(inherited), 400);
  const proto = Object.prototype as Record<string, unknown>;
  proto['sec-websocket-key'] = KEY;
  try {
    rejects(call(withHeaders({ 'sec-websocket-key': undefined })), 400);
  } finally {
    delete proto['sec-websocket-key'];
  }
});

test('responseHeaders: the 101 headers', () => {
  const validated = validateUpgradeRequest(call(withHeaders({ 'sec-websocket-protocol': 'chat, superchat' })));
  assert.equal(responseHeaders(validated), {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Accept': ACCEPT,
  });
  assert.equal(responseHeaders(validated, 'superchat', 'permessage-deflate; server_no_context_takeover'), {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Accept': ACCEPT,
    'Sec-WebSocket-Protocol': 'superchat',
    'Sec-WebSocket-Extensions': 'permessage-deflate; server_no_context_takeover',
  });
  assert.not.ok('Sec-WebSocket-Extensions' in responseHeaders(validated, undefined, ''));
});

test('responseHeaders rejects an unoffered protocol or a malformed extensions header (TypeError)', () => {
  const validated = validateUpgradeRequest(call(withHeaders({ 'sec-websocket-protocol': 'chat' })));
  assert.throws(() => responseHeaders(validated, 'other'), TypeError);
  assert.throws(() => responseHeaders(validated, 'chat\r\nX: y'), TypeError);
  assert.throws(() => responseHeaders(validated, undefined, 'x;\r\nX: y'), TypeError);
  assert.throws(() => responseHeaders(validated, undefined, 'x; a="b c"'), TypeError);
});

test('IncomingMessage from node:http satisfies UpgradeCall (type-level)', async () => {
  const http = await import('node:http');
  const check = (message: InstanceType<typeof http.IncomingMessage>): UpgradeCall => message;
  assert.type(check, 'function');
});

test.run();
