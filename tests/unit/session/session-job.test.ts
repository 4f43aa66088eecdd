/**
 * The job `runSession` returns ends only after the reader, the writer and
 * the handler are done and the output is closed, whichever way the session
 * ends: driven over in-memory byte channels, so the order of the last steps
 * is observed exactly.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteChannel } from '../../../src/channels/byte-channel.ts';
import { Dispatchers } from '../../../src/channels/context.ts';
import { Job } from '../../../src/channels/job.ts';
import { Opcode } from '../../../src/frames/frame.ts';
import { serializeFrame } from '../../../src/frames/serializer.ts';
import type { RawWebSocketSession } from '../../../src/session/raw-session.ts';
import { runSession } from '../../../src/session/run-session.ts';

const KEY = Uint8Array.from([1, 2, 3, 4]);

test('terminate() once the reader and the handler are done: the job completes after the output is closed', async () => {
  const input = new ByteChannel();
  const output = new ByteChannel();
  const context = { job: new Job(), dispatcher: Dispatchers.Immediate };
  let raw!: RawWebSocketSession;
  const job = runSession(input, output, context, context, { role: 'server' }, (session) => {
    raw = session;
    const done = session.incoming.receive().then(() => {}); // the peer's close frame: the reader is done
    // Right after the handler's end is reported (its close 1000 queued, the writer not woken yet).
    void done.then(() => queueMicrotask(() => session.terminate()));
    return done;
  });
  let outputClosedAtEnd: boolean | undefined;
  job.invokeOnCompletion(() => (outputClosedAtEnd = output.isClosedForWrite));
  await input.writeFully(serializeFrame({ opcode: Opcode.Close, fin: true, rsv1: false, rsv2: false, rsv3: false, payload: Buffer.from([0x03, 0xe8]) }, KEY));
  await job.join();
  assert.ok(raw !== undefined);
  assert.is(outputClosedAtEnd, true, 'the output was closed when the job completed');
});

test('an output handed over with autoFlush off: the writer turns it on, so every batch is readable at once', async () => {
  const input = new ByteChannel();
  const output = new ByteChannel();
  output.autoFlush = false;
  const context = { job: new Job(), dispatcher: Dispatchers.Immediate };
  let readable: number[] | undefined;
  const job = runSession(input, output, context, context, { role: 'server' }, async (session) => {
    await session.send({ opcode: Opcode.Binary, fin: true, rsv1: false, rsv2: false, rsv3: false, payload: Buffer.from('hi') });
    await session.flush();
    readable = [...(output.tryReadChunk() ?? [])];
    session.terminate();
  });
  await job.join();
  assert.equal(readable, [0x82, 0x02, 0x68, 0x69], 'the frame was readable once the writer was idle');
});

test.run();
