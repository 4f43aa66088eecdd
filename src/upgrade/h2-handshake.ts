/**
 * The server side of the RFC 8441 handshake (WebSockets over HTTP/2), without
 * I/O: an extended CONNECT request's header block seen as an `UpgradeCall`,
 * its validation into a `WebSocketOffer` (or a `HandshakeError` with the
 * status to answer on the stream), and the header blocks of the 200 answer
 * and of an error answer.
 *
 * Subprotocols, extensions, the origin check and `Sec-WebSocket-Version`
 * are read exactly as for HTTP/1.1 (the shared pieces of handshake.ts); what
 * differs is the request line (pseudo-headers instead of `GET` + `Upgrade` +
 * `Connection`), the absence of `Sec-WebSocket-Key` / `Sec-WebSocket-Accept`
 * (RFC 8441 section 5), and the success status (200, not 101).
 */
import { HandshakeError } from './errors.ts';
import { isValidHost } from './host.ts';
import type { HeadLimits } from './http-head.ts';
import {
  negotiationHeaders,
  readHeader,
  readOffer,
  requireVersion13,
  type HandshakeOptions,
  type UpgradeCall,
  type WebSocketOffer,
} from './handshake.ts';

/** `httpVersion` of an `UpgradeCall` made from an HTTP/2 request (as node's `Http2ServerRequest` reports it). */
export const HTTP2_VERSION = '2.0';

/**
 * An HTTP/2 request's header block as node:http2 hands it to a `'stream'`
 * listener: lower-case names, pseudo-headers (`:method`, `:protocol`,
 * `:scheme`, `:path`, `:authority`) included.
 */
export type Http2RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * Which of `limits` an HTTP/2 header block breaks, its fields counted and
 * sized as the HTTP/1.1 header lines they would be (`name: value` CRLF;
 * pseudo-headers left out, as the start line is on HTTP/1.1): a message
 * naming the limit, or `undefined`. So that one `maxHeaders` and one
 * `maxHeadSize` mean the same over both versions.
 */
export function headerBlockOverLimits(headers: Http2RequestHeaders, limits: HeadLimits, kind: 'request' | 'response'): string | undefined {
  let lines = 0;
  let size = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) {
      lines++;
      size += name.length + String(one).length + 4;
    }
  }
  if (lines > limits.maxHeaders) return `more than ${limits.maxHeaders} ${kind} header lines`;
  if (size > limits.maxHeadSize) return `${kind} head larger than ${limits.maxHeadSize} bytes`;
  return undefined;
}

/**
 * The header block as an `UpgradeCall`: `method` is `:method`, `url` is
 * `:path`, `httpVersion` is `"2.0"`, and `headers` is the block itself
 * (pseudo-headers included). This is what a session's `request` and the
 * handler's second argument carry for a WebSocket over HTTP/2.
 */
export function http2Call(headers: Http2RequestHeaders): UpgradeCall {
  const call = { httpVersion: HTTP2_VERSION, headers };
  return { method: readHeader(call, ':method'), url: readHeader(call, ':path'), ...call };
}

/** Pseudo-headers an extended CONNECT must carry besides `:method` and `:protocol` (RFC 8441 section 4). */
const REQUIRED_PSEUDO_HEADERS = [':scheme', ':path', ':authority'] as const;

/**
 * Validates an extended CONNECT request for a WebSocket (RFC 8441 sections 4
 * and 5), in this order:
 * - `:method` `CONNECT`, else 400 (as HTTP/1.1 answers a request that is not
 *   an upgrade: a plain `GET` to a WebSocket endpoint gets 400 there too);
 * - `:protocol` present, else 400: a CONNECT without it asks for a TCP tunnel
 *   to `:authority`, which this server does not offer;
 * - `:protocol` `websocket` (ASCII case-insensitive, like the `Upgrade`
 *   token it replaces), else 400, the status HTTP/1.1 gives an `Upgrade`
 *   header without `websocket`. HTTP/2 has no 426-with-`Upgrade` answer (the
 *   `Upgrade` header is connection-specific and forbidden, RFC 9113 section
 *   8.2.2), and 501 would say the method itself is unknown;
 * - `:scheme`, `:path` and `:authority` present and non-empty, and
 *   `:authority` a valid `uri-host[:port]` (see host.ts), else 400;
 * - no `content-length`, else 400;
 * - `Sec-WebSocket-Version: 13`, else 426 with `Sec-WebSocket-Version: 13`;
 * - valid `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` syntax
 *   when present, else 400; `options.checkOrigin`, else 403;
 * then selects the subprotocol like `validateUpgradeRequest`.
 * `Sec-WebSocket-Key` is not used over HTTP/2 (RFC 8441 section 5) and is
 * ignored if a client sends it.
 *
 * node:http2 (nghttp2) already resets, with PROTOCOL_ERROR and without
 * showing them to JavaScript, the malformed variants: `:protocol` on a
 * method other than CONNECT, an extended CONNECT without `:scheme`, `:path`
 * or `:authority`, and any `:protocol` when the server did not enable the
 * extended CONNECT protocol. The checks here cover the rest and any other
 * source of header blocks.
 *
 * @throws HandshakeError for any bad request (network input).
 * @throws TypeError when a `protocols` function returns a protocol the
 *   client did not offer. Errors thrown by the callbacks propagate.
 */
export function validateExtendedConnect(call: UpgradeCall, options: HandshakeOptions = {}): WebSocketOffer {
  const method = readHeader(call, ':method');
  if (method !== 'CONNECT') {
    throw new HandshakeError(
      400,
      `method ${method ?? '(none)'} cannot open a WebSocket over HTTP/2; use CONNECT with :protocol websocket (RFC 8441)`,
    );
  }
  const protocol = readHeader(call, ':protocol');
  if (protocol === undefined) {
    throw new HandshakeError(400, 'CONNECT without :protocol (a tunnel) is not served; use :protocol websocket (RFC 8441)');
  }
  if (protocol.toLowerCase() !== 'websocket') {
    throw new HandshakeError(400, `:protocol ${JSON.stringify(protocol)} is not served; use :protocol websocket`);
  }
  for (const name of REQUIRED_PSEUDO_HEADERS) {
    if (!readHeader(call, name)) throw new HandshakeError(400, `missing ${name} pseudo-header`);
  }
  if (!isValidHost(readHeader(call, ':authority')!)) {
    throw new HandshakeError(400, 'invalid :authority: must be uri-host[:port] (RFC 9113 section 8.3.1)');
  }
  // The stream's DATA are WebSocket bytes, not a body of a known length: nghttp2 would reset the stream at its
  // first frame past a content-length (even 0) the request announced.
  if (readHeader(call, 'content-length') !== undefined) {
    throw new HandshakeError(400, 'a WebSocket over HTTP/2 carries no body of known length: content-length is not allowed');
  }
  requireVersion13(call);
  return readOffer(call, options);
}

/**
 * The header block of the 200 answer that opens the WebSocket: `:status`
 * 200, plus `sec-websocket-protocol` when `protocol` is given and
 * `sec-websocket-extensions` when `extensionsHeader` is non-empty.
 *
 * @throws TypeError when `protocol` is not one the client offered, or
 *   `extensionsHeader` is not valid `Sec-WebSocket-Extensions` syntax.
 */
export function http2ResponseHeaders(
  offer: WebSocketOffer,
  protocol: string | undefined,
  extensionsHeader: string | undefined,
): Record<string, string | number> {
  const headers: Record<string, string | number> = { ':status': 200 };
  for (const [name, value] of Object.entries(negotiationHeaders(offer, protocol, extensionsHeader))) {
    headers[name.toLowerCase()] = value;
  }
  return headers;
}

/** Header names an HTTP/2 message may not carry (RFC 9113 section 8.2.2; `te` is allowed only as `trailers`). */
export const CONNECTION_SPECIFIC_HEADERS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** True for a header value node:http2 sends: tab, visible ASCII, space and Latin-1 above 0x7f (no other control character). */
export function isValidHttp2HeaderValue(value: string): boolean {
  return !/[^\t\x20-\x7e\x80-\xff]/.test(value);
}

/** Headers `http2ErrorResponse` sets itself. */
const OWN_ERROR_HEADERS = new Set(['content-type', 'content-length']);

/** An error answer on one stream: its header block and its body. */
export interface Http2ErrorResponse {
  readonly headers: Record<string, string | number>;
  readonly body: Buffer;
}

/**
 * The answer refusing a request on its stream: `:status` `error.status`, the
 * error's headers (lower-cased; connection-specific ones dropped), `content-type:
 * text/plain; charset=utf-8`, `content-length`, and the body
 * `error.message + "\n"` in UTF-8, like the HTTP/1.1 error response.
 */
export function http2ErrorResponse(error: HandshakeError): Http2ErrorResponse {
  const body = Buffer.from(error.message + '\n', 'utf8');
  const headers: Record<string, string | number> = { ':status': error.status };
  for (const [name, value] of Object.entries(error.headers)) {
    const lower = name.toLowerCase();
    if (!CONNECTION_SPECIFIC_HEADERS.has(lower) && !OWN_ERROR_HEADERS.has(lower) && !lower.startsWith(':')) headers[lower] = value;
  }
  headers['content-type'] = 'text/plain; charset=utf-8';
  headers['content-length'] = body.length;
  return { headers, body };
}
