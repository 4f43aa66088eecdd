/** RFC 6455 section 5.7's example frames, byte for byte, parsed and serialized. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameSerializer, Opcode, frame, serializeFrame } from '../../../src/frames/index.ts';
import { KEY, bytewise, drain } from '../../support/frames.ts';

const hello = Buffer.from('Hello');
const hex = (s: string): Buffer => Buffer.from(s.replace(/ /g, ''), 'hex');

const unmaskedHello = hex('81 05 48 65 6c 6c 6f');
const maskedHello = hex('81 85 37 fa 21 3d 7f 9f 4d 51 58');
const fragmented = [hex('01 03 48 65 6c'), hex('80 02 6c 6f')];
const unmaskedPing = hex('89 05 48 65 6c 6c 6f');
const maskedPong = hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58');
const binary256Header = hex('82 7e 01 00');
const binary64KHeader = hex('82 7f 00 00 00 00 00 01 00 00');

test('single-frame unmasked text: parse (client) and serialize (server)', () => {
  const { frames, error } = drain({ role: 'client' }, [unmaskedHello]);
  assert.is(error, undefined);
  assert.equal(frames, [frame(Opcode.Text, hello)]);
  assert.equal(serializeFrame(frame(Opcode.Text, hello)), unmaskedHello);
});

test('single-frame masked text: parse (server) and serialize (client, key 37 fa 21 3d)', () => {
  const { frames } = drain({ role: 'server' }, [maskedHello]);
  assert.equal(frames, [frame(Opcode.Text, hello)]);
  assert.equal(serializeFrame(frame(Opcode.Text, hello), KEY), maskedHello);
});

test('fragmented unmasked text "Hel" + "lo", whole and byte by byte', () => {
  const expected = [frame(Opcode.Text, Buffer.from('Hel'), false), frame(Opcode.Continuation, Buffer.from('lo'))];
  assert.equal(drain({ role: 'client' }, fragmented).frames, expected);
  assert.equal(drain({ role: 'client' }, bytewise(Buffer.concat(fragmented))).frames, expected);
  const serializer = new FrameSerializer({ role: 'server' });
  for (const f of expected) serializer.write(f);
  assert.equal(Buffer.concat(serializer.take()), Buffer.concat(fragmented));
});

test('unmasked ping "Hello" and masked pong "Hello"', () => {
  assert.equal(drain({ role: 'client' }, [unmaskedPing]).frames, [frame(Opcode.Ping, hello)]);
  assert.equal(serializeFrame(frame(Opcode.Ping, hello)), unmaskedPing);
  assert.equal(drain({ role: 'server' }, [maskedPong]).frames, [frame(Opcode.Pong, hello)]);
  assert.equal(serializeFrame(frame(Opcode.Pong, hello), KEY), maskedPong);
});

test('256-byte binary: 16-bit length header', () => {
  const payload = Buffer.alloc(256, 0xab);
  const bytes = serializeFrame(frame(Opcode.Binary, payload));
  assert.equal(bytes.subarray(0, 4), binary256Header);
  assert.equal(bytes.subarray(4), payload);
  assert.equal(drain({ role: 'client' }, [bytes]).frames, [frame(Opcode.Binary, payload)]);
});

test('64 KiB binary: 64-bit length header', () => {
  const payload = Buffer.alloc(65536, 0xcd);
  const serializer = new FrameSerializer({ role: 'server' });
  serializer.write(frame(Opcode.Binary, payload));
  const [header, body, ...rest] = serializer.take();
  assert.equal(header, binary64KHeader);
  assert.is(body, payload, 'a large server payload goes by reference');
  assert.is(rest.length, 0);
  assert.equal(drain({ role: 'client' }, [header!, body!]).frames, [frame(Opcode.Binary, payload)]);
});

test.run();
