/**
 * permessage-deflate (RFC 7692): `permessageDeflate(settings)` is the
 * negotiator a server and a client configure alike (the server accepts the
 * first acceptable offer, the client offers and checks the answer), and
 * `PerMessageDeflate` the per-session extension that compresses outgoing
 * messages and inflates incoming ones through `node:zlib`, claiming RSV1.
 */
import * as zlib from 'node:zlib';
import { isControl, type Opcode } from '../frames/frame.ts';
import { Rsv } from '../frames/parser.ts';
import { MessageDeflater, MessageInflater } from './deflate-codec.ts';
import {
  acceptServerResponse,
  checkNegotiationOptions,
  clientOfferElement,
  negotiateServer,
  PERMESSAGE_DEFLATE,
  type DeflateParams,
} from './deflate-params.ts';
import type { EncodedMessage, ExtensionNegotiator, ExtensionOffer, NegotiatedExtension, WebSocketExtension } from './extension.ts';
import { sharedZlibLimiter } from './zlib-limiter.ts';
import { sharedZlibPool } from './zlib-pool.ts';

export { DeflateNegotiationError, type DeflateParams } from './deflate-params.ts';
export { CodecClosedError } from './deflate-codec.ts';

/**
 * Settings of permessage-deflate. The four negotiation settings mean, on a
 * server and on a client:
 */
export interface PerMessageDeflateOptions {
  /**
   * Server: always compress each message with a fresh context (a client's
   * request for it is always granted). Client: ask the server for that, and
   * fail the handshake if it does not agree. Default false.
   */
  readonly serverNoContextTakeover?: boolean;
  /**
   * Server: require clients to compress each message with a fresh context,
   * so no inflate state is kept between messages. Client: promise to.
   * Default false.
   */
  readonly clientNoContextTakeover?: boolean;
  /**
   * Server: the largest window it compresses with (a client's smaller
   * request wins). Client: ask the server for at most this window (8-15).
   * Default: not limited (15).
   */
  readonly serverMaxWindowBits?: number;
  /**
   * Server: the largest window clients may compress with; below 15, offers
   * without `client_max_window_bits` are declined. Client: the largest
   * window it will compress with (offered as `client_max_window_bits=N`;
   * without it a valueless `client_max_window_bits` lets the server choose).
   * Default: not limited (15).
   */
  readonly clientMaxWindowBits?: number;
  /** zlib compression level, -1 (zlib's default, 6) or 0-9. Default -1, as `ws`. */
  readonly level?: number;
  /** zlib memLevel, 1-9: memory of the compressor's hash table. Default 8, as `ws`. */
  readonly memLevel?: number;
  /** Messages shorter than this many bytes are sent uncompressed. Default 1024, as `ws`. */
  readonly threshold?: number;
  /**
   * Process-wide number of zlib operations allowed to run at once (all
   * connections share one limit; setting it changes that limit for every
   * connection in the process). Default 10, as `ws`.
   */
  readonly maxConcurrency?: number;
}

/** Defaults of the compression settings. */
export const PERMESSAGE_DEFLATE_DEFAULTS = {
  level: zlib.constants.Z_DEFAULT_COMPRESSION,
  memLevel: 8,
  threshold: 1024,
} as const;

interface CompressionSettings {
  readonly level: number;
  readonly memLevel: number;
  readonly threshold: number;
}

function checkInteger(name: string, value: number | undefined, min: number, max: number): void {
  if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

/** Validates the options (RangeError on misuse), applies `maxConcurrency`, and fills defaults. */
function resolve(options: PerMessageDeflateOptions): CompressionSettings {
  checkNegotiationOptions(options);
  for (const key of ['serverNoContextTakeover', 'clientNoContextTakeover'] as const) {
    const value = options[key];
    if (value !== undefined && typeof value !== 'boolean') {
      throw new TypeError(`${key} must be a boolean, got ${String(value)}`);
    }
  }
  checkInteger('level', options.level, -1, 9);
  checkInteger('memLevel', options.memLevel, 1, 9);
  checkInteger('threshold', options.threshold, 0, Number.MAX_SAFE_INTEGER);
  checkInteger('maxConcurrency', options.maxConcurrency, 1, Number.MAX_SAFE_INTEGER);
  if (options.maxConcurrency !== undefined) sharedZlibLimiter.concurrency = options.maxConcurrency;
  return {
    level: options.level ?? PERMESSAGE_DEFLATE_DEFAULTS.level,
    memLevel: options.memLevel ?? PERMESSAGE_DEFLATE_DEFAULTS.memLevel,
    threshold: options.threshold ?? PERMESSAGE_DEFLATE_DEFAULTS.threshold,
  };
}

/**
 * permessage-deflate in force on one session. Outgoing messages of at
 * least `threshold` bytes are compressed (RSV1 on the first frame);
 * incoming messages with RSV1 are inflated with a running size check.
 */
export class PerMessageDeflate implements WebSocketExtension {
  readonly name = PERMESSAGE_DEFLATE;
  readonly rsv = Rsv.Rsv1;
  /** Which end of the connection this is. */
  readonly role: 'server' | 'client';
  /** The negotiated parameters. */
  readonly params: DeflateParams;
  /** Set without context takeover on our side (see `WebSocketExtension.sharedEncodingKey`). */
  readonly sharedEncodingKey: string | undefined;
  readonly #threshold: number;
  readonly #sendNoContextTakeover: boolean;
  readonly #deflater: MessageDeflater;
  readonly #inflater: MessageInflater;

  constructor(role: 'server' | 'client', params: DeflateParams, settings: CompressionSettings) {
    this.role = role;
    this.params = params;
    this.#threshold = settings.threshold;
    const server = role === 'server';
    this.#sendNoContextTakeover = server ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    const windowBits = server ? params.serverMaxWindowBits : params.clientMaxWindowBits;
    this.sharedEncodingKey = this.#sendNoContextTakeover
      ? `${PERMESSAGE_DEFLATE};w=${windowBits};l=${settings.level};m=${settings.memLevel};t=${settings.threshold}`
      : undefined;
    this.#deflater = new MessageDeflater({
      windowBits,
      level: settings.level,
      memLevel: settings.memLevel,
      noContextTakeover: this.#sendNoContextTakeover,
      limiter: sharedZlibLimiter,
      pool: sharedZlibPool,
    });
    this.#inflater = new MessageInflater({
      windowBits: server ? params.clientMaxWindowBits : params.serverMaxWindowBits,
      noContextTakeover: server ? params.clientNoContextTakeover : params.serverNoContextTakeover,
      limiter: sharedZlibLimiter,
      pool: sharedZlibPool,
    });
  }

  /**
   * Compresses a data message unless it is empty or below `threshold`.
   * Without context takeover, a message that does not shrink is sent as is.
   */
  encode(opcode: Opcode, payload: Buffer): Promise<EncodedMessage> | EncodedMessage {
    if (isControl(opcode) || payload.length === 0 || payload.length < this.#threshold) {
      return { payload, rsv: 0 };
    }
    return this.#deflater.deflate(payload).then((compressed) =>
      this.#sendNoContextTakeover && compressed.length >= payload.length
        ? { payload, rsv: 0 }
        : { payload: compressed, rsv: Rsv.Rsv1 },
    );
  }

  /**
   * Inflates a message whose first frame had RSV1; others pass through.
   * Rejects with a `ProtocolError`: 1009 as soon as the output passes
   * `maxSize`, 1007 for invalid compressed data.
   */
  decode(payload: Buffer, rsv: number, maxSize: number): Promise<Buffer> | Buffer {
    if ((rsv & Rsv.Rsv1) === 0) return payload;
    return this.#inflater.inflate(payload, maxSize);
  }

  /** Releases the zlib streams; pending operations reject with `CodecClosedError`. */
  dispose(): void {
    this.#deflater.close();
    this.#inflater.close();
  }
}

/** `permessageDeflate`'s negotiator: what it makes is a `PerMessageDeflate`. */
export interface PerMessageDeflateNegotiator extends ExtensionNegotiator {
  negotiate(offers: readonly ExtensionOffer[]): (NegotiatedExtension & { readonly extension: PerMessageDeflate }) | undefined;
  accept(response: ExtensionOffer): PerMessageDeflate;
}

/**
 * permessage-deflate for a server's or a client's `extensions` list.
 * Server: accepts the first acceptable offer (RFC 7692 section 7.1; see
 * `negotiateServer` in deflate-params.ts for the exact rules). Client:
 * offers these settings and fails the handshake (`DeflateNegotiationError`,
 * reported as `UnexpectedExtensionError`) when the answer does not fit them.
 *
 * @throws RangeError / TypeError when an option is out of range.
 */
export function permessageDeflate(options: PerMessageDeflateOptions = {}): PerMessageDeflateNegotiator {
  const settings = resolve(options);
  const offer = clientOfferElement(options);
  return {
    name: PERMESSAGE_DEFLATE,
    negotiate(offers: readonly ExtensionOffer[]) {
      const negotiated = negotiateServer(offers, options);
      if (negotiated === undefined) return undefined;
      return {
        extension: new PerMessageDeflate('server', negotiated.params, settings),
        response: negotiated.response,
      };
    },
    offer: () => offer,
    accept: (response: ExtensionOffer) => new PerMessageDeflate('client', acceptServerResponse(response, options), settings),
  };
}
