/**
 * WebSockets over HTTP/2 (RFC 8441) in node:http2 servers:
 * `handleHttp2Stream` answers one extended CONNECT stream (the HTTP/2
 * counterpart of `handleUpgrade`), and `http2ServerOptions` /
 * `enableWebSockets` give a plain `http2.createServer` or
 * `createSecureServer` the settings it needs (SETTINGS_ENABLE_CONNECT_PROTOCOL)
 * with explicit limits.
 *
 * The stream is the session's input and output (`http2StreamChannels`, over the
 * `Http2Stream` duplex): HTTP/2 flow control is the backpressure (a stream
 * whose reader is paused stops granting window to its peer, while the other
 * streams of the connection go on). A session ends its own stream only: its
 * close ends our side (END_STREAM) and, once the session is over, resets
 * whatever the peer left open with RST_STREAM NO_ERROR; the connection is
 * never touched. A stream the peer resets, or a connection that dies, ends
 * the session with 1006, like a TCP reset. The connection's receive window
 * is raised (`connectionWindowSize`, 1 MiB) when its first WebSocket is
 * accepted, so that many WebSockets are not held to HTTP/2's initial 64 KiB
 * per round trip.
 */
import {
  constants,
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
  type Settings,
} from 'node:http2';
import type { Job } from '../channels/job.ts';
import { DEFAULT_LINGER_MS } from '../channels/node-adapter.ts';
import type { SessionInfo, TopicHub } from '../session/default-session.ts';
import { runSession } from '../session/run-session.ts';
import { HandshakeError } from './errors.ts';
import { http2StreamChannels } from './h2-stream.ts';
import { negotiateExtensions, type NegotiatedExtensions } from './extension-negotiation.ts';
import {
  CONNECTION_SPECIFIC_HEADERS,
  headerBlockOverLimits,
  http2Call,
  http2ErrorResponse,
  http2ResponseHeaders,
  isValidHttp2HeaderValue,
  validateExtendedConnect,
  type Http2RequestHeaders,
} from './h2-handshake.ts';
import type { UpgradeCall, WebSocketOffer } from './handshake.ts';
import { isToken } from './header-tokens.ts';
import { requestHeadLimits } from './request-head.ts';
import { checkServeOptions, defaultSessionHandler, sessionContexts, type ServeOptions, type WebSocketHandler } from './serve.ts';

/** Options of `handleHttp2Stream` and `prepareHttp2Upgrade`: those of `handleUpgrade`, plus the connection's receive window. */
export interface Http2ServeOptions extends ServeOptions {
  /**
   * The connection-level receive window (bytes all streams of the client may
   * have in flight towards us), raised to this size when the connection's
   * first WebSocket is accepted (never lowered). HTTP/2 starts every
   * connection at 65 535 bytes, which caps a connection carrying many
   * WebSockets at 64 KiB per round trip; node:http2 frees this window as
   * data arrives, whether or not a stream reads it, so it bounds no memory
   * (the per-stream `initialWindowSize` does). Default 1 MiB.
   */
  readonly connectionWindowSize?: number;
}

/** Default `connectionWindowSize`: 1 MiB. */
export const DEFAULT_HTTP2_CONNECTION_WINDOW_SIZE = 1 << 20;

/**
 * Answers one stream of a node:http2 server:
 * `server.on('stream', (stream, headers) => handleHttp2Stream(stream, headers, handler))`.
 *
 * A valid extended CONNECT (see `validateExtendedConnect`) gets `:status` 200
 * with the negotiated `sec-websocket-protocol` and `sec-websocket-extensions`,
 * and the handler runs with a default session over the stream, with the same
 * options (plus `connectionWindowSize`), session and job semantics as
 * `handleUpgrade`. The session's
 * `request` (and the handler's second argument) is the request with
 * `method` `CONNECT`, `url` the `:path`, `httpVersion` `"2.0"` and the
 * header block with its pseudo-headers (`:protocol` is `websocket`), which
 * tells it arrived over HTTP/2; `remoteAddress` / `remotePort` are the
 * connection's.
 *
 * A bad request gets its status (400, 403 or 426, see
 * `validateExtendedConnect`) with a one-line text body on its own stream,
 * which is then closed with RST_STREAM NO_ERROR so the client stops sending
 * (RFC 9113 section 8.1); the connection keeps serving its other streams.
 *
 * Returns the session's job, or `undefined` when the request was refused or
 * the stream was already closed (reset by the peer, or the connection gone).
 * The stream always has an `'error'` listener from here on, so a reset
 * never becomes an uncaught exception.
 *
 * @throws TypeError when the stream was already answered; RangeError for an
 *   invalid session limit; errors thrown by the `protocols` / `checkOrigin`
 *   callbacks or an extension negotiator. The stream is then reset with
 *   INTERNAL_ERROR.
 */
export function handleHttp2Stream(
  stream: ServerHttp2Stream,
  headers: Http2RequestHeaders,
  handler: WebSocketHandler,
  options: Http2ServeOptions = {},
): Job | undefined {
  let pending: PendingHttp2Upgrade<unknown> | undefined;
  try {
    pending = prepareHttp2Upgrade(stream, headers, handler, options);
  } catch (error) {
    if (!stream.destroyed && !stream.closed && !stream.headersSent) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    throw error;
  }
  return pending?.accept();
}

/**
 * An extended CONNECT that passed the handshake checks and is not answered
 * yet (the HTTP/2 counterpart of `PendingUpgrade`): `handleHttp2Stream`
 * accepts it at once; a server object can run its `verify` hook in between,
 * then `accept` it or answer it with `refuseHttp2Stream`.
 */
export interface PendingHttp2Upgrade<Data> {
  /** The request as the session and the handler see it (httpVersion `"2.0"`, pseudo-headers included). */
  readonly request: UpgradeCall;
  /** The subprotocol the 200 selects, if any. */
  readonly protocol: string | undefined;
  /** The 200's own header block: `:status`, `sec-websocket-protocol`, `sec-websocket-extensions`. */
  readonly headers: Readonly<Record<string, string | number>>;
  /**
   * Answers 200, with `extraHeaders` after the handshake's own (names lower
   * case in the answer; a name given twice sends both values), and starts the
   * session with `data` as its `session.data`. Returns the session's job, or
   * `undefined` when the stream was closed meanwhile (the negotiated
   * extensions are then released). Call it once.
   *
   * @throws TypeError for a malformed or connection-specific extra header (nothing is sent).
   */
  accept(extraHeaders?: ReadonlyArray<readonly [string, string]>, data?: Data): Job | undefined;
}

/**
 * Validates an extended CONNECT stream (`topics`: where the session's
 * `subscribe` goes, as for `prepareUpgrade`). A bad request
 * (HandshakeError) is answered on its stream (see `refuseHttp2Stream`) and
 * `undefined` returned; `undefined` too when the stream was already closed.
 * Other errors (an invalid option, a callback that threw) propagate with
 * the stream untouched. From here on the stream has an `'error'` listener.
 *
 * @throws TypeError when the stream was already answered.
 */
export function prepareHttp2Upgrade<Data>(
  stream: ServerHttp2Stream,
  headers: Http2RequestHeaders,
  handler: WebSocketHandler<Data>,
  options: Http2ServeOptions,
  topics?: TopicHub,
): PendingHttp2Upgrade<Data> | undefined {
  if (stream.headersSent) throw new TypeError('the stream was already answered; call handleHttp2Stream before responding to it');
  stream.on('error', ignore); // a reset must never be an uncaught 'error', whatever happens below
  if (stream.destroyed || stream.closed) return undefined;
  const call = http2Call(headers);
  checkServeOptions(options);
  const windowSize = options.connectionWindowSize ?? DEFAULT_HTTP2_CONNECTION_WINDOW_SIZE;
  if (!Number.isInteger(windowSize) || windowSize < 65_535 || windowSize > 2 ** 31 - 1) {
    throw new RangeError(`connectionWindowSize must be an integer from 65535 to 2^31-1, got ${windowSize}`);
  }
  let offer: WebSocketOffer;
  let negotiated: NegotiatedExtensions;
  try {
    // The requestHead limits, as over HTTP/1.1 (node:http2's own bounds apply first).
    const overLimits = headerBlockOverLimits(headers, requestHeadLimits(options.requestHead ?? {}), 'request');
    if (overLimits !== undefined) throw new HandshakeError(431, overLimits);
    offer = validateExtendedConnect(call, { checkOrigin: options.checkOrigin, protocols: options.protocols });
    negotiated = negotiateExtensions(offer.extensions, options.extensions ?? []);
  } catch (error) {
    if (!(error instanceof HandshakeError)) throw error;
    refuseHttp2Stream(stream, error, options.channels?.lingerMs);
    return undefined;
  }
  const response = http2ResponseHeaders(offer, offer.protocol, negotiated.header);
  // Built now, so that no closure below captures node's header block more than the session does.
  const socket = stream.session?.socket;
  const known = { request: call, remoteAddress: socket?.remoteAddress, remotePort: socket?.remotePort, topics };
  let info: SessionInfo<Data> | undefined;
  let accepted = false;
  return {
    request: call,
    protocol: offer.protocol,
    headers: response,
    accept(extraHeaders = [], data) {
      if (accepted) throw new Error('this upgrade was already accepted');
      const block = withExtraHeaders(response, extraHeaders);
      accepted = true;
      if (stream.destroyed || stream.closed) {
        for (const extension of negotiated.extensions) extension.dispose();
        return undefined;
      }
      info = { ...known, data: data as Data };
      widenConnectionWindow(stream.session, windowSize);
      stream.respond(block);
      const { input, output } = http2StreamChannels(stream, options.channels);
      const { engine, user } = sessionContexts(options);
      try {
        return runSession(
          input,
          output,
          engine,
          user,
          { role: 'server', protocol: offer.protocol, extensions: negotiated.extensions, options: options.session },
          defaultSessionHandler(handler, call, () => info, options),
        );
      } catch (error) {
        // The 200 is out, so no other status may follow: the stream is reset, the caller hears why.
        stream.close(constants.NGHTTP2_INTERNAL_ERROR);
        throw error;
      }
    },
  };
}

/** Connections whose receive window was raised already. */
const widened = new WeakSet<Http2Session>();

/** Raises the connection's receive window to `size` once per connection (if it is smaller). */
function widenConnectionWindow(session: Http2Session | undefined, size: number): void {
  if (session === undefined || widened.has(session)) return;
  widened.add(session);
  if ((session.state.localWindowSize ?? 0) < size) session.setLocalWindowSize(size);
}

/** `base` plus the extra headers, checked (lower-cased; repeated names become lists). */
function withExtraHeaders(
  base: Readonly<Record<string, string | number>>,
  extra: ReadonlyArray<readonly [string, string]>,
): Record<string, string | number | string[]> {
  const block: Record<string, string | number | string[]> = { ...base };
  for (const [name, value] of extra) {
    const lower = name.toLowerCase();
    if (!isToken(name) || CONNECTION_SPECIFIC_HEADERS.has(lower) || Object.hasOwn(base, lower)) {
      throw new TypeError(`header ${JSON.stringify(name)} cannot be added to an HTTP/2 WebSocket answer (not a token, connection-specific, or the handshake's own)`);
    }
    if (!isValidHttp2HeaderValue(value)) {
      throw new TypeError(`header ${name} has a value with a control character; remove it: ${JSON.stringify(value)}`);
    }
    const previous = block[lower];
    block[lower] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [String(previous)]), value];
  }
  return block;
}

/**
 * Answers `error` on the stream (its status, headers and one-line text body,
 * see `http2ErrorResponse`), then closes the stream (see
 * `answerAndCloseStream`; `lingerMs` defaults to 5 s). Does nothing when the
 * stream is already closed.
 */
export function refuseHttp2Stream(stream: ServerHttp2Stream, error: HandshakeError, lingerMs: number = DEFAULT_LINGER_MS): void {
  stream.on('error', ignore);
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const { headers, body } = http2ErrorResponse(error);
  answerAndCloseStream(stream, headers, body, lingerMs);
}

/**
 * Sends an answer that refuses the stream, then closes the stream with
 * RST_STREAM NO_ERROR once the answer is written, so the client stops
 * sending. A client that never takes the answer (its stream window stays
 * shut) would keep the stream open, and with it the connection and a slot of
 * `maxConcurrentStreams`: `lingerMs` after the answer the stream is reset
 * whatever was written, as a refused HTTP/1.1 socket is destroyed then.
 * @throws what `respond` throws for headers node:http2 refuses (nothing is sent).
 */
export function answerAndCloseStream(
  stream: ServerHttp2Stream,
  headers: OutgoingHttpHeaders,
  body: Buffer,
  lingerMs: number = DEFAULT_LINGER_MS,
): void {
  stream.respond(headers);
  // Not `close(NO_ERROR)` at once: node would send that RST_STREAM on 'finish' only, and a closed stream can be
  // reset no other way (a second `close` is ignored, `destroy` then sends nothing and the client never hears).
  stream.end(body, () => stream.close(constants.NGHTTP2_NO_ERROR));
  const linger = setTimeout(() => stream.close(constants.NGHTTP2_CANCEL), lingerMs);
  stream.once('close', () => clearTimeout(linger));
}

function ignore(): void {}

/** Limits of a node:http2 server that serves WebSockets. */
export interface Http2WebSocketLimits {
  /**
   * SETTINGS_MAX_CONCURRENT_STREAMS: streams (WebSockets and plain requests)
   * one client may have open on one connection; more are refused by
   * node:http2 with RST_STREAM REFUSED_STREAM until the client acknowledged
   * the SETTINGS, and are a connection error after (GOAWAY PROTOCOL_ERROR:
   * the connection and its WebSockets end). Default 100 (node's own
   * default is unlimited). A pooling client such as `connect(url, { http2:
   * true })` opens another connection when it reaches the limit.
   */
  readonly maxConcurrentStreams?: number;
  /**
   * SETTINGS_INITIAL_WINDOW_SIZE: bytes a client may send on one stream
   * before the server reads them; with the session's input channel
   * (`channels.inputCapacity`) this bounds what one paused WebSocket buffers.
   * Default 65 535 (HTTP/2's).
   */
  readonly initialWindowSize?: number;
  /**
   * node:http2's `maxSessionMemory`, in MiB: above it, new streams of that
   * connection are refused (ENHANCE_YOUR_CALM) until memory goes down.
   * Creation-time only (`http2ServerOptions`). Default 10 (node's).
   */
  readonly maxSessionMemory?: number;
}

/** The defaults of `Http2WebSocketLimits`. */
export const HTTP2_WEBSOCKET_DEFAULTS = Object.freeze({
  maxConcurrentStreams: 100,
  initialWindowSize: 65_535,
  maxSessionMemory: 10,
});

/** What `http2ServerOptions` returns: node:http2 server options. */
export interface Http2WebSocketServerOptions {
  /** The SETTINGS the server sends: `enableConnectProtocol` (RFC 8441), `maxConcurrentStreams` and `initialWindowSize`. */
  readonly settings: Settings;
  /** node:http2's per-connection memory cap, in MiB. */
  readonly maxSessionMemory: number;
}

/**
 * Options for `http2.createServer` / `createSecureServer` that let clients
 * open WebSockets: SETTINGS_ENABLE_CONNECT_PROTOCOL on, and the limits
 * (see `Http2WebSocketLimits` for the defaults). Spread them in:
 * `http2.createSecureServer({ key, cert, allowHTTP1: true, ...http2ServerOptions() })`.
 *
 * @throws RangeError for a limit out of its HTTP/2 range.
 */
export function http2ServerOptions(limits: Http2WebSocketLimits = {}): Http2WebSocketServerOptions {
  const maxSessionMemory = limits.maxSessionMemory ?? HTTP2_WEBSOCKET_DEFAULTS.maxSessionMemory;
  if (!(maxSessionMemory > 0) || !Number.isFinite(maxSessionMemory)) {
    throw new RangeError(`maxSessionMemory must be a positive number of MiB, got ${maxSessionMemory}`);
  }
  return { settings: webSocketSettings(limits), maxSessionMemory };
}

/**
 * Turns on the extended CONNECT protocol (and the stream limits of
 * `limits`) for the connections an existing node:http2 server accepts from
 * now on (`server.updateSettings`); connections already open keep their
 * settings. `maxSessionMemory` can only be set when the server is created
 * (`http2ServerOptions`).
 *
 * @throws RangeError for a limit out of its HTTP/2 range.
 */
export function enableWebSockets(server: Http2Server | Http2SecureServer, limits: Omit<Http2WebSocketLimits, 'maxSessionMemory'> = {}): void {
  server.updateSettings(webSocketSettings(limits));
}

function webSocketSettings(limits: Http2WebSocketLimits): Settings {
  const maxConcurrentStreams = limits.maxConcurrentStreams ?? HTTP2_WEBSOCKET_DEFAULTS.maxConcurrentStreams;
  const initialWindowSize = limits.initialWindowSize ?? HTTP2_WEBSOCKET_DEFAULTS.initialWindowSize;
  if (!Number.isInteger(maxConcurrentStreams) || maxConcurrentStreams < 1 || maxConcurrentStreams > 2 ** 32 - 1) {
    throw new RangeError(`maxConcurrentStreams must be an integer from 1 to 2^32-1, got ${maxConcurrentStreams}`);
  }
  if (!Number.isInteger(initialWindowSize) || initialWindowSize < 1 || initialWindowSize > 2 ** 31 - 1) {
    throw new RangeError(`initialWindowSize must be an integer from 1 to 2^31-1, got ${initialWindowSize}`);
  }
  return { enableConnectProtocol: true, maxConcurrentStreams, initialWindowSize };
}
