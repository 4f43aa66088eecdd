/**
 * The WebSocket client: `connect(url)` opens `ws://` over node:net or
 * `wss://` over node:tls, `connectSocket` runs over a socket or `Duplex` the
 * caller opened, and `connectChannels` over any pair of byte channels. Each
 * sends the opening handshake (client-handshake.ts), checks the response
 * strictly, and starts the same session the server side runs, in the client
 * role: every outgoing frame masked with a fresh key, masked frames from the
 * server rejected.
 *
 * The whole handshake (TCP connect, TLS, request, response head) is bounded
 * by `handshakeTimeoutMs`; every failure rejects with a `ConnectError`
 * subclass and closes the connection. After the 101, the bytes following the
 * response head (the server's first frames) stay in the input for the
 * session.
 */
import { connect as netConnect, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { ByteReadChannel, ByteWriteChannel } from '../channels/byte-channel-types.ts';
import { Dispatchers, type CoroutineContext } from '../channels/context.ts';
import { checkDuration } from '../channels/duration.ts';
import { checkSocketChannelsOptions, socketChannels, type SocketChannelsOptions } from '../channels/node-adapter.ts';
import { DefaultWebSocketSession } from '../session/default-session.ts';
import {
  DEFAULT_SESSION_DEFAULTS,
  RAW_SESSION_DEFAULTS,
  resolveOptions,
  type DefaultSessionOptions,
  type RawSessionOptions,
} from '../session/options.ts';
import type { RawWebSocketSession } from '../session/raw-session.ts';
import { InputEndWatch } from '../session/reader.ts';
import { runSession } from '../session/run-session.ts';
import {
  ConnectError,
  ConnectionFailedError,
  ConnectionRefusedError,
  HandshakeTimeoutError,
  UnexpectedStatusError,
} from './client-errors.ts';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, endpoint, tlsOptions, type ClientTlsOptions } from './client-transport.ts';
import { connectHttp2, type Http2ConnectOptions } from './connect-h2.ts';
import {
  acceptHandshakeResponse,
  formatClientRequest,
  readResponseBody,
  readResponseHead,
  resolveResponseHeadOptions,
  type AcceptedHandshake,
  type ClientRequest,
  type ClientRequestOptions,
  type ResponseHeadOptions,
} from './client-handshake.ts';

export { DEFAULT_HANDSHAKE_TIMEOUT_MS, type ClientTlsOptions } from './client-transport.ts';

/** Options of `connect`, `connectSocket` and `connectChannels`. */
export interface ConnectOptions extends ClientRequestOptions {
  /**
   * Milliseconds from the call to a valid 101 response (connect, TLS and
   * head included): more than 0 and at most 2^31−1, or `Infinity`. Default
   * 10 000.
   */
  readonly handshakeTimeoutMs?: number | undefined;
  /** Limits of the response head and of an error response's body (see `ResponseHeadOptions` for defaults). */
  readonly responseHead?: ResponseHeadOptions | undefined;
  /** Session limits and timeouts (see `RawSessionOptions` for defaults). */
  readonly session?: RawSessionOptions | undefined;
  /** Ping, pong and message-queue settings of the default session. */
  readonly defaultSession?: DefaultSessionOptions | undefined;
  /** Byte-channel capacities between the socket and the session (default 64 KiB each). */
  readonly channels?: SocketChannelsOptions | undefined;
  /** TLS settings for `wss://` (`connect` only). Default: Node's (system CAs, certificate checked, SNI = URL host). */
  readonly tls?: ClientTlsOptions | undefined;
  /** Where reading and writing run. Default: no parent job, immediate dispatch. */
  readonly engineContext?: CoroutineContext | undefined;
  /** Where the session's handler side runs. Default: the engine context. */
  readonly userContext?: CoroutineContext | undefined;
  /** `true` resolves with the raw session instead (see `RawConnectOptions`). */
  readonly raw?: false | undefined;
  /**
   * Open the WebSocket as a stream of a shared HTTP/2 connection (RFC 8441):
   * `wss://` through TLS with ALPN `h2`, `ws://` with prior knowledge; falls
   * back to HTTP/1.1 when the server does not offer it. `true`, or the
   * pool's settings (see `Http2ConnectOptions`). `connect` only. Default: HTTP/1.1.
   */
  readonly http2?: boolean | Http2ConnectOptions | undefined;
}

/**
 * Options asking for a `RawWebSocketSession`: every frame reaches the caller
 * on `incoming`, and the caller answers pings and closes itself.
 */
export interface RawConnectOptions extends Omit<ConnectOptions, 'raw' | 'defaultSession'> {
  /** true: `connect` resolves to a `RawWebSocketSession`. */
  readonly raw: true;
}

/** The implementation's view of both option kinds. */
export type AnyConnectOptions = ConnectOptions | RawConnectOptions;
export type AnySession = DefaultWebSocketSession | RawWebSocketSession;

const DEFAULT_CONTEXT: CoroutineContext = { dispatcher: Dispatchers.Immediate };

/**
 * Opens a WebSocket connection to `url` (`ws://` over TCP, `wss://` over
 * TLS) and resolves with the session once the server's 101 response passed
 * every check. The session lives until it closes; its job is `session.raw.job`.
 *
 * @throws TypeError / RangeError (synchronously, before any I/O) for an
 *   invalid URL or option.
 * @throws (rejects) ConnectionRefusedError, ConnectionFailedError,
 *   HandshakeTimeoutError, UnexpectedStatusError, InvalidResponseError,
 *   AcceptKeyMismatchError, UnexpectedProtocolError, UnexpectedExtensionError.
 */
export function connect(url: string | URL, options: RawConnectOptions): Promise<RawWebSocketSession>;
export function connect(url: string | URL, options?: ConnectOptions): Promise<DefaultWebSocketSession>;
export function connect(url: string | URL, options: AnyConnectOptions = {}): Promise<AnySession> {
  const target = parseUrl(url);
  const request = prepare(target, options);
  if (options.http2 !== undefined && options.http2 !== false) {
    return connectHttp2(target, request, options, {
      start: (channels, accepted) => startSession(channels, accepted, options, false),
      fallback: (socket, timeLeftMs) => connectHttp11(target, request, options, socket, timeLeftMs),
    });
  }
  return connectHttp11(target, request, options);
}

/**
 * `connect` over HTTP/1.1: a new TCP or TLS connection, or `socket` when the
 * HTTP/2 attempt left one (TLS whose ALPN chose HTTP/1.1); `timeLeftMs` is
 * what that attempt left of `handshakeTimeoutMs`.
 */
function connectHttp11(target: URL, request: ClientRequest, options: AnyConnectOptions, socket?: Socket, timeLeftMs?: number): Promise<AnySession> {
  const { host, port, secure } = endpoint(target);
  socket ??= secure ? tlsConnect(tlsOptions(host, port, options.tls)) : netConnect({ host, port });
  socket.setNoDelay(true);
  const address = `${target.hostname}:${port}`;
  return handshake(socketChannels(socket, options.channels), request, options, timeLeftMs).catch((error: unknown) => {
    if (error instanceof ConnectionFailedError && error.code === 'ECONNREFUSED') {
      throw new ConnectionRefusedError(address, error.cause);
    }
    throw error;
  });
}

/**
 * Runs the client handshake and session over a socket or `Duplex` the caller
 * already opened (any transport); `url` gives the `Host` header and the
 * request target. The socket is closed when the handshake fails or the
 * session ends.
 *
 * @throws like `connect`, except `ConnectionRefusedError` (the caller connected).
 */
export function connectSocket(socket: Duplex, url: string | URL, options: RawConnectOptions): Promise<RawWebSocketSession>;
export function connectSocket(socket: Duplex, url: string | URL, options?: ConnectOptions): Promise<DefaultWebSocketSession>;
export function connectSocket(socket: Duplex, url: string | URL, options: AnyConnectOptions = {}): Promise<AnySession> {
  const request = prepare(parseUrl(url), options);
  if (socket instanceof Socket) socket.setNoDelay(true);
  return handshake(socketChannels(socket, options.channels), request, options);
}

/**
 * Runs the client handshake and session over a pair of byte channels:
 * `input` carries the server's bytes, `output` takes ours. On failure the
 * input is cancelled and the output closed with the error.
 *
 * @throws like `connectSocket`.
 */
export function connectChannels(
  input: ByteReadChannel,
  output: ByteWriteChannel,
  url: string | URL,
  options: RawConnectOptions,
): Promise<RawWebSocketSession>;
export function connectChannels(
  input: ByteReadChannel,
  output: ByteWriteChannel,
  url: string | URL,
  options?: ConnectOptions,
): Promise<DefaultWebSocketSession>;
export function connectChannels(
  input: ByteReadChannel,
  output: ByteWriteChannel,
  url: string | URL,
  options: AnyConnectOptions = {},
): Promise<AnySession> {
  return handshake({ input, output }, prepare(parseUrl(url), options), options);
}

/** The URL, checked: `ws:` or `wss:`. */
function parseUrl(url: string | URL): URL {
  const parsed = new URL(url);
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new TypeError(`a WebSocket URL must start with ws:// or wss://, got ${JSON.stringify(parsed.href)}`);
  }
  return parsed;
}

/** Validates every option and formats the request, all before any I/O. */
function prepare(url: URL, options: AnyConnectOptions): ClientRequest {
  // Whole milliseconds up to what a timer can wait, or Infinity; a fraction (a timeout computed from seconds) is fine.
  checkDuration('handshakeTimeoutMs', Math.ceil(options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS), 1);
  resolveResponseHeadOptions(options.responseHead);
  checkSocketChannelsOptions(options.channels ?? {});
  resolveOptions(RAW_SESSION_DEFAULTS, options.session);
  if (!options.raw) resolveOptions(DEFAULT_SESSION_DEFAULTS, options.defaultSession);
  return formatClientRequest(url, { protocols: options.protocols, headers: options.headers, extensions: options.extensions });
}

/**
 * Sends the request, checks the response, and starts the session, within
 * `timeLeftMs` (by default the whole `handshakeTimeoutMs`, which a timeout
 * reports either way).
 */
async function handshake(
  channels: { readonly input: ByteReadChannel; readonly output: ByteWriteChannel },
  request: ClientRequest,
  options: AnyConnectOptions,
  timeLeftMs?: number,
): Promise<AnySession> {
  const { input, output } = channels;
  const timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const waitMs = timeLeftMs ?? timeoutMs;
  const timer = Number.isFinite(waitMs)
    ? setTimeout(() => {
        const error = new HandshakeTimeoutError(timeoutMs);
        input.cancel(error);
        output.close(error);
      }, waitMs)
    : undefined;
  let accepted;
  try {
    try {
      if (!output.tryWriteFully(request.head)) await output.writeFully(request.head);
    } catch (cause) {
      throw cause instanceof ConnectError ? cause : new ConnectionFailedError('could not send the handshake request', cause);
    }
    let head = await readResponseHead(input, options.responseHead);
    // Interim responses (100 Continue, 103 Early Hints) may come before the final one (RFC 9110 section 15.2): skipped.
    while (head.status >= 100 && head.status < 200 && head.status !== 101) head = await readResponseHead(input, options.responseHead);
    if (head.status !== 101) {
      const body = await readResponseBody(input, head, options.responseHead?.maxBodySize);
      throw new UnexpectedStatusError(head.status, head.statusText, head.headers, body);
    }
    accepted = acceptHandshakeResponse(request, head);
  } catch (error) {
    const cause = error instanceof Error ? error : new Error(String(error));
    input.cancel(cause);
    output.close(cause);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return startSession(channels, accepted, options, true);
}

/**
 * Starts the client session once the handshake was accepted (over HTTP/1.1
 * or HTTP/2) and resolves with it. `ownConnection`: over a connection of its
 * own (not a stream of a shared HTTP/2 one), whose closing the session
 * leaves to the server (see `RawSessionConfig.awaitsServerClose`).
 */
function startSession(
  channels: { readonly input: ByteReadChannel; readonly output: ByteWriteChannel },
  accepted: AcceptedHandshake,
  options: AnyConnectOptions,
  ownConnection: boolean,
): Promise<AnySession> {
  const { input, output } = channels;
  const engine = options.engineContext ?? DEFAULT_CONTEXT;
  const config = {
    role: 'client',
    protocol: accepted.protocol,
    extensions: accepted.extensions,
    options: options.session,
    awaitsServerClose: ownConnection,
  } as const;
  return new Promise<AnySession>((resolve, reject) => {
    const job = runSession(input, output, engine, options.userContext ?? engine, config, async (raw) => {
      resolve(options.raw ? raw : new DefaultWebSocketSession(raw, options.defaultSession));
      // The session lives until it stops sending: after the close handshake,
      // a failure, a cancel or a lost connection. Returning earlier would
      // start a close 1000 (see RawWebSocketSession.onHandlerDone).
      await new Promise<void>((done) => raw.outgoing.invokeOnClose(() => done()));
      // Over a stream of a shared HTTP/2 connection, after a clean close handshake: wait for the server's end of
      // the stream (the reader is done), so that ending the session does not reset a stream the server is closing.
      // (Over a connection of its own, the session itself waits for the server to close first.)
      if (!ownConnection && raw.failure === undefined) await awaitEnd(input, raw.options.closeTimeoutMs);
    });
    job.invokeOnCompletion((cause) => reject(new ConnectionFailedError('the session ended before it started', cause)));
  });
}

/**
 * Reads and drops what is left of `input` until the server closes, for at
 * most `timeoutMs`; then the session's end cancels the input (and drops the
 * connection) either way. Never rejects.
 */
function awaitEnd(input: ByteReadChannel, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => input.cancel(), timeoutMs); // the watch then sees the input end
    new InputEndWatch(input, () => {
      clearTimeout(timer);
      resolve();
    }).start();
  });
}
