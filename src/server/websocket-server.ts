/**
 * `WebSocketServer`: the one server value (ws's `WebSocketServer`, Ktor's
 * `routing { webSocket("/chat") { } }`, uWebSockets' `App`). It routes
 * WebSocket requests by path, runs an async `verify` hook before accepting,
 * knows its live sessions, reports handler errors, and shuts down
 * gracefully, over HTTP/1.1 (upgrade, 101) and HTTP/2 (extended CONNECT,
 * RFC 8441, 200) alike. It serves connections from its own servers
 * (`listen`: one port, HTTP/1.1 and HTTP/2, cleartext or TLS), from existing
 * node:http, node:https and node:http2 servers (`attach`), from an `upgrade`
 * event or an HTTP/2 stream you route yourself (`handleUpgrade`,
 * `handleStream`), or from a raw socket (`handleSocket`). The transports'
 * plumbing lives beside it: own-listener.ts (the servers `listen` makes),
 * http2-binding.ts (the listeners on an http2 server), pending-answer.ts (a
 * request until it is answered, over either HTTP version).
 *
 * Every session runs under the server's `SupervisorJob`: a failed session
 * does not affect the others, and cancelling the server's job closes it.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Dispatchers, type CoroutineContext } from '../channels/context.ts';
import { checkDuration } from '../channels/duration.ts';
import { SupervisorJob, type Job } from '../channels/job.ts';
import type { DefaultWebSocketSession } from '../session/default-session.ts';
import { ConnectionClosedError } from '../session/errors.ts';
import type { MessageData } from '../session/message-data.ts';
import { HandshakeError, internalServerError } from '../upgrade/errors.ts';
import {
  http2ServerOptions,
  prepareHttp2Upgrade,
  type Http2ServeOptions,
  type Http2WebSocketServerOptions,
} from '../upgrade/h2-serve.ts';
import { checkNodeHead, DEFAULT_HEAD_TIMEOUT_MS, DEFAULT_MAX_HEADERS } from '../upgrade/request-head.ts';
import type { UpgradeCall } from '../upgrade/handshake.ts';
import {
  checkServeOptions,
  connectionChannels,
  peerOf,
  prepareUpgrade,
  readUpgradeRequest,
  type Peer,
  type WebSocketHandler,
} from '../upgrade/serve.ts';
import { ServerClosedError, VerifyError } from './errors.ts';
import { hasOtherStreamListeners, Http2Binding, isHttp2Server, isWebSocketConnect, type AnyHttp2Server } from './http2-binding.ts';
import { ConnectionSet } from './connection-set.ts';
import { OwnListener, type ListenerContext, type ListenOptions } from './own-listener.ts';
import { sniffPreface } from './preface.ts';
import { Http1PendingAnswer, Http2PendingAnswer, type PendingAnswer } from './pending-answer.ts';
import {
  DEFAULT_VERIFY_TIMEOUT_MS,
  resolveCloseOptions,
  type AttachOptions,
  type CloseOptions,
  type CloseSummary,
  type RouteOptions,
  type UnknownPaths,
  type WebSocketServerOptions,
} from './options.ts';
import { isSessionEnd, printError, reportSafely, type ErrorReporter } from './report.ts';
import { ReadOnlySetView } from './read-only-set.ts';
import { requestPath, RouteTable } from './routes.ts';
import { Topics, type PublishOptions, type PublishResult, type TopicStats } from './topics.ts';
import { decide, runVerify, type Decision, type VerifyHook, type VerifyInfo } from './verify.ts';

/** A server the WebSocket server can attach to: node:http, node:https, or node:http2 (cleartext or TLS). */
export type AnyHttpServer = HttpServer | HttpsServer | AnyHttp2Server;

/** A route: the wrapped handler, the merged options, the verify hook in force. */
interface Route<Data> {
  readonly handler: WebSocketHandler<Data>;
  readonly options: Http2ServeOptions;
  readonly verify: VerifyHook<Data> | undefined;
}

/** Marks the `upgrade` listeners of `WebSocketServer`s: whether that server routes a URL. */
const ROUTES = Symbol('ktor-ws-ts routes');

/** A `WebSocketServer`'s `upgrade` listener. */
interface UpgradeListener {
  (request: IncomingMessage, socket: Duplex, head: Buffer): void;
  [ROUTES]?: (url: string | undefined) => boolean;
}

function ignoreError(): void {}

/**
 * The server's job, the parent of every session's job: a supervisor (a
 * session's failure stays its own) that tells the server when a child
 * ends, so that a live session costs the server no completion handler of
 * its own.
 */
class SessionsJob extends SupervisorJob {
  readonly #childEnded: (child: Job) => void;

  constructor(parent: Job | undefined, childEnded: (child: Job) => void) {
    super(parent);
    this.#childEnded = childEnded;
  }

  protected override onChildFinished(child: Job): void {
    this.#childEnded(child);
  }
}

/** A session's key in the server's sessions (`undefined` for anything that is not a session). */
function sessionJob(session: DefaultWebSocketSession<unknown>): Job | undefined {
  return (session as Partial<DefaultWebSocketSession<unknown>> | null | undefined)?.raw?.job;
}

/** A server this server takes WebSocket requests from: one given to `attach`, or one a `listen` call made. */
interface Binding {
  readonly server: AnyHttpServer;
  /** Made by `listen` (closed with its `OwnListener`): every CONNECT stream is this server's, an unknown path gets 404. */
  readonly own: boolean;
  /** `close()` closes this attached server too. */
  readonly closeHttpServer: boolean;
  /** With `closeHttpServer`, the connections it accepted since `attach`: dropped at `close`'s deadline. */
  readonly connections: ConnectionSet | undefined;
  readonly unknownPaths: UnknownPaths;
  readonly onUpgrade: UpgradeListener;
  /** The HTTP/2 listeners, on a node:http2 server. */
  readonly http2: Http2Binding | undefined;
}

/** A request that passed the handshake checks, over either HTTP version, awaiting `verify` or acceptance. */
interface Prepared<Data> {
  /** The request as the `verify` hook, the session and the handler see it. */
  readonly request: UpgradeCall;
  /** The subprotocol the answer selects, if any. */
  readonly protocol: string | undefined;
  /** Sends the acceptance (101 or 200) with `extraHeaders` and starts the session; see `PendingUpgrade.accept`. */
  accept(extraHeaders?: ReadonlyArray<readonly [string, string]>, data?: Data): Job | undefined;
}

const NOT_FOUND = (): HandshakeError => new HandshakeError(404, 'no WebSocket endpoint at this path');
const SHUTTING_DOWN = (): HandshakeError => new HandshakeError(503, 'the server is shutting down');
const VERIFY_TIMED_OUT = (): HandshakeError => new HandshakeError(503, 'the server could not verify the request in time');

/**
 * The server. `Data` is the per-connection data your `verify` hook attaches
 * (`session.data`); without a hook it stays `undefined`.
 *
 * ```ts
 * const server = new WebSocketServer();
 * server.route('/echo', async (session) => {
 *   for await (const message of session) await session.send(message);
 * });
 * const { port } = await server.listen(8080);
 * process.once('SIGTERM', () => void server.close());
 * ```
 */
export class WebSocketServer<Data = undefined> {
  /**
   * The parent of every session's job: a `SupervisorJob` (a child of
   * `engineContext.job` when given). Cancelling it closes the server.
   */
  readonly job: Job;

  readonly #options: WebSocketServerOptions<Data>;
  readonly #verifyTimeoutMs: number;
  readonly #onError: ErrorReporter<Data>;
  readonly #routes = new RouteTable<Route<Data>>();
  /** The live sessions by their jobs (children of `job`, which says when one ends: see `SessionsJob`). */
  readonly #sessions = new Map<Job, DefaultWebSocketSession<Data>>();
  readonly #sessionsView = new ReadOnlySetView(this.#sessions, sessionJob);
  readonly #pending = new Set<PendingAnswer>();
  readonly #bindings = new Set<Binding>();
  readonly #listeners = new Set<OwnListener>();
  readonly #topics: Topics;
  readonly #http2Settings: Http2WebSocketServerOptions;
  /** The cleartext HTTP/2 server that takes the connections opening with the preface (`listen`, `handleSocket`), once one came. */
  #http2Server: Http2Server | undefined;
  /** What every session gets once `close()` was called. */
  #closeFrame: { readonly code: number; readonly reason: string } | undefined;
  #closing: Promise<CloseSummary> | undefined;

  /**
   * @param options server-wide settings: every `ServeOptions` (protocols,
   *   extensions, session limits, channels, request-head limits, origin
   *   check, contexts), HTTP/2's `connectionWindowSize`, `verify`,
   *   `verifyTimeoutMs`, `onError`, `topics` and `broker`.
   * @throws RangeError for an invalid limit.
   */
  constructor(options: WebSocketServerOptions<Data> = {}) {
    checkServeOptions(options);
    this.#verifyTimeoutMs = checkDuration('verifyTimeoutMs', options.verifyTimeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS, 1);
    this.#http2Settings = http2ServerOptions(options.http2);
    this.#onError = options.onError ?? printError;
    this.#topics = new Topics(options.topics ?? {}, options.broker, (error) => reportSafely(this.#onError, error, undefined));
    const job = new SessionsJob(options.engineContext?.job, (child) => this.#ended(child));
    this.job = job;
    const engine: CoroutineContext = { job, dispatcher: options.engineContext?.dispatcher ?? Dispatchers.Immediate };
    this.#options = { ...options, engineContext: engine, userContext: options.userContext ?? engine };
    job.invokeOnCancellation(() => void this.close());
  }

  /**
   * The live sessions: each from the start of its handler (right after the
   * 101 or 200) until its job completes (handler returned and connection,
   * or HTTP/2 stream, closed).
   * A read-only view, updated as sessions come and go; iterating while they
   * do is safe.
   */
  get sessions(): ReadonlySet<DefaultWebSocketSession<Data>> {
    return this.#sessionsView;
  }

  /**
   * Publishes `data` to every session subscribed to `topic`
   * (`session.subscribe(topic)`): a string as a text message, bytes as a
   * binary one, framed once for all of them. The local subscribers have it
   * queued when this returns (in publish order, in order with their own
   * sends; a slow one is handled by `topics.whenFull`, never delaying the
   * others). The promise resolves with what happened here once the broker,
   * if any, took the message for the other processes; it rejects with the
   * broker's error when the broker could not (the local subscribers still got
   * it), so await it (or catch it) when a broker is in use.
   */
  publish(topic: string, data: MessageData, options?: PublishOptions): Promise<PublishResult> {
    return this.#topics.publish(topic, data, options);
  }

  /** Sessions of this process subscribed to `topic`. */
  subscriberCount(topic: string): number {
    return this.#topics.subscriberCount(topic);
  }

  /** Counters of the topics since the server started (published, delivered, dropped, lost, ...). */
  get topicStats(): TopicStats {
    return this.#topics.stats;
  }

  /** True once `close()` was called. */
  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Serves WebSocket connections to `path` with `handler`. `path` is matched
   * exactly against the request URL's pathname (query ignored); `'*'` is the
   * default route, for every path no other route matches. `options` override
   * the server's protocols, extensions, session settings (key by key: the
   * server's other `session` and `defaultSession` settings still apply),
   * origin check and verify hook for this route. Routes may be added while serving.
   *
   * @throws TypeError for an invalid path or one that already has a route;
   *   RangeError for an invalid limit; ServerClosedError after `close()`.
   */
  route(path: string, handler: WebSocketHandler<Data>, options: RouteOptions<Data> = {}): this {
    this.#checkOpen('add a route');
    if (typeof handler !== 'function') throw new TypeError(`a route's handler must be a function, got ${typeof handler}`);
    // The session settings merge key by key: a route that sets one limit keeps the server's others.
    const merged: Http2ServeOptions = {
      ...this.#options,
      ...options,
      session: { ...this.#options.session, ...options.session },
      defaultSession: { ...this.#options.defaultSession, ...options.defaultSession },
    };
    checkServeOptions(merged);
    const verify = 'verify' in options ? options.verify : this.#options.verify;
    this.#routes.add(path, { handler: this.#tracked(handler), options: merged, verify });
    return this;
  }

  /** True when a request to `url` has a route (its own or the default one). */
  handles(url: string | undefined): boolean {
    return this.#routes.match(url) !== undefined;
  }

  /**
   * Listens on `port` (0: any free port) and `host` (default: node's, all
   * interfaces) with servers of its own, closed by `close()`. One port
   * serves WebSockets over HTTP/1.1 and, unless `options.http2` is false,
   * over HTTP/2: over cleartext (`ws://`) HTTP/2 is recognised by its
   * connection preface (prior knowledge), over TLS (`options.tls`, `wss://`)
   * ALPN chooses `h2` or `http/1.1`. Plain requests get 426 Upgrade Required
   * (HTTP/1.1) or 400 (HTTP/2) on a routed path and 404 elsewhere. Resolves
   * with the bound address. Call it more than once to listen on more ports.
   *
   * The `requestHead` limits: `maxHeadSize` is node's `maxHeaderSize`,
   * `timeoutMs` its `headersTimeout` (at most node's 300 s request timeout)
   * and the time a cleartext connection has to send its first bytes; over
   * HTTP/2, `maxHeadSize` and `maxHeaders` bound each WebSocket request's
   * header fields (431), and `timeoutMs` is how long a connection may stay
   * without a stream (and how often one with streams is checked alive).
   *
   * @throws (rejects) the listen error (say, EADDRINUSE); RangeError for an
   *   HTTP/2 limit out of range; ServerClosedError after `close()`.
   */
  async listen(port = 0, host?: string, options: ListenOptions = {}): Promise<AddressInfo> {
    this.#checkOpen('listen');
    const context: ListenerContext = {
      requestHead: this.#options.requestHead ?? {},
      http2Settings: this.#http2Settings,
      routed: (url) => this.handles(url),
      http2Connection: (socket) => this.#http2Connection(socket),
    };
    const listener = new OwnListener(options, context);
    const binding = this.#bind(listener.http1, { own: true, closeHttpServer: false, unknownPaths: 'refuse' });
    this.#listeners.add(listener);
    let address: AddressInfo;
    try {
      address = await listener.listen(port, host);
    } catch (error) {
      this.#unbind(binding);
      this.#listeners.delete(listener);
      throw error;
    }
    // Errors after listening (say, EMFILE on accept) are reported, not thrown at nobody.
    listener.listening.on('error', (error) => reportSafely(this.#onError, error, undefined));
    return address;
  }

  /**
   * Serves the WebSocket requests of an existing server, which keeps its
   * other requests (Express, Fastify and the like):
   * - node:http or node:https: its upgrade requests (`'upgrade'`);
   * - node:http2 (cleartext or TLS): its extended CONNECT streams with
   *   `:protocol` `websocket` (`'stream'`), and, on a TLS server with
   *   `allowHTTP1`, its HTTP/1.1 upgrade requests too. SETTINGS_ENABLE_CONNECT_PROTOCOL
   *   is turned on for the connections it accepts from now on (connections
   *   already open keep their settings); create it with
   *   `http2ServerOptions()` to have the stream limits too. It may use
   *   node's compatibility API (`'request'`): the streams this server takes
   *   never reach it.
   * See `AttachOptions` for requests to paths no route serves and for who
   * closes the server.
   *
   * @throws TypeError when already attached to this server;
   *   ServerClosedError after `close()`.
   */
  attach(server: AnyHttpServer, options: AttachOptions = {}): this {
    this.#checkOpen('attach');
    for (const binding of this.#bindings) {
      if (binding.server === server) throw new TypeError('this WebSocket server is already attached to that HTTP server');
    }
    const unknownPaths = options.unknownPaths ?? 'auto';
    if (unknownPaths !== 'auto' && unknownPaths !== 'refuse' && unknownPaths !== 'ignore') {
      throw new TypeError(`unknownPaths must be 'auto', 'refuse' or 'ignore', got ${JSON.stringify(unknownPaths)}`);
    }
    if (isHttp2Server(server)) server.updateSettings({ enableConnectProtocol: true });
    this.#bind(server, { own: false, closeHttpServer: options.closeHttpServer === true, unknownPaths });
    return this;
  }

  /**
   * Answers one node:http `upgrade` event yourself (ws's `noServer` mode):
   * an unknown path gets 404 (check `handles(url)` first to leave it to
   * someone else). Resolves with the session's job, or `undefined` when the
   * request was refused. Never rejects.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<Job | undefined> {
    return this.#upgrade(request, socket, head, false);
  }

  /**
   * Answers one stream of a node:http2 server yourself (its `'stream'`
   * event), the HTTP/2 counterpart of `handleUpgrade`: an extended CONNECT
   * (`:protocol` `websocket`, RFC 8441) is routed by its `:path` and
   * answered 200; an unknown path gets 404 (check `handles(headers[':path'])`
   * first), any other request 400, on its own stream. The server must send
   * SETTINGS_ENABLE_CONNECT_PROTOCOL (`http2ServerOptions`,
   * `enableWebSockets`). Resolves with the session's job, or `undefined`
   * when the request was refused. Never rejects.
   */
  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<Job | undefined> {
    return this.#stream(stream, headers);
  }

  /**
   * Serves one raw connection (node:net, or any socket a framework hands
   * over). A connection that opens with the HTTP/2 preface (prior
   * knowledge) is handed to the server's own cleartext node:http2 server,
   * whose WebSocket streams are answered like `handleStream`'s (with the
   * `http2` limits); the promise then resolves `undefined` at once, the
   * connection's sessions being in `sessions`. Any other connection is read
   * with the bounded request-head parser (`requestHead` limits) and answered
   * like an `upgrade` event; the promise resolves with the session's job, or
   * `undefined` when the request was refused or never completed. Never
   * rejects.
   */
  async handleSocket(socket: Duplex): Promise<Job | undefined> {
    // One deadline for the first bytes and the whole head, as for the head alone.
    const started = performance.now();
    if (this.#closing === undefined) {
      const http2 = await sniffPreface(socket, this.#options.requestHead?.timeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS);
      if (http2 === undefined) return undefined; // silent, failed or gone: the connection is closed
      if (http2) {
        this.#http2Connection(socket);
        return undefined;
      }
    }
    const { input, output } = connectionChannels(socket, this.#options);
    const answer = this.#track(new Http1PendingAnswer(input, output, socket));
    if (answer === undefined) return undefined;
    const request = await readUpgradeRequest(input, output, this.#options, performance.now() - started);
    if (request === undefined || answer.answered) {
      this.#pending.delete(answer);
      return undefined;
    }
    return this.#serveHttp1(answer, this.#routes.match(request.url), request);
  }

  /**
   * Shuts down: stops accepting (its own servers stop listening and send
   * GOAWAY on their HTTP/2 connections; new WebSocket requests and
   * handshakes in progress get 503), sends every session a close frame
   * (`code`, default 1001, and `reason`), waits up to `timeoutMs` (default
   * 10 s) for their jobs, drops the connections of those still open, closes
   * its own servers (and attached ones it was asked to close, with GOAWAY on
   * the HTTP/2 connections it saw), then resolves. Calling it again returns
   * the same promise.
   *
   * A handler that never returns cannot be stopped: its connection is
   * dropped and its job cancelled, and `close()` does not wait for it.
   *
   * @throws (rejects) RangeError for an invalid code, reason or timeout.
   */
  close(options: CloseOptions = {}): Promise<CloseSummary> {
    if (this.#closing !== undefined) return this.#closing;
    let resolved;
    try {
      resolved = resolveCloseOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#closeFrame = { code: resolved.code, reason: resolved.reason };
    this.#closing = this.#shutDown(resolved.timeoutMs);
    return this.#closing;
  }

  #checkOpen(action: string): void {
    if (this.#closing !== undefined) {
      throw new ServerClosedError(`cannot ${action}: the WebSocket server was closed; create a new one`);
    }
  }

  async #shutDown(timeoutMs: number): Promise<CloseSummary> {
    const started = performance.now();
    // Stop accepting: own servers stop listening, their HTTP/2 clients are told (GOAWAY); every listener now answers 503.
    const closed: Promise<void>[] = [];
    for (const listener of this.#listeners) closed.push(listener.stop());
    for (const binding of this.#bindings) if (binding.own) binding.http2?.goAway();
    const shutdown = new ServerClosedError('the WebSocket server is closing: the request was answered 503');
    for (const answer of this.#pending) answer.fail(SHUTTING_DOWN(), shutdown);
    this.#pending.clear();

    const jobs = this.job.children;
    for (const session of this.#sessions.values()) this.#sendClose(session);
    // A session whose handler has not started yet gets its close frame when it starts (see #tracked).
    const inTime = await settlesWithin(Promise.all(jobs.map((job) => job.join())), timeoutMs);
    let dropped = 0;
    if (!inTime) {
      const cause = new ConnectionClosedError(`dropped by the server's close() after ${timeoutMs} ms`);
      for (const session of this.#sessions.values()) {
        if (session.raw.job.isCompleted) continue;
        dropped++;
        session.raw.terminate(cause);
      }
      // And the jobs of sessions whose handlers have not started (or never return).
      for (const job of this.job.children) job.cancel(cause);
    }
    this.job.complete();

    // Our own HTTP/2 connections had GOAWAY: each closes once its last stream has, a 503 still being written
    // included (node:http2 writes it on a later turn); whatever is left at the deadline is dropped below.
    const ownHttp2 = [...this.#bindings].flatMap((binding) => (binding.own && binding.http2 !== undefined ? [binding.http2.whenClosed()] : []));
    if (ownHttp2.length > 0) await settlesWithin(Promise.all(ownHttp2), timeoutMs - (performance.now() - started));
    // Our own servers serve nothing but WebSockets and one-line refusals: what is left of their connections goes now.
    for (const binding of [...this.#bindings]) {
      this.#unbind(binding);
      if (binding.own) binding.http2?.destroySessions();
      else if (binding.closeHttpServer) closed.push(closeServer(binding, timeoutMs - (performance.now() - started)));
    }
    for (const listener of this.#listeners) listener.destroyConnections();
    await Promise.all(closed);
    return { sessions: jobs.length, dropped };
  }

  #sendClose(session: DefaultWebSocketSession<Data>): void {
    const frame = this.#closeFrame;
    if (frame !== undefined) void session.close(frame.code, frame.reason);
  }

  /** Hands a cleartext connection that opened with the HTTP/2 preface to the server's own http2 server (dropped once closing). */
  #http2Connection(socket: Duplex): void {
    if (this.#closing !== undefined) {
      socket.destroy();
      return;
    }
    if (this.#http2Server === undefined) {
      this.#http2Server = createHttp2Server(this.#http2Settings);
      this.#bind(this.#http2Server, { own: true, closeHttpServer: false, unknownPaths: 'refuse' });
    }
    this.#http2Server.emit('connection', socket);
  }

  /** Installs the `upgrade` listener on `server`, and the HTTP/2 listeners on an http2 server. */
  #bind(server: AnyHttpServer, settings: Pick<Binding, 'own' | 'closeHttpServer' | 'unknownPaths'>): Binding {
    const onUpgrade: UpgradeListener = (request, socket, head) => {
      const ignore =
        settings.unknownPaths === 'ignore' || (settings.unknownPaths === 'auto' && !this.#answersUnrouted(server, onUpgrade, request.url));
      void this.#upgrade(request, socket, head, ignore);
    };
    onUpgrade[ROUTES] = (url) => this.handles(url);
    server.on('upgrade', onUpgrade);
    const http2 = isHttp2Server(server)
      ? new Http2Binding(
          server,
          {
            claims: (headers) => this.#claims(server, settings, headers),
            serve: (stream, headers) => void this.#stream(stream, headers),
          },
          // The server's own HTTP/2 connections get requestHead.timeoutMs to open a stream (an attached server's are the user's).
          settings.own ? (this.#options.requestHead?.timeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS) : undefined,
        )
      : undefined;
    const connections = settings.closeHttpServer ? new ConnectionSet(server) : undefined;
    const binding: Binding = { server, ...settings, onUpgrade, http2, connections };
    this.#bindings.add(binding);
    return binding;
  }

  #unbind(binding: Binding): void {
    binding.server.off('upgrade', binding.onUpgrade);
    binding.http2?.unbind();
    binding.connections?.stopTracking();
    this.#bindings.delete(binding);
  }

  /**
   * Whether this server answers an HTTP/2 stream of a bound server: on its
   * own servers, every stream (404 for a path no route serves, 400 for a
   * request that is no extended CONNECT); on an attached one, an extended CONNECT for
   * a WebSocket whose path has a route, or any such request as
   * `unknownPaths` says (`'auto'`: unless another listener may answer it).
   */
  #claims(server: AnyHttp2Server, settings: Pick<Binding, 'own' | 'unknownPaths'>, headers: IncomingHttpHeaders): boolean {
    if (settings.own) return true;
    if (!isWebSocketConnect(headers)) return false;
    if (this.#routes.match(headers[':path']) !== undefined) return true;
    return settings.unknownPaths === 'refuse' || (settings.unknownPaths === 'auto' && !hasOtherStreamListeners(server));
  }

  /**
   * `'auto'`: whether `own` (this server's listener on `server`) answers an
   * upgrade to `url` that no route of this server serves with 404. Only when
   * every `upgrade` listener is a `WebSocketServer`'s (another listener may
   * answer it) and none of them routes `url`; then the last of them answers,
   * so that the request gets one 404.
   */
  #answersUnrouted(server: AnyHttpServer, own: UpgradeListener, url: string | undefined): boolean {
    const listeners = server.listeners('upgrade') as (UpgradeListener | ((...args: unknown[]) => unknown))[];
    for (const listener of listeners) {
      const routes = (listener as Partial<UpgradeListener>)[ROUTES];
      if (routes === undefined || (listener !== own && routes(url))) return false;
    }
    return listeners.at(-1) === own;
  }

  /** An `upgrade` event: routed, or left alone (`ignoreUnknown`), or refused. Never rejects. */
  async #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, ignoreUnknown: boolean): Promise<Job | undefined> {
    const route = this.#routes.match(request.url);
    if (route === undefined && ignoreUnknown) {
      this.#guardIgnored(socket);
      return undefined;
    }
    // node:http already took `head` (the client's first frames, if any) off the socket.
    if (head.length > 0) socket.unshift(head);
    const { input, output } = connectionChannels(socket, this.#options);
    const answer = this.#track(new Http1PendingAnswer(input, output, socket));
    return answer === undefined ? undefined : this.#serveHttp1(answer, route, request);
  }

  /**
   * An upgrade left to the HTTP server's other listeners is theirs: node:http
   * took its socket's `error` listener away before the event, so a reset
   * before one of them takes it would crash the process; errors are ignored
   * here (the listener that takes the socket adds its own). Whether and when
   * it is answered is up to them, as node:http leaves it.
   */
  #guardIgnored(socket: Duplex): void {
    if (!socket.listeners('error').includes(ignoreError)) socket.on('error', ignoreError);
  }

  /** An HTTP/1.1 upgrade request, read (by node:http): answered like any (see `#serve`), after `checkNodeHead`. */
  #serveHttp1(
    answer: Http1PendingAnswer,
    route: Route<Data> | undefined,
    request: UpgradeCall & { readonly rawHeaders: readonly string[] },
  ): Promise<Job | undefined> {
    const peer = peerOf(answer.socket);
    const maxHeaders = this.#options.requestHead?.maxHeaders ?? DEFAULT_MAX_HEADERS;
    return this.#serve(answer, route, peer, ({ handler, options }) => {
      const refused = checkNodeHead(request.rawHeaders, maxHeaders);
      if (refused !== undefined) {
        answer.fail(refused);
        return undefined;
      }
      const pending = prepareUpgrade(request, answer.input, answer.output, handler, options, peer, this.#topics);
      if (pending === undefined) return undefined;
      return { request, protocol: pending.upgrade.protocol, accept: (headers, data) => pending.accept(headers, data) };
    });
  }

  /** An HTTP/2 stream this server answers. Never rejects. */
  #stream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<Job | undefined> {
    const answer = this.#track(new Http2PendingAnswer(stream, this.#options.channels?.lingerMs));
    if (answer === undefined) return Promise.resolve(undefined);
    const socket = stream.session?.socket;
    const peer: Peer = { remoteAddress: socket?.remoteAddress, remotePort: socket?.remotePort };
    return this.#serve(answer, this.#routes.match(headers[':path']), peer, ({ handler, options }) => {
      const pending = prepareHttp2Upgrade(stream, headers, handler, options, this.#topics);
      if (pending === undefined) return undefined;
      return { request: pending.request, protocol: pending.protocol, accept: (extra, data) => pending.accept(extra, data) };
    });
  }

  /** Registers a request awaiting its answer; answers 503 at once (and returns `undefined`) when closing. */
  #track<Answer extends PendingAnswer>(answer: Answer): Answer | undefined {
    if (this.#closing !== undefined) {
      answer.fail(SHUTTING_DOWN());
      return undefined;
    }
    this.#pending.add(answer);
    return answer;
  }

  /**
   * Answers a request: 404, the handshake's own refusals (`prepare` answers
   * those and returns `undefined`), the verify hook's decision, or the
   * acceptance. Never rejects.
   */
  async #serve(
    answer: PendingAnswer,
    route: Route<Data> | undefined,
    peer: Peer,
    prepare: (route: Route<Data>) => Prepared<Data> | undefined,
  ): Promise<Job | undefined> {
    try {
      if (route === undefined) {
        answer.fail(NOT_FOUND());
        return undefined;
      }
      const pending = prepare(route);
      if (pending === undefined) return undefined; // refused by the handshake checks (or the peer left)
      if (route.verify !== undefined) return await this.#verify(answer, route.verify, pending, peer);
      const job = pending.accept();
      answer.accepted();
      return job;
    } catch (error) {
      // A protocols selector or origin check that threw (or a bug of ours): 500, and reported.
      reportSafely(this.#onError, error, undefined);
      answer.fail(internalServerError());
      return undefined;
    } finally {
      this.#pending.delete(answer);
    }
  }

  /** Runs the verify hook and answers as it decides (500 or 503 when it fails). */
  async #verify(answer: PendingAnswer, verify: VerifyHook<Data>, pending: Prepared<Data>, peer: Peer): Promise<Job | undefined> {
    const { controller } = answer;
    const { request } = pending;
    const stopWatching = answer.whenGone(() => controller.abort(new ConnectionClosedError('the client went away during verify')));
    const info: VerifyInfo = {
      path: requestPath(request.url),
      query: queryOf(request.url),
      remoteAddress: peer.remoteAddress,
      remotePort: peer.remotePort,
      protocol: pending.protocol,
      signal: controller.signal,
    };
    let decision: Decision<Data>;
    try {
      decision = decide<Data>(await runVerify(verify, request, info, this.#verifyTimeoutMs, controller), request.url);
    } catch (error) {
      if (answer.answered) return undefined; // the server is closing: 503 already sent
      if (!(error instanceof VerifyError)) {
        answer.drop(); // the client left while it was verified
        return undefined;
      }
      reportSafely(this.#onError, error, undefined);
      answer.fail(error.failure === 'timeout' ? VERIFY_TIMED_OUT() : internalServerError());
      return undefined;
    } finally {
      stopWatching();
    }
    if (answer.answered) return undefined; // the server started closing meanwhile: 503 already sent
    if (controller.signal.aborted) {
      answer.drop(); // the client left while it was verified
      return undefined;
    }
    if (!decision.accept) {
      answer.refuse(decision.refusal);
      return undefined;
    }
    let job: Job | undefined;
    try {
      job = pending.accept(decision.headers, decision.data);
    } catch (error) {
      // A header this answer cannot carry (over HTTP/2, a connection-specific one such as Keep-Alive): the hook's error.
      const detail = error instanceof Error ? error.message : String(error);
      reportSafely(this.#onError, new VerifyError('invalid-result', request.url, `the verify hook for ${request.url} returned an invalid result: ${detail}`, error), undefined);
      answer.fail(internalServerError());
      return undefined;
    }
    answer.accepted();
    return job;
  }

  /**
   * The user's handler, wrapped: the session joins `sessions` until its job
   * completes, gets the close frame at once if the server is already
   * closing, and an error it throws (which closes the session with 1011 and
   * fails its job) is reported when the session ends, unless it is how the
   * session ended (see `isSessionEnd`).
   */
  #tracked(handler: WebSocketHandler<Data>): WebSocketHandler<Data> {
    return (session, request) => {
      this.#sessions.set(session.raw.job, session);
      this.#sendClose(session);
      return handler(session, request);
    };
  }

  /** A session's job ended (see `SessionsJob`): the session leaves `sessions`, and a handler that failed is reported. */
  #ended(job: Job): void {
    const session = this.#sessions.get(job);
    if (session === undefined) return; // its handler never started
    this.#sessions.delete(job);
    const cause = job.cause;
    if (job.state === 'failed' && !isSessionEnd(cause, session as DefaultWebSocketSession<unknown>)) reportSafely(this.#onError, cause, session);
  }

}

/** The query of a request target (empty when it has none or cannot be parsed). */
function queryOf(target: string | undefined): URLSearchParams {
  const question = target?.indexOf('?') ?? -1;
  if (target === undefined || question === -1) return new URLSearchParams();
  const hash = target.indexOf('#', question);
  return new URLSearchParams(target.slice(question + 1, hash === -1 ? undefined : hash));
}

/** True when `promise` settles within `timeoutMs`. */
function settlesWithin(promise: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  if (timeoutMs === Infinity) return promise.then(() => true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    void promise.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Closes an attached server and resolves once it is closed: its idle
 * HTTP/1.1 keep-alive connections at once, its HTTP/2 connections with
 * GOAWAY (each closes when its last stream has); whatever connection is
 * still open `timeLeftMs` later (a request in progress, a streamed
 * response, a WebSocket another library upgraded) is dropped then, so that
 * `close({ timeoutMs })` bounds this too. Connections the server accepted
 * before `attach` are known only to node: its `closeAllConnections` (on
 * node:http and node:https) drops their HTTP requests, and what else they
 * carry is waited for.
 */
function closeServer(binding: Binding, timeLeftMs: number): Promise<void> {
  const { server } = binding;
  binding.http2?.goAway();
  if (!server.listening) return Promise.resolve();
  const http1 = server as Partial<HttpServer>;
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    http1.closeIdleConnections?.();
    if (!Number.isFinite(timeLeftMs)) return;
    timer = setTimeout(() => {
      http1.closeAllConnections?.();
      binding.http2?.destroySessions();
      binding.connections?.destroyAll();
    }, Math.max(0, timeLeftMs));
  });
}
