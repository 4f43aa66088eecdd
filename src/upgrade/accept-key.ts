/**
 * The `Sec-WebSocket-Key` / `Sec-WebSocket-Accept` pair of RFC 6455
 * section 4: the accept value a server answers with, and a fresh random key
 * for a client handshake.
 */
import { createHash, randomBytes } from 'node:crypto';

/** The GUID every RFC 6455 endpoint appends to the key before hashing. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`:
 * base64(SHA-1(key + GUID)). The key is used exactly as received.
 */
export function computeAcceptKey(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID, 'latin1').digest('base64');
}

/** A new client `Sec-WebSocket-Key`: 16 random bytes, base64 (24 characters). */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}
