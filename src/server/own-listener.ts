/**
 * The servers `WebSocketServer.listen` makes: one port, HTTP/1.1 and (by
 * default) HTTP/2 on it.
 *
 * - Cleartext: a node:net server reads each connection's first bytes
 *   (`sniffPreface`); the HTTP/2 preface sends it to the WebSocket server's
 *   cleartext node:http2 server (prior knowledge), anything else to a
 *   node:http server.
 * - TLS: one node:http2 secure server with `allowHTTP1`, ALPN offering `h2`
 *   and `http/1.1` (a node:https server when HTTP/2 is off).
 * - HTTP/2 off, cleartext: one node:http server, as before HTTP/2 existed.
 *
 * HTTP/1.1 upgrades arrive as `'upgrade'` events on `http1`, HTTP/2 streams
 * as `'stream'` events on the http2 server; the WebSocket server binds to
 * them, and answers every HTTP/2 stream itself. Plain HTTP/1.1 requests get
 * a one-line answer: 426 Upgrade Required on a routed path, 404 elsewhere.
 * Every TCP connection is tracked, so that `destroyConnections` can end what
 * is left of them when the server has closed.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import { HTTP2_VERSION } from '../upgrade/h2-handshake.ts';
import type { Http2WebSocketServerOptions } from '../upgrade/h2-serve.ts';
import { DEFAULT_HEAD_TIMEOUT_MS, DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADERS, type RequestHeadOptions } from '../upgrade/request-head.ts';
import { ServerClosedError } from './errors.ts';
import { refuseHttp1Connect } from './http2-binding.ts';
import { ConnectionSet } from './connection-set.ts';
import { sniffPreface } from './preface.ts';

/** Certificate and TLS settings of `listen(port, host, { tls })`; ALPN is the server's own (`h2`, `http/1.1`). */
export type ListenTlsOptions = SecureContextOptions &
  Pick<TlsOptions, 'requestCert' | 'rejectUnauthorized' | 'SNICallback' | 'handshakeTimeout' | 'sessionTimeout' | 'ticketKeys'>;

/** Options of `listen(port, host, options)`. */
export interface ListenOptions {
  /**
   * Serve TLS (`wss://`) with this certificate and key (node:tls options:
   * `key`, `cert`, `ca`, `pfx`, `passphrase`, ...). ALPN chooses `h2` or
   * `http/1.1` on the one port. Default: cleartext (`ws://`).
   */
  readonly tls?: ListenTlsOptions | undefined;
  /**
   * WebSockets over HTTP/2 (RFC 8441) next to HTTP/1.1 on the same port
   * (with the server's `http2` limits); `false` for HTTP/1.1 only. Over
   * cleartext, HTTP/2 is recognised by its connection preface (prior
   * knowledge); over TLS, by ALPN. Default `true`.
   */
  readonly http2?: boolean | undefined;
}

/** node:http's `requestTimeout` default, which its `headersTimeout` may not exceed. */
const NODE_REQUEST_TIMEOUT_MS = 300_000;
/** How often node:http checks the head timeout of the connections of a server that listens itself. */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

/** node:http's server limits, settable on any server that parses HTTP/1.1 (an http2 secure server's fallback too). */
interface Http1Limits {
  maxHeaderSize: number;
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
}

/** Answers a request that is not a WebSocket handshake. */
type PlainAnswer = (request: IncomingMessage | Http2ServerRequest, response: ServerResponse | Http2ServerResponse) => void;

/** What the WebSocket server lends its listeners. */
export interface ListenerContext {
  /** The `requestHead` limits (for HTTP/1.1 and the first bytes of a cleartext connection). */
  readonly requestHead: RequestHeadOptions;
  /** The settings of an http2 server (`http2ServerOptions` with the server's limits). */
  readonly http2Settings: Http2WebSocketServerOptions;
  /** Whether a request target has a route (for the plain answers). */
  routed(url: string | undefined): boolean;
  /** Takes a cleartext connection that opened with the HTTP/2 preface. */
  http2Connection(socket: Socket): void;
}

/** The servers of one `listen` call. */
export class OwnListener {
  /** The server that listens on the port. */
  readonly listening: NetServer;
  /** Where HTTP/1.1 upgrade requests arrive (`'upgrade'`); over TLS with HTTP/2, HTTP/2 streams too. */
  readonly http1: HttpServer | HttpsServer | Http2SecureServer;
  readonly #connections: ConnectionSet;

  constructor(options: ListenOptions, context: ListenerContext) {
    const http2 = options.http2 ?? true;
    const limits = http1Limits(context.requestHead);
    const plain = plainAnswer(context.routed);
    if (options.tls !== undefined) {
      // The TLS handshake gets the head's time too (node's default: 120 s), unless the TLS options say otherwise.
      const headTimeoutMs = context.requestHead.timeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS;
      const tls = Number.isFinite(headTimeoutMs) ? { handshakeTimeout: headTimeoutMs, ...options.tls } : options.tls;
      if (http2) {
        const server = createSecureServer({ ...tls, ...context.http2Settings, allowHTTP1: true });
        Object.assign(server, limits); // node reads its HTTP/1.1 fallback's limits from the server's fields
        // node would run its compatibility layer on every HTTP/2 stream once a 'request' listener exists (a request
        // and a response object kept per WebSocket); it sets that up from 'newListener': without it, 'request' is HTTP/1.1's only.
        server.removeAllListeners('newListener');
        server.on('request', plain);
        this.http1 = server;
      } else {
        this.http1 = createHttpsServer({ ...tls, ...limits }, plain);
      }
      this.listening = this.http1;
    } else if (!http2) {
      this.http1 = createHttpServer(limits, plain);
      this.listening = this.http1;
    } else {
      const http1 = createHttpServer(limits, plain);
      // node:http tracks its connections (head timeout, idle connections) from its 'listening' event;
      // this one never listens itself, it is handed the connections the front server accepts.
      http1.emit('listening');
      const timeoutMs = context.requestHead.timeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS;
      this.listening = createNetServer((socket) => {
        void sniffPreface(socket, timeoutMs).then((isHttp2) => {
          if (isHttp2 === true) {
            context.http2Connection(socket);
          } else if (isHttp2 === false) {
            http1.emit('connection', socket);
            socket.resume(); // node:http reads the bytes given back as 'data', then its parser takes the socket
          }
        });
      });
      this.http1 = http1;
    }
    // node:http drops header lines past `maxHeadersCount` (2000) without a word, so checks of a second Host or of
    // Content-Length would miss one sent after them: it keeps one more than `maxHeaders`, and `#serveHttp1` answers 431.
    // node doubles the count in 32 bits (2^30 and up would wrap): from 2^29, no limit (0), which no head can reach.
    const maxHeaders = context.requestHead.maxHeaders ?? DEFAULT_MAX_HEADERS;
    (this.http1 as HttpServer).maxHeadersCount = maxHeaders < 2 ** 29 ? maxHeaders + 1 : 0;
    // An HTTP/1.1 CONNECT (a tunnel request) gets 405, as on the TLS port's HTTP/1.1 fallback (node would just close it).
    if (!(options.tls !== undefined && http2)) this.http1.on('connect', (_request: unknown, socket: Duplex) => refuseHttp1Connect(socket));
    this.#connections = new ConnectionSet(this.listening);
  }

  /**
   * Listens on `port` and `host`; resolves with the bound address.
   *
   * @throws (rejects) the listen error, or ServerClosedError when `stop()` came first.
   */
  async listen(port: number, host: string | undefined): Promise<AddressInfo> {
    const server = this.listening;
    await new Promise<void>((resolve, reject) => {
      const closed = (): void => reject(new ServerClosedError('the WebSocket server was closed before it listened'));
      server.once('error', reject);
      server.once('close', closed);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.off('close', closed);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  /** Stops accepting connections and closes the idle HTTP/1.1 ones; resolves once every connection has ended (see `destroyConnections`). */
  stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.listening.close(() => resolve()));
    if (this.http1 !== this.listening) this.http1.close(); // ends node:http's connection checks (it was never listening itself)
    // An http2 secure server has it too (for its HTTP/1.1 fallback), though node's types do not say so.
    (this.http1 as HttpServer).closeIdleConnections();
    return closed;
  }

  /** Ends every connection still open. */
  destroyConnections(): void {
    this.#connections.destroyAll();
  }
}

/** node:http's limits from the `requestHead` options: `maxHeadSize` and `timeoutMs` (at most node's 300 s request timeout). */
function http1Limits(requestHead: RequestHeadOptions): Http1Limits {
  return {
    maxHeaderSize: requestHead.maxHeadSize ?? DEFAULT_MAX_HEAD_SIZE,
    headersTimeout: Math.min(requestHead.timeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS, NODE_REQUEST_TIMEOUT_MS),
    requestTimeout: NODE_REQUEST_TIMEOUT_MS,
    connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
  };
}

/**
 * The answer to a plain HTTP/1.1 request, with `Connection: close`: these
 * ports serve nothing else, so node closes the connection once it is
 * written rather than keep it alive or read on a body the peer trickles
 * (node's own bounds there are its 300 s request timeout, and none for an
 * idle keep-alive connection on the TLS server with HTTP/2). Should node's
 * compatibility layer hand it an HTTP/2 request (see the TLS server above),
 * that one is left to the WebSocket server's stream listener, which answers
 * every stream.
 */
function plainAnswer(routed: (url: string | undefined) => boolean): PlainAnswer {
  return (request, response) => {
    if (request.httpVersion === HTTP2_VERSION) return;
    const routedPath = routed(request.url);
    (response as ServerResponse)
      .writeHead(routedPath ? 426 : 404, {
        'Content-Type': 'text/plain; charset=utf-8',
        ...(routedPath ? { Upgrade: 'websocket', Connection: 'Upgrade, close' } : { Connection: 'close' }),
      })
      .end(routedPath ? 'this is a WebSocket endpoint: send an upgrade request\n' : 'not found\n');
  };
}
