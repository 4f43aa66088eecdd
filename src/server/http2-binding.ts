/**
 * The server object on a node:http2 server (one `listen` made, or one given
 * to `attach`): which streams it takes (`'stream'`), the HTTP/2 connections
 * it knows of (`'session'`, for GOAWAY when it closes), and peace with
 * node's compatibility API. A server with a `'request'` listener runs node's
 * compatibility layer on every stream, which answers a CONNECT 405 unless a
 * `'connect'` listener exists: the binding listens to `'connect'` too, and
 * leaves the streams it takes to its `'stream'` listener.
 */
import type {
  Http2SecureServer,
  Http2Server,
  Http2ServerRequest,
  Http2ServerResponse,
  Http2Session,
  IncomingHttpHeaders,
  ServerHttp2Stream,
} from 'node:http2';
import type { IncomingMessage } from 'node:http';
import { Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { closeHttp2Session } from '../upgrade/h2-close.ts';
import { dropWhenIdle } from './http2-idle.ts';

/** A node:http2 server, cleartext or TLS. */
export type AnyHttp2Server = Http2Server | Http2SecureServer;

/** True for a node:http2 server (`http2.createServer` or `createSecureServer`). */
export function isHttp2Server(server: unknown): server is AnyHttp2Server {
  return server instanceof NetServer && typeof (server as Partial<AnyHttp2Server>).updateSettings === 'function';
}

/** True for an extended CONNECT asking for a WebSocket (`:protocol` `websocket`, any case). */
export function isWebSocketConnect(headers: IncomingHttpHeaders): boolean {
  const protocol = headers[':protocol'];
  return headers[':method'] === 'CONNECT' && typeof protocol === 'string' && protocol.toLowerCase() === 'websocket';
}

/**
 * True when `server` has a listener besides `binding` that may answer a
 * stream: another `'connect'` listener (node's compatibility API), or a
 * `'stream'` listener other than the binding's and the compatibility
 * layer's (which node installs with the first `'request'` listener).
 */
export function hasOtherStreamListeners(server: AnyHttp2Server): boolean {
  const compatibility = server.listenerCount('request') > 0 ? 1 : 0;
  return server.listenerCount('connect') > 1 || server.listenerCount('stream') - compatibility > 1;
}

/** What a binding asks its WebSocket server. */
export interface Http2BindingHooks {
  /** True when the server answers this stream (the binding then leaves it to no one else). */
  claims(headers: IncomingHttpHeaders): boolean;
  /** Answers a claimed stream. */
  serve(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void;
}

/** The listeners on one node:http2 server, and the connections seen since. */
export class Http2Binding {
  readonly #sessions = new Set<Http2Session>();
  readonly #hooks: Http2BindingHooks;

  readonly #idleTimeoutMs: number | undefined;
  /** Set by `goAway`: connections seen from then on are closed as they come. */
  #goingAway = false;

  /** `idleTimeoutMs`: drop a connection with no stream open that long (see http2-idle.ts; the server's own listeners only). */
  constructor(
    readonly server: AnyHttp2Server,
    hooks: Http2BindingHooks,
    idleTimeoutMs?: number,
  ) {
    this.#hooks = hooks;
    this.#idleTimeoutMs = idleTimeoutMs;
    server.on('session', this.#onSession);
    server.on('stream', this.#onStream);
    server.on('connect', this.#onConnect);
  }

  /** Removes the listeners (the connections are left as they are). */
  unbind(): void {
    this.server.off('session', this.#onSession);
    this.server.off('stream', this.#onStream);
    this.server.off('connect', this.#onConnect);
  }

  /**
   * Closes every connection seen gracefully, and every one that comes after:
   * GOAWAY, so the client opens no new stream on it; the streams already
   * open (WebSockets included) go on, and the connection closes when the
   * last of them has, without waiting for the peer's FIN (h2-close.ts).
   */
  goAway(): void {
    this.#goingAway = true;
    for (const session of this.#sessions) closeHttp2Session(session);
  }

  /** Resolves once every connection seen has closed (after `goAway`, each does when its last stream has). */
  whenClosed(): Promise<void> {
    const closing = [...this.#sessions].map((session) => new Promise<void>((resolve) => session.once('close', () => resolve())));
    return Promise.all(closing).then(() => undefined);
  }

  /** Ends every connection seen that is still open, whatever its streams. */
  destroySessions(): void {
    for (const session of this.#sessions) session.destroy();
  }

  readonly #onSession = (session: Http2Session): void => {
    this.#sessions.add(session);
    session.once('close', () => this.#sessions.delete(session));
    // A connection that arrives after `goAway` (its TLS handshake ended just then, say) gets GOAWAY too.
    if (this.#goingAway) closeHttp2Session(session);
    if (this.#idleTimeoutMs !== undefined) dropWhenIdle(session, this.#idleTimeoutMs);
  };

  readonly #onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    if (this.#hooks.claims(headers)) this.#hooks.serve(stream, headers);
  };

  /**
   * node's compatibility layer asks who answers a CONNECT; without another
   * listener, its own 405 stands for streams not taken. On a TLS server's
   * HTTP/1.1 fallback (`allowHTTP1`) node hands over an HTTP/1.1 CONNECT
   * the same way, with its socket: without another listener it gets a 405
   * and is closed (node closes it when nobody listens).
   */
  readonly #onConnect = (request: Http2ServerRequest | IncomingMessage, response: Http2ServerResponse | Duplex): void => {
    if (request.httpVersionMajor === 1) {
      if (this.server.listenerCount('connect') === 1) refuseHttp1Connect(response as Duplex);
      return;
    }
    if (this.#hooks.claims(request.headers)) return;
    if (this.server.listenerCount('connect') === 1) {
      (response as Http2ServerResponse).statusCode = 405;
      (response as Http2ServerResponse).end();
    }
  };
}

const CONNECT_REFUSED = Buffer.from('HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', 'latin1');

/** Answers an HTTP/1.1 CONNECT 405 on its socket and closes it (a tunnel is not served). */
export function refuseHttp1Connect(socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  socket.end(CONNECT_REFUSED, () => socket.destroy());
}
