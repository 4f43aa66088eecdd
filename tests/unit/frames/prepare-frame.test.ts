/**
 * `prepareFrame`: a frame serialized once, whose wire bytes a server's
 * serializer then writes by reference for every connection (how a topic
 * message is framed once for all its subscribers). A hand-made `wire` is not
 * trusted, and a client masks a prepared frame afresh.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { frame, Opcode } from '../../../src/frames/frame.ts';
import { FrameSerializer, prepareFrame, serializeFrame } from '../../../src/frames/serializer.ts';

test('a server writes a prepared frame by reference: the same buffer for every serializer', () => {
  const prepared = prepareFrame(frame(Opcode.Text, Buffer.from('hello')));
  assert.equal(prepared.wire, serializeFrame(frame(Opcode.Text, Buffer.from('hello'))));
  const batches = [1, 2, 3].map(() => {
    const serializer = new FrameSerializer({ role: 'server' });
    serializer.write(frame(Opcode.Text, Buffer.from('a')));
    serializer.write(prepared);
    return serializer.take();
  });
  for (const batch of batches) {
    assert.is(batch.length, 2, 'the slab with the first frame, then the shared bytes');
    assert.is(batch[1], prepared.wire, 'the very same buffer, not a copy');
    assert.is(Buffer.concat(batch).toString('hex'), '8101' + '61' + '810568656c6c6f');
  }
});

test('a hand-made wire is ignored: the frame is serialized from its fields', () => {
  const forged = { ...frame(Opcode.Text, Buffer.from('ok')), wire: Buffer.from('not a frame') };
  const serializer = new FrameSerializer({ role: 'server' });
  serializer.write(forged);
  assert.is(Buffer.concat(serializer.take()).toString('hex'), '8102' + '6f6b');
});

test('a client masks a prepared frame afresh', () => {
  const prepared = prepareFrame(frame(Opcode.Binary, Buffer.from([1, 2, 3])));
  const serializer = new FrameSerializer({ role: 'client', maskKey: () => Uint8Array.from([0xff, 0, 0xff, 0]) });
  serializer.write(prepared);
  assert.is(Buffer.concat(serializer.take()).toString('hex'), '8283' + 'ff00ff00' + 'fe02fc');
});

test.run();
