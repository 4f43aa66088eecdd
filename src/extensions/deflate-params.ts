/**
 * The negotiation rules of permessage-deflate (RFC 7692 section 7.1): the
 * four extension parameters, how a server picks the first acceptable offer
 * and answers it, what a client offers, and how a client checks the
 * server's answer. Pure functions over `ExtensionOffer`s; no zlib here.
 */
import type { ExtensionOffer } from './extension.ts';

/** The registered extension name. */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** The LZ77 window sizes RFC 7692 allows, as base-2 logarithms. */
export const MIN_WINDOW_BITS = 8;
export const MAX_WINDOW_BITS = 15;

/** What both ends agreed on: which side resets its compressor per message, and each side's window. */
export interface DeflateParams {
  /** The server compresses each message with a fresh context. */
  readonly serverNoContextTakeover: boolean;
  /** The client compresses each message with a fresh context. */
  readonly clientNoContextTakeover: boolean;
  /** Largest LZ77 window the server compresses with (8-15). */
  readonly serverMaxWindowBits: number;
  /** Largest LZ77 window the client compresses with (8-15). */
  readonly clientMaxWindowBits: number;
}

/** The negotiation preferences of one end (see `PerMessageDeflateOptions` for their meaning per side). */
export interface DeflateNegotiationOptions {
  readonly serverNoContextTakeover?: boolean;
  readonly clientNoContextTakeover?: boolean;
  readonly serverMaxWindowBits?: number;
  readonly clientMaxWindowBits?: number;
}

/** The server's answer to a permessage-deflate offer was not acceptable; the client must fail the connection. */
export class DeflateNegotiationError extends Error {
  override readonly name = 'DeflateNegotiationError';
}

/** One offer or response with its parameters checked: each at most once, known, with a valid value. */
interface ParsedParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** `undefined` when absent. */
  serverMaxWindowBits: number | undefined;
  /** `undefined` when absent, `true` when present without a value. */
  clientMaxWindowBits: number | true | undefined;
}

/** `8`..`15` in decimal without leading zeros, else `undefined`. */
function windowBits(value: string | true): number | undefined {
  if (value === true || !/^(?:[89]|1[0-5])$/.test(value)) return undefined;
  return Number(value);
}

/**
 * Checks the parameters of one element; returns a description of the first
 * problem (unknown, repeated, or with an invalid value) or the parsed params.
 */
function parseParams(params: ExtensionOffer['params']): ParsedParams | string {
  const out: ParsedParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (seen.has(name)) return `parameter ${name} appears more than once`;
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== true) return `parameter ${name} must not have a value`;
        if (name === 'server_no_context_takeover') out.serverNoContextTakeover = true;
        else out.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        const bits = windowBits(value);
        if (bits === undefined) return `parameter ${name} must be 8 to 15, got ${String(value)}`;
        out.serverMaxWindowBits = bits;
        break;
      }
      case 'client_max_window_bits': {
        const bits = value === true ? true : windowBits(value);
        if (bits === undefined) return `parameter ${name} must be 8 to 15 or valueless, got ${value}`;
        out.clientMaxWindowBits = bits;
        break;
      }
      default:
        return `unknown parameter ${name}`;
    }
  }
  return out;
}

/** Checks option values shared by both sides; throws RangeError on misuse. */
export function checkNegotiationOptions(options: DeflateNegotiationOptions): void {
  for (const key of ['serverMaxWindowBits', 'clientMaxWindowBits'] as const) {
    const value = options[key];
    if (value !== undefined && (!Number.isInteger(value) || value < MIN_WINDOW_BITS || value > MAX_WINDOW_BITS)) {
      throw new RangeError(`${key} must be an integer from 8 to 15, got ${String(value)}`);
    }
  }
}

/**
 * Server side: the agreed parameters and the response element for the
 * first acceptable offer, or `undefined` when none is acceptable.
 *
 * An offer is declined when a parameter is unknown, repeated or has an
 * invalid value, or when `clientMaxWindowBits` is below 15 and the offer
 * lacks `client_max_window_bits` (the client could not be told to use a
 * smaller window). Otherwise the response:
 * - has `server_no_context_takeover` when the client asked for it or the
 *   server wants it;
 * - has `client_no_context_takeover` when the client offered it (echoing
 *   the hint lets the server drop its inflater between messages) or the
 *   server wants it;
 * - has `server_max_window_bits` = the smaller of the offered value and
 *   the server's, when the client asked for a value or the server's is
 *   below 15;
 * - has `client_max_window_bits` = the smaller of the offered value (15
 *   when valueless) and the server's, when that is below 15 (it may only
 *   appear when the offer had the parameter).
 */
export function negotiateServer(
  offers: readonly ExtensionOffer[],
  options: DeflateNegotiationOptions,
): { params: DeflateParams; response: ExtensionOffer } | undefined {
  const serverBits = options.serverMaxWindowBits ?? MAX_WINDOW_BITS;
  const clientBits = options.clientMaxWindowBits ?? MAX_WINDOW_BITS;
  for (const offer of offers) {
    if (offer.name.toLowerCase() !== PERMESSAGE_DEFLATE) continue;
    const parsed = parseParams(offer.params);
    if (typeof parsed === 'string') continue;
    if (parsed.clientMaxWindowBits === undefined && clientBits < MAX_WINDOW_BITS) continue;
    const params: DeflateParams = {
      serverNoContextTakeover: parsed.serverNoContextTakeover || options.serverNoContextTakeover === true,
      clientNoContextTakeover: parsed.clientNoContextTakeover || options.clientNoContextTakeover === true,
      serverMaxWindowBits: Math.min(parsed.serverMaxWindowBits ?? MAX_WINDOW_BITS, serverBits),
      clientMaxWindowBits:
        parsed.clientMaxWindowBits === undefined
          ? MAX_WINDOW_BITS
          : Math.min(parsed.clientMaxWindowBits === true ? MAX_WINDOW_BITS : parsed.clientMaxWindowBits, clientBits),
    };
    const response: Array<readonly [string, string | true]> = [];
    if (params.serverNoContextTakeover) response.push(['server_no_context_takeover', true]);
    if (params.clientNoContextTakeover) response.push(['client_no_context_takeover', true]);
    if (parsed.serverMaxWindowBits !== undefined || params.serverMaxWindowBits < MAX_WINDOW_BITS) {
      response.push(['server_max_window_bits', String(params.serverMaxWindowBits)]);
    }
    if (params.clientMaxWindowBits < MAX_WINDOW_BITS) {
      response.push(['client_max_window_bits', String(params.clientMaxWindowBits)]);
    }
    return { params, response: { name: PERMESSAGE_DEFLATE, params: response } };
  }
  return undefined;
}

/**
 * Client side: the offer element. `client_max_window_bits` is always
 * offered (with the client's limit, or valueless: "the server may choose")
 * so the server can shrink the client's window to save its own memory.
 */
export function clientOfferElement(options: DeflateNegotiationOptions): ExtensionOffer {
  const params: Array<readonly [string, string | true]> = [];
  if (options.serverNoContextTakeover === true) params.push(['server_no_context_takeover', true]);
  if (options.clientNoContextTakeover === true) params.push(['client_no_context_takeover', true]);
  if (options.serverMaxWindowBits !== undefined) {
    params.push(['server_max_window_bits', String(options.serverMaxWindowBits)]);
  }
  params.push([
    'client_max_window_bits',
    options.clientMaxWindowBits === undefined ? true : String(options.clientMaxWindowBits),
  ]);
  return { name: PERMESSAGE_DEFLATE, params };
}

/**
 * Client side: checks the server's response to the offer `clientOfferElement(options)`
 * made and returns the agreed parameters.
 *
 * @throws DeflateNegotiationError when the response names another
 *   extension, has an unknown, repeated or invalid parameter, a valueless
 *   `client_max_window_bits`, a window larger than the offer allowed, or
 *   omits `server_no_context_takeover` / `server_max_window_bits` the
 *   client asked for (RFC 7692 sections 7.1.1.1 and 7.1.2.1: a server
 *   accepts those only by answering them).
 */
export function acceptServerResponse(response: ExtensionOffer, options: DeflateNegotiationOptions): DeflateParams {
  if (response.name.toLowerCase() !== PERMESSAGE_DEFLATE) {
    throw new DeflateNegotiationError(`the response is for ${response.name}, not ${PERMESSAGE_DEFLATE}`);
  }
  const parsed = parseParams(response.params);
  if (typeof parsed === 'string') {
    throw new DeflateNegotiationError(`invalid ${PERMESSAGE_DEFLATE} response: ${parsed}`);
  }
  if (options.serverNoContextTakeover === true && !parsed.serverNoContextTakeover) {
    throw new DeflateNegotiationError('the server did not accept server_no_context_takeover, which was offered');
  }
  const wantedServerBits = options.serverMaxWindowBits;
  if (wantedServerBits !== undefined) {
    if (parsed.serverMaxWindowBits === undefined) {
      throw new DeflateNegotiationError('the server did not accept server_max_window_bits, which was offered');
    }
    if (parsed.serverMaxWindowBits > wantedServerBits) {
      throw new DeflateNegotiationError(
        `server_max_window_bits=${parsed.serverMaxWindowBits} exceeds the offered ${wantedServerBits}`,
      );
    }
  }
  if (parsed.clientMaxWindowBits === true) {
    throw new DeflateNegotiationError('client_max_window_bits in a response must have a value');
  }
  const offeredClientBits = options.clientMaxWindowBits ?? MAX_WINDOW_BITS;
  if (parsed.clientMaxWindowBits !== undefined && parsed.clientMaxWindowBits > offeredClientBits) {
    throw new DeflateNegotiationError(
      `client_max_window_bits=${parsed.clientMaxWindowBits} exceeds the offered ${offeredClientBits}`,
    );
  }
  return {
    serverNoContextTakeover: parsed.serverNoContextTakeover,
    clientNoContextTakeover: parsed.clientNoContextTakeover || options.clientNoContextTakeover === true,
    serverMaxWindowBits: parsed.serverMaxWindowBits ?? MAX_WINDOW_BITS,
    clientMaxWindowBits: parsed.clientMaxWindowBits ?? offeredClientBits,
  };
}
