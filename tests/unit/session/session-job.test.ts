/**
 * The job `runSession` returns ends only after the reader, the writer and
 * the handler are done and the output is closed, whichever way the session
 * ends: driven over in-memory byte channels, so the order of the last steps
 * is observed exactly. And the write deadline over an output that reports
 * stalls (`watchStall`), with the stalls reported by hand.
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
import { WriteTimeoutError } from '../../../src/session/errors.ts';
import type { StallListener } from '../../../src/channels/byte-channel-types.ts';
import { turn } from '../../support/async.ts';
import { sleep } from '../../support/resources.ts';

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

/** An in-memory output whose stalls the test reports by hand (what `socketChannels` reports from its socket). */
class StallingOutput extends ByteChannel {
  stallListener: StallListener | undefined;

  watchStall(listener: StallListener | undefined): void {
    this.stallListener = listener;
  }
}

const CLOSE_REPLY = { opcode: Opcode.Close, fin: true, rsv1: false, rsv2: false, rsv3: false, payload: Buffer.from([0x03, 0xe8]) } as const;
const CLOSE_1000 = serializeFrame({ opcode: Opcode.Close, fin: true, rsv1: false, rsv2: false, rsv3: false, payload: Buffer.from([0x03, 0xe8]) }, KEY);

test('a stall of the output beyond writeTimeoutMs drops the session (WriteTimeoutError), with nothing waiting in the channel', async () => {
  const input = new ByteChannel();
  const output = new StallingOutput();
  const context = { job: new Job(), dispatcher: Dispatchers.Immediate };
  let raw!: RawWebSocketSession;
  const job = runSession(input, output, context, context, { role: 'server', options: { writeTimeoutMs: 50 } }, async (session) => {
    raw = session;
    await session.closeReason;
  });
  await turn();
  assert.ok(output.stallListener !== undefined, 'the writer watches the output');
  output.stallListener!.onStall(true);
  await job.join();
  assert.instance(raw.failure, WriteTimeoutError);
  assert.is(output.stallListener, undefined, 'the writer stopped watching');
});

test('a stall that ends in time is no timeout; one still going on when the writer stops is not held against the session', async () => {
  const input = new ByteChannel();
  const output = new StallingOutput();
  const context = { job: new Job(), dispatcher: Dispatchers.Immediate };
  let raw!: RawWebSocketSession;
  let handlerDone!: () => void;
  const lingering = new Promise<void>((resolve) => (handlerDone = resolve));
  const writeTimeoutMs = 300;
  const job = runSession(input, output, context, context, { role: 'server', options: { writeTimeoutMs } }, async (session) => {
    raw = session;
    await session.incoming.receive(); // the peer's close
    await session.send(CLOSE_REPLY); // a raw session's handler answers it: the handshake is done, the writer's task ends
    await lingering; // the handler goes on after the close handshake, past writeTimeoutMs
  });
  await turn();
  const listener = output.stallListener!;
  listener.onStall(true);
  await sleep(writeTimeoutMs / 2);
  listener.onStall(false);
  await sleep(writeTimeoutMs);
  assert.is(raw.failure, undefined, 'a stall shorter than writeTimeoutMs');
  listener.onStall(true); // our close reply will be stuck when the writer ends
  const stalledAt = Date.now();
  await input.writeFully(CLOSE_1000);
  while (output.stallListener !== undefined && Date.now() - stalledAt < writeTimeoutMs) await sleep(5);
  assert.is(output.stallListener, undefined, 'the writer stopped (and stopped watching) before the deadline');
  await sleep(2 * writeTimeoutMs);
  assert.is(raw.failure, undefined, 'the writer ended: what the socket still holds is not a wait of the session');
  handlerDone();
  await job.join();
  assert.equal(await raw.closeReason, { code: 1000, reason: '' });
});

test.run();
