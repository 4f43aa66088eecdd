/**
 * `WebSocketServer`: the one server value (ws's `WebSocketServer`, Ktor's
 * `routing { webSocket("/chat") { } }`, uWebSockets' `App`). It routes
 * upgrade requests by path, runs an async `verify` hook before the 101,
 * knows its live sessions, reports handler errors, and shuts down
 * gracefully. It serves connections from its own node:http server
 * (`listen`), from existing HTTP servers (`attach`), from an `upgrade` event
 * you route yourself (`handleUpgrade`), or from a raw socket (`handleSocket`).
 *
 * Every session runs under the server's `SupervisorJob`: a failed session
 * does not affect the others, and cancelling the server's job closes it.
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ByteReadChannel, ByteWriteChannel } from '../channels/byte-channel-types.ts';
import { Dispatchers, type CoroutineContext } from '../channels/context.ts';
import { SupervisorJob, type Job } from '../channels/job.ts';
import type { DefaultWebSocketSession } from '../session/default-session.ts';
import { ConnectionClosedError } from '../session/errors.ts';
import { HandshakeError } from '../upgrade/errors.ts';
import type { UpgradeCall } from '../upgrade/handshake.ts';
import { formatErrorResponse } from '../upgrade/http-response.ts';
import { DEFAULT_HEAD_TIMEOUT_MS, DEFAULT_MAX_HEAD_SIZE } from '../upgrade/request-head.ts';
import {
  checkServeOptions,
  connectionChannels,
  peerOf,
  prepareUpgrade,
  readUpgradeRequest,
  sendAndClose,
  type PendingUpgrade,
  type Peer,
  type ServeOptions,
  type WebSocketHandler,
} from '../upgrade/serve.ts';
import { ServerClosedError, VerifyError } from './errors.ts';
import {
  checkDuration,
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
import { requestPath, RouteTable } from './routes.ts';
import { Topics, type PublishOptions, type PublishResult, type TopicStats } from './topics.ts';
import { decide, runVerify, type VerifyHook, type VerifyInfo } from './verify.ts';

/** An HTTP server the WebSocket server can listen with or attach to. */
export type AnyHttpServer = HttpServer | HttpsServer;

/** A route: the wrapped handler, the merged options, the verify hook in force. */
interface Route<Data> {
  readonly handler: WebSocketHandler<Data>;
  readonly options: ServeOptions;
  readonly verify: VerifyHook<Data> | undefined;
}

/** An HTTP server this server serves upgrades from. */
interface Binding {
  readonly server: AnyHttpServer;
  /** Created by `listen`. */
  readonly own: boolean;
  /** `close()` closes the HTTP server too. */
  readonly closeHttpServer: boolean;
  readonly unknownPaths: UnknownPaths;
  readonly onUpgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

/** The node:http server's limits when the server listens itself: node's head timeout is checked this often. */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;
/** node:http's own `requestTimeout` default, which its `headersTimeout` may not exceed. */
const NODE_REQUEST_TIMEOUT_MS = 300_000;

/**
 * A connection between its arrival and its answer (a 101 or a refusal):
 * `close()` answers every one still waiting 503.
 */
class Handshake {
  /** Aborted once the answer no longer matters (handed to `verify` as `info.signal`). */
  readonly controller = new AbortController();
  #answered = false;

  constructor(
    readonly input: ByteReadChannel,
    readonly output: ByteWriteChannel,
  ) {}

  get answered(): boolean {
    return this.#answered;
  }

  /** Sends `response` and drops the connection, unless it was answered already; `verify` is told why with `reason`. */
  respond(response: Buffer, reason?: Error): void {
    if (!this.#answered) {
      this.#answered = true;
      this.controller.abort(reason);
      sendAndClose(this.input, this.output, response);
    }
  }

  /** Releases the connection without an answer (the peer left). */
  drop(): void {
    this.#answered = true;
    this.output.close();
    this.input.cancel();
  }

  /** Marks it answered with a 101 (the caller writes it). */
  accepted(): void {
    this.#answered = true;
  }
}

function errorResponse(status: number, message: string): Buffer {
  return formatErrorResponse(new HandshakeError(status, message));
}

const NOT_FOUND = (): Buffer => errorResponse(404, 'no WebSocket endpoint at this path');
const SHUTTING_DOWN = (): Buffer => errorResponse(503, 'the server is shutting down');
const INTERNAL_ERROR = (): Buffer => errorResponse(500, 'internal server error');

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
  readonly #sessions = new Set<DefaultWebSocketSession<Data>>();
  readonly #handshakes = new Set<Handshake>();
  readonly #bindings = new Set<Binding>();
  readonly #topics: Topics;
  /** What every session gets once `close()` was called. */
  #closeFrame: { readonly code: number; readonly reason: string } | undefined;
  #closing: Promise<CloseSummary> | undefined;

  /**
   * @param options server-wide settings: every `ServeOptions` (protocols,
   *   extensions, session limits, channels, request-head limits, origin
   *   check, contexts), `verify`, `verifyTimeoutMs` and `onError`.
   * @throws RangeError for an invalid limit.
   */
  constructor(options: WebSocketServerOptions<Data> = {}) {
    checkServeOptions(options);
    this.#verifyTimeoutMs = checkDuration('verifyTimeoutMs', options.verifyTimeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS, 1);
    this.#onError = options.onError ?? printError;
    this.#topics = new Topics(options.topics ?? {}, options.broker, (error) => reportSafely(this.#onError, error, undefined));
    const job = new SupervisorJob(options.engineContext?.job);
    this.job = job;
    const engine: CoroutineContext = { job, dispatcher: options.engineContext?.dispatcher ?? Dispatchers.Immediate };
    this.#options = { ...options, engineContext: engine, userContext: options.userContext ?? engine };
    job.invokeOnCancellation(() => void this.close());
  }

  /**
   * The live sessions: each from the start of its handler (right after the
   * 101) until its job completes (handler returned and connection closed).
   * A read-only view, updated as sessions come and go; iterating while they
   * do is safe.
   */
  get sessions(): ReadonlySet<DefaultWebSocketSession<Data>> {
    return this.#sessions;
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
  publish(topic: string, data: string | Uint8Array, options?: PublishOptions): Promise<PublishResult> {
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
   * the server's protocols, extensions, session settings, origin check and
   * verify hook for this route. Routes may be added while serving.
   *
   * @throws TypeError for an invalid path or one that already has a route;
   *   RangeError for an invalid limit; ServerClosedError after `close()`.
   */
  route(path: string, handler: WebSocketHandler<Data>, options: RouteOptions<Data> = {}): this {
    this.#checkOpen('add a route');
    if (typeof handler !== 'function') throw new TypeError(`a route's handler must be a function, got ${typeof handler}`);
    const merged: ServeOptions = { ...this.#options, ...options };
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
   * interfaces) with a node:http server of its own, closed by `close()`.
   * Plain HTTP requests get 426 Upgrade Required on a routed path and 404
   * elsewhere. Resolves with the bound address.
   *
   * The `requestHead` limits apply: `maxHeadSize` as node's `maxHeaderSize`,
   * `timeoutMs` as its `headersTimeout` (at most node's 300 s request timeout).
   *
   * @throws (rejects) the listen error (say, EADDRINUSE); ServerClosedError after `close()`.
   */
  async listen(port = 0, host?: string): Promise<AddressInfo> {
    this.#checkOpen('listen');
    const limits = this.#options.requestHead ?? {};
    const headTimeout = limits.timeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS;
    const server = createServer({
      maxHeaderSize: limits.maxHeadSize ?? DEFAULT_MAX_HEAD_SIZE,
      headersTimeout: Math.min(headTimeout, NODE_REQUEST_TIMEOUT_MS),
      requestTimeout: NODE_REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    });
    server.on('request', (request, response) => {
      const routed = this.handles(request.url);
      response.writeHead(routed ? 426 : 404, {
        'Content-Type': 'text/plain; charset=utf-8',
        ...(routed ? { Upgrade: 'websocket', Connection: 'Upgrade' } : {}),
      });
      response.end(routed ? 'this is a WebSocket endpoint: send an upgrade request\n' : 'not found\n');
    });
    const binding = this.#bind(server, { own: true, closeHttpServer: true, unknownPaths: 'refuse' });
    try {
      await new Promise<void>((resolve, reject) => {
        // close() while binding: the server never starts listening.
        const closed = (): void => reject(new ServerClosedError('the WebSocket server was closed before it listened'));
        server.once('error', reject);
        server.once('close', closed);
        server.listen(port, host, () => {
          server.off('error', reject);
          server.off('close', closed);
          resolve();
        });
      });
    } catch (error) {
      this.#unbind(binding);
      throw error;
    }
    // Errors after listening (say, EMFILE on accept) are reported, not thrown at nobody.
    server.on('error', (error) => reportSafely(this.#onError, error, undefined));
    return server.address() as AddressInfo;
  }

  /**
   * Serves the upgrade requests of an existing node:http or node:https server
   * (Express, Fastify and the like keep their plain requests). See
   * `AttachOptions` for requests to paths no route serves and for who closes
   * the HTTP server.
   *
   * @throws TypeError when already attached to this HTTP server;
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
   * Serves one raw connection (node:net, or any socket a framework hands
   * over): reads the request head with the bounded parser (`requestHead`
   * limits), then answers it like an `upgrade` event. Resolves with the
   * session's job, or `undefined` when the request was refused or never
   * completed. Never rejects.
   */
  async handleSocket(socket: Duplex): Promise<Job | undefined> {
    const { input, output } = connectionChannels(socket, this.#options);
    const handshake = this.#track(new Handshake(input, output));
    if (handshake === undefined) return undefined;
    const request = await readUpgradeRequest(input, output, this.#options);
    if (request === undefined || handshake.answered) {
      this.#handshakes.delete(handshake);
      return undefined;
    }
    return this.#serve(handshake, this.#routes.match(request.url), request, peerOf(socket), socket);
  }

  /**
   * Shuts down: stops accepting (its own HTTP servers stop listening; new
   * upgrade requests and handshakes in progress get 503), sends every
   * session a close frame (`code`, default 1001, and `reason`), waits up to
   * `timeoutMs` (default 10 s) for their jobs, drops the connections of
   * those still open, closes its own HTTP servers (and attached ones it was
   * asked to close), then resolves. Calling it again returns the same promise.
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
    // Stop accepting: own servers stop listening; every listener now answers 503.
    const httpClosed: Promise<void>[] = [];
    for (const binding of this.#bindings) if (binding.own) httpClosed.push(closeHttpServer(binding.server));
    const shutdown = new ServerClosedError('the WebSocket server is closing: the request was answered 503');
    for (const handshake of this.#handshakes) handshake.respond(SHUTTING_DOWN(), shutdown);
    this.#handshakes.clear();

    const jobs = this.job.children;
    for (const session of this.#sessions) this.#sendClose(session);
    // A session whose handler has not started yet gets its close frame when it starts (see #tracked).
    const inTime = await settlesWithin(Promise.all(jobs.map((job) => job.join())), timeoutMs);
    let dropped = 0;
    if (!inTime) {
      const cause = new ConnectionClosedError(`dropped by the server's close() after ${timeoutMs} ms`);
      for (const session of this.#sessions) {
        if (session.raw.job.isCompleted) continue;
        dropped++;
        session.raw.terminate(cause);
      }
      // And the jobs of sessions whose handlers have not started (or never return).
      for (const job of this.job.children) job.cancel(cause);
    }
    this.job.complete();

    for (const binding of [...this.#bindings]) {
      this.#unbind(binding);
      // Our own servers serve nothing but upgrades and one-line refusals: what is left of their connections goes now.
      if (binding.own) binding.server.closeAllConnections();
      else if (binding.closeHttpServer && binding.server.listening) httpClosed.push(closeHttpServer(binding.server));
    }
    await Promise.all(httpClosed);
    return { sessions: jobs.length, dropped };
  }

  #sendClose(session: DefaultWebSocketSession<Data>): void {
    const frame = this.#closeFrame;
    if (frame !== undefined) void session.close(frame.code, frame.reason);
  }

  /** Installs the `upgrade` listener on `server`. */
  #bind(server: AnyHttpServer, settings: Omit<Binding, 'server' | 'onUpgrade'>): Binding {
    const binding: Binding = {
      server,
      ...settings,
      onUpgrade: (request, socket, head) => {
        const ignore =
          binding.unknownPaths === 'ignore' || (binding.unknownPaths === 'auto' && server.listenerCount('upgrade') > 1);
        void this.#upgrade(request, socket, head, ignore);
      },
    };
    server.on('upgrade', binding.onUpgrade);
    this.#bindings.add(binding);
    return binding;
  }

  #unbind(binding: Binding): void {
    binding.server.off('upgrade', binding.onUpgrade);
    this.#bindings.delete(binding);
  }

  /** An `upgrade` event: routed, or left alone (`ignoreUnknown`), or refused. Never rejects. */
  async #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, ignoreUnknown: boolean): Promise<Job | undefined> {
    const route = this.#routes.match(request.url);
    if (route === undefined && ignoreUnknown) return undefined;
    // node:http already took `head` (the client's first frames, if any) off the socket.
    if (head.length > 0) socket.unshift(head);
    const { input, output } = connectionChannels(socket, this.#options);
    const handshake = this.#track(new Handshake(input, output));
    return handshake === undefined ? undefined : this.#serve(handshake, route, request, peerOf(socket), socket);
  }

  /** Registers a connection awaiting its answer; answers 503 at once (and returns `undefined`) when closing. */
  #track(handshake: Handshake): Handshake | undefined {
    if (this.#closing !== undefined) {
      handshake.respond(SHUTTING_DOWN());
      return undefined;
    }
    this.#handshakes.add(handshake);
    return handshake;
  }

  /** Answers a request: 404, the handshake's own refusals, the verify hook's decision, or the 101. Never rejects. */
  async #serve(
    handshake: Handshake,
    route: Route<Data> | undefined,
    request: UpgradeCall,
    peer: Peer,
    socket: Duplex,
  ): Promise<Job | undefined> {
    try {
      if (route === undefined) {
        handshake.respond(NOT_FOUND());
        return undefined;
      }
      const pending = prepareUpgrade(request, handshake.input, handshake.output, route.handler, route.options, peer, this.#topics);
      if (pending === undefined) return undefined; // refused by the handshake checks (or the peer left)
      if (route.verify !== undefined) return await this.#verify(handshake, route.verify, pending, request, peer, socket);
      const job = pending.accept();
      handshake.accepted();
      return job;
    } catch (error) {
      // A protocols selector or origin check that threw (or a bug of ours): 500, and reported.
      reportSafely(this.#onError, error, undefined);
      handshake.respond(INTERNAL_ERROR());
      return undefined;
    } finally {
      this.#handshakes.delete(handshake);
    }
  }

  /** Runs the verify hook and answers as it decides (500 or 503 when it fails). */
  async #verify(
    handshake: Handshake,
    verify: VerifyHook<Data>,
    pending: PendingUpgrade<Data>,
    request: UpgradeCall,
    peer: Peer,
    socket: Duplex,
  ): Promise<Job | undefined> {
    const { controller } = handshake;
    const onGone = (): void => controller.abort(new ConnectionClosedError('the client went away during verify'));
    // A peer that leaves may only half-close (node:http keeps such sockets open): its end is enough.
    socket.once('end', onGone);
    socket.once('close', onGone);
    const info: VerifyInfo = {
      path: requestPath(request.url),
      query: queryOf(request.url),
      remoteAddress: peer.remoteAddress,
      remotePort: peer.remotePort,
      protocol: pending.upgrade.protocol,
      signal: controller.signal,
    };
    try {
      const decision = decide<Data>(await runVerify(verify, request, info, this.#verifyTimeoutMs, controller), request.url);
      if (handshake.answered) return undefined; // the server started closing meanwhile: 503 already sent
      if (controller.signal.aborted) {
        handshake.drop(); // the client left while it was verified
        return undefined;
      }
      if (!decision.accept) {
        handshake.respond(decision.response);
        return undefined;
      }
      const job = pending.accept(decision.headers, decision.data);
      handshake.accepted();
      return job;
    } catch (error) {
      if (handshake.answered) return undefined; // the server is closing: 503 already sent
      if (!(error instanceof VerifyError)) {
        handshake.drop(); // the client left while it was verified
        return undefined;
      }
      reportSafely(this.#onError, error, undefined);
      const timedOut = error.failure === 'timeout';
      handshake.respond(timedOut ? errorResponse(503, 'the server could not verify the request in time') : INTERNAL_ERROR());
      return undefined;
    } finally {
      socket.off('end', onGone);
      socket.off('close', onGone);
    }
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
      this.#sessions.add(session);
      const job = session.raw.job;
      // One handler for both: the session leaves `sessions`, and a handler that failed is reported.
      job.invokeOnCompletion((cause) => {
        this.#sessions.delete(session);
        if (job.state === 'failed' && !isSessionEnd(cause, session as DefaultWebSocketSession<unknown>)) {
          reportSafely(this.#onError, cause, session);
        }
      });
      this.#sendClose(session);
      return handler(session, request);
    };
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

/** Closes an HTTP server (its idle keep-alive connections at once) and resolves once it is closed. */
function closeHttpServer(server: AnyHttpServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
