/**
 * Helpers for the codec tests and properties: hand-built wire bytes (also
 * invalid ones the serializer refuses to produce) and a drain loop that
 * feeds chunks to a parser and collects frames and the error.
 */
import * as assert from 'uvu/assert';
import { FrameParser, ProtocolError, applyMask, type Frame, type FrameParserOptions } from '../../src/frames/index.ts';

/** The mask key of RFC 6455 section 5.7's examples. */
export const KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

/**
 * Wire bytes of one frame with first byte `byte0`, masked with `maskKey`
 * when given. `lengthBytes` forces the length form (0, 2 or 8 extra bytes),
 * minimal when omitted.
 */
export function wire(byte0: number, payload: Buffer | string, maskKey?: Buffer, lengthBytes?: 0 | 2 | 8): Buffer {
  const body = Buffer.from(payload);
  const n = body.length;
  const extra = lengthBytes ?? (n < 126 ? 0 : n < 0x10000 ? 2 : 8);
  const head = Buffer.alloc(2 + extra + (maskKey ? 4 : 0));
  head[0] = byte0;
  head[1] = (maskKey ? 0x80 : 0) | (extra === 0 ? n : extra === 2 ? 126 : 127);
  if (extra === 2) head.writeUInt16BE(n, 2);
  if (extra === 8) head.writeBigUInt64BE(BigInt(n), 2);
  if (maskKey) {
    maskKey.copy(head, 2 + extra);
    applyMask(body, maskKey);
  }
  return Buffer.concat([head, body]);
}

/** What a parser made of some chunks: the frames, then the error if one was thrown. */
export interface Drained {
  frames: Frame[];
  error: unknown;
}

/** Pushes each chunk (a copy, so the caller's bytes survive unmasking) and pulls frames until more bytes are needed. */
export function drain(options: FrameParserOptions | FrameParser, chunks: readonly Buffer[]): Drained {
  const parser = options instanceof FrameParser ? options : new FrameParser(options);
  const frames: Frame[] = [];
  try {
    for (const chunk of chunks) {
      parser.push(Buffer.from(chunk));
      for (let f = parser.next(); f !== undefined; f = parser.next()) frames.push(f);
    }
  } catch (error) {
    return { frames, error };
  }
  return { frames, error: undefined };
}

/** Asserts that `error` is a `ProtocolError` with `closeCode`. */
export function assertProtocolError(error: unknown, closeCode: number): void {
  assert.instance(error, ProtocolError, `expected a ProtocolError, got ${String(error)}`);
  assert.is((error as ProtocolError).closeCode, closeCode, (error as Error).message);
}

/** Splits `bytes` at the given cut points (sorted, within range). */
export function splitAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    out.push(bytes.subarray(from, cut));
    from = cut;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** One byte per chunk. */
export function bytewise(bytes: Buffer): Buffer[] {
  return Array.from(bytes, (b) => Buffer.from([b]));
}
