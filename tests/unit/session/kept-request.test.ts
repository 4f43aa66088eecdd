/**
 * `KeptRequest`: what a session keeps of its request, packed into one string
 * and unpacked on first read, gives back what it was given.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KeptRequest } from '../../../src/session/kept-request.ts';

test('method, URL, version and every header come back; arrays joined with ", "', () => {
  const kept = new KeptRequest({
    method: 'GET',
    url: '/chat?room=1',
    httpVersion: '1.1',
    headers: { host: 'example.test', cookie: 'a=1; b=2', 'x-list': ['one', 'two'], absent: undefined, empty: '' },
  });
  assert.is(kept.method, 'GET');
  assert.is(kept.url, '/chat?room=1');
  assert.is(kept.httpVersion, '1.1');
  assert.equal({ ...kept.headers }, { host: 'example.test', cookie: 'a=1; b=2', 'x-list': 'one, two', empty: '' });
  assert.is(kept.headers, kept.headers, 'unpacked once');
});

test('the headers object has no prototype: __proto__ and constructor are plain names', () => {
  const headers = Object.create(null) as Record<string, string>;
  headers['__proto__'] = 'p';
  headers['constructor'] = 'c';
  const kept = new KeptRequest({ headers });
  assert.is(Object.getPrototypeOf(kept.headers), null);
  assert.is(kept.headers['__proto__'], 'p');
  assert.is(kept.headers['constructor'], 'c');
});

test('no headers at all', () => {
  const kept = new KeptRequest({ headers: {} });
  assert.equal(Object.keys(kept.headers), []);
  assert.is(kept.method, undefined);
});

test.run();
