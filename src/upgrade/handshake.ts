/**
 * The server side of the RFC 6455 opening handshake, without I/O: the request
 * model (`UpgradeCall`), its validation into a `ValidatedRequest` (or a
 * `HandshakeError` carrying the HTTP status to answer with), subprotocol
 * selection, and the headers of the 101 response. The version check, the
 * reading of the offers (subprotocols, extensions, origin) and the
 * negotiated response headers are shared with HTTP/2's extended CONNECT
 * (h2-handshake.ts).
 *
 * Headers are read by own-property lookup only (`Object.hasOwn`), so names
 * such as `__proto__`, `constructor` or `hasOwnProperty` can neither reach
 * nor come from `Object.prototype`, and a missing header is always a clean
 * `HandshakeError`, never a crash.
 */
import { computeAcceptKey } from './accept-key.ts';
import { HandshakeError } from './errors.ts';
import { isValidHost } from './host.ts';
import {
  parseExtensions,
  parseSubprotocols,
  parseTokenList,
  parseUpgradeProtocols,
} from './header-tokens.ts';
import type { ExtensionOffer } from '../extensions/extension.ts';

/**
 * The HTTP request an upgrade answers. node:http's `IncomingMessage` and
 * `readRequestHead`'s `RequestHead` both satisfy it. Header names are lower
 * case. A header given as an array (several lines) is read like node's
 * joined form: the lines joined with ", ".
 */
export interface UpgradeCall {
  /** Must be `GET` (400 otherwise). */
  readonly method?: string | undefined;
  /** `"1.1"` for HTTP/1.1. */
  readonly httpVersion: string;
  /** The request target, e.g. `/chat?room=1`. */
  readonly url?: string | undefined;
  /** The request's headers, names in lower case. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * Chooses the subprotocol from the client's offer (never empty when called),
 * or `undefined` for none. It must return one of `offered`.
 */
export type ProtocolSelector = (offered: readonly string[], call: UpgradeCall) => string | undefined;

/** Options of `validateUpgradeRequest`. */
export interface HandshakeOptions {
  /**
   * The subprotocols the server speaks. A list is in the server's order of
   * preference: the first one the client offered is selected, whatever the
   * client's order. A function decides itself. Default: no subprotocol.
   */
  readonly protocols?: readonly string[] | ProtocolSelector | undefined;
  /**
   * Accepts or refuses the request's `Origin` (`undefined` when absent);
   * refused requests get 403. Default: every origin is accepted.
   */
  readonly checkOrigin?: ((origin: string | undefined, call: UpgradeCall) => boolean) | undefined;
}

/**
 * What an HTTP/1.1 upgrade (RFC 6455) and an HTTP/2 extended CONNECT
 * (RFC 8441) share once validated: the client's offers, the selected
 * subprotocol and the origin.
 */
export interface WebSocketOffer {
  /** The subprotocols the client offered, in its order (empty when none). */
  readonly protocols: readonly string[];
  /** The subprotocol selected by `HandshakeOptions.protocols`, if any. */
  readonly protocol: string | undefined;
  /** The extensions the client offered, parsed but not negotiated. */
  readonly extensions: readonly ExtensionOffer[];
  /** The `Origin` header, if any. */
  readonly origin: string | undefined;
}

/** A request that passed validation: what the 101 response and the session need. */
export interface ValidatedRequest extends WebSocketOffer {
  /** `Sec-WebSocket-Key` as received. */
  readonly key: string;
  /** The `Sec-WebSocket-Accept` value for `key`. */
  readonly acceptKey: string;
}

/** The only `Sec-WebSocket-Version` this server speaks (RFC 6455). */
const SUPPORTED_VERSION = '13';

/**
 * A header's value by own-property lookup. Arrays are joined with ", " (as
 * node:http joins repeated lines); anything that is not a string is absent.
 */
export function readHeader(call: UpgradeCall, name: string): string | undefined {
  if (!Object.hasOwn(call.headers, name)) return undefined;
  const value: unknown = call.headers[name];
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const lines = value.filter((line): line is string => typeof line === 'string');
    return lines.length === 0 ? undefined : lines.join(', ');
  }
  return undefined;
}

/**
 * Refuses an upgrade request's HTTP version unless it is `1.minor` with
 * minor 1 or more: RFC 6455's "HTTP/1.1 or higher" within HTTP/1 (HTTP/2
 * and later have no Upgrade: they open WebSockets with an extended CONNECT,
 * RFC 8441, see h2-handshake.ts). Another major version is a 505.
 */
function requireHttp11(version: string): void {
  const match = /^(\d{1,3})\.(\d{1,3})$/.exec(version);
  if (match !== null && match[1] !== '1') {
    throw new HandshakeError(505, `HTTP/${version} cannot upgrade to WebSocket; HTTP/1.1 is required`);
  }
  if (match === null || match[2] === '0') {
    throw new HandshakeError(400, `HTTP/${version} cannot upgrade to WebSocket; HTTP/1.1 is required`);
  }
}

/** True when `key` is canonical base64 of exactly 16 bytes (24 characters, `==` padded). */
function isValidKey(key: string): boolean {
  if (key.length !== 24) return false;
  const bytes = Buffer.from(key, 'base64');
  return bytes.length === 16 && bytes.toString('base64') === key;
}

/** True when the list header `name` contains `token` (ASCII case-insensitive); 400 on bad syntax or absence. */
function requireListToken(
  call: UpgradeCall,
  name: string,
  display: string,
  parse: (value: string) => string[] | null,
  token: string,
): void {
  const value = readHeader(call, name);
  if (value === undefined) throw new HandshakeError(400, `missing ${display} header`);
  const list = parse(value);
  if (list === null) throw new HandshakeError(400, `invalid ${display} header syntax`);
  if (!list.some((element) => element.toLowerCase() === token)) {
    throw new HandshakeError(400, `${display} header must contain "${token}"`);
  }
}

function selectProtocol(
  offered: readonly string[],
  protocols: HandshakeOptions['protocols'],
  call: UpgradeCall,
): string | undefined {
  if (protocols === undefined || offered.length === 0) return undefined;
  if (typeof protocols !== 'function') return protocols.find((p) => offered.includes(p));
  const chosen = protocols(offered, call);
  if (chosen !== undefined && !offered.includes(chosen)) {
    throw new TypeError(
      `the protocols selector returned ${JSON.stringify(chosen)}, which the client did not offer; ` +
        `return one of ${JSON.stringify(offered)} or undefined`,
    );
  }
  return chosen;
}

/**
 * Validates a WebSocket upgrade request (RFC 6455 section 4.2.1), in this
 * order:
 * - method `GET`, else 400 (the issue asks for a plain 400; a 405 would need
 *   an `Allow` header and adds nothing for a WebSocket client);
 * - HTTP/1.1 or a later 1.x, else 400 (another major version: 505);
 * - no body (see `requireNoBody`), else 400;
 * - a `Host` header (required by HTTP/1.1 and RFC 6455 4.1) whose value
 *   is `uri-host[:port]` (see host.ts), else 400 (RFC 9112 section 3.2);
 * - `Upgrade` listing `websocket`, and `Connection` listing `upgrade`
 *   (RFC 7230 lists, any case), else 400;
 * - `Sec-WebSocket-Version: 13`, else 426 with `Sec-WebSocket-Version: 13`;
 * - `Sec-WebSocket-Key` canonical base64 of exactly 16 bytes, else 400;
 * - valid `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` syntax
 *   when present, else 400;
 * - `options.checkOrigin`, else 403.
 * Then selects the subprotocol (see `HandshakeOptions.protocols`); offering
 * nothing the server speaks is not an error: the response carries no
 * protocol and the client decides.
 *
 * @throws HandshakeError for any bad request (network input).
 * @throws TypeError when a `protocols` function returns a protocol the
 *   client did not offer. Errors thrown by the callbacks propagate.
 */
export function validateUpgradeRequest(call: UpgradeCall, options: HandshakeOptions = {}): ValidatedRequest {
  if (call.method !== 'GET') {
    throw new HandshakeError(400, `method ${call.method ?? '(none)'} cannot upgrade to WebSocket; use GET`);
  }
  requireHttp11(call.httpVersion);
  requireNoBody(call);
  const host = readHeader(call, 'host');
  if (host === undefined) throw new HandshakeError(400, 'missing Host header');
  if (!isValidHost(host)) throw new HandshakeError(400, 'invalid Host header: must be one uri-host[:port] (RFC 9112 section 3.2)');
  requireListToken(call, 'upgrade', 'Upgrade', parseUpgradeProtocols, 'websocket');
  requireListToken(call, 'connection', 'Connection', parseTokenList, 'upgrade');

  requireVersion13(call);

  const key = readHeader(call, 'sec-websocket-key');
  if (key === undefined) throw new HandshakeError(400, 'missing Sec-WebSocket-Key header');
  if (!isValidKey(key)) {
    throw new HandshakeError(400, 'invalid Sec-WebSocket-Key header: must be 16 bytes in base64');
  }

  return { key, acceptKey: computeAcceptKey(key), ...readOffer(call, options) };
}

/**
 * A handshake request has no body: the bytes after its head are the
 * client's first frames. So `Transfer-Encoding`, and a `Content-Length`
 * other than 0 (an invalid or repeated one included, which RFC 9112 section
 * 6.3 makes a 400 anyway), are a 400: a proxy in front that framed such a
 * request by its body could be made to pass bytes we read as frames, or the
 * other way round (request smuggling, RFC 9112 section 11.2).
 *
 * @throws HandshakeError 400.
 */
function requireNoBody(call: UpgradeCall): void {
  if (readHeader(call, 'transfer-encoding') !== undefined) {
    throw new HandshakeError(400, 'a WebSocket handshake request has no body: Transfer-Encoding is not allowed');
  }
  const length = readHeader(call, 'content-length');
  if (length !== undefined && !/^0+$/.test(length)) {
    throw new HandshakeError(400, 'a WebSocket handshake request has no body: Content-Length must be 0');
  }
}

/**
 * `Sec-WebSocket-Version: 13`, else 426 with `Sec-WebSocket-Version: 13`
 * (RFC 6455 section 4.2.2; RFC 8441 keeps it) and `Upgrade: websocket`
 * (RFC 9110 section 15.5.22; dropped from HTTP/2 answers).
 *
 * @throws HandshakeError 426.
 */
export function requireVersion13(call: UpgradeCall): void {
  const version = readHeader(call, 'sec-websocket-version');
  if (version !== SUPPORTED_VERSION) {
    throw new HandshakeError(
      426,
      version === undefined
        ? 'missing Sec-WebSocket-Version header; the supported version is 13'
        : 'unsupported Sec-WebSocket-Version; the supported version is 13',
      // A 426 names the protocol to upgrade to (RFC 9110 section 15.5.22); HTTP/2 answers leave Upgrade out.
      { Upgrade: 'websocket', 'Sec-WebSocket-Version': SUPPORTED_VERSION },
    );
  }
}

/**
 * The offers both handshakes read the same way: `Sec-WebSocket-Protocol` and
 * `Sec-WebSocket-Extensions` syntax (400 when invalid), `options.checkOrigin`
 * (403 when it refuses), then the subprotocol selection.
 *
 * @throws HandshakeError 400 or 403; TypeError from a `protocols` function
 *   that returns a protocol the client did not offer.
 */
export function readOffer(call: UpgradeCall, options: HandshakeOptions): WebSocketOffer {
  const protocolHeader = readHeader(call, 'sec-websocket-protocol');
  const protocols = protocolHeader === undefined ? [] : parseSubprotocols(protocolHeader);
  if (protocols === null) throw new HandshakeError(400, 'invalid Sec-WebSocket-Protocol header syntax');

  const extensionHeader = readHeader(call, 'sec-websocket-extensions');
  const extensions = extensionHeader === undefined ? [] : parseExtensions(extensionHeader);
  if (extensions === null) throw new HandshakeError(400, 'invalid Sec-WebSocket-Extensions header syntax');

  const origin = readHeader(call, 'origin');
  if (options.checkOrigin !== undefined && !options.checkOrigin(origin, call)) {
    throw new HandshakeError(403, 'origin not allowed');
  }

  return { protocols, protocol: selectProtocol(protocols, options.protocols, call), extensions, origin };
}

/**
 * The headers of the 101 Switching Protocols response: `Upgrade`,
 * `Connection`, `Sec-WebSocket-Accept`, plus `Sec-WebSocket-Protocol` when
 * `protocol` is given and `Sec-WebSocket-Extensions` when `extensionsHeader`
 * is non-empty (the negotiated extensions, e.g. from `formatExtensions`).
 *
 * @throws TypeError when `protocol` is not one the client offered, or
 *   `extensionsHeader` is not valid `Sec-WebSocket-Extensions` syntax.
 */
export function responseHeaders(
  validated: ValidatedRequest,
  protocol?: string | undefined,
  extensionsHeader?: string | undefined,
): Record<string, string> {
  return {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Accept': validated.acceptKey,
    ...negotiationHeaders(validated, protocol, extensionsHeader),
  };
}

/**
 * The response headers both handshakes share: `Sec-WebSocket-Protocol` when
 * `protocol` is given, `Sec-WebSocket-Extensions` when `extensionsHeader` is
 * non-empty.
 *
 * @throws TypeError like `responseHeaders`.
 */
export function negotiationHeaders(
  offer: WebSocketOffer,
  protocol: string | undefined,
  extensionsHeader: string | undefined,
): Record<string, string> {
  const headers: Record<string, string> = {};
  if (protocol !== undefined) {
    if (!offer.protocols.includes(protocol)) {
      throw new TypeError(
        `protocol ${JSON.stringify(protocol)} was not offered by the client; ` +
          `pass one of ${JSON.stringify(offer.protocols)} or undefined`,
      );
    }
    headers['Sec-WebSocket-Protocol'] = protocol;
  }
  if (extensionsHeader !== undefined && extensionsHeader !== '') {
    if (parseExtensions(extensionsHeader) === null) {
      throw new TypeError(
        `extensions header ${JSON.stringify(extensionsHeader)} is not valid Sec-WebSocket-Extensions syntax; ` +
          'build it with formatExtensions',
      );
    }
    headers['Sec-WebSocket-Extensions'] = extensionsHeader;
  }
  return headers;
}
