/**
 * Fragmentation (RFC 6455 section 5.4): one message as a run of frames of
 * bounded payload size, as views of the message (no copies). Control frames
 * may be sent between the fragments.
 */
import { Opcode, type Frame } from './frame.ts';

/**
 * Splits a message into frames carrying at most `maxFramePayload` bytes
 * each: the first has `opcode` (and `rsv1`, for a compressed message), the
 * rest are continuations, the last has `fin`. An empty message is one frame.
 */
export function fragmentMessage(
  opcode: typeof Opcode.Text | typeof Opcode.Binary,
  payload: Buffer,
  maxFramePayload: number,
  rsv1 = false,
): Frame[] {
  if (opcode !== Opcode.Text && opcode !== Opcode.Binary) {
    throw new TypeError(`a message starts with Opcode.Text or Opcode.Binary, got ${String(opcode)}`);
  }
  if (!Number.isInteger(maxFramePayload) || maxFramePayload < 1) {
    throw new RangeError(`maxFramePayload must be a positive integer, got ${maxFramePayload}`);
  }
  const frames: Frame[] = [];
  let at = 0;
  do {
    const end = Math.min(at + maxFramePayload, payload.length);
    frames.push({
      opcode: at === 0 ? opcode : Opcode.Continuation,
      fin: end === payload.length,
      rsv1: at === 0 && rsv1,
      rsv2: false,
      rsv3: false,
      payload: payload.subarray(at, end),
    });
    at = end;
  } while (at < payload.length);
  return frames;
}
