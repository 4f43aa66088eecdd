/**
 * The server's option checks: `close()`'s code, reason and timeout, the
 * verify deadline, and misuse of `route` and `attach`, each a typed error
 * before anything happens.
 */
import { createServer } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ServerClosedError } from '../../../src/server/errors.ts';
import { checkDuration } from '../../../src/channels/duration.ts';
import { resolveCloseOptions } from '../../../src/server/options.ts';
import { WebSocketServer } from '../../../src/server/websocket-server.ts';

test('close options: defaults 1001, empty reason, 10 s', () => {
  assert.equal(resolveCloseOptions({}), { code: 1001, reason: '', timeoutMs: 10_000 });
  assert.equal(resolveCloseOptions({ code: 4000, reason: 'bye', timeoutMs: Infinity }), { code: 4000, reason: 'bye', timeoutMs: Infinity });
});

test('close options: a code that may not be sent, a long reason or a bad timeout is a RangeError', () => {
  for (const options of [{ code: 1006 }, { code: 1005 }, { code: 999 }, { code: 5000 }, { reason: 'x'.repeat(124) }, { timeoutMs: -1 }, { timeoutMs: 1.5 }, { timeoutMs: Number.NaN }, { timeoutMs: 2 ** 31 }]) {
    assert.throws(() => resolveCloseOptions(options), (error: unknown) => error instanceof RangeError, JSON.stringify(options));
  }
});

test('durations: whole milliseconds from the minimum to 2^31-1, or Infinity', () => {
  assert.is(checkDuration('t', 0, 0), 0);
  assert.is(checkDuration('t', 2 ** 31 - 1, 1), 2 ** 31 - 1);
  assert.is(checkDuration('t', Infinity, 1), Infinity);
  assert.throws(() => checkDuration('t', 0, 1), /t must be a whole number of milliseconds from 1/);
});

test('constructor: an invalid verifyTimeoutMs, session, channel or request-head limit is a RangeError', () => {
  assert.throws(() => new WebSocketServer({ verifyTimeoutMs: 0 }), (error: unknown) => error instanceof RangeError);
  assert.throws(() => new WebSocketServer({ session: { maxFrameSize: -1 } }), (error: unknown) => error instanceof RangeError);
  assert.throws(() => new WebSocketServer({ defaultSession: { pingIntervalMs: 0.5 } }), (error: unknown) => error instanceof RangeError);
  assert.throws(() => new WebSocketServer({ channels: { inputCapacity: 0 } }), (error: unknown) => error instanceof RangeError);
  assert.throws(() => new WebSocketServer({ requestHead: { timeoutMs: 2 ** 31 } }), (error: unknown) => error instanceof RangeError);
  new WebSocketServer({ session: { maxFrameSize: Infinity }, requestHead: { timeoutMs: Infinity } }); // fine
});

test('route: a bad path, a duplicate, a non-function handler or a bad per-route limit is an error at the call', () => {
  const server = new WebSocketServer();
  server.route('/a', () => {});
  assert.throws(() => server.route('a', () => {}), (error: unknown) => error instanceof TypeError);
  assert.throws(() => server.route('/a', () => {}), /already has a route/);
  assert.throws(() => server.route('/b', 'nope' as never), /handler must be a function/);
  assert.throws(() => server.route('/c', () => {}, { session: { closeTimeoutMs: -5 } }), (error: unknown) => error instanceof RangeError);
  assert.ok(server.handles('/a?x=1'));
  assert.not.ok(server.handles('/c'));
});

test('attach: twice to the same server or an unknown policy is a TypeError', () => {
  const server = new WebSocketServer();
  const http = createServer();
  server.attach(http);
  assert.throws(() => server.attach(http), /already attached/);
  assert.throws(() => server.attach(createServer(), { unknownPaths: 'drop' as never }), /unknownPaths must be/);
  assert.is(http.listenerCount('upgrade'), 1);
});

test('after close(): route, listen and attach throw ServerClosedError; close() again returns the same promise; a bad close rejects and changes nothing', async () => {
  const server = new WebSocketServer();
  try {
    await server.close({ code: 1006 });
    assert.unreachable('resolved');
  } catch (error) {
    assert.instance(error, RangeError);
  }
  assert.not.ok(server.closing);
  const closed = server.close();
  assert.ok(server.closing);
  assert.is(server.close(), closed);
  assert.equal(await closed, { sessions: 0, dropped: 0 });
  assert.throws(() => server.route('/a', () => {}), (error: unknown) => error instanceof ServerClosedError);
  assert.throws(() => server.attach(createServer()), (error: unknown) => error instanceof ServerClosedError);
  try {
    await server.listen(0, '127.0.0.1');
    assert.unreachable('listened');
  } catch (error) {
    assert.instance(error, ServerClosedError);
    assert.match((error as Error).message, /cannot listen/);
  }
});

test.run();
