/**
 * What a session keeps of the request it was opened with (`session.request`)
 * for its whole life: the method, the target and the HTTP version as they
 * were, and the headers packed into one flat string (name, value, name,
 * value, ... joined with NUL, which no header may contain), unpacked into an
 * object the first time `headers` is read. An idle connection so holds one
 * string rather than an object, its property store, and a string per name
 * and value (measured: about 0.3 KiB less per connection for a five-header
 * request, more for a browser's). The usual method and version are the
 * process's one copy of each.
 */
import type { SessionRequest } from './default-session.ts';

const SEPARATOR = '\0';

/**
 * `value` itself, or the equal literal when it is one of the values nearly
 * every request has: the literal is one string for the whole process, where
 * each request parsed its own copy.
 */
function shared(value: string | undefined): string | undefined {
  switch (value) {
    case 'GET':
      return 'GET';
    case 'CONNECT':
      return 'CONNECT';
    case '1.1':
      return '1.1';
    case '2.0':
      return '2.0';
    default:
      return value;
  }
}

export class KeptRequest implements SessionRequest {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly httpVersion: string | undefined;
  /** The packed headers until first read, then `undefined`. */
  #packed: string | undefined;
  #headers: Readonly<Record<string, string>> | undefined;

  /** Keeps what `request` says; its header object itself is not kept. */
  constructor(request: SessionRequest) {
    this.method = shared(request.method);
    this.url = request.url;
    this.httpVersion = shared(request.httpVersion);
    const parts: string[] = [];
    for (const name of Object.keys(request.headers)) {
      const value = request.headers[name];
      if (value === undefined) continue;
      parts.push(name, typeof value === 'string' ? value : value.join(', '));
    }
    // Array#join makes one flat string (a chain of `+` would keep every piece).
    this.#packed = parts.join(SEPARATOR);
  }

  /** Lower-case header names (a null-prototype object; repeated headers joined with ", "). */
  get headers(): Readonly<Record<string, string>> {
    if (this.#headers === undefined) {
      const headers: Record<string, string> = Object.create(null) as Record<string, string>;
      const packed = this.#packed ?? '';
      this.#packed = undefined;
      if (packed !== '') {
        const parts = packed.split(SEPARATOR);
        for (let i = 0; i + 1 < parts.length; i += 2) headers[parts[i]!] = parts[i + 1]!;
      }
      this.#headers = headers;
    }
    return this.#headers;
  }
}
