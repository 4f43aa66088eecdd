/**
 * Typed errors of the client's opening handshake, one per way `connect` can
 * fail. All extend `ConnectError`, so `catch (e) { if (e instanceof
 * ConnectError) ... }` covers every network-caused failure; options the
 * programmer got wrong throw `TypeError` / `RangeError` instead.
 */

/** The base class: the connection could not be opened as a WebSocket. */
export class ConnectError extends Error {
  override readonly name: string = 'ConnectError';
}

/** The server refused the TCP connection (`ECONNREFUSED`); the original error is the `cause`. */
export class ConnectionRefusedError extends ConnectError {
  override readonly name = 'ConnectionRefusedError';
  /** Always `ECONNREFUSED`. */
  readonly code = 'ECONNREFUSED';
  constructor(address: string, cause: unknown) {
    super(`connection to ${address} refused`, { cause });
  }
}

/**
 * The transport failed before the handshake completed: a DNS, TLS or socket
 * error (the original is the `cause`, its `code` copied when it has one), or
 * the server closed the connection before a whole response head arrived.
 */
export class ConnectionFailedError extends ConnectError {
  override readonly name = 'ConnectionFailedError';
  /** The Node error code of the cause (e.g. `ECONNRESET`, `ENOTFOUND`, `DEPTH_ZERO_SELF_SIGNED_CERT`), if any. */
  readonly code: string | undefined;
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    const code: unknown = (cause as { code?: unknown } | undefined)?.code;
    this.code = typeof code === 'string' ? code : undefined;
  }
}

/** The handshake (connect, TLS, request and response head) did not finish within `handshakeTimeoutMs`. */
export class HandshakeTimeoutError extends ConnectError {
  override readonly name = 'HandshakeTimeoutError';
  /** The `handshakeTimeoutMs` that ran out. */
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`WebSocket handshake not completed within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** The server answered with a status other than 101 Switching Protocols (200 over HTTP/2). */
export class UnexpectedStatusError extends ConnectError {
  override readonly name = 'UnexpectedStatusError';
  /** The response status, e.g. 403. */
  readonly status: number;
  /** The reason phrase as sent (HTTP/2 has none: empty). */
  readonly statusText: string;
  /** Response headers (lower-case names, repeated ones joined with ", "). */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * The response body, read up to `responseHead.maxBodySize` bytes (chunked
   * bodies decoded), as far as it arrived within the handshake timeout.
   */
  readonly body: Buffer;
  /**
   * @param expected the status that would have opened the WebSocket: 101
   *   (HTTP/1.1, the default) or 200 (HTTP/2).
   */
  constructor(status: number, statusText: string, headers: Readonly<Record<string, string>>, body: Buffer, expected: 101 | 200 = 101) {
    super(
      `server answered ${status}${statusText === '' ? '' : ' ' + statusText} instead of ` +
        (expected === 101 ? '101 Switching Protocols' : '200 OK (HTTP/2)'),
    );
    this.status = status;
    this.statusText = statusText;
    this.headers = headers;
    this.body = body;
  }
}

/**
 * The response is not a valid WebSocket handshake response: malformed or
 * oversized head, or a missing or wrong `Upgrade` / `Connection` header.
 */
export class InvalidResponseError extends ConnectError {
  override readonly name: string = 'InvalidResponseError';
}

/** `Sec-WebSocket-Accept` is missing or does not match the key we sent. */
export class AcceptKeyMismatchError extends InvalidResponseError {
  override readonly name = 'AcceptKeyMismatchError';
  /** The value RFC 6455 requires for our key. */
  readonly expected: string;
  /** What the server sent (`undefined` when the header is missing). */
  readonly received: string | undefined;
  constructor(expected: string, received: string | undefined) {
    super(
      received === undefined
        ? 'missing Sec-WebSocket-Accept header'
        : `Sec-WebSocket-Accept ${JSON.stringify(received)} does not match the key (expected ${expected})`,
    );
    this.expected = expected;
    this.received = received;
  }
}

/** The server selected a subprotocol we did not offer (or sent an invalid `Sec-WebSocket-Protocol`). */
export class UnexpectedProtocolError extends InvalidResponseError {
  override readonly name = 'UnexpectedProtocolError';
  /** The header value the server sent. */
  readonly protocol: string;
  /** What we offered. */
  readonly offered: readonly string[];
  constructor(protocol: string, offered: readonly string[]) {
    super(
      `server selected subprotocol ${JSON.stringify(protocol)}, which is not one of the offered ${JSON.stringify(offered)}`,
    );
    this.protocol = protocol;
    this.offered = offered;
  }
}

/**
 * The server's `Sec-WebSocket-Extensions` is invalid, names an extension we
 * did not offer (or one twice), or an offered extension rejected its
 * parameters (that extension's error is the `cause`).
 */
export class UnexpectedExtensionError extends InvalidResponseError {
  override readonly name = 'UnexpectedExtensionError';
  /** The header value the server sent. */
  readonly header: string;
  constructor(header: string, message: string, cause?: unknown) {
    super(`Sec-WebSocket-Extensions ${JSON.stringify(header)}: ${message}`, cause === undefined ? undefined : { cause });
    this.header = header;
  }
}
