/**
 * The envelope a broker wraps around each topic message on the bus: an
 * 18-byte header, then the payload. I/O-free.
 *
 *   offset  size  field
 *   0       1     version: 1
 *   1       1     flags: bit 0 set = binary message, clear = text (UTF-8);
 *                 the other bits are reserved and must be 0
 *   2       8     origin: the publishing broker's random id
 *   10      8     sequence: unsigned 64-bit big-endian, from 1, per origin and topic
 *   18      …     payload
 *
 * The topic is not in the envelope: it is the bus channel the message
 * travels on. Sequence numbers are counted with JavaScript numbers, exact up
 * to 2^53 (centuries at a million messages per second); a header with a
 * larger one is rejected as malformed.
 */
import { isUtf8 } from 'node:buffer';

export const ENVELOPE_VERSION = 1;
/** Bytes before the payload. */
export const ENVELOPE_HEADER_SIZE = 18;
/** Bytes of an origin id. */
export const ORIGIN_SIZE = 8;

const FLAG_BINARY = 0x01;
const TWO_32 = 2 ** 32;
/** Largest high word of a sequence number that stays exact in a double (2^53 - 1 overall). */
const MAX_SEQUENCE_HIGH = 2 ** 21 - 1;

/** A decoded envelope. `payload` is a view of the input, not a copy. */
export interface Envelope {
  readonly binary: boolean;
  /** The origin id as an 8-character latin1 string (cheap to compare and to use as a map key). */
  readonly origin: string;
  readonly sequence: number;
  readonly payload: Buffer;
}

/** Wraps `payload` (copied once into the result). `origin` must be ORIGIN_SIZE bytes; `sequence` 1 to 2^53 - 1. */
export function encodeEnvelope(origin: Buffer, sequence: number, binary: boolean, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(ENVELOPE_HEADER_SIZE + payload.length);
  out[0] = ENVELOPE_VERSION;
  out[1] = binary ? FLAG_BINARY : 0;
  origin.copy(out, 2, 0, ORIGIN_SIZE);
  out.writeUInt32BE(Math.floor(sequence / TWO_32), 10);
  out.writeUInt32BE(sequence % TWO_32, 14);
  out.set(payload, ENVELOPE_HEADER_SIZE);
  return out;
}

/**
 * Reads an envelope, or says in a few words why `data` is not one (too
 * short, unknown version or flags, sequence 0 or above 2^53 - 1, a text
 * payload that is not valid UTF-8). Never throws.
 */
export function decodeEnvelope(data: Buffer): Envelope | string {
  if (data.length < ENVELOPE_HEADER_SIZE) return `${data.length} bytes, shorter than the ${ENVELOPE_HEADER_SIZE}-byte header`;
  if (data[0] !== ENVELOPE_VERSION) return `unknown envelope version ${data[0]}`;
  const flags = data[1]!;
  if ((flags & ~FLAG_BINARY) !== 0) return `unknown flags 0x${flags.toString(16)}`;
  const high = data.readUInt32BE(10);
  const sequence = high * TWO_32 + data.readUInt32BE(14);
  if (sequence === 0) return 'sequence number 0';
  if (high > MAX_SEQUENCE_HIGH) return 'sequence number above 2^53 - 1';
  const binary = flags === FLAG_BINARY;
  const payload = data.subarray(ENVELOPE_HEADER_SIZE);
  if (!binary && !isUtf8(payload)) return 'text payload is not valid UTF-8';
  return { binary, origin: data.toString('latin1', 2, 2 + ORIGIN_SIZE), sequence, payload };
}

/** An origin id (as in `Envelope.origin`) in hex, as reported in gaps. */
export function originHex(origin: string): string {
  return Buffer.from(origin, 'latin1').toString('hex');
}
