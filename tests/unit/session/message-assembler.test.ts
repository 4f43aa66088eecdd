/**
 * The message assembler's choice between keeping a fragment by reference
 * and copying it, seen from outside: a fragment kept as a view of its read
 * changes with that read, a copied one does not. The reads here are plain
 * buffers standing for the parser's views of socket reads.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { frame, Opcode } from '../../../src/frames/frame.ts';
import { MessageAssembler } from '../../../src/session/message-assembler.ts';

/** A 64 KiB "socket read" filled with `fill`. */
function read(fill: number): Buffer {
  return Buffer.allocUnsafeSlow(64 * 1024).fill(fill);
}

/** Pushes `pieces` as one fragmented binary message, running `between` after each non-final piece; returns its payload. */
function assembled(pieces: Buffer[], between?: () => void): Buffer {
  const assembler = new MessageAssembler();
  let payload: Buffer | undefined;
  pieces.forEach((piece, i) => {
    const out = assembler.push(frame(i === 0 ? Opcode.Binary : Opcode.Continuation, piece, i === pieces.length - 1));
    if (out === undefined) between?.();
    else payload = out.payload;
  });
  assert.ok(assembler.idle);
  return payload!;
}

test('fragments that together fill most of their read stay views of it (no copy before the final concat)', () => {
  const reads = [read(1), read(2)];
  const pieces = reads.flatMap((r) => [0, 1, 2, 3].map((q) => r.subarray(q * 16 * 1024, (q + 1) * 16 * 1024)));
  // Each 16 KiB piece is a quarter of its read: alone it would not be worth keeping, together they are.
  const payload = assembled(pieces.slice(0, -1).concat(Buffer.alloc(1, 9)), () => reads[0]!.fill(7, 0, 1));
  assert.is(payload.length, 7 * 16 * 1024 + 1);
  assert.is(payload[0], 7, 'the first read was kept by reference, so a change to it shows');
  assert.is(payload[16 * 1024], 1);
  assert.is(payload[4 * 16 * 1024], 2);
  assert.is(payload[payload.length - 1], 9);
});

test('a fragment that keeps a small part of a large read is copied once the next read comes', () => {
  const reads = [read(1), read(2), read(3)];
  const pieces = reads.map((r) => r.subarray(100, 100 + 2048));
  let pushed = 0;
  const payload = assembled(pieces, () => {
    // After the second piece arrived (from another read), the first read is reused, as a socket's would be.
    if (++pushed === 2) reads[0]!.fill(0xee);
  });
  assert.is(payload.length, 3 * 2048);
  assert.ok(payload.subarray(0, 2048).every((b) => b === 1), 'the first piece was copied before its read changed');
  assert.ok(payload.subarray(2048, 4096).every((b) => b === 2));
  assert.ok(payload.subarray(4096).every((b) => b === 3));
});

test('small fragments between views keep their order, and a lone large fragment is handed over as it is', () => {
  const r = read(5);
  const pieces = [r.subarray(0, 4096), Buffer.from('ab'), r.subarray(4096, 40_000), Buffer.from('c')];
  const payload = assembled(pieces);
  assert.ok(payload.equals(Buffer.concat(pieces)));
  const lone = r.subarray(0, 2048);
  assert.is(assembled([lone, Buffer.alloc(0)]), lone, 'one non-empty part and an empty final frame: no copy');
});

test.run();
