/**
 * A bounded HTTP/1.1 request-head parser for embedding in raw TCP servers:
 * it reads the request line and header fields from a `ByteReadChannel` and
 * consumes exactly the head's bytes, so whatever follows (the client's first
 * WebSocket frames, sent in the same packet) stays in the channel for the
 * session.
 *
 * The scanning is the shared head reader of http-head.ts (linear time, no
 * promise per byte). Limits, each with a safe default: head size (431),
 * header count (431), and a timeout for the whole head (408, then the
 * connection is closed).
 *
 * Syntax (RFC 7230 section 3), strict where laxness enables request
 * smuggling: lines end in CRLF (a bare LF or a bare CR is a 400); the request
 * line is `token SP target SP HTTP/1.d` (another major version is a 505);
 * empty lines before it are ignored (section 3.5); header names are tokens
 * directly followed by `:`; obs-fold (a line starting with whitespace) and
 * control characters in values are rejected; a repeated `Host` is a 400.
 */
import type { ByteReadChannel } from '../channels/byte-channel-types.ts';
import { checkDuration } from '../channels/duration.ts';
import { HandshakeError, IncompleteRequestHeadError } from './errors.ts';
import type { UpgradeCall } from './handshake.ts';
import { isToken } from './header-tokens.ts';
import { readHead, resolveHeadLimits, type HeadErrors, type HeadGrammar, type HeadLimits } from './http-head.ts';

/** Default `maxHeadSize`: 16 KiB, node:http's default `maxHeaderSize`, so what node accepts fits. */
export const DEFAULT_MAX_HEAD_SIZE = 16 * 1024;
/** Default `maxHeaders`: 100 header lines (Apache's `LimitRequestFields`). */
export const DEFAULT_MAX_HEADERS = 100;
/** Default `timeoutMs`: 10 seconds for the whole head. */
export const DEFAULT_HEAD_TIMEOUT_MS = 10_000;

/** Limits of `readRequestHead`. */
export interface RequestHeadOptions {
  /** Most bytes of the head, request line and final CRLF included (431 above). Default 16 KiB. */
  readonly maxHeadSize?: number | undefined;
  /** Most header lines (431 above). Default 100. */
  readonly maxHeaders?: number | undefined;
  /** Milliseconds allowed for the whole head (408 after); `Infinity` disables. Default 10 000. */
  readonly timeoutMs?: number | undefined;
}

/** A parsed request head. Satisfies `UpgradeCall`. */
export interface RequestHead extends UpgradeCall {
  /** The request method, case kept (e.g. `GET`). */
  readonly method: string;
  /** The request target as sent (e.g. `/chat?room=1`). */
  readonly url: string;
  /** `"1.1"` for HTTP/1.1. */
  readonly httpVersion: string;
  /**
   * A null-prototype object of lower-case names. Repeated headers are joined
   * like node:http does: `cookie` with "; ", every other with ", ".
   */
  readonly headers: Readonly<Record<string, string>>;
  /** Names (case kept) and values, alternating, in order, like node's `rawHeaders`. */
  readonly rawHeaders: readonly string[];
}

const DEFAULT_LIMITS: HeadLimits = { maxHeadSize: DEFAULT_MAX_HEAD_SIZE, maxHeaders: DEFAULT_MAX_HEADERS };

const HTTP_VERSION = /^HTTP\/(\d)\.(\d)$/;

/** True when `target` is non-empty visible ASCII (a URI has no other characters). */
function isRequestTarget(target: string): boolean {
  if (target.length === 0) return false;
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

interface RequestLine {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
}

/** The request line `token SP target SP HTTP/1.d` (another major version is a 505); a repeated `Host` is a 400. */
const REQUEST_GRAMMAR: HeadGrammar<RequestLine> = {
  kind: 'request',
  singletons: new Set(['host']),
  parseStartLine(content: string): RequestLine {
    const parts = content.split(' ');
    const [method = '', url = '', version = ''] = parts;
    const match = HTTP_VERSION.exec(version);
    if (parts.length !== 3 || !isToken(method) || !isRequestTarget(url) || match === null) {
      throw new HandshakeError(400, 'malformed request line');
    }
    // A text request line is HTTP/1.x (HTTP/2 and later are binary, and come here only as a preface; see preface.ts).
    if (match[1] !== '1') throw new HandshakeError(505, `HTTP/${match[1]}.${match[2]} is not supported; HTTP/1.1 is required`);
    return { method, url, httpVersion: `${match[1]}.${match[2]}` };
  },
};

/** Request-head failures as the HTTP statuses the server answers with. */
const REQUEST_ERRORS: HeadErrors = {
  malformed: (message) => new HandshakeError(400, message),
  tooLarge: (message) => new HandshakeError(431, message),
  incomplete: (bytesReceived, cause) => new IncompleteRequestHeadError(bytesReceived, cause),
};

/** `timeoutMs` of `RequestHeadOptions` with its default: whole milliseconds from 1 to 2^31−1, or `Infinity`. */
function checkHeadTimeout(given: number | undefined): number {
  return checkDuration('timeoutMs', given ?? DEFAULT_HEAD_TIMEOUT_MS, 1);
}

/** The size limits of `options` with their defaults (a RangeError for invalid ones); HTTP/2 requests are held to them too. */
export function requestHeadLimits(options: RequestHeadOptions): HeadLimits {
  return resolveHeadLimits(options, DEFAULT_LIMITS);
}

/** Throws the RangeError `readRequestHead` would throw for `options`, without reading: a server checks them up front. */
export function checkRequestHeadOptions(options: RequestHeadOptions): void {
  requestHeadLimits(options);
  checkHeadTimeout(options.timeoutMs);
}

/**
 * Reads one HTTP/1.1 request head from `input`, consuming exactly its bytes
 * (the bytes after the blank line stay in the channel).
 *
 * @throws HandshakeError 400 for malformed syntax, 431 when `maxHeadSize` or
 *   `maxHeaders` is exceeded, 408 when the head is not complete within
 *   `timeoutMs` (the input is then cancelled with that error, so no read
 *   stays parked on it). The caller answers each with
 *   `formatErrorResponse` and closes the socket.
 * @throws IncompleteRequestHeadError when the channel ends or fails before
 *   the head is complete (no response is possible).
 * @throws RangeError for invalid options (before anything is read).
 */
export function readRequestHead(input: ByteReadChannel, options: RequestHeadOptions = {}): Promise<RequestHead> {
  return readRequestHeadAfter(input, options, 0);
}

/**
 * `readRequestHead` for a connection that already spent `spentMs` of its
 * `timeoutMs` (say, while its first bytes were sniffed for the HTTP/2
 * preface): the 408 comes `timeoutMs` after the connection's start.
 */
export async function readRequestHeadAfter(input: ByteReadChannel, options: RequestHeadOptions, spentMs: number): Promise<RequestHead> {
  const limits = requestHeadLimits(options);
  const timeoutMs = checkHeadTimeout(options.timeoutMs);
  const timeout = {
    ms: Math.max(1, Math.ceil(timeoutMs - spentMs)),
    error: () => new HandshakeError(408, `request head not received within ${timeoutMs} ms`),
  };
  const { start, headers, rawHeaders } = await readHead(input, limits, REQUEST_GRAMMAR, REQUEST_ERRORS, timeout);
  return { ...start, headers, rawHeaders };
}

/**
 * The checks this parser makes that node:http does not, applied to a head
 * node:http read (its `rawHeaders`, names and values alternating): at most
 * `maxHeaders` header lines (else 431) and one Host (else 400, as RFC 9112
 * section 3.2 asks; node:http keeps the first and drops the others).
 * Returns the error to answer, or `undefined`.
 */
export function checkNodeHead(rawHeaders: readonly string[], maxHeaders: number): HandshakeError | undefined {
  if (rawHeaders.length > 2 * maxHeaders) return new HandshakeError(431, `more than ${maxHeaders} header lines`);
  let hosts = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'host') hosts++;
  return hosts > 1 ? new HandshakeError(400, 'more than one Host header') : undefined;
}
