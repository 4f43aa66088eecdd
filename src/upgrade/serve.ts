/**
 * Embedding in Node servers: `handleUpgrade` answers node:http's `upgrade`
 * event, `serveSocket` serves any socket a framework hands over (reading the
 * request head itself), and `createWebSocketServer` is a bare node:net server
 * built on `serveSocket`. Each validates the request (an HTTP error response
 * and a closed socket when invalid), writes the 101 response and runs the
 * handler with a default session.
 */
import type { IncomingMessage } from 'node:http';
import { createServer, Socket, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ByteReadChannel, ByteWriteChannel } from '../channels/byte-channel-types.ts';
import { Dispatchers, type CoroutineContext } from '../channels/context.ts';
import type { Job } from '../channels/job.ts';
import { checkSocketChannelsOptions, socketChannels, type SocketChannels, type SocketChannelsOptions } from '../channels/node-adapter.ts';
import { DefaultWebSocketSession, type SessionInfo, type TopicHub } from '../session/default-session.ts';
import { DEFAULT_SESSION_DEFAULTS, RAW_SESSION_DEFAULTS, resolveOptions, type DefaultSessionOptions } from '../session/options.ts';
import type { SessionHandler } from '../session/run-session.ts';
import { HandshakeError, internalServerError } from './errors.ts';
import type { HandshakeOptions, UpgradeCall } from './handshake.ts';
import { formatErrorResponse, formatResponseHead } from './http-response.ts';
import {
  checkNodeHead,
  checkRequestHeadOptions,
  DEFAULT_MAX_HEADERS,
  readRequestHeadAfter,
  type RequestHead,
  type RequestHeadOptions,
} from './request-head.ts';
import { WebSocketUpgrade, type WebSocketUpgradeOptions } from './websocket-upgrade.ts';

/** The user's code for one WebSocket connection (`Data`: the session's per-connection data). */
export type WebSocketHandler<Data = unknown> = (
  session: DefaultWebSocketSession<Data>,
  request: UpgradeCall,
) => Promise<void> | void;

/** Options shared by `handleUpgrade`, `serveSocket` and `createWebSocketServer`. */
export interface ServeOptions extends WebSocketUpgradeOptions {
  /** Subprotocols the server speaks, in preference order, or a selector. Default: none. */
  readonly protocols?: HandshakeOptions['protocols'];
  /** Ping, pong and message-queue settings of the default session. */
  readonly defaultSession?: DefaultSessionOptions;
  /** Byte-channel capacities between the socket and the session (default 64 KiB each). */
  readonly channels?: SocketChannelsOptions;
  /**
   * Limits of the request head. `serveSocket` (and the server's
   * `handleSocket`) read the head themselves and apply them all; over HTTP/2
   * they apply to the header block; for a head node:http read
   * (`handleUpgrade`, `attach`) only `maxHeaders` applies, node:http's own
   * size and time limits having done the rest (`listen` gives its node:http
   * servers `maxHeadSize` and `timeoutMs`).
   */
  readonly requestHead?: RequestHeadOptions;
  /** Where reading and writing run. Default: no parent job, immediate dispatch. */
  readonly engineContext?: CoroutineContext;
  /** Where the handler runs. Default: the engine context. */
  readonly userContext?: CoroutineContext;
}

const DEFAULT_CONTEXT: CoroutineContext = { dispatcher: Dispatchers.Immediate };

/**
 * Answers node:http's `upgrade` event: `server.on('upgrade', (req, socket, head) => handleUpgrade(req, socket, head, handler))`.
 * Returns the session's job, or `undefined` when the request was refused
 * (the socket then got the HTTP error response and is closed).
 *
 * @throws what a `protocols` selector or `checkOrigin` threw, or an Error for
 *   a selected protocol the client did not offer (the client got a 500);
 *   RangeError for an invalid option.
 */
export function handleUpgrade(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  handler: WebSocketHandler,
  options: ServeOptions = {},
): Job | undefined {
  // node:http already took `head` (the client's first frames, if any) off the socket.
  if (head.length > 0) socket.unshift(head);
  const { input, output } = connectionChannels(socket, options);
  const refused = checkNodeHead(request.rawHeaders, options.requestHead?.maxHeaders ?? DEFAULT_MAX_HEADERS);
  if (refused !== undefined) {
    sendAndClose(input, output, formatErrorResponse(refused));
    return undefined;
  }
  return answer(request, input, output, handler, options, peerOf(socket));
}

/**
 * Serves one raw connection: reads the HTTP request head from the socket,
 * then answers it like `handleUpgrade`. Resolves with the session's job, or
 * `undefined` when the request was refused or never completed; rejects with
 * what `handleUpgrade` would throw.
 */
export async function serveSocket(socket: Duplex, handler: WebSocketHandler, options: ServeOptions = {}): Promise<Job | undefined> {
  const { input, output } = connectionChannels(socket, options);
  const request = await readUpgradeRequest(input, output, options);
  return request === undefined ? undefined : answer(request, input, output, handler, options, peerOf(socket));
}

/**
 * Reads the request head of a raw connection (`options.requestHead` limits).
 * Resolves with it, or with `undefined` when it was refused (400, 431, or
 * 408 when it did not complete within `timeoutMs`, as node:http answers,
 * then the connection closed) or the peer went away (the connection dropped).
 * `spentMs`: how much of `timeoutMs` the connection already had (say, while
 * its first bytes were sniffed for the HTTP/2 preface).
 */
export async function readUpgradeRequest(
  input: ByteReadChannel,
  output: ByteWriteChannel,
  options: ServeOptions,
  spentMs = 0,
): Promise<RequestHead | undefined> {
  try {
    return await readRequestHeadAfter(input, options.requestHead ?? {}, spentMs);
  } catch (error) {
    if (error instanceof HandshakeError) refuse(input, output, error);
    else output.close(error instanceof Error ? error : undefined);
    return undefined;
  }
}

/** Options of `createWebSocketServer`: those of `serveSocket`, and where its errors go. */
export interface CreateWebSocketServerOptions extends ServeOptions {
  /**
   * Receives an error nobody else would hear: a `protocols` selector or a
   * `checkOrigin` that threw (the client got a 500). Default: printed to
   * stderr. A handler's own errors end its session's job, as with `serveSocket`.
   */
  readonly onError?: (error: unknown) => void;
}

/** A node:net server that serves WebSocket connections with `serveSocket`. */
export function createWebSocketServer(handler: WebSocketHandler, options: CreateWebSocketServerOptions = {}): Server {
  checkServeOptions(options);
  const onError = options.onError ?? ((error: unknown) => console.error('createWebSocketServer:', error));
  return createServer((socket) => {
    serveSocket(socket, handler, options).catch((error: unknown) => {
      try {
        onError(error);
      } catch (reporterError) {
        console.error('createWebSocketServer:', error, 'and onError threw:', reporterError);
      }
    });
  });
}

/**
 * Throws a RangeError (a TypeError for a converter) for an invalid limit of
 * the session, the channels or the request head, before any connection is
 * answered: a connection never fails for its server's options.
 */
export function checkServeOptions(options: ServeOptions): void {
  resolveOptions(RAW_SESSION_DEFAULTS, options.session);
  resolveOptions(DEFAULT_SESSION_DEFAULTS, options.defaultSession);
  checkSocketChannelsOptions(options.channels ?? {});
  checkRequestHeadOptions(options.requestHead ?? {});
}

/** Validates the request and, when valid, answers it with the 101 and starts the session. */
function answer(
  request: UpgradeCall,
  input: ByteReadChannel,
  output: ByteWriteChannel,
  handler: WebSocketHandler,
  options: ServeOptions,
  peer: Peer,
): Job | undefined {
  let pending: PendingUpgrade<unknown> | undefined;
  try {
    pending = prepareUpgrade(request, input, output, handler, options, peer);
  } catch (error) {
    // A protocols selector or origin check that threw (or a bug of ours): the client gets a 500, the caller the error.
    sendAndClose(input, output, formatErrorResponse(internalServerError()));
    throw error;
  }
  return pending?.accept();
}

/**
 * A request that passed the handshake checks and is not answered yet.
 * `handleUpgrade` and `serveSocket` accept it at once; a server object runs
 * its `verify` hook in between.
 */
export interface PendingUpgrade<Data> {
  /** The validated upgrade: the selected subprotocol and the 101's own headers. */
  readonly upgrade: WebSocketUpgrade;
  /**
   * Writes the 101 response, with `extraHeaders` after the handshake's own,
   * and starts the session with `data` as its `session.data`. Returns the
   * session's job, or `undefined` when the peer went away meanwhile (the
   * connection is then released). Call it once.
   *
   * @throws TypeError for a malformed extra header (nothing is written).
   */
  accept(extraHeaders?: ReadonlyArray<readonly [string, string]>, data?: Data): Job | undefined;
}

/**
 * Validates the request (HandshakeError: the error response is written and
 * the connection closed, `undefined` returned). Other errors (an invalid
 * option, a callback that threw) propagate with the connection untouched.
 * Returns `undefined` too when the peer already went away.
 */
export function prepareUpgrade<Data>(
  request: UpgradeCall,
  input: ByteReadChannel,
  output: ByteWriteChannel,
  handler: WebSocketHandler<Data>,
  options: ServeOptions,
  peer: Peer,
  topics?: TopicHub,
): PendingUpgrade<Data> | undefined {
  // The peer already went away (say, while an 'upgrade' listener awaited its own checks): nothing to answer.
  if (output.isClosedForWrite) {
    input.cancel();
    return undefined;
  }
  let upgrade: WebSocketUpgrade;
  // Built now, so that no closure below captures `request` (it would keep node's request object for the session's life).
  const known = {
    request: { method: request.method, url: request.url, httpVersion: request.httpVersion, headers: request.headers },
    remoteAddress: peer.remoteAddress,
    remotePort: peer.remotePort,
    topics,
  };
  let info: SessionInfo<Data> | undefined;
  checkServeOptions(options);
  try {
    upgrade = new WebSocketUpgrade(request, options.protocols, defaultSessionHandler(handler, request, () => info, options), options);
  } catch (error) {
    if (!(error instanceof HandshakeError)) throw error;
    refuse(input, output, error);
    return undefined;
  }
  let accepted = false;
  return {
    upgrade,
    accept(extraHeaders = [], data) {
      if (accepted) throw new Error('this upgrade was already accepted');
      if (output.isClosedForWrite) {
        input.cancel();
        return undefined;
      }
      const head = formatResponseHead(upgrade.status, [...Object.entries(upgrade.headers), ...extraHeaders]);
      accepted = true;
      info = { ...known, data: data as Data };
      output.tryWriteFully(head);
      const { engine, user } = sessionContexts(options);
      try {
        return upgrade.upgrade(input, output, engine, user);
      } catch (error) {
        // The 101 is out, so no HTTP answer may follow: the connection is dropped, the caller hears why.
        const cause = error instanceof Error ? error : new Error(String(error));
        output.close(cause);
        input.cancel(cause);
        throw error;
      }
    },
  };
}

/** Where a session's reading and writing run (the engine context) and where its handler runs (the user context). */
export function sessionContexts(options: ServeOptions): { engine: CoroutineContext; user: CoroutineContext } {
  const engine = options.engineContext ?? DEFAULT_CONTEXT;
  return { engine, user: options.userContext ?? engine };
}

/**
 * The raw-session handler that wraps the raw session in a default one (with
 * what `info()` returns then: the request's method, target and headers, the
 * peer, the data) and runs the user's handler with it and `request` (shared
 * by HTTP/1.1 and HTTP/2). The session keeps `info`, not the whole request
 * object (node's holds its socket and parser): the request is handed to the
 * handler once, then dropped.
 */
export function defaultSessionHandler<Data>(
  handler: WebSocketHandler<Data>,
  request: UpgradeCall,
  info: () => SessionInfo<Data> | undefined,
  options: ServeOptions,
): SessionHandler {
  let call: UpgradeCall | undefined = request;
  const defaults = options.defaultSession;
  // When the handler is done, the default session (the raw session's layer)
  // drops messages nobody will read and closes after the un-awaited sends.
  return (raw) => {
    const upgraded = call as UpgradeCall;
    call = undefined;
    return handler(new DefaultWebSocketSession<Data>(raw, defaults, info()), upgraded);
  };
}

/** The peer's address as the socket reports it (a `net.Socket`'s; other duplexes may have none). */
export interface Peer {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

export function peerOf(socket: Duplex): Peer {
  const { remoteAddress, remotePort } = socket as Duplex & Peer;
  return { remoteAddress, remotePort };
}

/** The socket's byte channels; frames go out as soon as written (no Nagle delay), as in ws. */
export function connectionChannels(socket: Duplex, options: ServeOptions): SocketChannels {
  if (socket instanceof Socket) socket.setNoDelay(true);
  return socketChannels(socket, options.channels);
}

/**
 * Sends the error response and drops the connection once it is written,
 * whether or not the client closes its side.
 */
export function refuse(input: ByteReadChannel, output: ByteWriteChannel, error: HandshakeError): void {
  sendAndClose(input, output, formatErrorResponse(error));
}

/** Writes `response` (a complete HTTP response) unless the peer is gone, then drops the connection once it is written. */
export function sendAndClose(input: ByteReadChannel, output: ByteWriteChannel, response: Buffer): void {
  if (!output.isClosedForWrite) output.tryWriteFully(response);
  output.close();
  input.cancel();
}
