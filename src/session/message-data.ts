/**
 * What a message may be given as to `send` and `publish`: text as a string,
 * bytes as a Buffer, any typed array or DataView, or an ArrayBuffer (the
 * forms `ws` takes), and how it becomes the payload, without a copy.
 */

import { types } from 'node:util';
import { isBuffer } from '../channels/is-buffer.ts';

/** A message to send: a string is a text message, bytes a binary one. */
export type MessageData = string | ArrayBufferView | ArrayBuffer;

/**
 * The bytes of a binary message, viewed in place. Throws a `TypeError` for
 * anything that is not bytes (a number, a plain object, a Blob: serialize it
 * first, or use `sendSerialized`).
 */
export function binaryPayload(data: ArrayBufferView | ArrayBuffer): Buffer {
  if (isBuffer(data)) return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const value: unknown = data; // what a JavaScript caller may pass, whatever the type says
  // isAnyArrayBuffer, not instanceof: an ArrayBuffer made in another realm (a vm context, a test runner's) counts too.
  if (types.isAnyArrayBuffer(value)) return Buffer.from(value);
  // typeof for primitives; the built-in tag for objects ('Object', 'Blob', 'Array').
  const got = typeof value === 'object' && value !== null ? Object.prototype.toString.call(value).slice(8, -1) : String(value === null ? null : typeof value);
  throw new TypeError(`a message is a string, a Buffer, a typed array, a DataView or an ArrayBuffer; got ${got}`);
}
