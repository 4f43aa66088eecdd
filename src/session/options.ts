/**
 * Session limits and timeouts, with their defaults in one place. Every limit
 * the session enforces is here; `resolveOptions` fills in the rest. An
 * options object is read once, the first time a session uses it: later
 * changes to the same object are not seen (pass a new object instead).
 */
import { MAX_TIMER_MS } from '../channels/duration.ts';
import { jsonConverter, type MessageConverter } from './converter.ts';
import type { ProtocolOptions } from './protocol.ts';

/** Limits and timeouts of a raw session. */
export interface RawSessionOptions {
  /** Largest frame payload accepted from the peer (1009 above it). Default 16 MiB. */
  readonly maxFrameSize?: number;
  /** Largest message (sum of its frames' payloads) accepted from the peer (1009 above it). Default 16 MiB. */
  readonly maxMessageSize?: number;
  /** Frames parsed but not yet taken by the handler before reading pauses. Default 16. */
  readonly incomingQueue?: number;
  /**
   * Payload bytes of those frames before reading pauses (a frame is always
   * queued when none is; `Infinity` for no byte bound). Default 1 MiB.
   */
  readonly incomingQueueBytes?: number;
  /** Frames the handler may queue before `send` waits. Default 16. */
  readonly outgoingQueue?: number;
  /**
   * Payload bytes of those frames before `send` waits (a frame is always
   * queued when none is; `Infinity` for no byte bound). Default 1 MiB.
   */
  readonly outgoingQueueBytes?: number;
  /**
   * After our close frame is queued (sent or still waiting behind other
   * frames; with an extension, also from when a message ahead of it that
   * was encoded waits for room), how long to wait for the peer's before the
   * connection is dropped; also how long a failed connection waits for the
   * handler to take the frames that arrived before the failure. Default 5 s.
   */
  readonly closeTimeoutMs?: number;
  /**
   * How long the writer may wait on a peer that does not read before the
   * connection is dropped (1006, `WriteTimeoutError`; 0 disables): for room
   * in the output, or for the socket to take the bytes handed to it (one
   * large message fills it by itself). Each wait counts on its own: over
   * TCP a message must go out in this time once handed to the socket (16 MiB
   * at under about 0.5 MB/s fails), over HTTP/2 each batch of
   * `maxPendingWriteBytes`. Default 30 s.
   */
  readonly writeTimeoutMs?: number;
  /**
   * How long the peer may pause in the middle of a frame (no byte arriving
   * while a frame is partly received) before the connection is dropped
   * (1006); 0 disables. Pauses between frames do not count, nor do pauses
   * while the session itself is not reading (backpressure). Default 30 s.
   */
  readonly partialFrameTimeoutMs?: number;
}

/** Limits, timeouts and the content converter of a default session (on top of the raw ones). */
export interface DefaultSessionOptions {
  /** How `sendSerialized` and `receiveDeserialized` convert values. Default: JSON (`jsonConverter`). */
  readonly converter?: MessageConverter;
  /** Interval between our pings; 0 disables pinging. Default 0 (off, like ws and Ktor). */
  readonly pingIntervalMs?: number;
  /**
   * While a ping (keep-alive or `ping()`) waits for its pong, how long
   * without a pong before the connection is dropped (1006,
   * `PingTimeoutError`); time our reader spends paused by backpressure does
   * not count. 0: no deadline. Default 15 s.
   */
  readonly pingTimeoutMs?: number;
  /** Reassembled messages waiting for the handler before reading pauses. Default 16. */
  readonly messageQueue?: number;
  /**
   * Bytes of those messages (string length for text) before reading pauses
   * (a message is always queued when none is; `Infinity` for no byte bound).
   * Default 1 MiB.
   */
  readonly messageQueueBytes?: number;
}

export type ResolvedRawSessionOptions = Required<RawSessionOptions>;
export type ResolvedDefaultSessionOptions = Required<DefaultSessionOptions>;

export const RAW_SESSION_DEFAULTS: ResolvedRawSessionOptions = Object.freeze({
  maxFrameSize: 16 * 1024 * 1024,
  maxMessageSize: 16 * 1024 * 1024,
  incomingQueue: 16,
  incomingQueueBytes: 1024 * 1024,
  outgoingQueue: 16,
  outgoingQueueBytes: 1024 * 1024,
  closeTimeoutMs: 5_000,
  writeTimeoutMs: 30_000,
  partialFrameTimeoutMs: 30_000,
});

export const DEFAULT_SESSION_DEFAULTS: ResolvedDefaultSessionOptions = Object.freeze({
  converter: jsonConverter,
  pingIntervalMs: 0,
  pingTimeoutMs: 15_000,
  messageQueue: 16,
  messageQueueBytes: 1024 * 1024,
});

/**
 * What is wrong with `value` for option `key`, by the kind of option its name
 * says: durations (`…Ms`) are whole milliseconds a timer can wait; byte
 * budgets (`…Bytes`) positive; queue lengths and sizes whole numbers; either
 * of the last two may be `Infinity` (no bound).
 */
function checkOption(key: string, value: unknown): string | undefined {
  if (key === 'converter') {
    const converter = value as Partial<MessageConverter> | null;
    return typeof converter?.serialize === 'function' && typeof converter.deserialize === 'function'
      ? undefined
      : 'must have serialize and deserialize functions';
  }
  if (typeof value !== 'number') return 'must be a number';
  if (key.endsWith('Ms')) {
    return Number.isInteger(value) && value >= 0 && value <= MAX_TIMER_MS ? undefined : `must be a whole number of milliseconds from 0 to ${MAX_TIMER_MS}`;
  }
  const min = key.endsWith('Bytes') ? 1 : 0;
  return value === Infinity || (Number.isSafeInteger(value) && value >= min) ? undefined : `must be an integer of at least ${min}, or Infinity`;
}

/** Resolved options by the object the user gave and the defaults they fill (see `resolveOptions`). */
const resolvedCache = new WeakMap<object, Map<object, object>>();

/**
 * Fills defaults and rejects nonsense values with a RangeError (a TypeError for a converter; programmer
 * misuse; see `checkOption`). The result is frozen and shared: a server passes the same options
 * object for every connection, and each session points at one resolved copy
 * instead of holding its own.
 */
export function resolveOptions<T extends object>(defaults: Required<T>, given: T | undefined): Required<T> {
  if (given === undefined) return defaults;
  const byDefaults = resolvedCache.get(given);
  const cached = byDefaults?.get(defaults);
  if (cached !== undefined) return cached as Required<T>;
  const out = { ...defaults };
  for (const key of Object.keys(defaults) as (keyof T & string)[]) {
    const value = given[key];
    if (value === undefined) continue;
    const problem = checkOption(key, value);
    if (problem !== undefined) {
      const message = `option ${key} ${problem}, got ${String(value)}`;
      throw key === 'converter' ? new TypeError(message) : new RangeError(message);
    }
    out[key] = value as Required<T>[keyof T & string];
  }
  Object.freeze(out);
  if (byDefaults === undefined) resolvedCache.set(given, new Map([[defaults, out]]));
  else byDefaults.set(defaults, out);
  return out;
}

/** The frame rules of sessions by their resolved options, then by role and RSV bits (see `frameRules`). */
const rulesCache = new WeakMap<ResolvedRawSessionOptions, Map<number, ProtocolOptions>>();

/**
 * What a session's `Protocol` is made with: its role, the frame and message
 * limits of its resolved options and the RSV bits its extensions claim. One
 * frozen object per combination, shared by every session that has it (an
 * idle connection then holds none of its own).
 */
export function frameRules(options: ResolvedRawSessionOptions, role: 'server' | 'client', rsvAllowed: number): ProtocolOptions {
  let byKey = rulesCache.get(options);
  if (byKey === undefined) rulesCache.set(options, (byKey = new Map()));
  const key = rsvAllowed * 2 + (role === 'client' ? 1 : 0);
  let rules = byKey.get(key);
  if (rules === undefined) {
    rules = Object.freeze({ role, maxFrameSize: options.maxFrameSize, maxMessageSize: options.maxMessageSize, rsvAllowed });
    byKey.set(key, rules);
  }
  return rules;
}
