/**
 * HTTP/2 test tools: a node:http2 server (cleartext, or TLS with a
 * self-signed certificate made by `openssl`) whose streams go to
 * `handleHttp2Stream`, recording every session, job and connection; and a
 * hand-driven extended CONNECT over Node's own http2 client that writes
 * masked frames (or any bytes) and parses what the server sends with this
 * project's parser in the client role.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import {
  connect as http2Connect,
  constants,
  createSecureServer,
  createServer,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job } from '../../src/channels/job.ts';
import { decodeClosePayload, encodeClosePayload, type CloseReason } from '../../src/frames/close.ts';
import { Opcode, type Frame } from '../../src/frames/frame.ts';
import { FrameParser } from '../../src/frames/parser.ts';
import type { DefaultWebSocketSession } from '../../src/session/default-session.ts';
import { handleHttp2Stream, http2ServerOptions, type Http2WebSocketLimits } from '../../src/upgrade/h2-serve.ts';
import type { ServeOptions, WebSocketHandler } from '../../src/upgrade/serve.ts';
import { maskedFrame } from './wire-client.ts';
import { Wakeups } from './async.ts';

/** A self-signed certificate for `localhost` and 127.0.0.1, valid one day. */
export function selfSignedCertificate(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'ktor-ws-h2-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface H2ServerOptions extends ServeOptions {
  /** Stream limits of the node:http2 server. */
  readonly limits?: Http2WebSocketLimits;
  /** Serve TLS (ALPN h2 and, with `allowHTTP1`, http/1.1) with this certificate. */
  readonly tls?: { readonly key: Buffer; readonly cert: Buffer };
  /** Delay before `handleHttp2Stream` is called (to let a client reset first). */
  readonly delayMs?: number;
}

export interface H2TestServer {
  readonly port: number;
  readonly server: Http2Server | Http2SecureServer;
  /** Session jobs, in the order the streams were answered. */
  readonly jobs: Job[];
  /** Sessions, in the order their handlers started. */
  readonly sessions: DefaultWebSocketSession[];
  /** Every HTTP/2 connection the server accepted. */
  readonly connections: Http2Session[];
  /** Streams whose request was refused or had closed before it was answered (`handleHttp2Stream` returned undefined). */
  readonly refused: number;
  /** Resolves with the n-th job (0-based) once it exists. */
  job(n?: number): Promise<Job>;
  close(): Promise<void>;
}

/** Starts a node:http2 server on 127.0.0.1 answering every stream with `handleHttp2Stream(stream, headers, handler, options)`. */
export async function startH2Server(handler: WebSocketHandler, options: H2ServerOptions = {}): Promise<H2TestServer> {
  const settings = http2ServerOptions(options.limits);
  const server = options.tls ? createSecureServer({ ...options.tls, ...settings }) : createServer(settings);
  const jobs: Job[] = [];
  const sessions: DefaultWebSocketSession[] = [];
  const connections: Http2Session[] = [];
  const waiters: (() => void)[] = [];
  const state = { refused: 0 };
  const answer = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    const job = handleHttp2Stream(
      stream,
      headers,
      (session, request) => {
        sessions.push(session);
        return handler(session, request);
      },
      options,
    );
    if (job === undefined) state.refused++;
    else jobs.push(job);
    for (const wake of waiters.splice(0)) wake();
  };
  server.on('session', (session) => connections.push(session));
  server.on('stream', (stream, headers) => {
    if (options.delayMs === undefined) return answer(stream, headers);
    stream.on('error', () => {}); // the test resets it meanwhile
    setTimeout(() => answer(stream, headers), options.delayMs);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    server,
    jobs,
    sessions,
    connections,
    get refused() {
      return state.refused;
    },
    async job(n = 0) {
      while (jobs.length <= n) await new Promise<void>((resolve) => waiters.push(resolve));
      return jobs[n]!;
    },
    async close() {
      server.close();
      for (const job of jobs) job.cancel();
      await Promise.all(jobs.map((job) => job.join()));
      for (const connection of connections) connection.destroy();
    },
  };
}

/** Opens Node's http2 client to the server and waits for its SETTINGS. */
export async function h2Connect(port: number, tls?: { readonly cert: Buffer }): Promise<ClientHttp2Session> {
  const session = tls
    ? http2Connect(`https://localhost:${port}`, { ca: tls.cert })
    : http2Connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  await once(session, 'remoteSettings');
  return session;
}

/** The extended CONNECT header block for `path`, plus `extra` (a `null` value removes a header). */
export function connectHeaders(path = '/', extra: Record<string, string | null> = {}): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'http',
    ':path': path,
    ':authority': '127.0.0.1',
    'sec-websocket-version': '13',
  };
  for (const [name, value] of Object.entries(extra)) {
    if (value === null) delete headers[name];
    else headers[name] = value;
  }
  return headers;
}

/**
 * One extended CONNECT stream driven by hand: the response, the frames the
 * server sent (parsed as a client), how the stream ended, and writers for
 * masked frames or raw bytes.
 */
export class RawH2Stream {
  readonly stream: ClientHttp2Stream;
  response: IncomingHttpHeaders | undefined;
  readonly frames: Frame[] = [];
  /** Bytes of a non-200 response's body. */
  body = '';
  ended = false;
  closed = false;
  error: Error | undefined;
  #parser = new FrameParser({ role: 'client', maxFrameSize: 256 * 1024 * 1024 });
  readonly #wakeups = new Wakeups();

  private constructor(stream: ClientHttp2Stream) {
    this.stream = stream;
    stream.on('response', (headers) => {
      this.response = headers;
      this.#wake();
    });
    stream.on('data', (chunk: Buffer) => {
      if (this.status !== 200) {
        this.body += chunk.toString('utf8');
      } else {
        this.#parser.push(chunk);
        for (let frame = this.#parser.next(); frame !== undefined; frame = this.#parser.next()) {
          this.frames.push({ ...frame, payload: Buffer.from(frame.payload) });
        }
      }
      this.#wake();
    });
    stream.on('end', () => {
      this.ended = true;
      this.#wake();
    });
    stream.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    stream.on('error', (error) => {
      this.error = error;
    });
  }

  /** Sends the request on `session`; with `awaitResponse`, waits for the response (or the stream's end). */
  static async open(session: ClientHttp2Session, headers: OutgoingHttpHeaders = connectHeaders(), awaitResponse = true): Promise<RawH2Stream> {
    const raw = new RawH2Stream(session.request(headers, { endStream: false }));
    if (awaitResponse) await raw.until(() => raw.response !== undefined || raw.closed, 5000, 'the response');
    return raw;
  }

  get status(): number | undefined {
    return this.response === undefined ? undefined : Number(this.response[':status']);
  }

  /** Writes one masked frame. */
  send(opcode: Opcode, payload: Buffer | string = Buffer.alloc(0), fin = true): void {
    this.stream.write(maskedFrame(opcode, payload, fin));
  }

  /** Writes a masked close frame. */
  sendClose(code = 1000, reason = ''): void {
    this.send(Opcode.Close, encodeClosePayload({ code, reason }));
  }

  write(bytes: Buffer): void {
    this.stream.write(bytes);
  }

  /** Resets the stream (RST_STREAM with `code`, CANCEL by default). */
  reset(code: number = constants.NGHTTP2_CANCEL): void {
    this.stream.close(code);
  }

  /** The data frames' payloads received so far, as text. */
  get texts(): string[] {
    return this.frames.filter((f) => f.opcode === Opcode.Text).map((f) => Buffer.from(f.payload).toString('utf8'));
  }

  /** The close frame the server sent, if any. */
  get closeFrame(): CloseReason | undefined {
    const frame = this.frames.find((f) => f.opcode === Opcode.Close);
    return frame === undefined ? undefined : decodeClosePayload(Buffer.from(frame.payload));
  }

  /** Waits until `condition` holds, checked whenever something arrives; throws after `timeoutMs`. */
  until(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    return this.#wakeups.until(condition, timeoutMs, () => `timed out after ${timeoutMs} ms waiting for ${what}`);
  }

  #wake(): void {
    this.#wakeups.wake();
  }
}

/** Echoes every message back with its type. */
export const echo: WebSocketHandler = async (session) => {
  for await (const message of session) await session.send(message);
};

/** A plain (non-WebSocket) request over an HTTP/2 connection: `"<status> <body>"`. */
export async function plainHttp2Request(client: ClientHttp2Session, path: string): Promise<string> {
  const stream = client.request({ ':path': path });
  let body = '';
  let status = 0;
  stream.on('response', (headers) => (status = Number(headers[':status'])));
  stream.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
  await once(stream, 'close');
  return `${status} ${body}`;
}
