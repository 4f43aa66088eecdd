/** Serializer: batching and coalescing, masking without touching the caller's payload, lengths, fragmentation, misuse. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameSerializer, Opcode, fragmentMessage, frame, serializeFrame } from '../../../src/frames/index.ts';
import { KEY, drain } from '../../support/frames.ts';

test('small frames are coalesced into one buffer per batch', () => {
  const serializer = new FrameSerializer({ role: 'server' });
  serializer.write(frame(Opcode.Text, Buffer.from('a')));
  serializer.write(frame(Opcode.Ping, Buffer.from('b')));
  serializer.write(frame(Opcode.Binary, Buffer.alloc(1024, 1)));
  assert.is(serializer.pendingBytes, 3 + 3 + 4 + 1024);
  const batch = serializer.take();
  assert.is(batch.length, 1);
  assert.is(batch[0]!.length, 3 + 3 + 4 + 1024);
  assert.is(serializer.pendingBytes, 0);
  assert.equal(serializer.take(), []);
});

test('a large server payload goes by reference after its coalesced header', () => {
  const serializer = new FrameSerializer({ role: 'server', coalesceLimit: 16 });
  const big = Buffer.alloc(17, 5);
  serializer.write(frame(Opcode.Text, Buffer.from('hi')));
  serializer.write(frame(Opcode.Binary, big));
  serializer.write(frame(Opcode.Text, Buffer.from('after')));
  const batch = serializer.take();
  assert.is(batch.length, 3);
  assert.equal(batch[0], Buffer.concat([Buffer.from([0x81, 2]), Buffer.from('hi'), Buffer.from([0x82, 17])]));
  assert.is(batch[1], big);
  assert.equal(batch[2], Buffer.from([0x81, 5, ...Buffer.from('after')]));
});

test('client masking never touches the payload, small or large', () => {
  for (const size of [5, 2000, 70000]) {
    const payload = Buffer.alloc(size, 0x42);
    const copy = Buffer.from(payload);
    const serializer = new FrameSerializer({ role: 'client' });
    serializer.write(frame(Opcode.Binary, payload), KEY);
    const bytes = Buffer.concat(serializer.take());
    assert.equal(payload, copy, 'caller payload unchanged');
    assert.ok((bytes[1]! & 0x80) !== 0, 'mask bit set');
    const { frames, error } = drain({ role: 'server' }, [bytes]);
    assert.is(error, undefined);
    assert.equal(frames[0]!.payload, copy);
  }
});

test('client keys come from the maskKey option, else a random pool', () => {
  const keys = [Buffer.from([1, 2, 3, 4]), Buffer.from([5, 6, 7, 8])];
  const serializer = new FrameSerializer({ role: 'client', maskKey: () => keys.shift()! });
  serializer.write(frame(Opcode.Text, Buffer.from('x')));
  serializer.write(frame(Opcode.Text, Buffer.from('y')));
  const bytes = Buffer.concat(serializer.take());
  assert.equal(bytes.subarray(2, 6), Buffer.from([1, 2, 3, 4]));
  assert.equal(bytes.subarray(9, 13), Buffer.from([5, 6, 7, 8]));
  const random = new FrameSerializer({ role: 'client' });
  random.write(frame(Opcode.Text, Buffer.from('x')));
  random.write(frame(Opcode.Text, Buffer.from('x')));
  const out = Buffer.concat(random.take());
  assert.not.equal(out.subarray(2, 6), out.subarray(9, 13), 'two frames, two keys');
});

test('minimal length encoding at every boundary', () => {
  const cases: [number, number][] = [[0, 2], [125, 2], [126, 4], [65535, 4], [65536, 10]];
  for (const [size, header] of cases) {
    const bytes = serializeFrame(frame(Opcode.Binary, Buffer.alloc(size)));
    assert.is(bytes.length, header + size, `size ${size}`);
    const { frames, error } = drain({ role: 'client' }, [bytes]);
    assert.is(error, undefined, `size ${size}`);
    assert.is(frames[0]!.payload.length, size);
    assert.is(serializeFrame(frame(Opcode.Binary, Buffer.alloc(size)), KEY).length, header + 4 + size);
  }
});

test('rsv bits and fin are written as given', () => {
  const f = { ...frame(Opcode.Text, Buffer.from('z'), false, true), rsv3: true };
  assert.is(serializeFrame(f)[0], 0x40 | 0x10 | 0x01);
});

test('bytes from later batches never overwrite earlier ones', () => {
  const serializer = new FrameSerializer({ role: 'server' });
  serializer.write(frame(Opcode.Text, Buffer.from('first')));
  const [first] = serializer.take();
  const snapshot = Buffer.from(first!);
  for (let i = 0; i < 100; i++) serializer.write(frame(Opcode.Binary, Buffer.alloc(1000, i)));
  serializer.take();
  assert.equal(first, snapshot);
});

test('fragmentMessage: views of at most N bytes, opcode then continuations, fin last', () => {
  const payload = Buffer.from('abcdefghij');
  const frames = fragmentMessage(Opcode.Text, payload, 4, true);
  assert.equal(frames.map((f) => [f.opcode, f.fin, f.rsv1, f.payload.toString()]), [
    [Opcode.Text, false, true, 'abcd'],
    [Opcode.Continuation, false, false, 'efgh'],
    [Opcode.Continuation, true, false, 'ij'],
  ]);
  assert.is(frames[1]!.payload.buffer, payload.buffer);
  assert.equal(fragmentMessage(Opcode.Binary, Buffer.alloc(0), 4), [frame(Opcode.Binary, Buffer.alloc(0))]);
  assert.is(fragmentMessage(Opcode.Binary, Buffer.alloc(8), 4).length, 2);
});

test('fragments with interleaved control frames parse back in order', () => {
  const [a, b, c] = fragmentMessage(Opcode.Binary, Buffer.alloc(30, 1), 10);
  const serializer = new FrameSerializer({ role: 'client' });
  for (const f of [a!, frame(Opcode.Ping, Buffer.from('p')), b!, frame(Opcode.Pong), c!]) serializer.write(f);
  const { frames, error } = drain({ role: 'server' }, serializer.take());
  assert.is(error, undefined);
  assert.equal(frames.map((f) => f.opcode), [Opcode.Binary, Opcode.Ping, Opcode.Continuation, Opcode.Pong, Opcode.Continuation]);
});

test('misuse throws typed errors', () => {
  const serializer = new FrameSerializer({ role: 'client' });
  assert.throws(() => serializer.write(frame(Opcode.Ping, Buffer.alloc(126))), RangeError);
  assert.throws(() => serializer.write(frame(Opcode.Close, Buffer.alloc(0), false)), TypeError);
  assert.throws(() => serializer.write(frame(3 as Opcode)), TypeError);
  assert.throws(() => serializer.write(frame(Opcode.Text), Buffer.alloc(3)), RangeError);
  assert.is(serializer.pendingBytes, 0);
  assert.throws(() => new FrameSerializer({ role: 'server', coalesceLimit: -1 }), RangeError);
  assert.throws(() => fragmentMessage(Opcode.Text, Buffer.alloc(1), 0), RangeError);
  assert.throws(() => fragmentMessage(Opcode.Ping as typeof Opcode.Text, Buffer.alloc(1), 1), TypeError);
});

test('opcodes that are not integers 0..15 are refused, not ORed into the first byte', () => {
  const serializer = new FrameSerializer({ role: 'server' });
  for (const opcode of [-1, -8, -16, 16, 0xff, 1.5, Number.NaN, Infinity]) {
    const f = frame(opcode as Opcode);
    assert.throws(() => serializeFrame(f), TypeError, `serializeFrame: opcode ${opcode}`);
    assert.throws(() => serializer.write(f), TypeError, `write: opcode ${opcode}`);
  }
  for (const opcode of [3, 7, 11, 15]) assert.throws(() => serializeFrame(frame(opcode as Opcode)), TypeError);
  assert.is(serializer.pendingBytes, 0);
  for (const opcode of [Opcode.Continuation, Opcode.Text, Opcode.Binary, Opcode.Close, Opcode.Ping, Opcode.Pong]) {
    assert.is(serializeFrame(frame(opcode))[0], 0x80 | opcode);
  }
});

test('mask keys that are not 4 bytes are refused before anything is written', () => {
  const serializer = new FrameSerializer({ role: 'client', maskKey: () => Buffer.alloc(5) });
  assert.throws(() => serializer.write(frame(Opcode.Text, Buffer.from('x'))), RangeError);
  assert.throws(() => serializeFrame(frame(Opcode.Text, Buffer.alloc(2000)), Buffer.alloc(3)), RangeError);
  assert.is(serializer.pendingBytes, 0);
  assert.equal(serializer.take(), []);
});

test('serializers sharing the process-wide slab interleave without mixing their batches', () => {
  const a = new FrameSerializer({ role: 'server' });
  const b = new FrameSerializer({ role: 'server' });
  a.write(frame(Opcode.Text, Buffer.from('a1')));
  b.write(frame(Opcode.Text, Buffer.from('b1')));
  a.write(frame(Opcode.Text, Buffer.from('a2')));
  const batchA = a.take();
  b.write(frame(Opcode.Binary, Buffer.from('b2')));
  const batchB = b.take();
  assert.is(Buffer.concat(batchA).toString('hex'), '81026131' + '81026132');
  assert.is(Buffer.concat(batchB).toString('hex'), '81026231' + '82026232');
  // A later batch never overwrites bytes handed out before.
  a.write(frame(Opcode.Text, Buffer.from('a3')));
  a.take();
  assert.is(Buffer.concat(batchA).toString('hex'), '81026131' + '81026132');
});

test.run();
