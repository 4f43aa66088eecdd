/**
 * The client side of WebSockets over HTTP/2 (RFC 8441), behind
 * `connect(url, { http2: true })`: each WebSocket is one stream (an extended
 * CONNECT with `:protocol: websocket`) of an HTTP/2 connection shared by
 * every `connect` call to the same origin with the same `tls` options object.
 *
 * Connections: `wss://` opens TLS offering ALPN `h2` and `http/1.1` (in that
 * order, whatever `tls.ALPNProtocols` says); `ws://` speaks HTTP/2 with
 * prior knowledge (the connection preface right away).
 * The connection is used once the server's first SETTINGS frame arrived and
 * carries SETTINGS_ENABLE_CONNECT_PROTOCOL = 1. Otherwise `connect` falls
 * back to HTTP/1.1 (see connect.ts), without error:
 * - TLS and ALPN chose `http/1.1` (or nothing): the same TLS connection
 *   carries the HTTP/1.1 handshake;
 * - the server's SETTINGS do not enable the extended CONNECT: the HTTP/2
 *   connection is closed and a new one is opened for HTTP/1.1;
 * - `ws://` only: the server closed the connection or broke the HTTP/2
 *   protocol before its SETTINGS (a server that does not speak HTTP/2).
 * The verdict is not remembered: the next call to that origin tries HTTP/2
 * again. A refused TCP connection, a TLS failure or the handshake timeout
 * fail the call as in HTTP/1.1 (no fallback).
 *
 * The pool: calls that come while a connection to their origin is being
 * opened wait for it; a connection takes new streams up to the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS, and the next call then opens another
 * connection. When its last stream closes, a connection is unref'd (it does
 * not keep the process alive) and closed (GOAWAY) after `idleTimeoutMs`
 * (default 1 s) unless a new stream comes first; a connection the server
 * closes or sends GOAWAY on takes no new streams, nor does one on which 500
 * streams ended in a reset (terminated or refused sessions: servers answer
 * a burst of resets with GOAWAY, as rapid-reset attacks do them; see
 * `MAX_RESETS`). Its receive windows are
 * raised, the connection's to `connectionWindowSize` (16 MiB) and each
 * stream's to `initialWindowSize` (8 MiB), so that WebSockets are not held
 * to HTTP/2's initial 64 KiB per round trip.
 *
 * The answer is checked strictly: `:status` 200 (anything else is an
 * `UnexpectedStatusError` with the headers and up to `responseHead.maxBodySize`
 * bytes of the body), and only a subprotocol and extensions that were offered
 * (`UnexpectedProtocolError`, `UnexpectedExtensionError`; the stream is then
 * reset with CANCEL). The whole of it, connection included, is bounded by
 * `handshakeTimeoutMs`. After the 200, the stream is the session's input and
 * output, in the client role; closing the session ends the stream, never the
 * connection.
 */
import {
  connect as http2Connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type Settings,
} from 'node:http2';
import { performance } from 'node:perf_hooks';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type TLSSocket } from 'node:tls';
import type { ByteReadChannel, ByteWriteChannel } from '../channels/byte-channel-types.ts';
import {
  ConnectError,
  ConnectionFailedError,
  ConnectionRefusedError,
  HandshakeTimeoutError,
  InvalidResponseError,
  UnexpectedStatusError,
} from './client-errors.ts';
import {
  acceptNegotiation,
  resolveResponseHeadOptions,
  type AcceptedHandshake,
  type ClientRequest,
} from './client-handshake.ts';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, endpoint, tlsOptions, type ClientTlsOptions } from './client-transport.ts';
import type { AnyConnectOptions, AnySession } from './connect.ts';
import { CONNECTION_SPECIFIC_HEADERS, headerBlockOverLimits, isValidHttp2HeaderValue } from './h2-handshake.ts';
import { closeHttp2Session } from './h2-close.ts';
import { http2StreamChannels } from './h2-stream.ts';
import { formatExtensions } from './header-tokens.ts';

/** Settings of the HTTP/2 connection pool, given as `connect(url, { http2: { ... } })`. */
export interface Http2ConnectOptions {
  /**
   * Milliseconds a pooled connection without streams stays open for the next
   * `connect` call (it never keeps the process alive meanwhile). The
   * connection's first call sets it. Default 1 000; 0 closes it at once.
   */
  readonly idleTimeoutMs?: number | undefined;
  /**
   * The connection-level receive window, raised to this once the connection
   * is up: HTTP/2 starts it at 65 535 bytes, which caps the messages of all
   * WebSockets of the connection at 64 KiB per round trip. node:http2 frees
   * it as data arrives, so it bounds no memory (the per-stream window does,
   * `initialWindowSize`). The connection's first call sets it. Default
   * 16 MiB.
   */
  readonly connectionWindowSize?: number | undefined;
  /**
   * SETTINGS_INITIAL_WINDOW_SIZE, each stream's receive window: what the
   * server may send one WebSocket ahead of what it read, and so what one
   * WebSocket that the application does not read buffers (besides
   * `channels.inputCapacity`). HTTP/2's 65 535 bytes would cap what a
   * WebSocket receives at 64 KiB per round trip, so that a subscriber that
   * keeps up over TCP falls behind over HTTP/2; at 1 MiB it still did now
   * and then (browsers start at 6 MiB; a Linux TCP receive buffer grows to
   * 6 MiB). The connection's first call sets it. Default 8 MiB.
   */
  readonly initialWindowSize?: number | undefined;
}

/** Default `idleTimeoutMs` of a pooled HTTP/2 connection. */
export const DEFAULT_HTTP2_IDLE_TIMEOUT_MS = 1_000;
/** Default `connectionWindowSize` of a pooled HTTP/2 connection: 16 MiB. */
export const DEFAULT_HTTP2_CLIENT_WINDOW_SIZE = 16 << 20;
/** Default `initialWindowSize` (per stream) of a pooled HTTP/2 connection: 8 MiB. */
export const DEFAULT_HTTP2_CLIENT_STREAM_WINDOW_SIZE = 8 << 20;

/** `Http2ConnectOptions` with the defaults filled in. */
interface PoolSettings {
  readonly idleTimeoutMs: number;
  readonly connectionWindowSize: number;
  readonly initialWindowSize: number;
}

/** What connect.ts lends this module: starting the session, and the HTTP/1.1 path to fall back to. */
export interface Http2ConnectHooks {
  /** Starts the client session over the stream's channels once the 200 was accepted. */
  start(
    channels: { readonly input: ByteReadChannel; readonly output: ByteWriteChannel },
    accepted: AcceptedHandshake,
    options: AnyConnectOptions,
  ): Promise<AnySession>;
  /** Connects over HTTP/1.1 within `timeoutMs`, over `socket` when given (a TLS socket whose ALPN chose HTTP/1.1). */
  fallback(socket: Socket | undefined, timeoutMs: number): Promise<AnySession>;
}

/**
 * Opens the WebSocket `request` describes as a stream of a pooled HTTP/2
 * connection to `target` (see the module comment).
 *
 * @throws TypeError / RangeError (synchronously) for a header HTTP/2 does
 *   not allow or an invalid `http2` pool setting; rejects like `connect`.
 */
export function connectHttp2(
  target: URL,
  request: ClientRequest,
  options: AnyConnectOptions,
  hooks: Http2ConnectHooks,
): Promise<AnySession> {
  const pool = resolvePoolSettings(options.http2);
  const headers = requestHeaders(target, request, options.headers);
  if (target.protocol === 'wss:' && options.tls !== undefined) checkTlsOptions(options.tls);
  const deadline = new Deadline(options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
  return open(target, request, headers, options, hooks, pool, deadline).finally(() => deadline.clear());
}

function resolvePoolSettings(http2: AnyConnectOptions['http2']): PoolSettings {
  const given = typeof http2 === 'object' ? http2 : {};
  const idleTimeoutMs = given.idleTimeoutMs ?? DEFAULT_HTTP2_IDLE_TIMEOUT_MS;
  if (!Number.isInteger(idleTimeoutMs) || idleTimeoutMs < 0 || idleTimeoutMs > 2 ** 31 - 1) {
    throw new RangeError(`http2.idleTimeoutMs must be whole milliseconds from 0 to 2^31-1, got ${idleTimeoutMs}`);
  }
  const connectionWindowSize = windowSize('connectionWindowSize', given.connectionWindowSize ?? DEFAULT_HTTP2_CLIENT_WINDOW_SIZE);
  const initialWindowSize = windowSize('initialWindowSize', given.initialWindowSize ?? DEFAULT_HTTP2_CLIENT_STREAM_WINDOW_SIZE);
  return { idleTimeoutMs, connectionWindowSize, initialWindowSize };
}

/** A flow-control window from the `http2` options: at least HTTP/2's initial 65 535 bytes, at most 2^31-1. */
function windowSize(name: string, size: number): number {
  if (!Number.isInteger(size) || size < 65_535 || size > 2 ** 31 - 1) {
    throw new RangeError(`http2.${name} must be an integer from 65535 to 2^31-1, got ${size}`);
  }
  return size;
}

/**
 * The extended CONNECT's header block (RFC 8441 section 5): `:method`
 * CONNECT, `:protocol` websocket, `:scheme`, `:path` (path and query),
 * `:authority` (the URL's host, or a `Host` given in `extra`),
 * `sec-websocket-version` 13, the offered subprotocols and extensions, and
 * the caller's extra headers in lower case (already checked by
 * `formatClientRequest`).
 */
function requestHeaders(target: URL, request: ClientRequest, extra: Readonly<Record<string, string>> = {}): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': target.protocol === 'wss:' ? 'https' : 'http',
    ':path': `${target.pathname}${target.search}`,
    ':authority': target.host,
    'sec-websocket-version': '13',
  };
  if (request.protocols.length > 0) headers['sec-websocket-protocol'] = request.protocols.join(', ');
  if (request.extensions.length > 0) headers['sec-websocket-extensions'] = formatExtensions(request.extensions.map((e) => e.offer()));
  for (const [name, value] of Object.entries(extra)) {
    const lower = name.toLowerCase();
    if (CONNECTION_SPECIFIC_HEADERS.has(lower) || (lower === 'te' && value.trim().toLowerCase() !== 'trailers')) {
      throw new TypeError(`header ${name} is connection-specific and not allowed over HTTP/2 (RFC 9113 section 8.2.2); remove it`);
    }
    if (!isValidHttp2HeaderValue(value)) {
      throw new TypeError(`header ${name} has a value with a control character; remove it: ${JSON.stringify(value)}`);
    }
    if (lower === 'host') headers[':authority'] = value;
    else headers[lower] = Object.hasOwn(headers, lower) ? `${String(headers[lower])}, ${value}` : value;
  }
  return headers;
}

/** The handshake's time limit: a promise to race against, and what is left of it. */
class Deadline {
  readonly #end: number;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #expired: Promise<never>;
  #onExpire: (() => void) | undefined;

  constructor(readonly timeoutMs: number) {
    this.#end = performance.now() + timeoutMs;
    let fail: (error: Error) => void = () => {};
    this.#expired = new Promise<never>((_, reject) => (fail = reject));
    this.#expired.catch(() => {}); // raced, never awaited alone
    this.#timer = Number.isFinite(timeoutMs)
      ? setTimeout(() => {
          this.#onExpire?.();
          fail(new HandshakeTimeoutError(timeoutMs));
        }, timeoutMs)
      : undefined;
  }

  /** `promise`, or a `HandshakeTimeoutError` when the time runs out first (`onExpire` runs then). */
  race<T>(promise: Promise<T>, onExpire?: () => void): Promise<T> {
    this.#onExpire = onExpire;
    return Promise.race([promise, this.#expired]).finally(() => (this.#onExpire = undefined));
  }

  /** Milliseconds left (at least 1, so a fallback still gets its own timeout error). */
  remaining(): number {
    return Number.isFinite(this.timeoutMs) ? Math.max(1, this.#end - performance.now()) : Infinity;
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

async function open(
  target: URL,
  request: ClientRequest,
  headers: OutgoingHttpHeaders,
  options: AnyConnectOptions,
  hooks: Http2ConnectHooks,
  pool: PoolSettings,
  deadline: Deadline,
): Promise<AnySession> {
  const key = poolKey(target, options);
  let refusals = 0;
  for (;;) {
    const connection = reserve(key);
    if (connection !== undefined) {
      try {
        return await openStream(connection, request, headers, options, hooks, deadline);
      } catch (error) {
        if (!(error instanceof RefusedStreamError) || ++refusals > MAX_REFUSALS) throw error;
        // Refused unprocessed (RFC 9113 section 8.7: safe to retry). Most often the server was closing that connection
        // (an idle one it dropped with GOAWAY as this stream was opened): the pool retired it on the GOAWAY, so the
        // retry goes to another connection; otherwise it goes to the pool's choice again.
        continue;
      }
    }
    const joined = pending.get(key);
    const result = await deadline.race(joined ?? probe(key, target, options, pool, deadline.remaining()));
    if (result.kind === 'failed') {
      if (!(result.error instanceof HandshakeTimeoutError)) throw result.error;
      // A connection opened by another call timed out on that call's deadline: this one opens its own in the time it has left.
      if (joined !== undefined) continue;
      throw new HandshakeTimeoutError(deadline.timeoutMs);
    }
    if (result.kind === 'http1') return hooks.fallback(result.take(), deadline.remaining());
    // A new connection joined the pool: reserve a stream on it (or open yet another if it is already full).
  }
}

// ---------------------------------------------------------------------------
// The pool.

/** One pooled HTTP/2 connection. */
interface PooledConnection {
  readonly key: string;
  readonly session: ClientHttp2Session;
  readonly idleTimeoutMs: number;
  /** WebSocket streams reserved or open on it. */
  streams: number;
  /** Set once it takes no new streams (idle timeout, GOAWAY, closed, too many resets). */
  retired: boolean;
  /** Streams that ended in a reset: refused handshakes, sessions that did not end cleanly (see `MAX_RESETS`). */
  resets: number;
  idleTimer: NodeJS.Timeout | undefined;
}

/** How a probe (a new connection) ended. */
type ProbeResult =
  | { readonly kind: 'http2' }
  | { readonly kind: 'http1'; take(): Socket | undefined }
  | { readonly kind: 'failed'; readonly error: ConnectError };

/** Connections that take streams, by pool key. */
const ready = new Map<string, PooledConnection[]>();
/** Connections being opened, by pool key: callers for that key wait for it. */
const pending = new Map<string, Promise<ProbeResult>>();
/** `tls` option objects already checked by `checkTlsOptions`. */
const checkedTls = new WeakSet<object>();

/**
 * Throws what `tls.connect` would throw for `tls` (a bad `ca`, `minVersion`,
 * `ciphers`...), at the call as over HTTP/1.1, where the socket is opened
 * at once: here the connection may come from the pool or be opened later.
 * Once per options object (a secure context costs a few milliseconds).
 */
function checkTlsOptions(tls: ClientTlsOptions): void {
  if (checkedTls.has(tls)) return;
  createSecureContext(tls);
  checkedTls.add(tls);
}

/** Pool-key numbers of the `tls` option objects in use (identity: equal-looking options do not share). */
const tlsIds = new WeakMap<object, number>();
let nextTlsId = 1;

/** Scheme, host and port, plus the identity of the `tls` options object. */
function poolKey(target: URL, options: AnyConnectOptions): string {
  const { host, port, secure } = endpoint(target);
  let tlsId = 0;
  if (secure && options.tls !== undefined) {
    tlsId = tlsIds.get(options.tls) ?? nextTlsId++;
    tlsIds.set(options.tls, tlsId);
  }
  return `${secure ? 'wss' : 'ws'}|${host}|${port}|${tlsId}`;
}

/** A connection of `key` with room for one more stream, with that stream counted; `undefined` when none. */
function reserve(key: string): PooledConnection | undefined {
  for (const connection of ready.get(key) ?? []) {
    if (connection.session.destroyed || connection.session.closed) continue;
    if (connection.streams >= connection.session.remoteSettings.maxConcurrentStreams!) continue;
    connection.streams++;
    if (connection.idleTimer !== undefined) {
      clearTimeout(connection.idleTimer);
      connection.idleTimer = undefined;
      connection.session.ref();
    }
    return connection;
  }
  return undefined;
}

/**
 * Streams of one connection that may end in a reset before it takes no new
 * ones (and closes once those it has end). Servers take many resets from
 * one client for the rapid-reset attack (CVE-2023-44487): Node's, through
 * nghttp2, answers about a thousand in a burst with GOAWAY, which would end
 * every WebSocket on the connection; a client whose sessions are often
 * terminated (or refused) moves to a fresh connection well before that.
 */
const MAX_RESETS = 500;

/** A stream of `connection` ended in a reset: after `MAX_RESETS`, the connection takes no new streams. */
function countReset(connection: PooledConnection): void {
  if (++connection.resets >= MAX_RESETS) retire(connection, true);
}

/** One stream of `connection` is over: with none left, the connection idles (unref'd) and closes after its idle timeout. */
function release(connection: PooledConnection): void {
  if (--connection.streams > 0 || connection.retired) return;
  connection.session.unref();
  connection.idleTimer = setTimeout(() => retire(connection, true), connection.idleTimeoutMs);
  connection.idleTimer.unref();
}

/** Takes `connection` out of the pool (no new streams); `close` also closes it once its streams end. */
function retire(connection: PooledConnection, close: boolean): void {
  clearTimeout(connection.idleTimer);
  connection.idleTimer = undefined;
  if (!connection.retired) {
    connection.retired = true;
    const list = ready.get(connection.key)?.filter((other) => other !== connection) ?? [];
    if (list.length === 0) ready.delete(connection.key);
    else ready.set(connection.key, list);
  }
  if (close) closeHttp2Session(connection.session);
}

/**
 * Opens a new connection for `key` and registers it as pending; resolves
 * once it joined the pool (`http2`), or with the fallback or the failure.
 * Bounded by `timeoutMs` (the handshake timeout of the call that opened it).
 */
function probe(key: string, target: URL, options: AnyConnectOptions, pool: PoolSettings, timeoutMs: number): Promise<ProbeResult> {
  const result = openConnection(key, target, options, pool, timeoutMs).finally(() => pending.delete(key));
  pending.set(key, result);
  return result;
}

async function openConnection(
  key: string,
  target: URL,
  options: AnyConnectOptions,
  pool: PoolSettings,
  timeoutMs: number,
): Promise<ProbeResult> {
  const { host, port, secure } = endpoint(target);
  const deadline = new Deadline(timeoutMs);
  const socket: Socket = secure
    ? tlsConnect({ ...tlsOptions(host, port, options.tls), ALPNProtocols: ['h2', 'http/1.1'] })
    : netConnect({ host, port });
  socket.setNoDelay(true);
  try {
    await deadline.race(connected(socket, secure), () => socket.destroy());
  } catch (error) {
    socket.destroy();
    deadline.clear();
    if (error instanceof ConnectError) return { kind: 'failed', error };
    const code = (error as { code?: unknown }).code;
    return {
      kind: 'failed',
      error: code === 'ECONNREFUSED' ? new ConnectionRefusedError(`${target.hostname}:${port}`, error) : new ConnectionFailedError(`could not connect to ${target.host}`, error),
    };
  }
  if (secure && (socket as TLSSocket).alpnProtocol !== 'h2') {
    deadline.clear();
    return http1(socket);
  }

  const session = http2Connect(`${secure ? 'https' : 'http'}://${target.host}`, {
    createConnection: () => socket,
    settings: { enablePush: false, initialWindowSize: pool.initialWindowSize },
  });
  session.on('error', ignore); // each stream reports its own failure
  let settings;
  try {
    settings = await deadline.race(firstSettings(session), () => session.destroy());
  } catch (error) {
    session.destroy();
    if (error instanceof HandshakeTimeoutError) return { kind: 'failed', error };
    // Over TLS the server chose h2 through ALPN: a broken HTTP/2 connection is a failure, not a server without HTTP/2.
    if (secure) return { kind: 'failed', error: new ConnectionFailedError('the HTTP/2 connection failed before the server sent its SETTINGS', error) };
    return http1(undefined);
  } finally {
    deadline.clear();
  }
  if (settings.enableConnectProtocol !== true || settings.maxConcurrentStreams === 0) {
    closeHttp2Session(session);
    return http1(undefined);
  }
  session.setLocalWindowSize(pool.connectionWindowSize);
  const connection: PooledConnection = { key, session, idleTimeoutMs: pool.idleTimeoutMs, streams: 0, retired: false, resets: 0, idleTimer: undefined };
  session.once('goaway', () => retire(connection, false));
  session.once('close', () => retire(connection, false));
  const list = ready.get(key);
  if (list === undefined) ready.set(key, [connection]);
  else list.push(connection);
  // Nobody may reserve a stream after all (every caller timed out): it idles like any other.
  connection.streams = 1;
  release(connection);
  return { kind: 'http2' };
}

/**
 * The HTTP/1.1 verdict; `socket` (TLS, ALPN not h2) goes to the first caller
 * that takes it, and is destroyed if none did by the next turn of the event
 * loop (every caller timed out).
 */
function http1(socket: Socket | undefined): ProbeResult {
  let spare = socket;
  if (spare !== undefined) setImmediate(() => spare?.destroy());
  return {
    kind: 'http1',
    take() {
      const taken = spare;
      spare = undefined;
      return taken;
    },
  };
}

/** Resolves once `socket` is connected (and its TLS handshake done); rejects with its error or an early close. */
function connected(socket: Socket, secure: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const ready = secure ? 'secureConnect' : 'connect';
    const onReady = (): void => {
      socket.off('error', onError).off('close', onClose);
      resolve();
    };
    const onError = (error: Error): void => {
      socket.off(ready, onReady).off('close', onClose);
      reject(error);
    };
    const onClose = (): void => {
      socket.off(ready, onReady).off('error', onError);
      reject(new ConnectionFailedError(`connection closed before it was ${secure ? 'secured' : 'established'}`));
    };
    socket.once(ready, onReady).once('error', onError).once('close', onClose);
  });
}

/** The server's first SETTINGS; rejects when the session fails or closes first. */
function firstSettings(session: ClientHttp2Session): Promise<Settings> {
  return new Promise((resolve, reject) => {
    const onSettings = (settings: Settings): void => {
      session.off('error', onError).off('close', onClose);
      resolve(settings);
    };
    const onError = (error: Error): void => {
      session.off('remoteSettings', onSettings).off('close', onClose);
      reject(error);
    };
    const onClose = (): void => {
      session.off('remoteSettings', onSettings).off('error', onError);
      reject(new ConnectionFailedError('the server closed the connection before its HTTP/2 SETTINGS'));
    };
    session.once('remoteSettings', onSettings).once('error', onError).once('close', onClose);
  });
}

// ---------------------------------------------------------------------------
// One WebSocket stream.

async function openStream(
  connection: PooledConnection,
  request: ClientRequest,
  headers: OutgoingHttpHeaders,
  options: AnyConnectOptions,
  hooks: Http2ConnectHooks,
  deadline: Deadline,
): Promise<AnySession> {
  let stream: ClientHttp2Stream;
  try {
    stream = connection.session.request(headers, { endStream: false });
  } catch (error) {
    release(connection);
    throw new ConnectionFailedError('could not open an HTTP/2 stream', error);
  }
  stream.once('close', () => release(connection));
  stream.on('error', ignore); // reported through the events awaited below, then through the session's channels
  let accepted: AcceptedHandshake;
  try {
    const response = await deadline.race(responseOf(stream), () => stream.close(constants.NGHTTP2_CANCEL));
    const status = Number(response[':status']);
    const limits = resolveResponseHeadOptions(options.responseHead);
    // The responseHead limits, as over HTTP/1.1 (node:http2's own bounds apply first).
    const overLimits = headerBlockOverLimits(response, limits, 'response');
    if (overLimits !== undefined) throw new InvalidResponseError(overLimits);
    const responseHeaders = plainHeaders(response);
    if (status !== 200) {
      const body = await readBody(stream, limits.maxBodySize, deadline.remaining());
      throw new UnexpectedStatusError(status, '', responseHeaders, body, 200);
    }
    accepted = acceptNegotiation(request, responseHeaders);
  } catch (error) {
    if (!stream.closed) {
      stream.close(constants.NGHTTP2_CANCEL);
      countReset(connection);
    }
    throw error;
  }
  deadline.clear();
  let session;
  try {
    session = await hooks.start(http2StreamChannels(stream, options.channels), accepted, options);
  } catch (error) {
    stream.close(constants.NGHTTP2_CANCEL); // no session owns the stream: it must not stay open
    throw error;
  }
  const raw = 'raw' in session ? session.raw : session;
  // A session that did not end cleanly (terminated, failed, timed out) ends its stream with a reset.
  raw.job.invokeOnCompletion(() => {
    if (raw.failure !== undefined) countReset(connection);
  });
  return session;
}

/** Streams refused unprocessed (REFUSED_STREAM) one `connect` call retries on another connection before it gives up. */
const MAX_REFUSALS = 2;

/** The server refused the stream without processing it (REFUSED_STREAM, also for streams a GOAWAY left out). */
class RefusedStreamError extends ConnectionFailedError {}

/** The response's header block; rejects when the stream is reset or closed first. */
function responseOf(stream: ClientHttp2Stream): Promise<IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const onResponse = (headers: IncomingHttpHeaders): void => {
      stream.off('error', onError).off('close', onClose);
      resolve(headers);
    };
    const onError = (error: Error): void => {
      stream.off('response', onResponse).off('close', onClose);
      const message = `the HTTP/2 stream failed before the response: ${error.message}`;
      reject(stream.rstCode === constants.NGHTTP2_REFUSED_STREAM ? new RefusedStreamError(message, error) : new ConnectionFailedError(message, error));
    };
    const onClose = (): void => {
      stream.off('response', onResponse).off('error', onError);
      const message = `the HTTP/2 stream was closed (code ${stream.rstCode ?? 'none'}) before the response`;
      reject(stream.rstCode === constants.NGHTTP2_REFUSED_STREAM ? new RefusedStreamError(message) : new ConnectionFailedError(message));
    };
    stream.once('response', onResponse).once('error', onError).once('close', onClose);
  });
}

/** Response headers as the typed errors and `acceptNegotiation` take them: no pseudo-headers, repeated ones joined with ", ". */
function plainHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const plain: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || value === undefined) continue;
    plain[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return plain;
}

/** Up to `limit` bytes of an error response's body: until the stream ends, or as far as it came within `timeoutMs`. */
function readBody(stream: ClientHttp2Stream, limit: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      clearTimeout(timer);
      stream.off('data', onData).off('end', done).off('close', done);
      stream.pause();
      resolve(Buffer.concat(parts, size));
    };
    const onData = (chunk: Buffer): void => {
      const part = chunk.subarray(0, limit - size);
      parts.push(part);
      size += part.length;
      if (size >= limit) done();
    };
    const timer = Number.isFinite(timeoutMs) ? setTimeout(done, timeoutMs) : undefined;
    if (limit === 0) return done();
    stream.on('data', onData).once('end', done).once('close', done);
  });
}

function ignore(): void {}
