/**
 * The client side of the RFC 6455 opening handshake (section 4.1): the
 * request head (a fresh 16-byte key, offered subprotocols and extensions,
 * the caller's extra headers), a bounded reader of the response head and of
 * an error response's body, and the strict check of a 101 response. No
 * sockets here: the reading works on a `ByteReadChannel`, the rest on
 * values; connect.ts does the I/O.
 *
 * The check fails the handshake, each time with a typed error, when the
 * response is not HTTP/1.1 101, `Upgrade` is not `websocket`, `Connection`
 * lacks `upgrade`, `Sec-WebSocket-Accept` does not match the key, the
 * subprotocol was not offered, or an extension was not offered (or its
 * parameters are not acceptable to it).
 */
import type { ByteReadChannel } from '../channels/byte-channel-types.ts';
import type { ExtensionNegotiator, WebSocketExtension } from '../extensions/extension.ts';
import { computeAcceptKey, generateKey } from './accept-key.ts';
import {
  AcceptKeyMismatchError,
  ConnectError,
  ConnectionFailedError,
  InvalidResponseError,
  UnexpectedExtensionError,
  UnexpectedProtocolError,
} from './client-errors.ts';
import { formatExtensions, isToken, parseExtensions, parseTokenList } from './header-tokens.ts';
import { readHead, resolveHeadLimits, type HeadErrors, type HeadGrammar, type HeadLimits } from './http-head.ts';
import { headerLine } from './http-response.ts';

/** What goes into the request besides the fixed handshake headers. */
export interface ClientRequestOptions {
  /**
   * Subprotocols to offer, in order of preference (tokens, no repeats); one
   * string offers one, as with `ws` and the browser's `WebSocket`. Default: none.
   */
  readonly protocols?: string | readonly string[] | undefined;
  /**
   * Extensions to offer, in order of preference, configured as on a server
   * (e.g. `[permessageDeflate()]`). Default: none.
   */
  readonly extensions?: readonly ExtensionNegotiator[] | undefined;
  /**
   * Extra request headers (e.g. `Origin`, `Authorization`, `Cookie`). `Host`
   * replaces the one taken from the URL; the handshake's own headers
   * (`Upgrade`, `Connection`, `Sec-WebSocket-*`) cannot be set here.
   */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** A formatted handshake request and what the response is checked against. */
export interface ClientRequest {
  /** The `Sec-WebSocket-Key` sent. */
  readonly key: string;
  /** The request head, ready to write. */
  readonly head: Buffer;
  /** Subprotocols offered. */
  readonly protocols: readonly string[];
  /** Extensions offered. */
  readonly extensions: readonly ExtensionNegotiator[];
}

/** Header names the handshake owns (lower case); extra headers may not set them. */
const HANDSHAKE_HEADERS: ReadonlySet<string> = new Set([
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'sec-websocket-accept',
]);

/**
 * Formats the opening handshake request for `url` (`ws:`/`wss:`; the path and
 * query become the request target, a fragment is dropped).
 *
 * @throws TypeError for a subprotocol that is not a token or is repeated
 *   (or `protocols` neither a string nor an array), an
 *   extra header that is a handshake header or is malformed, or an extension
 *   offer that is not valid `Sec-WebSocket-Extensions` syntax.
 */
export function formatClientRequest(url: URL, options: ClientRequestOptions = {}): ClientRequest {
  const protocols = typeof options.protocols === 'string' ? [options.protocols] : (options.protocols ?? []);
  if (!Array.isArray(protocols)) throw new TypeError('protocols must be a string or an array of strings');
  for (const protocol of protocols) {
    if (typeof protocol !== 'string' || !isToken(protocol)) throw new TypeError(`subprotocol ${JSON.stringify(protocol)} is not an RFC 7230 token`);
  }
  if (new Set(protocols).size !== protocols.length) {
    throw new TypeError(`subprotocols ${JSON.stringify(protocols)} contain a repeat; offer each once`);
  }
  const extensions = options.extensions ?? [];
  const key = generateKey();
  let host = url.host;
  let extra = '';
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    const lower = name.toLowerCase();
    if (HANDSHAKE_HEADERS.has(lower)) {
      throw new TypeError(`header ${name} belongs to the WebSocket handshake and cannot be set; use the protocols / perMessageDeflate options`);
    }
    if (lower === 'host') host = value;
    else extra += headerLine(name, value);
  }
  let head =
    `GET ${url.pathname}${url.search} HTTP/1.1\r\n` +
    headerLine('Host', host) +
    'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
  if (protocols.length > 0) head += `Sec-WebSocket-Protocol: ${protocols.join(', ')}\r\n`;
  if (extensions.length > 0) head += `Sec-WebSocket-Extensions: ${formatExtensions(extensions.map((e) => e.offer()))}\r\n`;
  head += extra + '\r\n';
  return { key, head: Buffer.from(head, 'latin1'), protocols: [...protocols], extensions };
}

/** Default `maxHeadSize` of a response head: 16 KiB, node:http's default `maxHeaderSize`. */
export const DEFAULT_MAX_RESPONSE_HEAD_SIZE = 16 * 1024;
/** Default `maxHeaders` of a response head: 100 header lines. */
export const DEFAULT_MAX_RESPONSE_HEADERS = 100;
/** Default `maxBodySize`: 16 KiB of a non-101 response's body are kept for the error. */
export const DEFAULT_MAX_ERROR_BODY_SIZE = 16 * 1024;

/** Limits of reading the server's response. */
export interface ResponseHeadOptions {
  /** Most bytes of the response head (an `InvalidResponseError` above). Default 16 KiB. */
  readonly maxHeadSize?: number | undefined;
  /** Most header lines (an `InvalidResponseError` above). Default 100. */
  readonly maxHeaders?: number | undefined;
  /** Most bytes of a non-101 response's body read for `UnexpectedStatusError.body`. Default 16 KiB. */
  readonly maxBodySize?: number | undefined;
}

/** `ResponseHeadOptions` with every default filled in. */
export interface ResolvedResponseHeadOptions extends HeadLimits {
  readonly maxBodySize: number;
}

/** A parsed response head. */
export interface ResponseHead {
  /** `"1.1"` for HTTP/1.1. */
  readonly httpVersion: string;
  /** The status code (101 when the server accepted). */
  readonly status: number;
  /** The reason phrase as sent (may be empty). */
  readonly statusText: string;
  /** A null-prototype object of lower-case names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** Names (case kept) and values, alternating, in order. */
  readonly rawHeaders: readonly string[];
}

interface StatusLine {
  readonly httpVersion: string;
  readonly status: number;
  readonly statusText: string;
}

/** `HTTP/d.d SP 3DIGIT SP reason-phrase` (the SP before an empty reason may be missing, as many servers send). */
const STATUS_LINE = /^HTTP\/(\d)\.(\d) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;

const RESPONSE_GRAMMAR: HeadGrammar<StatusLine> = {
  kind: 'response',
  singletons: new Set(['content-length', 'sec-websocket-accept']),
  parseStartLine(content: string): StatusLine {
    const match = STATUS_LINE.exec(content);
    if (match === null) throw new InvalidResponseError(`malformed status line ${JSON.stringify(content.slice(0, 100))}`);
    return { httpVersion: `${match[1]}.${match[2]}`, status: Number(match[3]), statusText: match[4] ?? '' };
  },
};

const RESPONSE_ERRORS: HeadErrors = {
  malformed: (message) => new InvalidResponseError(message),
  tooLarge: (message) => new InvalidResponseError(message),
  incomplete: (bytesReceived, cause) =>
    cause instanceof ConnectError
      ? cause
      : new ConnectionFailedError(
          `connection ${cause === undefined ? 'closed' : 'failed'} after ${bytesReceived} bytes of the response head` +
            (cause instanceof Error ? `: ${cause.message}` : ''),
          cause,
        ),
};

/**
 * Validates response limits given by the user and fills in the defaults.
 *
 * @throws RangeError for a limit that is not a positive integer (`maxHeaders`
 *   and `maxBodySize` may be 0).
 */
export function resolveResponseHeadOptions(options: ResponseHeadOptions = {}): ResolvedResponseHeadOptions {
  const limits = resolveHeadLimits(options, {
    maxHeadSize: DEFAULT_MAX_RESPONSE_HEAD_SIZE,
    maxHeaders: DEFAULT_MAX_RESPONSE_HEADERS,
  });
  const maxBodySize = options.maxBodySize ?? DEFAULT_MAX_ERROR_BODY_SIZE;
  if (!Number.isSafeInteger(maxBodySize) || maxBodySize < 0) {
    throw new RangeError(`maxBodySize must be a non-negative integer, got ${maxBodySize}`);
  }
  return { ...limits, maxBodySize };
}

/**
 * Reads the server's response head from `input`, consuming exactly its
 * bytes: the server's first frames stay in the channel for the session.
 *
 * @throws RangeError (synchronously) for invalid limits.
 * @throws (rejects) InvalidResponseError for malformed syntax or a head above
 *   the limits; ConnectionFailedError when the channel ends or fails first
 *   (a `ConnectError` the channel was cancelled or failed with, such as the
 *   handshake's timeout, is thrown as is).
 */
export function readResponseHead(input: ByteReadChannel, options: ResponseHeadOptions = {}): Promise<ResponseHead> {
  const limits = resolveResponseHeadOptions(options);
  return readHead(input, limits, RESPONSE_GRAMMAR, RESPONSE_ERRORS).then(({ start, headers, rawHeaders }) => ({
    ...start,
    headers,
    rawHeaders,
  }));
}

/**
 * Reads the body of a non-101 response for the error report, at most
 * `maxBodySize` bytes of it: `Content-Length` bytes, or a chunked body up to
 * its last chunk (decoded; its framing may take 4 KiB more off the wire), or
 * everything until the connection ends.
 * A failing or ending channel ends the body early; it never rejects.
 *
 * @throws RangeError (synchronously) for an invalid `maxBodySize`.
 */
export function readResponseBody(input: ByteReadChannel, head: ResponseHead, maxBodySize = DEFAULT_MAX_ERROR_BODY_SIZE): Promise<Buffer> {
  const max = resolveResponseHeadOptions({ maxBodySize }).maxBodySize;
  if (head.status < 200 || head.status === 204 || head.status === 304) return Promise.resolve(Buffer.alloc(0));
  const chunked = parseTokenList(head.headers['transfer-encoding'] ?? '')?.at(-1)?.toLowerCase() === 'chunked';
  if (chunked) return readBody(input, max + CHUNK_FRAMING_ALLOWANCE, true).then((raw) => decodeChunked(raw).subarray(0, max));
  const length = Number(head.headers['content-length'] ?? NaN);
  return readBody(input, Number.isSafeInteger(length) && length >= 0 ? Math.min(length, max) : max, false);
}

/** Bytes of chunk-size lines and CRLFs a chunked error body may take off the wire beyond `maxBodySize`. */
const CHUNK_FRAMING_ALLOWANCE = 4096;

/** Reads up to `limit` bytes, or until the last chunk of a chunked body, or the end of the input. */
async function readBody(input: ByteReadChannel, limit: number, chunked: boolean): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  /** The last bytes read, to see a chunked body's end (`0` CRLF CRLF, no trailers) arrive. */
  let tail = '';
  try {
    while (size < limit && !(chunked && (tail === LAST_CHUNK || tail.endsWith('\r\n' + LAST_CHUNK)))) {
      const chunk = await input.readChunk(limit - size);
      if (chunk === null) break;
      parts.push(chunk);
      size += chunk.length;
      tail = (tail + chunk.toString('latin1', Math.max(0, chunk.length - 7))).slice(-7);
    }
  } catch {
    // The connection failed or the handshake timed out: report what arrived.
  }
  return Buffer.concat(parts, size);
}

const LAST_CHUNK = '0\r\n\r\n';

/** Removes the chunked transfer coding from `raw`, keeping the data of the complete or partial chunks in it. */
function decodeChunked(raw: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < raw.length) {
    const lineEnd = raw.indexOf('\r\n', pos, 'latin1');
    if (lineEnd === -1) break;
    const size = Number.parseInt(raw.toString('latin1', pos, lineEnd), 16);
    if (!(size > 0)) break;
    out.push(raw.subarray(lineEnd + 2, Math.min(lineEnd + 2 + size, raw.length)));
    pos = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** What the 101 response settled: the session's subprotocol and extensions. */
export interface AcceptedHandshake {
  /** The subprotocol the server selected, if any. */
  readonly protocol: string | undefined;
  /** The extensions in force, in the order of the server's response. */
  readonly extensions: readonly WebSocketExtension[];
}

/**
 * Checks a 101 response against the request (RFC 6455 section 4.1, the
 * client's steps 2-6) and returns the negotiated subprotocol and extensions.
 * Call it only for status 101.
 *
 * @throws InvalidResponseError when the version is not HTTP/1.1 or later, or
 *   `Upgrade` / `Connection` are missing or wrong.
 * @throws AcceptKeyMismatchError, UnexpectedProtocolError, UnexpectedExtensionError.
 */
export function acceptHandshakeResponse(request: ClientRequest, head: ResponseHead): AcceptedHandshake {
  if (!/^1\.[1-9]$/.test(head.httpVersion)) {
    throw new InvalidResponseError(`HTTP/${head.httpVersion} 101 is not a valid WebSocket handshake response; HTTP/1.1 is required`);
  }
  const headers = head.headers;
  const upgrade = headers['upgrade'];
  if (upgrade?.toLowerCase() !== 'websocket') {
    throw new InvalidResponseError(
      upgrade === undefined ? 'missing Upgrade header' : `Upgrade header must be "websocket", got ${JSON.stringify(upgrade)}`,
    );
  }
  const connection = headers['connection'];
  if (!parseTokenList(connection ?? '')?.some((token) => token.toLowerCase() === 'upgrade')) {
    throw new InvalidResponseError(
      connection === undefined ? 'missing Connection header' : `Connection header must contain "upgrade", got ${JSON.stringify(connection)}`,
    );
  }
  const expected = computeAcceptKey(request.key);
  const accept = headers['sec-websocket-accept'];
  if (accept !== expected) throw new AcceptKeyMismatchError(expected, accept);

  return acceptNegotiation(request, headers);
}

/**
 * The checks a 101 (HTTP/1.1) and a 200 (HTTP/2, RFC 8441) response share:
 * the subprotocol was offered, and each extension was offered (once) and
 * accepts its parameters. Returns what the session runs with.
 *
 * @throws UnexpectedProtocolError, UnexpectedExtensionError.
 */
export function acceptNegotiation(
  offered: Pick<ClientRequest, 'protocols' | 'extensions'>,
  headers: Readonly<Record<string, string>>,
): AcceptedHandshake {
  const protocol = headers['sec-websocket-protocol'];
  if (protocol !== undefined && !offered.protocols.includes(protocol)) {
    throw new UnexpectedProtocolError(protocol, offered.protocols);
  }
  const extensionsHeader = headers['sec-websocket-extensions'];
  return {
    protocol,
    extensions: extensionsHeader === undefined ? [] : acceptExtensions(extensionsHeader, offered.extensions),
  };
}

/** The extensions of the response, each accepted by the offered extension of its name. */
function acceptExtensions(header: string, offered: readonly ExtensionNegotiator[]): WebSocketExtension[] {
  const elements = parseExtensions(header);
  if (elements === null) throw new UnexpectedExtensionError(header, 'invalid syntax');
  const accepted: WebSocketExtension[] = [];
  const used = new Set<ExtensionNegotiator>();
  let claimed = 0;
  try {
    for (const element of elements) {
      const extension = offered.find((e) => e.name.toLowerCase() === element.name.toLowerCase());
      if (extension === undefined) throw new UnexpectedExtensionError(header, `${element.name} was not offered`);
      if (used.has(extension)) throw new UnexpectedExtensionError(header, `${element.name} accepted more than once`);
      used.add(extension);
      let inForce: WebSocketExtension;
      try {
        inForce = extension.accept(element);
      } catch (error) {
        throw new UnexpectedExtensionError(header, `${element.name} parameters not acceptable: ${error instanceof Error ? error.message : String(error)}`, error);
      }
      accepted.push(inForce);
      if ((inForce.rsv & claimed) !== 0) throw new UnexpectedExtensionError(header, `${element.name} claims an RSV bit already in use`);
      claimed |= inForce.rsv;
    }
  } catch (error) {
    for (const extension of accepted) extension.dispose();
    throw error;
  }
  return accepted;
}
