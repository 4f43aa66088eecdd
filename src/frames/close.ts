/**
 * Close codes (RFC 6455 section 7.4 and the IANA registry) and the payload
 * of a close frame: a 2-byte big-endian code followed by a UTF-8 reason.
 */
import { ProtocolError } from './errors.ts';
import { isValidUtf8 } from './utf8.ts';

/** Registered close codes, by name. */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  NoStatusReceived: 1005,
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
  TlsHandshake: 1015,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** The most bytes a close reason may take: 125 payload bytes less the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/** The code and reason carried by a close frame. */
export interface CloseReason {
  /** The close code (RFC 6455 section 7.4; see `CloseCode`); 1005 when the frame carried none. */
  readonly code: number;
  /** The reason, UTF-8 decoded; empty when the frame carried none. */
  readonly reason: string;
}

/**
 * True for the codes allowed on the wire: 1000-1003, 1007-1014 and the
 * application / library range 3000-4999. 1004, 1005, 1006 and 1015 are
 * reserved for local use and never sent.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))
  );
}

/**
 * The payload of a close frame for `reason`, or an empty buffer when there is
 * none. Throws a `RangeError` for a code not allowed on the wire or a reason
 * longer than 123 UTF-8 bytes.
 */
export function encodeClosePayload(reason?: CloseReason): Buffer {
  if (reason === undefined) return Buffer.alloc(0);
  if (!isValidCloseCode(reason.code)) {
    throw new RangeError(
      `close code ${reason.code} may not be sent: use 1000-1003, 1007-1014 or 3000-4999`,
    );
  }
  const reasonBytes = Buffer.byteLength(reason.reason, 'utf8');
  if (reasonBytes > MAX_CLOSE_REASON_BYTES) {
    throw new RangeError(
      `close reason is ${reasonBytes} UTF-8 bytes; shorten it to at most ${MAX_CLOSE_REASON_BYTES}`,
    );
  }
  const payload = Buffer.alloc(2 + reasonBytes);
  payload.writeUInt16BE(reason.code, 0);
  payload.write(reason.reason, 2, 'utf8');
  return payload;
}

/**
 * Decodes a received close payload. Empty means "no status" (1005). Throws
 * `ProtocolError` 1002 for a 1-byte payload or a code not allowed on the
 * wire, and 1007 for a reason that is not UTF-8.
 */
export function decodeClosePayload(payload: Buffer): CloseReason {
  if (payload.length === 0) return { code: CloseCode.NoStatusReceived, reason: '' };
  if (payload.length === 1) {
    throw new ProtocolError(CloseCode.ProtocolError, 'close payload of 1 byte (a code needs 2)');
  }
  const code = payload.readUInt16BE(0);
  if (!isValidCloseCode(code)) {
    throw new ProtocolError(CloseCode.ProtocolError, `invalid close code ${code}`);
  }
  const reasonBytes = payload.subarray(2);
  if (!isValidUtf8(reasonBytes)) {
    throw new ProtocolError(CloseCode.InvalidPayload, 'close reason is not valid UTF-8');
  }
  return { code, reason: reasonBytes.toString('utf8') };
}
