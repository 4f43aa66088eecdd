/**
 * Content converters (Ktor's `WebsocketContentConverter`): how a default
 * session's `sendSerialized` turns a value into a message and
 * `receiveDeserialized` turns a message back into a value. JSON by default;
 * set `defaultSession.converter` for another format (MessagePack, CBOR, ...).
 */
import type { Message } from './default-session.ts';

/** Turns values into messages and back. */
export interface MessageConverter {
  /** The message for `value`: a string goes out as a text message, bytes as a binary one. Throw if it cannot. */
  serialize(value: unknown): string | Uint8Array;
  /** The value a received message carries. Throw if it does not carry one. */
  deserialize(message: Message): unknown;
}

/** JSON in text messages (a binary message is read as UTF-8 JSON too). */
export const jsonConverter: MessageConverter = Object.freeze({
  serialize(value: unknown): string {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`${typeof value} has no JSON form`);
    return text;
  },
  deserialize(message: Message): unknown {
    return JSON.parse(typeof message === 'string' ? message : message.toString('utf8'));
  },
});

/** `sendSerialized` got a value its converter could not serialize (nothing was sent). */
export class SerializationError extends Error {
  override readonly name = 'SerializationError';
  constructor(cause: unknown) {
    super(`could not serialize the value: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/**
 * `receiveDeserialized` got a message its converter could not read (bad
 * input from the peer: the message is consumed, the session goes on).
 */
export class DeserializationError extends Error {
  override readonly name = 'DeserializationError';
  /** The message that could not be read. */
  readonly data: Message;
  constructor(data: Message, cause: unknown) {
    super(`could not deserialize a ${typeof data === 'string' ? 'text' : 'binary'} message of ${data.length} ${typeof data === 'string' ? 'characters' : 'bytes'}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.data = data;
  }
}
