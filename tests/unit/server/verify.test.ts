/**
 * The verify hook's results: what is accepted, what is refused and with
 * which exact bytes (HTTP/1.1) or header block (HTTP/2), what is an invalid result (never a crash, never an
 * injected header), and how a hook that throws or hangs is reported.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VerifyError } from '../../../src/server/errors.ts';
import { decide, formatRefusal, http2Refusal, refusalResponse, runVerify, type VerifyInfo } from '../../../src/server/verify.ts';

const REQUEST = { method: 'GET', url: '/chat?x=1', httpVersion: '1.1', headers: {} };

function info(signal: AbortSignal): VerifyInfo {
  return { path: '/chat', query: new URLSearchParams('x=1'), remoteAddress: '127.0.0.1', remotePort: 1, protocol: undefined, signal };
}

function invalid(result: unknown, pattern: RegExp): void {
  try {
    decide(result, '/chat');
  } catch (error) {
    assert.instance(error, VerifyError);
    assert.is((error as VerifyError).failure, 'invalid-result');
    assert.is((error as VerifyError).url, '/chat');
    assert.match((error as VerifyError).message, pattern);
    return;
  }
  assert.unreachable(`accepted ${JSON.stringify(result)}`);
}

test('accept: data passes through, headers become lines (an array gives one line each)', () => {
  const data = { user: 'ann' };
  const decision = decide<typeof data>({ accept: true, data, headers: { 'Set-Cookie': ['a=1', 'b=2'], 'X-Id': '7' } }, '/');
  assert.ok(decision.accept);
  if (!decision.accept) return;
  assert.is(decision.data, data);
  assert.equal(decision.headers, [
    ['Set-Cookie', 'a=1'],
    ['Set-Cookie', 'b=2'],
    ['X-Id', '7'],
  ]);
  const bare = decide({ accept: true }, '/');
  assert.equal(bare, { accept: true, headers: [], data: undefined });
});

test('a header whose value is undefined is not sent (the package test type-checks the README hook that gives one)', () => {
  const accepted = decide({ accept: true, headers: { 'Set-Cookie': 'a=1', 'WWW-Authenticate': undefined } }, '/');
  assert.equal(accepted.accept && accepted.headers, [['Set-Cookie', 'a=1']]);
  const refused = formatRefusal({ accept: false, status: 401, headers: { 'WWW-Authenticate': 'Bearer', 'Set-Cookie': undefined } });
  assert.is(
    refused.toString('latin1'),
    'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 13\r\n\r\nUnauthorized\n',
  );
});

test('a result that is not { accept: boolean, ... } is invalid (undefined never lets a client in)', () => {
  for (const result of [undefined, null, true, false, 'yes', 0, [], {}, { accept: 'true' }, { accept: 1 }]) {
    invalid(result, /returned an invalid result/);
  }
});

test('accept: headers the handshake or the framing owns are invalid, in any case', () => {
  for (const name of ['Upgrade', 'connection', 'Sec-WebSocket-Accept', 'SEC-WEBSOCKET-PROTOCOL', 'Sec-WebSocket-Extensions', 'Sec-WebSocket-Version', 'Content-Length', 'Transfer-Encoding']) {
    invalid({ accept: true, headers: { [name]: 'x' } }, /sets .* itself/);
  }
});

test('header injection: CR, LF or NUL in a value, or a name that is not a token, is invalid', () => {
  invalid({ accept: true, headers: { 'Set-Cookie': 'a=1\r\nX-Evil: 1' } }, /CR, LF, NUL/);
  invalid({ accept: true, headers: { 'Set-Cookie': ['ok=1', 'a=1\nX-Evil: 1'] } }, /CR, LF, NUL/);
  invalid({ accept: true, headers: { 'X-A': 'a\u0000b' } }, /CR, LF, NUL/);
  invalid({ accept: true, headers: { 'X-A': 'snow \u2603' } }, /non-Latin-1/);
  invalid({ accept: true, headers: { 'X A': 'a' } }, /not an RFC 7230 token/);
  invalid({ accept: true, headers: { 'X-A:b': 'a' } }, /not an RFC 7230 token/);
  invalid({ accept: true, headers: { '': 'a' } }, /not an RFC 7230 token/);
  invalid({ accept: false, status: 401, headers: { 'WWW-Authenticate': 'Basic\r\n\r\n<html>' } }, /CR, LF, NUL/);
});

test('header values must be strings or arrays of strings; headers an object', () => {
  invalid({ accept: true, headers: { 'X-A': 1 } }, /must be a string/);
  invalid({ accept: true, headers: { 'X-A': ['a', 2] } }, /must be a string/);
  invalid({ accept: true, headers: 'X-A: 1' }, /headers must be an object/);
  invalid({ accept: true, headers: [['X-A', '1']] }, /headers must be an object/);
});

test('refuse: exact bytes of a 401 with WWW-Authenticate and a body', () => {
  const decision = decide({ accept: false, status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="chat"' }, body: 'log in first\n' }, '/');
  assert.not.ok(decision.accept);
  if (decision.accept) return;
  assert.is(
    refusalResponse(decision.refusal).toString('latin1'),
    'HTTP/1.1 401 Unauthorized\r\n' +
      'WWW-Authenticate: Bearer realm="chat"\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      'Connection: close\r\n' +
      'Content-Length: 13\r\n' +
      '\r\n' +
      'log in first\n',
  );
});

test('refuse: default body is the reason phrase; a Content-Type given is kept; bytes bodies as is; UTF-8 length', () => {
  assert.is(
    formatRefusal({ accept: false, status: 403 }).toString('latin1'),
    'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 10\r\n\r\nForbidden\n',
  );
  const json = formatRefusal({ accept: false, status: 429, headers: { 'content-type': 'application/json', 'Retry-After': '5' }, body: Uint8Array.of(0x7b, 0x7d) });
  assert.is(
    json.toString('latin1'),
    'HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}',
  );
  const utf8 = formatRefusal({ accept: false, status: 302, headers: { Location: '/login' }, body: 'é' });
  assert.ok(utf8.toString('latin1').includes('Content-Length: 2\r\n'));
  assert.ok(utf8.toString('latin1').startsWith('HTTP/1.1 302 Found\r\nLocation: /login\r\n'));
});

test('refuse over HTTP/2: one header block (lower-case names, a repeated name as a list, content-length), connection-specific headers left out', () => {
  const decision = decide(
    { accept: false, status: 426, headers: { 'WWW-Authenticate': 'Bearer', 'Set-Cookie': ['a=1', 'b=2'], Upgrade: 'h2c', 'Keep-Alive': '5' }, body: 'no\n' },
    '/',
  );
  assert.not.ok(decision.accept);
  if (decision.accept) return;
  const { headers, body } = http2Refusal(decision.refusal);
  assert.equal(headers, {
    ':status': 426,
    'www-authenticate': 'Bearer',
    'set-cookie': ['a=1', 'b=2'],
    'content-type': 'text/plain; charset=utf-8',
    'content-length': 3,
  });
  assert.is(body.toString('utf8'), 'no\n');
});

test('refuse: a status outside 300-599, a bad body or a framing header is invalid', () => {
  for (const status of [101, 200, 299, 600, 401.5, Number.NaN, '401']) {
    invalid({ accept: false, status }, /status must be an integer 300-599/);
  }
  invalid({ accept: false, status: 401, body: 42 }, /body must be a string or a Uint8Array/);
  invalid({ accept: false, status: 401, body: { text: 'x' } }, /body must be a string or a Uint8Array/);
  for (const name of ['Content-Length', 'transfer-encoding', 'Connection']) {
    invalid({ accept: false, status: 401, headers: { [name]: '1' } }, /sets .* itself/);
  }
});

test('runVerify: resolves with what the hook returns, sync or async, and passes request and info', async () => {
  const controller = new AbortController();
  const seen: unknown[] = [];
  const result = await runVerify(
    (request, given) => {
      seen.push(request, given.path, given.query.get('x'));
      return { accept: true } as const;
    },
    REQUEST,
    info(controller.signal),
    1000,
    controller,
  );
  assert.equal(result, { accept: true });
  assert.equal(seen, [REQUEST, '/chat', '1']);
  assert.equal(await runVerify(async () => ({ accept: false, status: 401 }) as const, REQUEST, info(controller.signal), 1000, controller), {
    accept: false,
    status: 401,
  });
});

test('runVerify: a hook that throws or rejects is a VerifyError "threw" with the cause', async () => {
  const controller = new AbortController();
  const boom = new Error('database down');
  for (const hook of [
    () => {
      throw boom;
    },
    async () => {
      throw boom;
    },
  ]) {
    try {
      await runVerify(hook, REQUEST, info(controller.signal), 1000, controller);
      assert.unreachable('resolved');
    } catch (error) {
      assert.instance(error, VerifyError);
      assert.is((error as VerifyError).failure, 'threw');
      assert.is((error as VerifyError).cause, boom);
      assert.match((error as Error).message, /verify hook for \/chat\?x=1 threw: database down/);
    }
  }
  assert.not.ok(controller.signal.aborted);
});

test('runVerify: a hook that does not settle in time is a VerifyError "timeout" and its signal is aborted with it', async () => {
  const controller = new AbortController();
  let abortedWith: unknown;
  try {
    await runVerify(
      (_, given) =>
        new Promise(() => {
          given.signal.addEventListener('abort', () => (abortedWith = given.signal.reason));
        }),
      REQUEST,
      info(controller.signal),
      20,
      controller,
    );
    assert.unreachable('resolved');
  } catch (error) {
    assert.instance(error, VerifyError);
    assert.is((error as VerifyError).failure, 'timeout');
    assert.is(abortedWith, error);
  }
});

test('runVerify: aborted by someone else (client gone, server closing), it rejects at once with the reason and drops its timer', async () => {
  const controller = new AbortController();
  const reason = new Error('client gone');
  const timers = () => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
  const before = timers();
  const running = runVerify(() => new Promise(() => {}), REQUEST, info(controller.signal), 60_000, controller);
  assert.is(timers(), before + 1);
  controller.abort(reason);
  try {
    await running;
    assert.unreachable('resolved');
  } catch (error) {
    assert.is(error, reason);
  }
  assert.is(timers(), before);
});

test.run();
