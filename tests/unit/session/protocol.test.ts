/**
 * The sans-I/O connection state machine (src/session/protocol.ts), driven
 * synchronously byte for byte: bytes in, frames out; frames in, bytes out;
 * the close-handshake states and what goes out on a protocol error. No
 * sockets, no timers, no channels.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProtocolError } from '../../../src/frames/errors.ts';
import { frame, Opcode } from '../../../src/frames/frame.ts';
import { ConnectionState, Protocol } from '../../../src/session/protocol.ts';

const KEY = Uint8Array.from([0x37, 0xfa, 0x21, 0x3d]);

/** A server-side protocol, and a client-side one that masks with KEY. */
const server = (): Protocol => new Protocol({ role: 'server' });
const client = (): Protocol => new Protocol({ role: 'client', maskKey: () => KEY });

/** Bytes of `hex` (spaces ignored). */
const bytes = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');

/** What the protocol would write now, as one hex string. */
const sent = (p: Protocol): string => Buffer.concat(p.dataToSend()).toString('hex');

/** A masked client frame as the server receives it: the RFC 6455 section 5.7 "Hello" example. */
const MASKED_HELLO = bytes('81 85 37fa213d 7f9f4d5158');

test('bytes in, frames out: a masked text frame split at every position gives the same frame', () => {
  for (let cut = 0; cut <= MASKED_HELLO.length; cut++) {
    const p = server();
    p.receiveData(Buffer.from(MASKED_HELLO.subarray(0, cut)));
    if (cut < MASKED_HELLO.length) {
      assert.is(p.nextFrame(), undefined, `nothing complete after ${cut} bytes`);
      p.receiveData(Buffer.from(MASKED_HELLO.subarray(cut)));
    }
    const f = p.nextFrame();
    assert.ok(f);
    assert.is(f.opcode, Opcode.Text);
    assert.is(f.payload.toString(), 'Hello');
    assert.is(p.state, ConnectionState.Open);
  }
});

test('before any bytes: no frame, not in a frame; the parser options are still checked up front', () => {
  const p = server();
  assert.is(p.nextFrame(), undefined);
  assert.is(p.isInFrame, false);
  p.receiveData(Buffer.from(MASKED_HELLO.subarray(0, 1)));
  assert.is(p.isInFrame, true);
  assert.throws(() => new Protocol({ role: 'server', maxFrameSize: 1.5 }), (e: unknown) => e instanceof RangeError && /maxFrameSize/.test(e.message));
  new Protocol({ role: 'server', maxFrameSize: Infinity, maxMessageSize: Infinity }); // no bound of their own (as the session options allow)
  assert.throws(() => new Protocol({ role: 'server', maxMessageSize: -1 }), (e: unknown) => e instanceof RangeError && /maxMessageSize/.test(e.message));
  assert.throws(() => new Protocol({ role: 'server', rsvAllowed: 8 }), (e: unknown) => e instanceof RangeError && /rsvAllowed/.test(e.message));
  assert.throws(() => new Protocol({ role: 'peer' as 'server' }), TypeError);
});

test('frames in, bytes out: a server sends unmasked, a client masks with its key', () => {
  const s = server();
  s.sendFrame(frame(Opcode.Text, Buffer.from('Hello')));
  assert.is(sent(s), '810548656c6c6f');
  const c = client();
  c.sendFrame(frame(Opcode.Text, Buffer.from('Hello')));
  assert.is(sent(c), MASKED_HELLO.toString('hex'));
});

test('a ping is answered with a pong carrying its payload', () => {
  const p = server();
  p.receiveData(bytes('89 85 37fa213d 7f9f4d5158')); // masked ping "Hello" (RFC 6455 5.7)
  const ping = p.nextFrame();
  assert.ok(ping);
  assert.is(ping.opcode, Opcode.Ping);
  const pong = p.pongFor(ping);
  assert.ok(pong);
  p.sendFrame(pong);
  assert.is(sent(p), '8a0548656c6c6f');
});

test('we close first: Open → CloseSent → Closed when the peer answers; later frames are dropped', () => {
  const p = server();
  assert.ok(p.sendFrame(frame(Opcode.Close, bytes('03e8'))));
  assert.is(sent(p), '880203e8');
  assert.is(p.state, ConnectionState.CloseSent);
  assert.ok(p.closeSent);
  assert.is(p.sendFrame(frame(Opcode.Text, Buffer.from('late'))), false, 'nothing after our close');
  assert.is(sent(p), '');
  assert.is(p.pongFor(frame(Opcode.Ping)), undefined, 'no pong after our close');
  // The peer may still send data until its close; then its close ends the handshake.
  p.receiveData(Buffer.concat([MASKED_HELLO, bytes('88 82 00000000 03e8')]));
  assert.is(p.nextFrame()?.payload.toString(), 'Hello');
  assert.is(p.nextFrame()?.opcode, Opcode.Close);
  assert.is(p.state, ConnectionState.Closed);
  assert.equal(p.closeReceived, { code: 1000, reason: '' });
  assert.is(p.closeReply(), undefined, 'our close already went out');
});

test('the peer closes first: Open → CloseReceived; the reply echoes its code; bytes after its close are ignored', () => {
  const p = server();
  p.receiveData(bytes('88 85 00000000 03e9 627965')); // close 1001 "bye"
  p.receiveData(MASKED_HELLO); // after the close: ignored
  const close = p.nextFrame();
  assert.is(close?.opcode, Opcode.Close);
  assert.is(p.state, ConnectionState.CloseReceived);
  assert.equal(p.closeReceived, { code: 1001, reason: 'bye' });
  assert.is(p.isReading, false);
  assert.is(p.nextFrame(), undefined);
  // We may still send data before our close.
  p.sendFrame(frame(Opcode.Text, Buffer.from('last')));
  const reply = p.closeReply();
  assert.ok(reply);
  p.sendFrame(reply);
  assert.is(sent(p), '81046c617374' + '880203e9');
  assert.is(p.state, ConnectionState.Closed);
});

test('an empty close is answered by an empty close', () => {
  const p = server();
  p.receiveData(bytes('88 80 01020304'));
  p.nextFrame();
  assert.equal(p.closeReceived, { code: 1005, reason: '' });
  p.sendFrame(p.closeReply()!);
  assert.is(sent(p), '8800');
});

test('a protocol error: the error, then Failing; our close carries its code; nothing more is read; then Closed', () => {
  const p = server();
  p.receiveData(Buffer.concat([MASKED_HELLO, bytes('83 80 01020304'), MASKED_HELLO])); // opcode 3 is reserved
  assert.is(p.nextFrame()?.payload.toString(), 'Hello', 'frames before the error come first');
  let error: unknown;
  try {
    p.nextFrame();
  } catch (thrown) {
    error = thrown;
  }
  assert.instance(error, ProtocolError);
  assert.is((error as ProtocolError).closeCode, 1002);
  assert.is(p.state, ConnectionState.Failing);
  assert.is(p.failure, error);
  assert.is(p.nextFrame(), undefined, 'nothing is read after a failure');
  // A reply to the frames before the error may still go out, then the close with 1002.
  p.sendFrame(frame(Opcode.Text, Buffer.from('re')));
  const close = p.fail(error as ProtocolError);
  assert.ok(close);
  p.sendFrame(close);
  assert.is(sent(p), '81027265' + '880203ea');
  assert.is(p.state, ConnectionState.Closed);
});

test('what goes out for each kind of bad input: 1002, 1007, 1009', () => {
  const cases: [string, string, string][] = [
    ['unmasked frame to a server', '81 05 48656c6c6f', '880203ea'],
    ['invalid UTF-8 in text', '81 81 00000000 ff', '880203ef'],
    ['fragmented control frame', '09 80 00000000', '880203ea'],
    ['frame over maxFrameSize', '82 fe 0400 00000000', '880203f1'],
  ];
  for (const [what, input, close] of cases) {
    const p = new Protocol({ role: 'server', maxFrameSize: 1000 });
    p.receiveData(bytes(input));
    try {
      p.nextFrame();
      assert.unreachable(what);
    } catch (error) {
      assert.instance(error, ProtocolError, what);
      p.sendFrame(p.fail(error as ProtocolError)!);
    }
    assert.is(sent(p), close, what);
  }
});

test('a failure after our close went out: Closed at once, no second close', () => {
  const p = server();
  p.sendFrame(frame(Opcode.Close, bytes('03e8')));
  p.dataToSend();
  p.receiveData(bytes('83 80 01020304'));
  assert.throws(() => p.nextFrame(), (error: unknown) => error instanceof ProtocolError);
  assert.is(p.state, ConnectionState.Closed);
  assert.is(p.fail(new ProtocolError(1002, 'again')), undefined);
});

test('a failure found above the codec (an extension) fails the connection the same way', () => {
  const p = server();
  const close = p.fail(new ProtocolError(1007, 'inflated text is not UTF-8'));
  assert.ok(close);
  assert.is(p.state, ConnectionState.Failing);
  assert.is(p.isReading, false);
  p.sendFrame(close);
  assert.is(sent(p), '880203ef');
  assert.is(p.state, ConnectionState.Closed);
});

test('a client refuses masked frames from the server (1002)', () => {
  const c = client();
  c.receiveData(MASKED_HELLO);
  assert.throws(() => c.nextFrame(), (error: unknown) => error instanceof ProtocolError && error.closeCode === 1002);
  c.sendFrame(c.fail(new ProtocolError(1002, 'masked'))!);
  assert.is(sent(c), '8882' + '37fa213d' + Buffer.from([0x03 ^ 0x37, 0xea ^ 0xfa]).toString('hex'));
});

test.run();
