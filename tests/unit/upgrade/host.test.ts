/** Tests of the Host / :authority grammar (RFC 9112 section 3.2, RFC 3986 section 3.2.2). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isValidHost } from '../../../src/upgrade/host.ts';

const VALID = [
  '',
  'example.com',
  'example.com:8080',
  'example.com:',
  '127.0.0.1',
  '127.0.0.1:9001',
  'localhost.',
  'my_host-1.example~x',
  "a!$&'()*+,;=b",
  'caf%C3%A9.example',
  '[::1]',
  '[::1]:443',
  '[2001:db8::1]',
  '[fe80::1%25eth0]:80',
  '[fe80::1%eth0]:8765', // a bare % before the zone: Python websockets and node:http send it
  '[v1.fe80::a+en1]',
];

const INVALID = [
  'a b',
  'a, b',
  'user@example.com',
  'example.com:http',
  'example.com:80:80',
  'a:b:c',
  '::1',
  '[::1',
  '[::1]x',
  '[::1]:x',
  '[not an ip]',
  '[::1%]',
  'caf%C.example',
  'bad/host',
  'bad?host',
  'bad#host',
  'tab\there',
  'é.example',
];

test('valid uri-host[:port] values are accepted', () => {
  for (const value of VALID) assert.ok(isValidHost(value), JSON.stringify(value));
});

test('values that break uri-host[:port] are refused', () => {
  for (const value of INVALID) assert.not.ok(isValidHost(value), JSON.stringify(value));
});

test('linear in the value: 64 KiB of reg-name characters, or an unterminated IP literal, answered at once', () => {
  const started = process.hrtime.bigint();
  assert.ok(isValidHost('a'.repeat(65536)));
  assert.not.ok(isValidHost('a'.repeat(65536) + ' '));
  assert.not.ok(isValidHost('[' + ':'.repeat(65536)));
  assert.not.ok(isValidHost('%2'.repeat(20000)));
  assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 500);
});

test.run();
