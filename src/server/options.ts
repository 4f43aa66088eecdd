/**
 * Options of the server object, with their defaults in one place: the
 * server-wide ones (every `ServeOptions`, the `verify` hook, `onError`, the
 * verify deadline), what a route may override, how `attach` treats another
 * listener's requests, and what `close()` sends and how long it waits.
 */
import { checkDuration } from '../channels/duration.ts';
import { encodeClosePayload } from '../frames/close.ts';
import type { Http2ServeOptions, Http2WebSocketLimits } from '../upgrade/h2-serve.ts';
import type { ServeOptions } from '../upgrade/serve.ts';
import type { Broker } from '../brokers/broker.ts';
import type { ErrorReporter } from './report.ts';
import type { TopicOptions } from './topics.ts';
import type { VerifyHook } from './verify.ts';

/** Default `verifyTimeoutMs`: 10 seconds for the `verify` hook, then 503. */
export const DEFAULT_VERIFY_TIMEOUT_MS = 10_000;
/** Default `close({ timeoutMs })`: 10 seconds for the sessions to end, then the rest are dropped. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;
/** Default `close({ code })`: 1001 Going Away. */
export const DEFAULT_CLOSE_CODE = 1001;

/**
 * What a route may set for itself, in place of the server's: subprotocols,
 * extensions, session limits, default-session settings, origin check and
 * verify hook. The rest (channels, request-head limits, contexts,
 * `verifyTimeoutMs`, `onError`) is server-wide.
 */
export interface RouteOptions<Data>
  extends Pick<ServeOptions, 'protocols' | 'extensions' | 'session' | 'defaultSession' | 'checkOrigin'> {
  /** The verify hook of this route, in place of the server's (`undefined`: none). */
  readonly verify?: VerifyHook<Data> | undefined;
}

/** Options of `new WebSocketServer(options)`: those of `handleUpgrade` and `handleHttp2Stream`, and the server's own. */
export interface WebSocketServerOptions<Data> extends Http2ServeOptions, RouteOptions<Data> {
  /**
   * Accepts or refuses each upgrade request after the handshake checks and
   * before the 101 or, over HTTP/2, the 200 (see `VerifyHook`). Default: every valid request is accepted.
   */
  readonly verify?: VerifyHook<Data> | undefined;
  /** Milliseconds the `verify` hook may take (then 503 and a `VerifyError`); `Infinity` disables. Default 10 000. */
  readonly verifyTimeoutMs?: number | undefined;
  /**
   * Receives handler errors (with the session) and server errors such as a
   * failed `verify` hook (session `undefined`). Default: printed to stderr
   * with the stack.
   */
  readonly onError?: ErrorReporter<Data> | undefined;
  /** The byte cap and policy for slow topic subscribers (see `TopicOptions`: 1 MiB, then close with 1013). */
  readonly topics?: TopicOptions | undefined;
  /**
   * Shares topics with other processes (say, `redisBroker` from
   * `ktor-ws-ts/redis`). The server attaches it and subscribes its topics;
   * the broker stays yours to close after the server. Default: none (topics
   * stay in this process).
   */
  readonly broker?: Broker | undefined;
  /**
   * The stream limits of the HTTP/2 servers the WebSocket server makes
   * itself (`listen`, and `handleSocket` given an HTTP/2 connection): see
   * `Http2WebSocketLimits` (100 concurrent streams per connection, a
   * 65,535-byte stream window, 10 MiB session memory).
   */
  readonly http2?: Http2WebSocketLimits | undefined;
}

/** What to do with an upgrade request no route (and no default route) serves. */
export type UnknownPaths = 'auto' | 'refuse' | 'ignore';

/** Options of `attach(httpServer, options)`. */
export interface AttachOptions {
  /**
   * A WebSocket request for a path no route serves: `'refuse'` answers 404,
   * `'ignore'` leaves it to the server's other listeners, `'auto'` answers
   * 404 when this server's listener is the only one and ignores it
   * otherwise. Over HTTP/1.1 the listeners are those of `'upgrade'`, and
   * other `WebSocketServer`s do not count as others: when none of them
   * routes the path, one of them answers 404; an upgrade left to other
   * listeners is theirs to answer (a reset before one of them takes it is
   * ignored). Over HTTP/2 (an extended CONNECT with `:protocol`
   * `websocket`), the listeners are those of `'stream'` other than node's
   * compatibility layer, and of `'connect'`. Default `'auto'`.
   */
  readonly unknownPaths?: UnknownPaths | undefined;
  /**
   * `close()` also closes the server (and waits for it), with GOAWAY on the
   * HTTP/2 connections it accepted since `attach`; connections it accepted
   * since `attach` still open when `close`'s `timeoutMs` is up are dropped
   * (WebSockets another library upgraded on it included; of older ones, node
   * drops what `closeAllConnections` reaches and waits for the rest).
   * Default false: it stays yours.
   */
  readonly closeHttpServer?: boolean | undefined;
}

/** Options of `close(options)`. */
export interface CloseOptions {
  /** The close code every session gets. Default 1001 (Going Away). */
  readonly code?: number | undefined;
  /** The close reason (at most 123 UTF-8 bytes). Default empty. */
  readonly reason?: string | undefined;
  /**
   * Milliseconds the sessions have to finish their close handshakes and
   * handlers before the rest are dropped; `Infinity` waits for ever. Default 10 000.
   */
  readonly timeoutMs?: number | undefined;
}

/** What `close()` resolves with. */
export interface CloseSummary {
  /** Sessions that were open when `close()` was called. */
  readonly sessions: number;
  /** Of those, the ones still open at the deadline: their connections were dropped. */
  readonly dropped: number;
}

/** `close()`'s options with defaults filled in. @throws RangeError for an invalid code, reason or timeout. */
export function resolveCloseOptions(options: CloseOptions): Required<{ [K in keyof CloseOptions]: NonNullable<CloseOptions[K]> }> {
  const code = options.code ?? DEFAULT_CLOSE_CODE;
  const reason = options.reason ?? '';
  encodeClosePayload({ code, reason });
  return { code, reason, timeoutMs: checkDuration('close timeoutMs', options.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS, 0) };
}
