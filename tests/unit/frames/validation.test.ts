/** One test per RFC 6455 section 5 rule the parser enforces, each checking the close code. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CloseCode, FrameParser, Opcode, Rsv } from '../../../src/frames/index.ts';
import { KEY, assertProtocolError, drain, wire } from '../../support/frames.ts';

const server = { role: 'server' } as const;
const client = { role: 'client' } as const;
const FIN = 0x80;

function failsWith(chunks: Buffer[], closeCode: number, options: Parameters<typeof drain>[0] = server): void {
  assertProtocolError(drain(options, chunks).error, closeCode);
}

test('RSV1, RSV2, RSV3 without a claiming extension: 1002', () => {
  for (const bit of [0x40, 0x20, 0x10]) failsWith([wire(FIN | bit | Opcode.Binary, 'x', KEY)], 1002);
});

test('RSV bits claimed through rsvAllowed are accepted and reported', () => {
  const { frames, error } = drain({ role: 'server', rsvAllowed: Rsv.Rsv1 | Rsv.Rsv3 }, [
    wire(FIN | 0x40 | 0x10 | Opcode.Binary, 'x', KEY),
  ]);
  assert.is(error, undefined);
  assert.ok(frames[0]!.rsv1 && !frames[0]!.rsv2 && frames[0]!.rsv3);
  failsWith([wire(FIN | 0x20 | Opcode.Binary, 'x', KEY)], 1002, { role: 'server', rsvAllowed: Rsv.Rsv1 });
});

test('claimed RSV bits on a control frame: 1002, from the first two bytes alone', () => {
  const all = { role: 'server', rsvAllowed: Rsv.Rsv1 | Rsv.Rsv2 | Rsv.Rsv3 } as const;
  for (const opcode of [Opcode.Close, Opcode.Ping, Opcode.Pong]) {
    for (const bit of [0x40, 0x20, 0x10]) {
      failsWith([Buffer.from([FIN | bit | opcode, 0x80])], 1002, all);
      // Also between the fragments of a message whose first frame carries the bit.
      failsWith([wire(0x40 | Opcode.Binary, 'a', KEY), wire(FIN | bit | opcode, '', KEY)], 1002, all);
    }
  }
});

test('claimed RSV bits on a continuation frame: 1002; on the first frame of a fragmented message they are fine', () => {
  const pmd = { role: 'server', rsvAllowed: Rsv.Rsv1 } as const;
  const first = wire(0x40 | Opcode.Text, 'a', KEY);
  const { frames, error } = drain(pmd, [first, wire(Opcode.Continuation, 'b', KEY), wire(FIN | Opcode.Continuation, 'c', KEY)]);
  assert.is(error, undefined);
  assert.equal(frames.map((f) => f.rsv1), [true, false, false]);
  for (const fin of [0, FIN]) {
    const result = drain(pmd, [first, wire(fin | 0x40 | Opcode.Continuation, 'b', KEY)]);
    assert.is(result.frames.length, 1, 'the first frame is returned');
    assertProtocolError(result.error, 1002);
  }
  const all = { role: 'server', rsvAllowed: Rsv.Rsv1 | Rsv.Rsv2 | Rsv.Rsv3 } as const;
  for (const bit of [0x20, 0x10]) failsWith([wire(Opcode.Binary, 'a', KEY), wire(FIN | bit | Opcode.Continuation, 'b', KEY)], 1002, all);
});

test('reserved opcodes 3-7 and 11-15: 1002, from the first two bytes alone', () => {
  for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
    failsWith([Buffer.from([FIN | opcode, 0x80])], 1002);
  }
});

test('fragmented control frame: 1002', () => {
  for (const opcode of [Opcode.Close, Opcode.Ping, Opcode.Pong]) failsWith([wire(opcode, '', KEY)], 1002);
});

test('control frame payload over 125 bytes: 1002', () => {
  failsWith([wire(FIN | Opcode.Ping, Buffer.alloc(126), KEY)], 1002);
  failsWith([Buffer.from([FIN | Opcode.Pong, 0x80 | 127])], 1002);
});

test('continuation with nothing to continue: 1002', () => {
  failsWith([wire(FIN | Opcode.Continuation, 'x', KEY)], 1002);
  failsWith([wire(FIN | Opcode.Text, 'done', KEY), wire(Opcode.Continuation, 'x', KEY)], 1002);
});

test('new text/binary frame inside a fragmented message: 1002', () => {
  failsWith([wire(Opcode.Text, 'a', KEY), wire(FIN | Opcode.Binary, 'b', KEY)], 1002);
  failsWith([wire(Opcode.Binary, 'a', KEY), wire(Opcode.Text, 'b', KEY)], 1002);
});

test('64-bit length with the top bit set: 1002', () => {
  failsWith([Buffer.from([FIN | Opcode.Binary, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0])], 1002);
});

test('non-minimal lengths: 1002', () => {
  failsWith([wire(FIN | Opcode.Binary, Buffer.alloc(125), KEY, 2)], 1002);
  failsWith([wire(FIN | Opcode.Binary, Buffer.alloc(65535), KEY, 8)], 1002);
});

test('server receiving an unmasked frame: 1002; client receiving a masked one: 1002', () => {
  failsWith([wire(FIN | Opcode.Text, 'x')], 1002, server);
  failsWith([wire(FIN | Opcode.Text, 'x', KEY)], 1002, client);
});

test('close payload of 1 byte: 1002', () => {
  failsWith([wire(FIN | Opcode.Close, Buffer.from([0x03]), KEY)], 1002);
});

test('invalid close codes: 1002', () => {
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    failsWith([wire(FIN | Opcode.Close, payload, KEY)], 1002);
  }
});

test('close reason that is not UTF-8: 1007', () => {
  failsWith([wire(FIN | Opcode.Close, Buffer.from([0x03, 0xe8, 0xc3, 0x28]), KEY)], 1007);
});

test('frame over maxFrameSize: 1009 from the header alone, before any payload', () => {
  const header = wire(FIN | Opcode.Binary, Buffer.alloc(1001), KEY).subarray(0, 8);
  failsWith([header], 1009, { role: 'server', maxFrameSize: 1000 });
  const parser = new FrameParser({ role: 'server', maxFrameSize: 1000 });
  parser.push(Buffer.from(wire(FIN | Opcode.Binary, Buffer.alloc(1000), KEY)));
  assert.is(parser.next()!.payload.length, 1000, 'exactly the limit is fine');
});

test('a header announcing 2^63-1 bytes fails at once, nothing allocated', () => {
  const parser = new FrameParser(server);
  parser.push(Buffer.from([FIN | Opcode.Binary, 0x80 | 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => parser.next(), (e: unknown) => (e as { closeCode?: number }).closeCode === 1009);
  assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20);
});

test('message over maxMessageSize: 1009 at the frame that crosses it', () => {
  const chunks = [wire(Opcode.Binary, Buffer.alloc(600), KEY), wire(FIN | Opcode.Continuation, Buffer.alloc(600), KEY)];
  const { frames, error } = drain({ role: 'server', maxFrameSize: 1000, maxMessageSize: 1000 }, chunks);
  assert.is(frames.length, 1);
  assertProtocolError(error, CloseCode.MessageTooBig);
  assert.is(drain({ role: 'server', maxFrameSize: 1000, maxMessageSize: 1200 }, chunks).error, undefined);
});

test('maxMessageSize defaults to maxFrameSize', () => {
  const chunks = [wire(Opcode.Binary, Buffer.alloc(600), KEY), wire(FIN | Opcode.Continuation, Buffer.alloc(600), KEY)];
  assertProtocolError(drain({ role: 'server', maxFrameSize: 1000 }, chunks).error, 1009);
});

test('invalid UTF-8 in a text frame: 1007', () => {
  for (const bad of ['c328', 'c0af', 'eda080', 'f4908080', 'f8888080', 'ff', 'e08080']) {
    failsWith([wire(FIN | Opcode.Text, Buffer.from(bad, 'hex'), KEY)], 1007);
  }
});

test('invalid UTF-8 across fragment boundaries: 1007 at the fragment with the bad byte', () => {
  // U+20AC split e2 | 82 ac is fine; e2 | 28 is not.
  const good = [wire(Opcode.Text, Buffer.from([0xe2]), KEY), wire(FIN | Opcode.Continuation, Buffer.from([0x82, 0xac]), KEY)];
  const result = drain(server, good);
  assert.is(result.error, undefined);
  assert.is(Buffer.concat(result.frames.map((f) => f.payload)).toString(), '\u20ac');
  const bad = [wire(Opcode.Text, Buffer.from([0xe2]), KEY), wire(Opcode.Continuation, Buffer.from([0x28]), KEY)];
  const { frames, error } = drain(server, bad);
  assert.is(frames.length, 1);
  assertProtocolError(error, 1007);
});

test('a text message ending inside a sequence fails at the final fragment: 1007', () => {
  const chunks = [wire(Opcode.Text, 'ok', KEY), wire(FIN | Opcode.Continuation, Buffer.from([0xf0, 0x9f]), KEY)];
  const { frames, error } = drain(server, chunks);
  assert.is(frames.length, 1);
  assertProtocolError(error, 1007);
});

test('control frames between fragments do not disturb UTF-8 state', () => {
  const chunks = [
    wire(Opcode.Text, Buffer.from([0xf0, 0x9f]), KEY),
    wire(FIN | Opcode.Ping, 'p', KEY),
    wire(FIN | Opcode.Continuation, Buffer.from([0x98, 0x80]), KEY),
  ];
  const { frames, error } = drain(server, chunks);
  assert.is(error, undefined);
  assert.equal(frames.map((f) => f.opcode), [Opcode.Text, Opcode.Ping, Opcode.Continuation]);
});

test('compressed (RSV1) text and validateUtf8: false are not UTF-8 checked', () => {
  const bad = Buffer.from([0xff, 0xfe]);
  assert.is(drain({ role: 'server', rsvAllowed: Rsv.Rsv1 }, [wire(FIN | 0x40 | Opcode.Text, bad, KEY)]).error, undefined);
  assert.is(drain({ role: 'server', validateUtf8: false }, [wire(FIN | Opcode.Text, bad, KEY)]).error, undefined);
});

test('binary payloads are never UTF-8 checked', () => {
  assert.is(drain(server, [wire(FIN | Opcode.Binary, Buffer.from([0xff]), KEY)]).error, undefined);
});

test.run();
