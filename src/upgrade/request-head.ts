/**
 * A bounded HTTP/1.1 request-head parser for embedding in raw TCP servers:
 * it reads the request line and header fields from a `ByteReadChannel` and
 * consumes exactly the head's bytes, so whatever follows (the client's first
 * WebSocket frames, sent in the same packet) stays in the channel for the
 * session.
 *
 * Limits, each with a safe default: head size (431), header count (431), and
 * a timeout for the whole head (408; slow clients are dropped). Chunks are
 * scanned with `indexOf`, so the cost is linear in the head's size and there
 * is no promise per byte: the parser only waits when the channel is empty.
 *
 * Syntax (RFC 7230 section 3), strict where laxness enables request
 * smuggling: lines end in CRLF (a bare LF or a bare CR is a 400); the request
 * line is `token SP target SP HTTP/d.d`; empty lines before it are ignored
 * (section 3.5); header names are tokens directly followed by `:`;
 * obs-fold (a line starting with whitespace) and control characters in
 * values are rejected; a repeated `Host` is a 400.
 */
import type { ByteReadChannel } from '../channels/byte-channel-types.ts';
import { HandshakeError, IncompleteRequestHeadError } from './errors.ts';
import type { UpgradeCall } from './handshake.ts';
import { isToken } from './header-tokens.ts';

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

interface Limits {
  readonly maxHeadSize: number;
  readonly maxHeaders: number;
  readonly timeoutMs: number;
}

function resolveLimits(options: RequestHeadOptions): Limits {
  const maxHeadSize = options.maxHeadSize ?? DEFAULT_MAX_HEAD_SIZE;
  const maxHeaders = options.maxHeaders ?? DEFAULT_MAX_HEADERS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS;
  if (!Number.isSafeInteger(maxHeadSize) || maxHeadSize < 1) {
    throw new RangeError(`maxHeadSize must be a positive integer, got ${maxHeadSize}`);
  }
  if (!Number.isSafeInteger(maxHeaders) || maxHeaders < 0) {
    throw new RangeError(`maxHeaders must be a non-negative integer, got ${maxHeaders}`);
  }
  if (Number.isNaN(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`timeoutMs must be a positive number of milliseconds or Infinity, got ${timeoutMs}`);
  }
  return { maxHeadSize, maxHeaders, timeoutMs };
}

const HTTP_VERSION = /^HTTP\/(\d)\.(\d)$/;

/** `value` without leading and trailing SP / HTAB (a loop: a `[ \t]+$` regex is quadratic). */
function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 0x20 || value.charCodeAt(start) === 0x09)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)) end--;
  return value.slice(start, end);
}

/** True when `value` is a valid field value: VCHAR, obs-text, SP and HTAB only. */
function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x7f || (c < 0x20 && c !== 0x09)) return false;
  }
  return true;
}

/** True when `target` is non-empty visible ASCII (a URI has no other characters). */
function isRequestTarget(target: string): boolean {
  if (target.length === 0) return false;
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** Accumulates lines across chunks and builds the head; throws `HandshakeError` on bad input. */
class HeadBuilder {
  /** Bytes of the head consumed so far. */
  size = 0;
  private readonly limits: Limits;
  private readonly partial: string[] = [];
  private requestLine: { method: string; url: string; httpVersion: string } | undefined;
  private readonly headers: Record<string, string> = Object.create(null) as Record<string, string>;
  private readonly rawHeaders: string[] = [];

  constructor(limits: Limits) {
    this.limits = limits;
  }

  /**
   * Scans `chunk`. Returns how many of its bytes belong to the head and,
   * when the head ended in it, the head.
   */
  feed(chunk: Buffer): { used: number; head: RequestHead | undefined } {
    let pos = 0;
    while (pos < chunk.length) {
      const lf = chunk.indexOf(0x0a, pos);
      const end = lf === -1 ? chunk.length : lf + 1;
      this.size += end - pos;
      if (this.size > this.limits.maxHeadSize) {
        throw new HandshakeError(431, `request head larger than ${this.limits.maxHeadSize} bytes`);
      }
      this.partial.push(chunk.toString('latin1', pos, lf === -1 ? end : lf));
      pos = end;
      if (lf !== -1) {
        const line = this.partial.join('');
        this.partial.length = 0;
        const head = this.line(line);
        if (head !== undefined) return { used: pos, head };
      }
    }
    return { used: pos, head: undefined };
  }

  /** Handles one line (without its LF); returns the head at the blank line that ends it. */
  private line(line: string): RequestHead | undefined {
    if (!line.endsWith('\r')) throw new HandshakeError(400, 'malformed request head: line ends in a bare LF');
    const content = line.slice(0, -1);
    if (content.includes('\r')) throw new HandshakeError(400, 'malformed request head: bare CR');
    if (this.requestLine === undefined) {
      if (content !== '') this.requestLine = this.parseRequestLine(content);
      return undefined;
    }
    if (content === '') return { ...this.requestLine, headers: this.headers, rawHeaders: this.rawHeaders };
    this.addHeader(content);
    return undefined;
  }

  private parseRequestLine(content: string): { method: string; url: string; httpVersion: string } {
    const parts = content.split(' ');
    const [method = '', url = '', version = ''] = parts;
    const match = HTTP_VERSION.exec(version);
    if (parts.length !== 3 || !isToken(method) || !isRequestTarget(url) || match === null) {
      throw new HandshakeError(400, 'malformed request line');
    }
    return { method, url, httpVersion: `${match[1]}.${match[2]}` };
  }

  private addHeader(content: string): void {
    const first = content.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      throw new HandshakeError(400, 'malformed header line: obsolete line folding is not accepted');
    }
    const colon = content.indexOf(':');
    const name = colon === -1 ? '' : content.slice(0, colon);
    if (!isToken(name)) throw new HandshakeError(400, 'malformed header line: invalid or missing field name');
    const value = trimOws(content.slice(colon + 1));
    if (!isFieldValue(value)) {
      throw new HandshakeError(400, `malformed header line: control character in ${name} value`);
    }
    if (this.rawHeaders.length / 2 >= this.limits.maxHeaders) {
      throw new HandshakeError(431, `more than ${this.limits.maxHeaders} request header lines`);
    }
    this.rawHeaders.push(name, value);
    const key = name.toLowerCase();
    const previous = this.headers[key];
    if (previous === undefined) {
      this.headers[key] = value;
    } else if (key === 'host') {
      throw new HandshakeError(400, 'more than one Host header');
    } else {
      this.headers[key] = previous + (key === 'cookie' ? '; ' : ', ') + value;
    }
  }
}

/**
 * Reads one HTTP/1.1 request head from `input`, consuming exactly its bytes
 * (the bytes after the blank line stay in the channel).
 *
 * @throws HandshakeError 400 for malformed syntax, 431 when `maxHeadSize` or
 *   `maxHeaders` is exceeded, 408 when the head is not complete within
 *   `timeoutMs` (the input is then cancelled with that error, so no read
 *   stays parked on it; drop the socket). The caller answers the others
 *   with `formatErrorResponse` and closes the socket.
 * @throws IncompleteRequestHeadError when the channel ends or fails before
 *   the head is complete (no response is possible).
 * @throws RangeError for invalid options (before anything is read).
 */
export async function readRequestHead(input: ByteReadChannel, options: RequestHeadOptions = {}): Promise<RequestHead> {
  const limits = resolveLimits(options);
  const builder = new HeadBuilder(limits);
  const timeout = new HandshakeError(408, `request head not received within ${limits.timeoutMs} ms`);
  let expired = false;
  let wake: (() => void) | undefined;
  const timer = Number.isFinite(limits.timeoutMs)
    ? setTimeout(() => {
        expired = true;
        wake?.();
        input.cancel(timeout);
      }, limits.timeoutMs)
    : undefined;
  try {
    for (;;) {
      const chunk = input.peekChunk();
      if (chunk !== undefined) {
        const { used, head } = builder.feed(chunk);
        input.tryReadChunk(used);
        if (head !== undefined) return head;
        continue;
      }
      let more: boolean;
      try {
        more = await new Promise<boolean>((resolve, reject) => {
          wake = () => resolve(false);
          input.awaitContent().then(resolve, reject);
        });
      } catch (cause) {
        throw expired ? timeout : new IncompleteRequestHeadError(builder.size, cause);
      } finally {
        wake = undefined;
      }
      if (expired) throw timeout;
      if (!more) throw new IncompleteRequestHeadError(builder.size);
    }
  } finally {
    clearTimeout(timer);
  }
}
