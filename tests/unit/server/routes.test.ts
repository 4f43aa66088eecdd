/**
 * Routing by path: which pathname a request target has, how route paths are
 * normalised, and the table's exact matching with a default route.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requestPath, routePath, RouteTable } from '../../../src/server/routes.ts';

test('requestPath: origin form, query and fragment ignored', () => {
  assert.is(requestPath('/chat'), '/chat');
  assert.is(requestPath('/chat?room=1&x=%20'), '/chat');
  assert.is(requestPath('/chat#top'), '/chat');
  assert.is(requestPath('/'), '/');
});

test('requestPath: absolute form (http, https, ws, wss) gives its pathname', () => {
  assert.is(requestPath('http://example.test/chat?x=1'), '/chat');
  assert.is(requestPath('https://example.test:8443/a/b'), '/a/b');
  assert.is(requestPath('ws://example.test/chat'), '/chat');
  assert.is(requestPath('wss://example.test/chat'), '/chat');
  assert.is(requestPath('ftp://example.test/chat'), undefined);
});

test('requestPath: "//chat" stays a path (never read as a host)', () => {
  assert.is(requestPath('//chat'), '//chat');
  assert.is(requestPath('//evil.test/chat'), '//evil.test/chat');
});

test('requestPath: dot segments resolved, non-ASCII percent-encoded', () => {
  assert.is(requestPath('/a/../chat'), '/chat');
  assert.is(requestPath('/./chat'), '/chat');
  assert.is(requestPath('/%63hat'), '/%63hat'); // percent-encoding is not decoded
});

test('requestPath: targets that are not a path are undefined', () => {
  assert.is(requestPath(undefined), undefined);
  assert.is(requestPath(''), undefined);
  assert.is(requestPath('*'), undefined);
  assert.is(requestPath('example.test:443'), undefined);
  assert.is(requestPath('chat'), undefined);
  assert.is(requestPath('http://[::1'), undefined);
});

test('routePath: "*" and paths normalised like requests', () => {
  assert.is(routePath('*'), '*');
  assert.is(routePath('/chat'), '/chat');
  assert.is(routePath('/café'), '/caf%C3%A9');
  assert.is(routePath('/a/../b'), '/b');
  assert.is(routePath('/chat/'), '/chat/');
});

test('routePath: no leading slash, a query or a fragment is a TypeError', () => {
  for (const bad of ['', 'chat', '/chat?x=1', '/chat#a', '**', 'http://x/chat']) {
    assert.throws(() => routePath(bad), (error: unknown) => error instanceof TypeError, bad);
  }
  assert.throws(() => routePath(undefined as unknown as string), (error: unknown) => error instanceof TypeError);
});

test('RouteTable: exact pathname match, trailing slash distinct, query ignored', () => {
  const table = new RouteTable<string>();
  table.add('/chat', 'chat');
  table.add('/chat/', 'chat-slash');
  table.add('/café', 'cafe');
  assert.is(table.match('/chat'), 'chat');
  assert.is(table.match('/chat?room=1'), 'chat');
  assert.is(table.match('/chat/'), 'chat-slash');
  assert.is(table.match('/caf%C3%A9'), 'cafe');
  assert.is(table.match('/Chat'), undefined);
  assert.is(table.match('/chat/x'), undefined);
  assert.is(table.match('/'), undefined);
  assert.is(table.match('*'), undefined);
});

test('RouteTable: the default route takes every path no route matches, and only those', () => {
  const table = new RouteTable<string>();
  table.add('/chat', 'chat');
  table.add('*', 'default');
  assert.is(table.match('/chat'), 'chat');
  assert.is(table.match('/other'), 'default');
  assert.is(table.match('garbage'), 'default');
  assert.is(table.match(undefined), 'default');
});

test('RouteTable: a path given twice (also after normalisation) is a TypeError', () => {
  const table = new RouteTable<string>();
  table.add('/chat', 'a');
  table.add('*', 'd');
  assert.throws(() => table.add('/chat', 'b'), /already has a route/);
  assert.throws(() => table.add('/x/../chat', 'b'), /already has a route/);
  assert.throws(() => table.add('*', 'e'), /already has a route/);
  assert.is(table.match('/chat'), 'a');
});

test.run();
