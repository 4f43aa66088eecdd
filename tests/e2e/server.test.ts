/**
 * The server object on its own port, over loopback, with three kinds of
 * client: this project's `connect`, the `ws` package, and raw sockets where
 * the exact bytes matter. Routing and 404, the default route, plain HTTP,
 * the verify hook (accept with data and a Set-Cookie, refuse with 401), the
 * session's request and peer address, the live-session set, and handler
 * errors through onError.
 */
import { once } from 'node:events';
import { get } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { Opcode } from '../../src/frames/frame.ts';
import { VerifyError } from '../../src/server/errors.ts';
import { WebSocketServer } from '../../src/server/websocket-server.ts';
import type { DefaultWebSocketSession } from '../../src/session/default-session.ts';
import { UnexpectedStatusError } from '../../src/upgrade/client-errors.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { waitFor } from '../support/resources.ts';
import { rawExchange } from '../support/interop.ts';
import { handshakeRequest, RawClient } from '../support/raw-client.ts';
import { roundTrip } from '../support/server.ts';

/** An echo handler that prefixes each reply with `tag`. */
function echo(tag: string) {
  return async (session: DefaultWebSocketSession<unknown>): Promise<void> => {
    for await (const message of session) await session.send(`${tag}:${String(message)}`);
  };
}

/** Starts `server` on an ephemeral loopback port; returns the port. */
async function start(server: WebSocketServer<any>): Promise<number> {
  return (await server.listen(0, '127.0.0.1')).port;
}

/** The refusal `connect` got: status, headers and body. */
async function refusal(url: string): Promise<UnexpectedStatusError> {
  try {
    const session = await connect(url);
    await session.close();
  } catch (error) {
    if (error instanceof UnexpectedStatusError) return error;
    throw error;
  }
  throw new Error(`${url} was accepted`);
}

/** Collects what onError receives. */
function errorLog(): { readonly entries: [unknown, DefaultWebSocketSession<any> | undefined][]; readonly onError: (e: unknown, s: DefaultWebSocketSession<any> | undefined) => void } {
  const entries: [unknown, DefaultWebSocketSession<any> | undefined][] = [];
  return { entries, onError: (error, session) => entries.push([error, session]) };
}

test('routes by exact pathname (query ignored); an unknown path is a 404 and the server keeps serving', async () => {
  const server = new WebSocketServer().route('/a', echo('a')).route('/b', echo('b'));
  const port = await start(server);
  try {
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/a`, 'x'), 'a:x');
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/b?room=1`, 'y'), 'b:y');
    for (const path of ['/c', '/a/', '/A', '/']) {
      const refused = await refusal(`ws://127.0.0.1:${port}${path}`);
      assert.is(refused.status, 404, path);
    }
    const raw = await rawExchange(port, handshakeRequest('/nope'));
    assert.ok(raw.response.startsWith('HTTP/1.1 404 Not Found\r\n'), raw.response);
    assert.ok(raw.response.endsWith('\r\n\r\nno WebSocket endpoint at this path\n'), raw.response);
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/a`, 'still'), 'a:still');
  } finally {
    await server.close();
  }
});

test('the default route ("*") takes the paths no route matches; a route still wins for its own path', async () => {
  const server = new WebSocketServer().route('/a', echo('a')).route('*', echo('default'));
  const port = await start(server);
  try {
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/a`, '1'), 'a:1');
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/anything/else?q`, '2'), 'default:2');
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/`, '3'), 'default:3');
  } finally {
    await server.close();
  }
});

test('plain HTTP on its own port: 426 on a routed path, 404 elsewhere', async () => {
  const server = new WebSocketServer().route('/a', echo('a'));
  const port = await start(server);
  const status = (path: string) =>
    new Promise<{ status: number | undefined; upgrade: string | undefined }>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
        response.resume();
        resolve({ status: response.statusCode, upgrade: response.headers.upgrade });
      }).on('error', reject);
    });
  try {
    assert.equal(await status('/a'), { status: 426, upgrade: 'websocket' });
    assert.equal(await status('/b'), { status: 404, upgrade: undefined });
  } finally {
    await server.close();
  }
});

test('the ws client talks to a route', async () => {
  const server = new WebSocketServer().route('/a', echo('a'));
  const port = await start(server);
  try {
    const client = new WebSocket(`ws://127.0.0.1:${port}/a`);
    await once(client, 'open');
    client.send('hello');
    const [reply] = await once(client, 'message');
    assert.is(String(reply), 'a:hello');
    client.close();
    await once(client, 'close');
  } finally {
    await server.close();
  }
});

test('verify refuses with 401, WWW-Authenticate and a body: seen by connect, ws and a raw socket', async () => {
  const server = new WebSocketServer({
    verify: () => ({ accept: false, status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="chat"' }, body: 'log in first\n' }),
  }).route('/chat', echo('chat'));
  const port = await start(server);
  try {
    const refused = await refusal(`ws://127.0.0.1:${port}/chat`);
    assert.is(refused.status, 401);
    assert.is(refused.headers['www-authenticate'], 'Bearer realm="chat"');
    assert.is(refused.body.toString(), 'log in first\n');

    const client = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    client.on('error', () => {}); // ws reports the refusal as an error too
    const [, response] = (await once(client, 'unexpected-response')) as [unknown, import('node:http').IncomingMessage];
    assert.is(response.statusCode, 401);
    assert.is(response.headers['www-authenticate'], 'Bearer realm="chat"');
    response.resume();
    client.terminate();

    const raw = await rawExchange(port, handshakeRequest('/chat'));
    assert.is(
      raw.response,
      'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="chat"\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        'Connection: close\r\nContent-Length: 13\r\n\r\nlog in first\n',
    );
    assert.is(server.sessions.size, 0);
  } finally {
    await server.close();
  }
});

test('verify accepts with data (session.data) and Set-Cookie lines the client sees on the 101', async () => {
  interface User {
    readonly name: string;
  }
  const server = new WebSocketServer<User>({
    verify: async (request, info) => {
      await new Promise((resolve) => setImmediate(resolve)); // really async
      const name = info.query.get('name');
      if (name === null) return { accept: false, status: 400, body: 'name?' };
      return { accept: true, data: { name }, headers: { 'Set-Cookie': [`name=${name}`, 'seen=1'], 'X-Path': info.path ?? '?' } };
    },
  });
  server.route('/chat', async (session) => {
    for await (const message of session) await session.send(`${session.data.name} said ${String(message)}`);
  });
  const port = await start(server);
  try {
    const client = new WebSocket(`ws://127.0.0.1:${port}/chat?name=ann`);
    const opened = once(client, 'open'); // emitted in the same turn as 'upgrade'
    const [response] = (await once(client, 'upgrade')) as [import('node:http').IncomingMessage];
    assert.equal(response.headers['set-cookie'], ['name=ann', 'seen=1']);
    assert.is(response.headers['x-path'], '/chat');
    await opened;
    client.send('hi');
    const [reply] = await once(client, 'message');
    assert.is(String(reply), 'ann said hi');
    client.close();
    await once(client, 'close');

    const raw = await RawClient.open(port, handshakeRequest('/chat?name=bob'));
    assert.ok(raw.responseHead.startsWith('HTTP/1.1 101 Switching Protocols\r\n'), raw.responseHead);
    // The handshake's own headers first, then the hook's, one line per cookie.
    assert.ok(
      raw.responseHead.endsWith('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSet-Cookie: name=bob\r\nSet-Cookie: seen=1\r\nX-Path: /chat\r\n\r\n'),
      raw.responseHead,
    );
    raw.sendFrame(Opcode.Text, 'yo');
    const f = await raw.nextFrame();
    assert.is(f.payload.toString(), 'bob said yo');
    raw.destroy();

    assert.is((await refusal(`ws://127.0.0.1:${port}/chat`)).status, 400);
  } finally {
    await server.close();
  }
});

test('the session gets its request (URL, headers) and the peer address and port; verify sees the same peer', async () => {
  const seenByVerify: unknown[] = [];
  const sessions: DefaultWebSocketSession<undefined>[] = [];
  const server = new WebSocketServer({
    verify: (request, info) => {
      seenByVerify.push(info.remoteAddress, info.remotePort, request.headers['x-client']);
      return { accept: true };
    },
  }).route('/who', async (session) => {
    sessions.push(session);
    await session.send(`${session.remoteAddress} ${session.remotePort} ${session.request?.url} ${String(session.request?.headers['x-client'])}`);
    for await (const _ of session);
  });
  const port = await start(server);
  try {
    const raw = await RawClient.open(port, handshakeRequest('/who?x=1', { 'X-Client': 'raw-1' }));
    const localPort = raw.socket.localPort;
    const f = await raw.nextFrame();
    assert.is(f.payload.toString(), `127.0.0.1 ${localPort} /who?x=1 raw-1`);
    assert.equal(seenByVerify, ['127.0.0.1', localPort, 'raw-1']);
    assert.is(sessions[0]?.request?.method, 'GET');
    raw.destroy();
  } finally {
    await server.close();
  }
});

test('sessions: count and iteration follow clients as they come and go', async () => {
  const server = new WebSocketServer().route('/room', async (session) => {
    for await (const _ of session);
  });
  const port = await start(server);
  const portsOf = () => new Set([...server.sessions].map((s) => s.remotePort));
  try {
    assert.is(server.sessions.size, 0);
    const a = await connect(`ws://127.0.0.1:${port}/room`);
    const b = new WebSocket(`ws://127.0.0.1:${port}/room`);
    await once(b, 'open');
    const c = await RawClient.open(port, handshakeRequest('/room'));
    await waitFor(() => server.sessions.size === 3, 5000, '3 sessions');
    assert.ok(portsOf().has(c.socket.localPort));
    assert.ok(portsOf().has((b as unknown as { _socket: { localPort: number } })._socket.localPort));

    await a.close(); // a clean close handshake
    await waitFor(() => server.sessions.size === 2, 5000, '2 sessions');
    c.destroy(); // a vanished peer
    await waitFor(() => server.sessions.size === 1, 5000, '1 session');
    assert.not.ok(portsOf().has(c.socket.localPort));
    const last = [...server.sessions][0];
    assert.ok(last !== undefined && server.sessions.has(last));

    b.close();
    await once(b, 'close');
    await waitFor(() => server.sessions.size === 0, 5000, 'no session');
    assert.equal([...server.sessions], []);
  } finally {
    await server.close();
  }
});

test('a session\'s own completion handlers see the server\'s books already right: the session out of sessions, a failed handler reported', async () => {
  const log = errorLog();
  const seen: unknown[] = [];
  const server = new WebSocketServer({ onError: log.onError }).route('/x', async (session) => {
    session.raw.job.invokeOnCompletion(() => seen.push({ inSessions: server.sessions.has(session), reported: log.entries.length }));
    await session.receive();
    throw new Error('handler bug');
  });
  const port = await start(server);
  try {
    const client = await connect(`ws://127.0.0.1:${port}/x`);
    await client.send('go');
    assert.is((await client.closeReason).code, 1011);
    await waitFor(() => seen.length === 1, 2000, 'the completion handler');
    assert.equal(seen, [{ inSessions: false, reported: 1 }]);
  } finally {
    await server.close();
  }
});

test('a handler that throws: onError gets the error and its session, the client 1011, other sessions go on', async () => {
  const log = errorLog();
  const boom = new Error('handler bug');
  const server = new WebSocketServer({ onError: log.onError })
    .route('/bad', async (session) => {
      await session.receive();
      throw boom;
    })
    .route('/sync-bad', () => {
      throw new TypeError('sync bug');
    })
    .route('/ok', echo('ok'));
  const port = await start(server);
  try {
    const steady = await connect(`ws://127.0.0.1:${port}/ok`);
    const bad = await connect(`ws://127.0.0.1:${port}/bad`);
    await bad.send('go');
    assert.is((await bad.closeReason).code, 1011);
    const syncBad = await connect(`ws://127.0.0.1:${port}/sync-bad`);
    assert.is((await syncBad.closeReason).code, 1011);
    await waitFor(() => log.entries.length === 2, 5000, 'two reports');
    const [first, second] = log.entries;
    assert.is(first?.[0], boom);
    assert.is(first?.[1]?.request?.url, '/bad');
    assert.instance(second?.[0], TypeError);
    assert.is(second?.[1]?.request?.url, '/sync-bad');
    // The supervisor kept the failures local.
    await steady.send('alive');
    assert.is(await steady.receive(), 'ok:alive');
    await steady.close();
  } finally {
    await server.close();
  }
});

test('how a session ended is not a handler error: a vanished peer or a protocol error is not reported', async () => {
  const log = errorLog();
  const ended: unknown[] = [];
  const server = new WebSocketServer({ onError: log.onError }).route('/r', async (session) => {
    try {
      for await (const _ of session);
    } catch (error) {
      ended.push(error);
      throw error; // rethrown: still not a handler bug
    }
  });
  const port = await start(server);
  try {
    const vanishing = await RawClient.open(port, handshakeRequest('/r'));
    vanishing.sendFrame(Opcode.Text, Buffer.from('partial'), false);
    await waitFor(() => server.sessions.size === 1, 5000, 'the session');
    vanishing.destroy();
    const breaking = await RawClient.open(port, handshakeRequest('/r'));
    breaking.socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69])); // an unmasked frame from a client: 1002
    assert.is((await breaking.closeFrame()).code, 1002);
    breaking.destroy();
    await waitFor(() => ended.length === 2 && server.sessions.size === 0, 5000, 'both sessions over');
    assert.is((ended[0] as Error).name, 'ConnectionClosedError');
    assert.is((ended[1] as Error).name, 'ProtocolError');
    assert.equal(log.entries, []);
  } finally {
    await server.close();
  }
});

/**
 * Opens a session to `path` on `server` (whose handler throws), waits for its
 * 1011 and for `expected` on stderr, then closes the server; returns what was
 * written to stderr meanwhile.
 */
async function stderrOfFailingHandler(server: WebSocketServer, path: string, expected: string): Promise<string> {
  const port = await start(server);
  const written: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    const session = await connect(`ws://127.0.0.1:${port}${path}`);
    assert.is((await session.closeReason).code, 1011);
    await waitFor(() => written.join('').includes(expected), 5000, 'the report');
  } finally {
    process.stderr.write = write;
    await server.close();
  }
  return written.join('');
}

test('the default onError prints where and the stack to stderr', async () => {
  const server = new WebSocketServer().route('/bad', () => {
    throw new Error('printed bug');
  });
  const text = await stderrOfFailingHandler(server, '/bad', 'printed bug');
  assert.match(text, /WebSocketServer: the handler for \/bad \(127\.0\.0\.1:\d+\) threw:/);
  assert.match(text, /Error: printed bug\n\s+at /); // with the stack
});

test('an onError that throws does not crash: both errors go to stderr', async () => {
  const server = new WebSocketServer({
    onError: () => {
      throw new Error('reporter bug');
    },
  }).route('/bad', () => {
    throw new Error('handler bug 2');
  });
  const text = await stderrOfFailingHandler(server, '/bad', 'reporter bug');
  assert.match(text, /handler bug 2/);
  assert.match(text, /onError threw/);
});

test('a verify hook that throws: 500, a VerifyError with the cause through onError, and the server keeps serving', async () => {
  const log = errorLog();
  const cause = new Error('db down');
  let calls = 0;
  const server = new WebSocketServer({
    onError: log.onError,
    verify: async () => {
      if (calls++ === 0) throw cause;
      return { accept: true };
    },
  }).route('/v', echo('v'));
  const port = await start(server);
  try {
    const refused = await refusal(`ws://127.0.0.1:${port}/v?token=1`);
    assert.is(refused.status, 500);
    assert.is(refused.body.toString(), 'internal server error\n');
    assert.is(log.entries.length, 1);
    const [error, session] = log.entries[0] ?? [];
    assert.instance(error, VerifyError);
    assert.is((error as VerifyError).failure, 'threw');
    assert.is((error as VerifyError).cause, cause);
    assert.is((error as VerifyError).url, '/v?token=1');
    assert.is(session, undefined);
    assert.is(await roundTrip(`ws://127.0.0.1:${port}/v`, 'after'), 'v:after');
  } finally {
    await server.close();
  }
});

test('invalid verify results are a 500 and a report: undefined, an injected header, a reserved header, a bad status', async () => {
  const log = errorLog();
  const results: unknown[] = [
    undefined,
    { accept: true, headers: { 'Set-Cookie': 'a=1\r\nX-Injected: yes' } },
    { accept: false, status: 401, headers: { 'WWW-Authenticate': 'Basic\r\n\r\nHTTP/1.1 200 OK' } },
    { accept: true, headers: { 'Sec-WebSocket-Accept': 'forged' } },
    { accept: false, status: 101 },
  ];
  let next = 0;
  const server = new WebSocketServer({ onError: log.onError, verify: () => results[next++] as never }).route('/v', echo('v'));
  const port = await start(server);
  try {
    for (let i = 0; i < results.length; i++) {
      const raw = await rawExchange(port, handshakeRequest('/v'));
      assert.ok(raw.response.startsWith('HTTP/1.1 500 Internal Server Error\r\n'), raw.response);
      assert.not.match(raw.response, /X-Injected|forged|200 OK/);
    }
    assert.is(log.entries.length, results.length);
    for (const [error] of log.entries) {
      assert.instance(error, VerifyError);
      assert.is((error as VerifyError).failure, 'invalid-result');
    }
    assert.is(server.sessions.size, 0);
  } finally {
    await server.close();
  }
});

test('an origin check or protocol selector that throws: 500 and a report, never a crash', async () => {
  const log = errorLog();
  const server = new WebSocketServer({
    onError: log.onError,
    checkOrigin: () => {
      throw new Error('origin check bug');
    },
  })
    .route('/o', echo('o'))
    .route('/p', echo('p'), {
      checkOrigin: () => true,
      protocols: () => {
        throw new Error('selector bug');
      },
    });
  const port = await start(server);
  try {
    assert.is((await refusal(`ws://127.0.0.1:${port}/o`)).status, 500);
    // A selector runs only when the client offers protocols.
    const offered = await rawExchange(port, handshakeRequest('/p', { 'Sec-WebSocket-Protocol': 'x' }));
    assert.ok(offered.response.startsWith('HTTP/1.1 500 Internal Server Error\r\n'), offered.response);
    assert.equal(
      log.entries.map(([error, session]) => [(error as Error).message, session]),
      [
        ['origin check bug', undefined],
        ['selector bug', undefined],
      ],
    );
  } finally {
    await server.close();
  }
});

test('a verify hook that does not settle in time: 503, its signal aborted, a VerifyError "timeout"', async () => {
  const log = errorLog();
  let aborted: unknown;
  const server = new WebSocketServer({
    onError: log.onError,
    verifyTimeoutMs: 50,
    verify: (_, info) =>
      new Promise(() => {
        info.signal.addEventListener('abort', () => (aborted = info.signal.reason));
      }),
  }).route('/slow', echo('slow'));
  const port = await start(server);
  try {
    const refused = await refusal(`ws://127.0.0.1:${port}/slow`);
    assert.is(refused.status, 503);
    assert.is(log.entries.length, 1);
    assert.is((log.entries[0]?.[0] as VerifyError).failure, 'timeout');
    assert.is(aborted, log.entries[0]?.[0]);
  } finally {
    await server.close();
  }
});

test('a client that leaves during verify: the signal is aborted and no session starts', async () => {
  let release: (() => void) | undefined;
  let abortedWith: unknown;
  const started: unknown[] = [];
  const server = new WebSocketServer({
    verify: async (_, info) => {
      info.signal.addEventListener('abort', () => (abortedWith = info.signal.reason));
      await new Promise<void>((resolve) => (release = resolve));
      return { accept: true };
    },
  }).route('/v', (session) => void started.push(session));
  const port = await start(server);
  try {
    const client = await RawClient.open(port, null);
    client.socket.write(handshakeRequest('/v'));
    await waitFor(() => release !== undefined, 5000, 'verify to start');
    client.destroy();
    await waitFor(() => abortedWith !== undefined, 5000, 'the abort');
    assert.is((abortedWith as Error).name, 'ConnectionClosedError');
    release?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(started, []);
    assert.is(server.sessions.size, 0);
  } finally {
    await server.close();
  }
});

test('per-route options: protocols and verify override the server-wide ones (verify: undefined turns it off)', async () => {
  const server = new WebSocketServer({
    protocols: ['server.v1'],
    verify: () => ({ accept: false, status: 403 }),
  })
    .route('/guarded', echo('g'))
    .route('/open', async (session) => {
      await session.send(`protocol=${session.protocol}`);
      for await (const _ of session);
    }, { verify: undefined, protocols: ['route.v2'] })
    .route('/token', echo('t'), { verify: (request) => (request.headers['x-token'] === 's3cret' ? { accept: true } : { accept: false, status: 401 }) });
  const port = await start(server);
  try {
    assert.is((await refusal(`ws://127.0.0.1:${port}/guarded`)).status, 403);
    const open = await connect(`ws://127.0.0.1:${port}/open`, { protocols: ['server.v1', 'route.v2'] });
    assert.is(open.protocol, 'route.v2');
    assert.is(await open.receive(), 'protocol=route.v2');
    await open.close();
    // One subprotocol as a plain string, as `ws` and the browser's WebSocket take it.
    const single = await connect(`ws://127.0.0.1:${port}/open`, { protocols: 'route.v2' });
    assert.is(single.protocol, 'route.v2');
    assert.is(await single.receive(), 'protocol=route.v2');
    await single.close();
    assert.is((await refusal(`ws://127.0.0.1:${port}/token`)).status, 401);
    const token = await connect(`ws://127.0.0.1:${port}/token`, { headers: { 'X-Token': 's3cret' } });
    await token.send('in');
    assert.is(await token.receive(), 't:in');
    await token.close();
  } finally {
    await server.close();
  }
});

test('sessions is a read-only view: it follows the sessions, and cannot be changed (close() still reaches every one)', async () => {
  const server = new WebSocketServer().route('/chat', echo('c'));
  const port = await start(server);
  const client = await connect(`ws://127.0.0.1:${port}/chat`);
  try {
    await waitFor(() => server.sessions.size === 1, 2000, 'the session');
    const view = server.sessions as unknown as Partial<Set<unknown>>;
    assert.is(view.add, undefined);
    assert.is(view.delete, undefined);
    assert.is(view.clear, undefined);
    const [session] = [...server.sessions];
    assert.ok(session !== undefined && server.sessions.has(session));
    const seen: unknown[] = [];
    server.sessions.forEach((value, key, set) => seen.push(value === key && set === server.sessions));
    assert.equal(seen, [true]);
    assert.equal([...server.sessions.entries()], [[session, session]]);
    assert.equal([...server.sessions.keys()], [session]);
    assert.equal([...server.sessions.values()], [session]);
    const has = server.sessions.has.bind(server.sessions) as (value: unknown) => boolean;
    assert.is(has(undefined), false, 'anything else is not in it, and does not throw');
    assert.is(has({ raw: session.raw }), false);
  } finally {
    const summary = await server.close();
    assert.is(summary.sessions, 1);
  }
  assert.is((await client.closeReason).code, 1001, 'close() reached the session');
  assert.is(server.sessions.size, 0);
});

test('a route that sets one session limit keeps the server\'s other limits (merged key by key)', async () => {
  const server = new WebSocketServer({ session: { maxMessageSize: 1000 } })
    .route('/plain', echo('p'))
    .route('/tuned', echo('t'), { session: { closeTimeoutMs: 1000 } });
  const port = await start(server);
  try {
    for (const path of ['/plain', '/tuned']) {
      const client = await connect(`ws://127.0.0.1:${port}${path}`);
      await client.send(Buffer.alloc(5000));
      const received: unknown[] = [];
      for await (const message of client) received.push(message);
      assert.equal(received, [], `${path}: nothing echoed`);
      assert.is((await client.closeReason).code, 1009, `${path}: the server's maxMessageSize holds`);
    }
  } finally {
    await server.close();
  }
});

test('handshake errors are still the handshake\'s: a bad version is a 426 before verify runs', async () => {
  let verified = 0;
  const server = new WebSocketServer({
    verify: () => {
      verified++;
      return { accept: true };
    },
  }).route('/v', echo('v'));
  const port = await start(server);
  try {
    const raw = await rawExchange(port, handshakeRequest('/v', { 'Sec-WebSocket-Version': '8' }));
    assert.ok(raw.response.startsWith('HTTP/1.1 426 Upgrade Required\r\n'), raw.response);
    assert.is(verified, 0);
  } finally {
    await server.close();
  }
});

test('listen: requestHead.timeoutMs drops a slow request head (408) but never an upgraded, idle session', async () => {
  const server = new WebSocketServer({ requestHead: { timeoutMs: 200 } }).route('/e', echo('e'));
  const port = await start(server);
  try {
    const idle = await connect(`ws://127.0.0.1:${port}/e`);
    const slow = await rawExchange(port, 'GET /e HTTP/1.1\r\n', { timeoutMs: 5000 });
    assert.ok(slow.response.startsWith('HTTP/1.1 408 Request Timeout\r\n'), slow.response);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // past node's next timeout check
    await idle.send('still here');
    assert.is(await idle.receive(), 'e:still here');
    await idle.close();
  } finally {
    await server.close();
  }
});

test('listen: a port in use rejects with the error and the server can listen elsewhere', async () => {
  const first = new WebSocketServer().route('/a', echo('a'));
  const port = await start(first);
  const second = new WebSocketServer().route('/a', echo('second'));
  try {
    try {
      await second.listen(port, '127.0.0.1');
      assert.unreachable('listened twice on one port');
    } catch (error) {
      assert.is((error as NodeJS.ErrnoException).code, 'EADDRINUSE');
    }
    const other = await start(second);
    assert.is(await roundTrip(`ws://127.0.0.1:${other}/a`, 'z'), 'second:z');
  } finally {
    await Promise.all([first.close(), second.close()]);
  }
});

test.run();
