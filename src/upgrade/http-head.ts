/**
 * The bounded HTTP/1.1 head reader both handshake sides share: the server
 * reads a request head with it (`readRequestHead`), the client a response
 * head (`readResponseHead`). It reads the start line and the header fields
 * from a `ByteReadChannel` and consumes exactly the head's bytes, so whatever
 * follows (the peer's first WebSocket frames, sent in the same packet) stays
 * in the channel for the session.
 *
 * Limits: head size, header count, and an optional timeout for the whole head. Chunks
 * are scanned with `indexOf`, so the cost is linear in the head's size and
 * there is no promise per byte: the reader only waits when the channel is
 * empty.
 *
 * Syntax (RFC 7230 section 3), strict where laxness enables smuggling: lines
 * end in CRLF (a bare LF or a bare CR is malformed); empty lines before the
 * start line are ignored (section 3.5); header names are tokens directly
 * followed by `:`; obs-fold (a line starting with whitespace) and control
 * characters in values are rejected; a header the grammar marks as single
 * (e.g. `Host`) may not repeat. Each side maps the failures to its own typed
 * errors through `HeadErrors`.
 */
import type { ByteReadChannel } from '../channels/byte-channel-types.ts';
import { isToken } from './header-tokens.ts';

/** The limits of one head (already resolved). */
export interface HeadLimits {
  /** Most bytes of the head, start line and final CRLF included. */
  readonly maxHeadSize: number;
  /** Most header lines. */
  readonly maxHeaders: number;
}

/** A deadline for the whole head. */
export interface HeadTimeout {
  /** Milliseconds allowed; `Infinity` disables. */
  readonly ms: number;
  /** Makes what is thrown (and the input cancelled with) when they pass: only then, so a head in time costs no error. */
  readonly error: () => Error;
}

/** How the failures of a head are reported: each side builds its own typed errors. */
export interface HeadErrors {
  /** The syntax is invalid. */
  malformed(message: string): Error;
  /** `maxHeadSize` or `maxHeaders` was exceeded. */
  tooLarge(message: string): Error;
  /** The channel ended (or failed with `cause`) after `bytesReceived` bytes of an incomplete head. */
  incomplete(bytesReceived: number, cause?: unknown): Error;
}

/** What differs between a request head and a response head. */
export interface HeadGrammar<S> {
  /** `"request"` or `"response"`, for error messages. */
  readonly kind: string;
  /** Parses the start line (without its CRLF); throws `errors.malformed(...)` when it is invalid. */
  parseStartLine(line: string): S;
  /** Lower-case names of headers that may appear once only. */
  readonly singletons: ReadonlySet<string>;
}

/** A parsed head. */
export interface ParsedHead<S> {
  /** The parsed start line. */
  readonly start: S;
  /**
   * A null-prototype object of lower-case names. Repeated headers are joined
   * like node:http does: `cookie` with "; ", every other with ", ".
   */
  readonly headers: Readonly<Record<string, string>>;
  /** Names (case kept) and values, alternating, in order, like node's `rawHeaders`. */
  readonly rawHeaders: readonly string[];
}

/** Validates limits given by the user (RangeError on misuse) and fills in the defaults. */
export function resolveHeadLimits(
  given: { readonly maxHeadSize?: number | undefined; readonly maxHeaders?: number | undefined },
  defaults: HeadLimits,
): HeadLimits {
  const maxHeadSize = given.maxHeadSize ?? defaults.maxHeadSize;
  const maxHeaders = given.maxHeaders ?? defaults.maxHeaders;
  if (!Number.isSafeInteger(maxHeadSize) || maxHeadSize < 1) {
    throw new RangeError(`maxHeadSize must be a positive integer, got ${maxHeadSize}`);
  }
  if (!Number.isSafeInteger(maxHeaders) || maxHeaders < 0) {
    throw new RangeError(`maxHeaders must be a non-negative integer, got ${maxHeaders}`);
  }
  return { maxHeadSize, maxHeaders };
}

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

/** Accumulates lines across chunks and builds the head; throws the grammar's errors on bad input. */
class HeadBuilder<S> {
  /** Bytes of the head consumed so far. */
  size = 0;
  /**
   * The bytes of an unfinished line (it spans chunks), in one buffer that
   * grows by doubling up to `maxHeadSize`: a line trickled in one-byte
   * chunks then costs its bytes, not a string and a chunk per byte.
   */
  private carry: Buffer | undefined;
  private carryLength = 0;
  private start: S | undefined;
  private readonly headers: Record<string, string> = Object.create(null) as Record<string, string>;
  private readonly rawHeaders: string[] = [];

  constructor(
    private readonly limits: HeadLimits,
    private readonly grammar: HeadGrammar<S>,
    private readonly errors: HeadErrors,
  ) {}

  /**
   * Scans `chunk`. Returns how many of its bytes belong to the head and,
   * when the head ended in it, the head.
   */
  feed(chunk: Buffer): { used: number; head: ParsedHead<S> | undefined } {
    let pos = 0;
    while (pos < chunk.length) {
      const lf = chunk.indexOf(0x0a, pos);
      const end = lf === -1 ? chunk.length : lf + 1;
      this.size += end - pos;
      if (this.size > this.limits.maxHeadSize) {
        throw this.errors.tooLarge(`${this.grammar.kind} head larger than ${this.limits.maxHeadSize} bytes`);
      }
      if (lf === -1) {
        this.keep(chunk, pos, end);
        return { used: end, head: undefined };
      }
      let line: string;
      if (this.carryLength === 0) {
        line = chunk.toString('latin1', pos, lf);
      } else {
        this.keep(chunk, pos, lf);
        line = this.carry!.toString('latin1', 0, this.carryLength);
        this.carryLength = 0;
      }
      pos = end;
      const head = this.line(line);
      if (head !== undefined) {
        this.carry = undefined;
        return { used: pos, head };
      }
    }
    return { used: pos, head: undefined };
  }

  /** Appends `chunk[from, to)` to the unfinished line (the size check has already bounded it by `maxHeadSize`). */
  private keep(chunk: Buffer, from: number, to: number): void {
    const needed = this.carryLength + (to - from);
    if (this.carry === undefined || this.carry.length < needed) {
      const doubled = Math.max(256, needed, 2 * (this.carry?.length ?? 0));
      const grown = Buffer.allocUnsafeSlow(Math.min(this.limits.maxHeadSize, doubled));
      if (this.carry !== undefined) this.carry.copy(grown, 0, 0, this.carryLength);
      this.carry = grown;
    }
    this.carryLength += chunk.copy(this.carry, this.carryLength, from, to);
  }

  /** Handles one line (without its LF); returns the head at the blank line that ends it. */
  private line(line: string): ParsedHead<S> | undefined {
    const kind = this.grammar.kind;
    if (!line.endsWith('\r')) throw this.errors.malformed(`malformed ${kind} head: line ends in a bare LF`);
    const content = line.slice(0, -1);
    if (content.includes('\r')) throw this.errors.malformed(`malformed ${kind} head: bare CR`);
    if (this.start === undefined) {
      if (content !== '') this.start = this.grammar.parseStartLine(content);
      return undefined;
    }
    if (content === '') return { start: this.start, headers: this.headers, rawHeaders: this.rawHeaders };
    this.addHeader(content);
    return undefined;
  }

  private addHeader(content: string): void {
    const first = content.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      throw this.errors.malformed('malformed header line: obsolete line folding is not accepted');
    }
    const colon = content.indexOf(':');
    const name = colon === -1 ? '' : content.slice(0, colon);
    if (!isToken(name)) throw this.errors.malformed('malformed header line: invalid or missing field name');
    const value = trimOws(content.slice(colon + 1));
    if (!isFieldValue(value)) {
      throw this.errors.malformed(`malformed header line: control character in ${name} value`);
    }
    if (this.rawHeaders.length / 2 >= this.limits.maxHeaders) {
      throw this.errors.tooLarge(`more than ${this.limits.maxHeaders} ${this.grammar.kind} header lines`);
    }
    this.rawHeaders.push(name, value);
    const key = name.toLowerCase();
    const previous = this.headers[key];
    if (previous === undefined) {
      this.headers[key] = value;
    } else if (this.grammar.singletons.has(key)) {
      throw this.errors.malformed(`more than one ${name} header`);
    } else {
      this.headers[key] = previous + (key === 'cookie' ? '; ' : ', ') + value;
    }
  }
}

/**
 * Reads one HTTP/1.1 head from `input`, consuming exactly its bytes (the
 * bytes after the blank line stay in the channel). Throws only the errors
 * `errors` builds, whatever `grammar.parseStartLine` throws, and
 * `timeout.error`: when the deadline passes, the input is cancelled with it,
 * so no read stays parked on it.
 */
export async function readHead<S>(
  input: ByteReadChannel,
  limits: HeadLimits,
  grammar: HeadGrammar<S>,
  errors: HeadErrors,
  timeout?: HeadTimeout,
): Promise<ParsedHead<S>> {
  const builder = new HeadBuilder(limits, grammar, errors);
  let expired: Error | undefined;
  let wake: (() => void) | undefined;
  const timer =
    timeout !== undefined && Number.isFinite(timeout.ms)
      ? setTimeout(() => {
          expired = timeout.error();
          wake?.();
          input.cancel(expired);
        }, timeout.ms)
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
        throw expired ?? errors.incomplete(builder.size, cause);
      } finally {
        wake = undefined;
      }
      if (expired !== undefined) throw expired;
      if (!more) throw errors.incomplete(builder.size);
    }
  } finally {
    clearTimeout(timer);
  }
}
