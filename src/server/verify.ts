/**
 * The `verify` hook: what it is given, what it may return, and how a result
 * is checked and turned into the server's answer. A hook accepts (extra
 * headers for the 101, or the 200 over HTTP/2, typed per-connection data for the session) or refuses
 * (any 3xx-5xx status, headers and body). Anything else it returns, a header
 * that could split the response (CR, LF, NUL), one the handshake or the
 * framing owns, or a hook that throws or takes too long, is the server's
 * error (500, or 503 for the timeout) and reported as a `VerifyError`.
 */
import { STATUS_CODES } from 'node:http';
import { CONNECTION_SPECIFIC_HEADERS } from '../upgrade/h2-handshake.ts';
import type { UpgradeCall } from '../upgrade/handshake.ts';
import { formatResponseHead, headerLine } from '../upgrade/http-response.ts';
import { VerifyError } from './errors.ts';

/** Response headers: a string per header, or an array of strings for one line each (`Set-Cookie`); an `undefined` one is not sent. */
export type HeaderValues = Readonly<Record<string, string | readonly string[] | undefined>>;

/** What the server knows of an upgrade request besides the request itself. */
export interface VerifyInfo {
  /** The request URL's pathname (the route's path, unless the default route matched). */
  readonly path: string | undefined;
  /** The request URL's query parameters. */
  readonly query: URLSearchParams;
  /** The peer's IP address, when known. */
  readonly remoteAddress: string | undefined;
  /** The peer's port, when known. */
  readonly remotePort: number | undefined;
  /** The subprotocol the answer (101, or 200 over HTTP/2) will select, if any. */
  readonly protocol: string | undefined;
  /**
   * Aborted when the answer no longer matters: `verifyTimeoutMs` passed, the
   * client went away, or the server is closing. Pass it to what you await.
   */
  readonly signal: AbortSignal;
}

/**
 * Accept the connection: `headers` are added to the 101 (not the handshake's
 * own, nor `Content-Length` / `Transfer-Encoding`), or to the 200 over
 * HTTP/2 (names in lower case; a connection-specific header such as
 * `Keep-Alive` is then an invalid result), and `data` becomes
 * `session.data` (required when the server's `Data` type does not include
 * `undefined`).
 */
export type AcceptResult<Data> = {
  readonly accept: true;
  readonly headers?: HeaderValues | undefined;
} & (undefined extends Data ? { readonly data?: Data } : { readonly data: Data });

/**
 * Refuse the connection with `status` (300-599), `headers` and `body`
 * (default: the status's reason phrase). The server adds `Connection: close`,
 * `Content-Length`, and `Content-Type: text/plain; charset=utf-8` unless
 * `headers` has a `Content-Type`.
 */
export interface RefuseResult {
  /** false: refuse. */
  readonly accept: false;
  /** The HTTP status (300-599). */
  readonly status: number;
  /** Response headers to add. */
  readonly headers?: HeaderValues | undefined;
  /** The response body (default: the status's reason phrase). */
  readonly body?: string | Uint8Array | undefined;
}

/** What a `verify` hook returns. Anything else (`undefined` included) is answered 500: a forgotten return never lets a client in. */
export type VerifyResult<Data> = AcceptResult<Data> | RefuseResult;

/**
 * Runs after the handshake checks and before the 101 (or the 200 of an
 * HTTP/2 extended CONNECT, whose `request` has `httpVersion` `'2.0'` and the
 * pseudo-headers). `request` is node's
 * `IncomingMessage` for an `upgrade` event, the parsed head for a raw socket.
 */
export type VerifyHook<Data> = (request: UpgradeCall, info: VerifyInfo) => VerifyResult<Data> | Promise<VerifyResult<Data>>;

/**
 * A checked refusal, ready to be answered over either HTTP version: the
 * status, the header lines (`Content-Type` included), the body's bytes.
 */
export interface Refusal {
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
}

/** A checked result: accept with header lines and data, or the refusal. */
export type Decision<Data> =
  | { readonly accept: true; readonly headers: ReadonlyArray<readonly [string, string]>; readonly data: Data }
  | { readonly accept: false; readonly refusal: Refusal };

/** Headers the 101 sets itself, or that would frame it wrongly. */
const RESERVED_IN_101 = new Set([
  'upgrade',
  'connection',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'sec-websocket-version',
  'content-length',
  'transfer-encoding',
]);

/** Headers the refusal sets itself. */
const RESERVED_IN_REFUSAL = new Set(['connection', 'content-length', 'transfer-encoding']);

/**
 * Runs `hook` and resolves with whatever it returned, or rejects with a
 * `VerifyError`: `threw` when it threw or rejected, `timeout` when it did not
 * settle within `timeoutMs` (then `controller` is aborted with that error).
 * When someone else aborts `controller` first (the client left, the server
 * is closing), it rejects at once with the abort's reason and the hook's
 * result is ignored.
 */
export function runVerify<Data>(
  hook: VerifyHook<Data>,
  request: UpgradeCall,
  info: VerifyInfo,
  timeoutMs: number,
  controller: AbortController,
): Promise<unknown> {
  const url = request.url;
  const { signal } = controller;
  return new Promise<unknown>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(
          () => controller.abort(new VerifyError('timeout', url, `the verify hook for ${url} did not settle within ${timeoutMs} ms`)),
          timeoutMs,
        )
      : undefined;
    signal.addEventListener('abort', onAbort, { once: true });
    const settled = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    new Promise<unknown>((run) => run(hook(request, info))).then(
      (result) => {
        settled();
        resolve(result);
      },
      (error: unknown) => {
        settled();
        reject(new VerifyError('threw', url, `the verify hook for ${url} threw: ${describe(error)}`, error));
      },
    );
  });
}

/**
 * Checks what a hook returned and prepares the answer.
 *
 * @throws VerifyError (`invalid-result`) saying what is wrong with it.
 */
export function decide<Data>(result: unknown, url: string | undefined): Decision<Data> {
  try {
    return decideOrThrow<Data>(result);
  } catch (error) {
    throw new VerifyError('invalid-result', url, `the verify hook for ${url} returned an invalid result: ${describe(error)}`, error);
  }
}

function decideOrThrow<Data>(result: unknown): Decision<Data> {
  if (typeof result !== 'object' || result === null || typeof (result as { accept?: unknown }).accept !== 'boolean') {
    throw new TypeError(`expected { accept: true, ... } or { accept: false, status, ... }, got ${describe(result)}`);
  }
  if ((result as { accept: boolean }).accept) {
    const accepted = result as AcceptResult<Data> & { readonly data?: Data };
    return { accept: true, headers: headerEntries(accepted.headers, RESERVED_IN_101, 'the 101 response'), data: accepted.data as Data };
  }
  return { accept: false, refusal: checkRefusal(result as RefuseResult) };
}

/** The complete HTTP/1.1 refusal response of a hook's result: head and body. */
export function formatRefusal(refusal: RefuseResult): Buffer {
  return refusalResponse(checkRefusal(refusal));
}

/** A checked refusal as an HTTP/1.1 response: its head, with `Connection: close` and `Content-Length`, and body. */
export function refusalResponse(refusal: Refusal): Buffer {
  const headers = [...refusal.headers, ['Connection', 'close'], ['Content-Length', String(refusal.body.length)]] as const;
  return Buffer.concat([formatResponseHead(refusal.status, headers), refusal.body]);
}

/**
 * A checked refusal as an HTTP/2 answer: its header block (`:status`, the
 * names lower case, a repeated name as a list, `content-length`; headers
 * HTTP/2 forbids, such as `Upgrade` or `Keep-Alive`, left out) and its body.
 */
export function http2Refusal(refusal: Refusal): { readonly headers: Record<string, string | number | string[]>; readonly body: Buffer } {
  const headers: Record<string, string | number | string[]> = { ':status': refusal.status };
  for (const [name, value] of refusal.headers) {
    const lower = name.toLowerCase();
    if (CONNECTION_SPECIFIC_HEADERS.has(lower)) continue;
    const previous = headers[lower];
    headers[lower] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [String(previous)]), value];
  }
  headers['content-length'] = refusal.body.length;
  return { headers, body: refusal.body };
}

/**
 * Checks a hook's refusal: the status, the body (default: the status's
 * reason phrase) and the headers, with `Content-Type: text/plain;
 * charset=utf-8` added unless the hook gave one.
 */
function checkRefusal(refusal: RefuseResult): Refusal {
  const { status } = refusal;
  if (!Number.isInteger(status) || status < 300 || status > 599) {
    throw new RangeError(`a refusal's status must be an integer 300-599, got ${describe(status)}`);
  }
  const body = refusal.body ?? `${STATUS_CODES[status] ?? 'Refused'}\n`;
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
    throw new TypeError(`a refusal's body must be a string or a Uint8Array, got ${describe(body)}`);
  }
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const headers = headerEntries(refusal.headers, RESERVED_IN_REFUSAL, 'a refusal');
  if (!headers.some(([name]) => name.toLowerCase() === 'content-type')) {
    headers.push(['Content-Type', 'text/plain; charset=utf-8']);
  }
  return { status, headers, body: bytes };
}

/**
 * The headers as name-value lines, each checked (an RFC 7230 token name; no
 * CR, LF, NUL or non-Latin-1 character in a value) and none of `reserved`.
 */
function headerEntries(headers: HeaderValues | undefined, reserved: ReadonlySet<string>, where: string): [string, string][] {
  if (headers === undefined) return [];
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    throw new TypeError(`headers must be an object of names to strings or string arrays, got ${describe(headers)}`);
  }
  const entries: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue; // as node:http's setHeader-style objects: an undefined header is not sent
    if (reserved.has(name.toLowerCase())) {
      throw new TypeError(`${where} sets ${name} itself; remove it from the headers`);
    }
    const values: readonly unknown[] = Array.isArray(value) ? value : [value];
    for (const one of values) {
      if (typeof one !== 'string') throw new TypeError(`header ${name} must be a string or an array of strings, got ${describe(one)}`);
      headerLine(name, one);
      entries.push([name, one]);
    }
  }
  return entries;
}

/** A short description of a thrown or returned value, for messages. */
function describe(value: unknown): string {
  if (value instanceof Error) return value.message;
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object without a boolean "accept"';
}
